"""Conversion throughput: `translate convert` against a naive loop, measured side by side.

Builds a folder of 256×256 images and a CycleGAN checkpoint (ResNet-9 generator,
untrained: speed does not depend on the weights), then converts the folder

* with a naive loop as the reference converter does it: PIL open -> tensor ->
  model at batch 1 without inference mode -> save;
* with :meth:`Translator.convert_folder` at fp32 and at bf16;
* with the bf16 converter on 10× more images (does throughput hold?);

and translates one 4096×4096 image by tiling in a fresh process, reporting its
peak RSS. Prints images/s and the ratios. Run: ``python benchmarks/convert.py``
(``--images 64 --scale 10`` are the defaults; takes several minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_pil, to_tensor
from translate.train.trainer import Trainer, TrainConfig


def make_images(folder: Path, count: int, size: int = 256) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.effect_noise((size, size), 40 + index % 50).convert("RGB").save(folder / f"{index:05d}.png")


def make_checkpoint(run: Path) -> None:
    Trainer(TrainConfig(model="cyclegan", loss="lsgan", out=str(run), steps=1, image_size=256,
                        sample_every=10**6)).train(progress=False)


def naive(run: Path, source: Path, target: Path) -> float:
    model = Translator.load(run, device="cpu").model.eval()
    target.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for path in list_images(source):
        output = model.translate(to_tensor(load_rgb(path)).unsqueeze(0))[0]
        to_pil(output.detach()).save(target / path.name)
    return time.perf_counter() - started


def translate_folder(run: Path, source: Path, target: Path, precision: str) -> float:
    translator = Translator.load(run, device="cpu", precision=precision)
    started = time.perf_counter()
    report = translator.convert_folder(source, target)
    assert report.ok and report.converted, report.summary()
    return time.perf_counter() - started


def tiled_peak_rss(run: Path, work: Path) -> float:
    """Peak RSS (GiB) of a fresh process converting one 4096×4096 image by tiling."""
    big = work / "big"
    make_images(big, 1, size=4096)
    code = (
        "import resource, sys; from translate.convert import Translator; "
        f"r = Translator.load({str(run)!r}, device='cpu', precision='bf16').convert_folder({str(big)!r}, "
        f"{str(work / 'big-out')!r}); assert r.ok; "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images in the small run")
    parser.add_argument("--scale", type=int, default=10, help="the large run has this many times more images")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_checkpoint(work / "run")
        make_images(work / "small", args.images)
        naive_s = naive(work / "run", work / "small", work / "naive-out")
        fp32_s = translate_folder(work / "run", work / "small", work / "fp32-out", "fp32")
        bf16_s = translate_folder(work / "run", work / "small", work / "bf16-out", "bf16")
        make_images(work / "large", args.images * args.scale)
        large_s = translate_folder(work / "run", work / "large", work / "large-out", "bf16")
        rate = lambda count, seconds: count / seconds  # noqa: E731
        naive_rate, fp32_rate, bf16_rate = (rate(args.images, s) for s in (naive_s, fp32_s, bf16_s))
        large_rate = rate(args.images * args.scale, large_s)
        print(f"CycleGAN ResNet-9, {args.images} images of 256x256, {torch.get_num_threads()} threads")
        print(f"naive loop           {naive_rate:6.2f} img/s")
        print(f"translate fp32       {fp32_rate:6.2f} img/s   {fp32_rate / naive_rate:4.2f}x naive")
        print(f"translate bf16       {bf16_rate:6.2f} img/s   {bf16_rate / naive_rate:4.2f}x naive")
        print(f"translate bf16 x{args.scale:<3}  {large_rate:6.2f} img/s   {large_rate / bf16_rate:4.2f}x the small run")
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
        print(f"4096x4096 by tiling, bf16: peak RSS {tiled_peak_rss(work / 'run', work):.2f} GiB")


if __name__ == "__main__":
    main()
