"""Training speed: translate's defaults against the reference's training, speed settings, and a whole run.

Three tables, each measured side by side in one run, every configuration in a fresh process (so peak RSS
belongs to that configuration alone), on random images, batch 1:

* **presets**: seconds per step and peak RSS of pix2pix (U-Net-256), CycleGAN (ResNet-9), CUT and
  FastCUT (the same generator) with translate's defaults and with ``--preset reference`` (the reference
  implementations' training, step for step: ``TrainConfig(preset="reference")``), in fp32 and, where this
  CPU has bf16 instructions, in bf16; each as a ratio to the reference preset in fp32. Then CUT's and
  FastCUT's s/step and peak RSS as ratios to CycleGAN's (translate's defaults, fp32).
* **process**: ``translate train`` as a user runs it, for a short run (``--process-steps``): the whole
  process's wall and CPU time, the time its steps took (from ``metrics.jsonl``) and the rest, the fixed
  cost of a run (start-up, the final sample grid, the final checkpoint and its verification, shut-down).
* **settings**: translate's defaults in fp32 against each speed setting (channels-last, ``torch.compile``,
  bf16, bf16 + channels-last, and ``no plugin checks``: the objective's run-time checks off).

Rounds are interleaved (every configuration once per round, ``--rounds`` times) and each configuration
reports its fastest round, so a burst of load elsewhere does not land on one side only. The first
``--warmup`` steps of each process are not timed (allocator warm-up, compilation). The first line names
the CPU, ``torch.backends.cpu.get_cpu_capability()``, its bf16 instructions and the load average.
bf16 runs only where this CPU has bf16 instructions; elsewhere it is far slower than fp32 (see
:mod:`translate.devices`).

Run: ``python benchmarks/train.py`` (one thread, ``--steps 6 --warmup 2 --rounds 2`` by default; about
an hour on an idle core). ``--tables presets --models pix2pix,cyclegan`` measures the headline rows only; ``--tables presets --models
unit,munit`` gives MUNIT's s/step and peak RSS against UNIT's (MUNIT with 3 critic scales per domain at 256 px).
``--tables settings --settings "eager fp32,no plugin checks" --warmup 0`` measures what the objective
run-time checks of ``translate train`` cost (they run on the first steps). ``--tables settings
--image-size 64 --ngf 16 --batch-size 2 --settings "eager fp32"`` measures at the settings of the
CUT-vs-CycleGAN learning test (``tests/test_learning.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from translate.devices import bf16_instructions, cpu_computes_in, cpu_info

#: Row name -> (model, options). Generators are the models' defaults for the image size
#: (at 256 px: ResNet-9 for CycleGAN and CUT, U-Net-256 for pix2pix, as the references).
MODELS = {
    "pix2pix": ("pix2pix", {}),
    "cyclegan": ("cyclegan", {}),
    "cut": ("cut", {}),
    "fastcut": ("cut", {"mode": "fastcut"}),
    "unit": ("unit", {}),
    "munit": ("munit", {}),
}
#: The rows measured unless ``--models`` says otherwise (UNIT and MUNIT on request: MUNIT against UNIT).
DEFAULT_ROWS = ("pix2pix", "cyclegan", "cut", "fastcut")
#: Rows reported as ratios to CycleGAN's and to UNIT's (translate's defaults, fp32).
AGAINST_CYCLEGAN = ("cut", "fastcut")
AGAINST_UNIT = ("munit",)
PRESETS = ("translate", "reference")
PRECISIONS = ("fp32", "bf16")
#: name -> TrainConfig settings of each speed setting, eager fp32 first (translate's defaults otherwise).
SETTINGS = {
    "eager fp32": {"precision": "fp32"},
    "channels-last": {"precision": "fp32", "channels_last": True},
    "compile": {"precision": "fp32", "compile": True},
    "bf16": {"precision": "bf16"},
    "bf16 + channels-last": {"precision": "bf16", "channels_last": True},
    # what the objective run-time checks cost (on by default): compare with --warmup 0, as they run on the first steps
    "no plugin checks": {"precision": "fp32", "plugin_checks": False},
}
TABLES = ("presets", "process", "settings")
#: The /proc/cpuinfo flags that decide which kernels PyTorch and oneDNN run.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "avx512_fp16")

#: Runs in a fresh process: trains, prints JSON with the timed s/step and peak RSS.
WORKER = """
import json, sys, time
import torch
from translate.train.trainer import Trainer, TrainConfig

settings = json.loads(sys.argv[1])
warmup, threads = settings.pop("warmup"), settings.pop("threads")
torch.set_num_threads(threads)
trainer = Trainer(TrainConfig(**settings))
steps, times = 0, []
batches = trainer.batches()
while steps < trainer.total_steps:
    batch = next(batches)
    started = time.perf_counter()
    trainer._train_step(batch)
    times.append(time.perf_counter() - started)
    steps += 1
trainer.release()
timed = times[warmup:]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"s_per_step": sum(timed) / len(timed), "peak_rss_gib": peak_kib / 2**20}))
"""


def make_data(root: Path, size: int, count: int = 8) -> None:
    """Random images in the layouts of every model (aligned A|B pairs and trainA/trainB)."""
    for folder in ("train", "trainA", "trainB"):
        (root / folder).mkdir(parents=True)
    for index in range(count):
        noise = Image.effect_noise((size, size), 30 + index).convert("RGB")
        noise.save(root / "trainA" / f"{index}.png")
        noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "trainB" / f"{index}.png")
        pair = Image.new("RGB", (2 * size, size))
        pair.paste(noise, (0, 0))
        pair.paste(noise.rotate(90), (size, 0))
        pair.save(root / "train" / f"{index}.png")


def child_environment(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def measure(work: Path, row: str, label: str, settings: dict, args: argparse.Namespace) -> dict:
    """s/step and peak RSS of one configuration, in a fresh process."""
    out = work / f"{row}-{'-'.join(label.replace('+', ' ').split())}-{time.time_ns()}"
    model, options = MODELS[row]
    widths = {"ngf": str(args.ngf), "ndf": str(args.ngf)} if args.ngf else {}
    config = {"model": model, "loss": "lsgan", "data": str(work / "data"), "out": str(out),
              "steps": args.steps, "image_size": args.image_size, "batch_size": args.batch_size, "device": "cpu",
              "sample_every": 10**6, "checkpoint_every": 10**6, "loggers": ["jsonl"],
              "model_options": {**options, **widths}, "warmup": args.warmup, "threads": args.threads, **settings}
    result = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config)], capture_output=True, text=True,
                            env=child_environment(args.threads))
    if result.returncode != 0:
        raise SystemExit(f"{row} {label} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_process(work: Path, row: str, preset: str, precision: str, args: argparse.Namespace) -> dict:
    """`translate train` for a short run as a user runs it: wall and CPU seconds of the whole process."""
    out = work / f"process-{row}-{preset}-{precision}-{time.time_ns()}"
    model, options = MODELS[row]
    command = [str(Path(sys.executable).with_name("translate")), "train", "--model", model, "--data",
               str(work / "data"), "--out", str(out), "--steps", str(args.process_steps), "--image-size",
               str(args.image_size), "--batch-size", str(args.batch_size), "--device", "cpu", "--preset", preset,
               "--precision", precision]
    for key, value in options.items():
        command += ["--model-opt", f"{key}={value}"]
    if args.ngf:
        command += ["--model-opt", f"ngf={args.ngf}", "--model-opt", f"ndf={args.ngf}"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=child_environment(args.threads))
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read()
    process.stderr.close()
    if status != 0:
        raise SystemExit(f"translate train {row} {preset} {precision} failed:\n{stderr[-2000:]}")
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    steps = last["s_per_iter"] * last["step"]  # the running mean of the steps' wall time, times the steps
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "steps_s": steps, "fixed_s": wall - steps,
            "peak_rss_gib": usage.ru_maxrss / 2**20}


def cpu_description() -> str:
    """The CPU's name, PyTorch's kernel capability and the instruction-set flags that matter here."""
    name, flags = cpu_info()
    present = [flag for flag in CPU_FLAGS if flag in flags]
    return (f"{name or 'unknown CPU'}, {os.cpu_count()} cores; torch {torch.__version__}, capability "
            f"{torch.backends.cpu.get_cpu_capability()}; flags: {' '.join(present) or 'unknown'}")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def fastest(measurements: list[dict], key: str) -> dict:
    return min(measurements, key=lambda m: m[key])


def presets_table(work: Path, rows: list[str], precisions: list[str], args: argparse.Namespace) -> dict:
    configurations = [(row, preset, precision) for row in rows for precision in precisions for preset in PRESETS]
    measured: dict[tuple, list[dict]] = {c: [] for c in configurations}
    for _ in range(args.rounds):
        for row, preset, precision in configurations:
            measured[row, preset, precision].append(
                measure(work, row, f"{preset} {precision}", {"preset": preset, "precision": precision}, args))
    best = {c: fastest(m, "s_per_step") for c, m in measured.items()}
    print(f"\ns/step and peak RSS, translate's defaults and --preset reference; ratios to the reference preset "
          f"in fp32 (fastest of {args.rounds} interleaved rounds)")
    print(f"{'model':9} {'precision':9} {'preset':10} {'s/step':>8} {'vs ref fp32':>12} {'peak RSS':>10} "
          f"{'vs ref fp32':>12}")
    for row, preset, precision in configurations:
        result, reference = best[row, preset, precision], best[row, "reference", "fp32"]
        print(f"{row:9} {precision:9} {preset:10} {result['s_per_step']:8.3f} "
              f"{result['s_per_step'] / reference['s_per_step']:11.2f}x {result['peak_rss_gib']:6.2f} GiB "
              f"{result['peak_rss_gib'] / reference['peak_rss_gib']:11.2f}x", flush=True)
    for base, others in (("cyclegan", AGAINST_CYCLEGAN), ("unit", AGAINST_UNIT)):
        if base not in rows or "fp32" not in precisions or not set(others) & set(rows):
            continue
        baseline = best[base, "translate", "fp32"]
        print(f"\n{'against ' + base + ' (translate defaults, fp32):':46} {'s/step':>8} {'peak RSS':>9}")
        for row in (row for row in others if row in rows):
            result = best[row, "translate", "fp32"]
            print(f"{row:46} {result['s_per_step'] / baseline['s_per_step']:7.2f}x "
                  f"{result['peak_rss_gib'] / baseline['peak_rss_gib']:8.2f}x")
    return {" ".join(c): m for c, m in measured.items()}


def process_table(work: Path, rows: list[str], precisions: list[str], args: argparse.Namespace) -> dict:
    configurations = [(row, preset, precision) for row in rows for precision in precisions for preset in PRESETS]
    measured: dict[tuple, list[dict]] = {c: [] for c in configurations}
    for _ in range(args.rounds):
        for configuration in configurations:
            measured[configuration].append(measure_process(work, *configuration, args))
    print(f"\nwhole `translate train` process, {args.process_steps} steps (fastest of {args.rounds} interleaved "
          f"rounds); rest = wall - steps: start-up, the final sample grid and checkpoint, shut-down")
    print(f"{'model':9} {'precision':9} {'preset':10} {'wall s':>8} {'CPU s':>8} {'steps s':>8} {'rest s':>8} "
          f"{'peak RSS':>10}")
    for configuration in configurations:
        result = fastest(measured[configuration], "wall_s")
        print(f"{' '.join(f'{part:9}' for part in configuration[:2])} {configuration[2]:10} {result['wall_s']:8.1f} "
              f"{result['cpu_s']:8.1f} {result['steps_s']:8.1f} {result['fixed_s']:8.1f} "
              f"{result['peak_rss_gib']:6.2f} GiB", flush=True)
    return {" ".join(c): m for c, m in measured.items()}


def settings_table(work: Path, rows: list[str], names: list[str], args: argparse.Namespace) -> dict:
    configurations = [(row, name) for row in rows for name in names]
    measured: dict[tuple, list[dict]] = {c: [] for c in configurations}
    for _ in range(args.rounds):
        for row, name in configurations:
            measured[row, name].append(measure(work, row, name, SETTINGS[name], args))
    print(f"\nspeed settings, translate's defaults (fastest of {args.rounds} interleaved rounds)")
    print(f"{'model':10} {'settings':22} {'s/step':>8} {'speed-up':>9} {'peak RSS':>10}")
    for row, name in configurations:
        result, baseline = fastest(measured[row, name], "s_per_step"), fastest(measured[row, names[0]], "s_per_step")
        print(f"{row:10} {name:22} {result['s_per_step']:8.3f} {baseline['s_per_step'] / result['s_per_step']:8.2f}x "
              f"{result['peak_rss_gib']:6.2f} GiB", flush=True)
    return {" ".join(c): m for c, m in measured.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated tables of {', '.join(TABLES)}")
    parser.add_argument("--models", default=",".join(DEFAULT_ROWS),
                        help=f"comma-separated rows of {', '.join(MODELS)} (default: {', '.join(DEFAULT_ROWS)})")
    parser.add_argument("--process-models", default="pix2pix,cyclegan", help="rows of the process table")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated speed settings to measure")
    parser.add_argument("--steps", type=int, default=6, help="training steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="first steps not timed")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each configuration's fastest counts")
    parser.add_argument("--process-steps", type=int, default=4, help="steps of the short runs of the process table")
    parser.add_argument("--threads", type=int, default=1, help="threads of each training process")
    parser.add_argument("--image-size", type=int, default=256, help="training crop size")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step")
    parser.add_argument("--ngf", type=int, default=0, help="generator and critic width (default: the models')")
    parser.add_argument("--json", type=Path, help="also write every measurement to this file")
    args = parser.parse_args()
    tables, rows, names = args.tables.split(","), args.models.split(","), args.settings.split(",")
    process_rows = args.process_models.split(",")
    unknown = (sorted(set(tables) - set(TABLES)) + sorted(set(rows + process_rows) - set(MODELS))
               + sorted(set(names) - set(SETTINGS)))
    if unknown:
        parser.error(f"unknown tables, rows or settings: {', '.join(unknown)}")
    bf16 = cpu_computes_in("bf16")
    precisions = [precision for precision in PRECISIONS if bf16 or precision != "bf16"]
    names = [name for name in names if bf16 or SETTINGS[name].get("precision") != "bf16"]
    print(cpu_description())
    print(f"{args.threads} thread(s) per process; bf16 instructions: "
          f"{', '.join(bf16_instructions()) or ('yes' if bf16 else 'no (bf16 rows not run: far slower than fp32 here)')}"
          f"; load average at the start {load_average()}")
    print(f"{args.image_size} px, batch {args.batch_size}, width {args.ngf or 'default'}, {args.steps} steps of which "
          f"{args.warmup} untimed")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_data(work / "data", args.image_size)
        if "presets" in tables:
            results["presets"] = presets_table(work, rows, precisions, args)
        if "process" in tables:
            results["process"] = process_table(work, process_rows, precisions, args)
        if "settings" in tables:
            results["settings"] = settings_table(work, rows, names, args)
    print(f"\nload average at the end {load_average()}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_description(), "threads": args.threads, **results}, indent=1))


if __name__ == "__main__":
    main()
