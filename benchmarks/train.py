"""Training speed: eager fp32 against each speed setting, and CUT/FastCUT against CycleGAN, side by side.

Trains CycleGAN (ResNet-9 at 256 px), CUT and FastCUT (the same generator), pix2pix
(U-Net-256), UNIT and MUNIT (their defaults; MUNIT with 3 critic scales per domain at 256 px), batch 1, on random images for a fixed number of steps, each configuration in
a fresh process (so peak RSS belongs to that configuration alone), and prints seconds per
iteration, the speed-up over the model's eager fp32 and peak RSS, then CUT's and FastCUT's
s/iter and peak RSS as ratios to CycleGAN's (eager fp32, measured in the same run). The
first ``--warmup`` steps are not timed (allocator warm-up, compilation). bf16 runs only
where this CPU has bf16 instructions; elsewhere it is far slower than fp32 (see
:mod:`translate.devices`).

Run: ``python benchmarks/train.py`` (``--steps 6 --warmup 2`` by default; about half an hour on
2 CPU cores). ``--models unit,munit --settings "eager fp32"`` gives MUNIT's s/iter and peak RSS
against UNIT's. ``--image-size 64 --ngf 16 --batch-size 2 --settings "eager fp32"`` measures at
the settings of the CUT-vs-CycleGAN learning test (``tests/test_learning.py``). ``--settings
"eager fp32,no plugin checks" --warmup 0`` measures what the objective run-time checks of
``translate train`` cost (they run on the first steps).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

from translate.devices import cpu_computes_in

#: Row name -> (model, options). Generators are the models' defaults for the image size
#: (at 256 px: ResNet-9 for CycleGAN and CUT, U-Net-256 for pix2pix, as the references).
MODELS = {
    "cyclegan": ("cyclegan", {}),
    "cut": ("cut", {}),
    "fastcut": ("cut", {"mode": "fastcut"}),
    "pix2pix": ("pix2pix", {}),
    "unit": ("unit", {}),
    "munit": ("munit", {}),
}
#: Rows reported as ratios to CycleGAN's eager fp32.
AGAINST_CYCLEGAN = ("cut", "fastcut")
#: Rows reported as ratios to UNIT's (the closest model).
AGAINST_UNIT = ("munit",)
#: name -> TrainConfig settings of each configuration, eager fp32 first.
SETTINGS = {
    "eager fp32": {},
    "channels-last": {"channels_last": True},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
    "bf16 + channels-last": {"precision": "bf16", "channels_last": True},
    # what the objective run-time checks cost (on by default): compare with --warmup 0, as they run on the first steps
    "no plugin checks": {"plugin_checks": False},
}

#: Runs in a fresh process: trains, prints JSON with the timed s/iter and peak RSS.
WORKER = """
import json, sys, time
from translate.train.trainer import Trainer, TrainConfig

settings = json.loads(sys.argv[1])
warmup = settings.pop("warmup")
trainer = Trainer(TrainConfig(**settings))
steps, times = 0, []
batches = trainer.batches()
while steps < trainer.total_steps:
    batch = next(batches)
    started = time.perf_counter()
    trainer._train_step(batch)
    times.append(time.perf_counter() - started)
    steps += 1
timed = times[warmup:]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"s_per_iter": sum(timed) / len(timed), "peak_rss_gib": peak_kib / 2**20}))
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


def measure(work: Path, row: str, name: str, settings: dict, args: argparse.Namespace) -> dict:
    out = work / f"{row}-{'-'.join(name.replace('+', ' ').split())}"
    model, options = MODELS[row]
    widths = {"ngf": str(args.ngf), "ndf": str(args.ngf)} if args.ngf else {}
    config = {"model": model, "loss": "lsgan", "data": str(work / "data"), "out": str(out),
              "steps": args.steps, "image_size": args.image_size, "batch_size": args.batch_size, "device": "cpu",
              "sample_every": 10**6, "checkpoint_every": 10**6, "model_options": {**options, **widths},
              "warmup": args.warmup, **settings}
    result = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{row} {name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="training steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="first steps not timed")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated rows of {', '.join(MODELS)}")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings to measure")
    parser.add_argument("--image-size", type=int, default=256, help="training crop size")
    parser.add_argument("--batch-size", type=int, default=1, help="images per step")
    parser.add_argument("--ngf", type=int, default=0, help="generator and critic width (default: the models')")
    args = parser.parse_args()
    rows, names = args.models.split(","), args.settings.split(",")
    unknown = sorted(set(rows) - set(MODELS)) + sorted(set(names) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown rows or settings: {', '.join(unknown)}")
    bf16 = cpu_computes_in("bf16")
    names = [name for name in names if bf16 or SETTINGS[name].get("precision") != "bf16"]
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, "
          f"bf16 instructions: {'yes' if bf16 else 'no (bf16 rows not run: far slower than fp32 here)'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_data(work / "data", args.image_size)
        print(f"{args.image_size} px, batch {args.batch_size}, width {args.ngf or 'default'}")
        print(f"{'model':10} {'settings':22} {'s/iter':>8} {'speed-up':>9} {'peak RSS':>9}")
        first: dict[str, dict] = {}  # each row at its first setting (eager fp32 unless --settings says otherwise)
        for row in rows:
            for name in names:
                measured = measure(work, row, name, SETTINGS[name], args)
                baseline = first.setdefault(row, measured)["s_per_iter"]
                print(f"{row:10} {name:22} {measured['s_per_iter']:8.2f} {baseline / measured['s_per_iter']:8.2f}x "
                      f"{measured['peak_rss_gib']:7.2f} GiB", flush=True)
        if "cyclegan" in first:
            reference = first["cyclegan"]
            print(f"\nagainst CycleGAN ({names[0]}): {'s/iter':>8} {'peak RSS':>9}")
            for row in (row for row in AGAINST_CYCLEGAN if row in first):
                print(f"{row:28} {first[row]['s_per_iter'] / reference['s_per_iter']:7.2f}x "
                      f"{first[row]['peak_rss_gib'] / reference['peak_rss_gib']:8.2f}x")
        if "unit" in first:
            reference = first["unit"]
            print(f"\nagainst UNIT ({names[0]}):     {'s/iter':>8} {'peak RSS':>9}")
            for row in (row for row in AGAINST_UNIT if row in first):
                print(f"{row:28} {first[row]['s_per_iter'] / reference['s_per_iter']:7.2f}x "
                      f"{first[row]['peak_rss_gib'] / reference['peak_rss_gib']:8.2f}x")


if __name__ == "__main__":
    main()
