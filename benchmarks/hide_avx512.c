/* Hide AVX-512, AMX and AVX-VNNI from a process: it then takes the code paths of an AVX2-only CPU.
 *
 * Loaded with LD_PRELOAD (benchmarks/convert.py --hide-avx512 builds and loads it). Libraries pick
 * their kernels from the CPUID instruction (PyTorch, oneDNN, ONNX Runtime's MLAS); only PyTorch and
 * oneDNN have a switch to cap the instruction set, so this turns on CPUID faulting
 * (arch_prctl(ARCH_SET_CPUID, 0), Linux on CPUs with the cpuid_fault flag): every CPUID then raises
 * SIGSEGV, and the handler below answers it from the real CPUID with the AVX-512, AMX and AVX-VNNI
 * feature bits cleared. The setting is per thread and inherited by threads and child processes
 * created after it; execve resets it, and the child's own copy of this library sets it again.
 *
 * It runs the AVX2 code on this CPU: caches, memory and clock stay this machine's, so it shows
 * how the libraries' AVX2 kernels compare with each other, not how fast an AVX2 machine is.
 * glibc chose its string functions before this library loaded and keeps its AVX-512 ones.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static int set_cpuid_faulting(int on) { return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void real_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
    __asm__ volatile("cpuid" : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3]) : "a"(leaf), "c"(subleaf));
}

#define BIT(n) (1u << (n))

static void hide_features(uint32_t leaf, uint32_t subleaf, uint32_t regs[4]) {
    if (leaf == 7 && subleaf == 0) {
        /* EBX: AVX512F, DQ, IFMA, PF, ER, CD, BW, VL */
        regs[1] &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31));
        /* ECX: AVX512_VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ */
        regs[2] &= ~(BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14));
        /* EDX: AVX512_4VNNIW, 4FMAPS, VP2INTERSECT, AMX_BF16, AVX512_FP16, AMX_TILE, AMX_INT8 */
        regs[3] &= ~(BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25));
    } else if (leaf == 7 && subleaf == 1) {
        /* EAX: AVX_VNNI, AVX512_BF16, AMX_FP16, AVX_IFMA; EDX: AVX_VNNI_INT8, AVX_NE_CONVERT,
           AMX_COMPLEX, AVX_VNNI_INT16, AVX10 */
        regs[0] &= ~(BIT(4) | BIT(5) | BIT(21) | BIT(23));
        regs[3] &= ~(BIT(4) | BIT(5) | BIT(8) | BIT(10) | BIT(19));
    } else if (leaf == 0x1d || leaf == 0x1e || leaf == 0x24) { /* AMX tile and AVX10 information */
        memset(regs, 0, 4 * sizeof(uint32_t));
    }
}

static void on_sigsegv(int signal_number, siginfo_t *info, void *context) {
    ucontext_t *uc = context;
    greg_t *gregs = uc->uc_mcontext.gregs;
    const uint8_t *instruction = (const uint8_t *)gregs[REG_RIP];
    if (instruction[0] != 0x0f || instruction[1] != 0xa2) { /* not CPUID: a real fault */
        signal(SIGSEGV, SIG_DFL);
        return; /* the instruction runs again and faults with the default action */
    }
    uint32_t leaf = (uint32_t)gregs[REG_RAX], subleaf = (uint32_t)gregs[REG_RCX], regs[4];
    set_cpuid_faulting(0);
    real_cpuid(leaf, subleaf, regs);
    set_cpuid_faulting(1);
    hide_features(leaf, subleaf, regs);
    gregs[REG_RAX] = regs[0];
    gregs[REG_RBX] = regs[1];
    gregs[REG_RCX] = regs[2];
    gregs[REG_RDX] = regs[3];
    gregs[REG_RIP] += 2;
    (void)signal_number, (void)info;
}

__attribute__((constructor)) static void hide_avx512(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigsegv;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || set_cpuid_faulting(1) != 0) {
        fprintf(stderr, "hide_avx512: this kernel or CPU has no CPUID faulting (no cpuid_fault flag)\n");
        exit(2);
    }
}
