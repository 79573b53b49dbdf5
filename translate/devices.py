"""Devices and compute precisions (``--device``, ``--precision``) shared by training and conversion.

bf16 and fp16 are only fast where the hardware computes in them: GPUs, and CPUs with
bf16/fp16 instructions (AVX-512 BF16, AMX, AVX-NE-CONVERT). On other CPUs (AVX2 only)
oneDNN has no reduced-precision convolution and PyTorch falls back to a reference
kernel that is tens to hundreds of times slower than fp32; :func:`warn_if_slow` says so.
"""

from __future__ import annotations

import contextlib
import threading
import warnings

import torch

from translate.errors import TranslateError, TranslateWarning

#: ``--precision`` choices: the autocast dtype of each (fp32 runs without autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionWarning(TranslateWarning):
    """The chosen precision runs, but far slower than fp32 on this device."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TranslateError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return torch.device(name)


#: The ``--precision`` of ``translate train`` that picks one for the device (:func:`resolve_precision`).
AUTO = "auto"


def check_precision(precision: str, auto: bool = False) -> None:
    """Refuse a precision that is not one of :data:`PRECISIONS` (nor :data:`AUTO`, where ``auto`` allows it)."""
    choices = [*PRECISIONS, AUTO] if auto else list(PRECISIONS)
    if precision not in choices:
        raise TranslateError(f"--precision must be one of {', '.join(choices)}, got {precision!r}")


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision`` itself, or for :data:`AUTO` what ``device`` computes fastest in: bf16 on a CUDA GPU with
    bf16 (``torch.cuda.is_bf16_supported()``) and on a CPU with bf16 instructions (AVX-512 BF16 or AMX:
    :func:`cpu_computes_in`), fp32 elsewhere (other CPUs, MPS)."""
    if precision != AUTO:
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_computes_in("bf16") else "fp32"
    return "fp32"


def cpu_info() -> tuple[str | None, set[str]]:
    """This CPU's name and instruction-set flags as Linux's ``/proc/cpuinfo`` gives them for its first core;
    ``(None, set())`` where the file cannot be read (not Linux)."""
    name, flags = None, None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name") and name is None:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and flags is None:
                    flags = set(line.split(":", 1)[1].split())
                if name is not None and flags is not None:
                    break
    except OSError:
        pass
    return name, flags or set()


def bf16_instructions() -> list[str]:
    """This CPU's bf16 instruction sets as Linux names them in ``/proc/cpuinfo`` (``amx_bf16``,
    ``avx512_bf16``); empty where it has none or the file cannot be read (not Linux)."""
    flags = cpu_info()[1]
    return [flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags]


def cpu_computes_in(precision: str) -> bool:
    """Whether this CPU has oneDNN kernels for ``precision`` (always true for fp32)."""
    probes = {"bf16": "_is_mkldnn_bf16_supported", "fp16": "_is_mkldnn_fp16_supported"}
    if precision not in probes:
        return True
    if not torch.backends.mkldnn.is_available():
        return False
    probe = getattr(torch.ops.mkldnn, probes[precision], None)
    return True if probe is None else bool(probe())  # an unknown build: assume it can


def warn_if_slow(device: torch.device, precision: str) -> None:
    """Warn when ``precision`` on ``device`` would be much slower than fp32 (a CPU without its instructions)."""
    if device.type == "cpu" and not cpu_computes_in(precision):
        warnings.warn(
            f"--precision {precision} is far slower than fp32 on this CPU: it has no {precision} instructions "
            f"(oneDNN reports none), so convolutions fall back to a reference kernel; use --precision fp32 here",
            PrecisionWarning,
            stacklevel=3,
        )


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device``'s type; a no-op for fp32. On the CPU, padding keeps its
    input's dtype (:func:`keep_padding_dtype`)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    if device.type == "cpu":
        keep_padding_dtype()
    return torch.autocast(device.type, dtype=dtype)


#: The padding operators PyTorch's CPU autocast runs in fp32 (its fp32 list), which :func:`keep_padding_dtype`
#: runs in their input's dtype.
PADDING_OPERATORS = ("reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
                     "replication_pad1d", "replication_pad2d", "replication_pad3d")
_padding_library: torch.library.Library | None = None
_padding_lock = threading.Lock()


def keep_padding_dtype() -> None:
    """From now on in this process, CPU autocast pads (reflect, replicate) in the input's dtype, not in fp32.

    Padding only copies values, so its outputs are the same in either dtype; but under bf16 autocast a
    padded bf16 activation became an fp32 copy that the next convolution cast back, forward and backward:
    a quarter of a CycleGAN step on an AMX Xeon went to such casts (the ResNet pads before every 3×3 and
    7×7 convolution). Registered once, as a fallthrough of PyTorch's ``AutocastCPU`` kernels for
    :data:`PADDING_OPERATORS`; fp32 inputs are padded in fp32 as before.
    """
    global _padding_library
    with _padding_lock:
        if _padding_library is not None:
            return
        library = torch.library.Library("aten", "IMPL")
        for operator in PADDING_OPERATORS:
            library.impl(operator, torch.library.fallthrough_kernel, "AutocastCPU")
        _padding_library = library  # kept: the registrations last as long as the library object
