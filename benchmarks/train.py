"""Training speed: eager fp32 against each speed setting, measured side by side.

Trains CycleGAN (ResNet-9, 256 px, batch 1) and pix2pix (U-Net-256, 256 px, batch 1) on
random 256×256 images for a fixed number of steps, each configuration in a fresh
process (so peak RSS belongs to that configuration alone), and prints seconds per
iteration, the speed-up over eager fp32 and peak RSS. The first ``--warmup`` steps are
not timed (allocator warm-up, compilation). bf16 runs only where this CPU has bf16
instructions; elsewhere it is far slower than fp32 (see :mod:`translate.precision`).
Run: ``python benchmarks/train.py`` (``--steps 6 --warmup 2`` by default; several minutes on 2 CPU cores).
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

from translate.precision import cpu_computes_in

#: What each model trains with (the references' 256 px defaults).
MODELS = {
    "cyclegan": {"generator": "resnet_9blocks"},
    "pix2pix": {"generator": "unet_256"},
}
#: name -> TrainConfig settings of each configuration, eager fp32 first.
SETTINGS = {
    "eager fp32": {},
    "channels-last": {"channels_last": True},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
    "bf16 + channels-last": {"precision": "bf16", "channels_last": True},
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


def make_data(root: Path, count: int = 8, size: int = 256) -> None:
    """Random images in the layouts of both models (aligned A|B pairs and trainA/trainB)."""
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


def measure(work: Path, model: str, name: str, settings: dict, steps: int, warmup: int) -> dict:
    out = work / f"{model}-{'-'.join(name.replace('+', ' ').split())}"
    config = {"model": model, "loss": "lsgan", "data": str(work / "data"), "out": str(out),
              "steps": steps, "image_size": 256, "batch_size": 1, "device": "cpu", "sample_every": 10**6,
              "checkpoint_every": 10**6, "model_options": MODELS[model], "warmup": warmup, **settings}
    result = subprocess.run([sys.executable, "-c", WORKER, json.dumps(config)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{model} {name} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="training steps per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="first steps not timed")
    parser.add_argument("--models", default="cyclegan,pix2pix", help="comma-separated models to measure")
    args = parser.parse_args()
    bf16 = cpu_computes_in("bf16")
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, "
          f"bf16 instructions: {'yes' if bf16 else 'no (bf16 rows not run: far slower than fp32 here)'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_data(work / "data")
        print(f"{'model':10} {'settings':22} {'s/iter':>8} {'speed-up':>9} {'peak RSS':>9}")
        for model in args.models.split(","):
            baseline = None
            for name, settings in SETTINGS.items():
                if settings.get("precision") == "bf16" and not bf16:
                    continue
                measured = measure(work, model, name, settings, args.steps, args.warmup)
                baseline = baseline or measured["s_per_iter"]
                print(f"{model:10} {name:22} {measured['s_per_iter']:8.2f} {baseline / measured['s_per_iter']:8.2f}x "
                      f"{measured['peak_rss_gib']:7.2f} GiB", flush=True)


if __name__ == "__main__":
    main()
