"""Conversion throughput: `translate convert` against a naive loop, measured side by side.

Builds a folder of 256×256 images and a CycleGAN checkpoint (ResNet-9 generator,
untrained: speed does not depend on the weights), then converts the folder

* with a naive loop as the reference converter does it: PIL open -> tensor ->
  model at batch 1 without inference mode -> save;
* with :meth:`Translator.convert_folder` at fp32, with ``--compile`` (its one-off
  compilation timed apart) and at bf16 — bf16 only where this CPU has bf16
  instructions: elsewhere it is far slower than fp32 (see :mod:`translate.precision`);
* with the fastest eager precision on ``--scale`` times more images (does throughput hold?);

translates one 4096×4096 image by tiling in a fresh process, reporting its peak RSS,
and a 9500×9500 PNG (90 megapixels, accepted with ``--max-pixels``) with a small
generator, where memory is the image buffers': peak RSS against the 8-bit image's size.

The one-thread row compares whole processes, as a user runs them: the naive loop as a
script and ``translate convert`` as a command, both with ``OMP_NUM_THREADS=1``, on
``--one-thread-images`` 256×256 PNGs, alternated ``--pairs`` times; it prints the
median wall, user and system seconds of each and their ratios, so overhead outside the
model (threads, temporary files, page faults) stays visible.

Prints images/s and the ratios. Run: ``python benchmarks/convert.py`` (takes about 40
minutes on 2 AVX2 cores); ``--rows one-thread`` runs the one-thread row alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from PIL import Image

from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_pil, to_tensor
from translate.errors import TranslateWarning
from translate.precision import cpu_computes_in
from translate.train.trainer import Trainer, TrainConfig


#: Images per batch in convert_folder (its default); the compiled model is warmed up at this shape.
BATCH_SIZE = 4


def make_images(folder: Path, count: int, size: int = 256) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.effect_noise((size, size), 40 + index % 50).convert("RGB").save(folder / f"{index:05d}.png")


def make_checkpoint(run: Path) -> None:
    with warnings.catch_warnings():  # the 64-pixel sample set is scaled up to 256: say nothing of it
        warnings.simplefilter("ignore", TranslateWarning)
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


def translate_folder(translator: Translator, source: Path, target: Path) -> float:
    started = time.perf_counter()
    report = translator.convert_folder(source, target, batch_size=BATCH_SIZE)
    assert report.ok and report.converted, report.summary()
    return time.perf_counter() - started


def compiled(run: Path) -> tuple[Translator, float]:
    """A compiled fp32 translator, warmed up on a batch like convert_folder's, and the seconds that took."""
    translator = Translator.load(run, device="cpu", compile=True)
    started = time.perf_counter()
    translator.translate_batch(torch.zeros(BATCH_SIZE, 3, 256, 256))
    return translator, time.perf_counter() - started


#: :func:`naive` as a process of its own (argv: run, source, target), for the one-thread row.
NAIVE_SCRIPT = f"""
import sys, torch
from pathlib import Path
torch.set_num_threads(1)
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from convert import naive
naive(*map(Path, sys.argv[1:]))
"""


def process_times(command: list[str]) -> tuple[float, float, float]:
    """Wall, user and system seconds of ``command`` run as a child process with one thread."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{command[:3]} failed:\n{child.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_utime, usage.ru_stime


def one_thread_row(run: Path, work: Path, count: int, pairs: int) -> None:
    """The naive loop and ``translate convert`` as whole processes on one thread, alternated ``pairs`` times."""
    source = work / "one-thread"
    make_images(source, count)
    translate_command = Path(sys.executable).parent / "translate"
    times: dict[str, list[tuple[float, float, float]]] = {"naive loop": [], "translate convert": []}
    for pair in range(pairs):
        times["naive loop"].append(process_times([sys.executable, "-c", NAIVE_SCRIPT, str(run), str(source),
                                                  str(work / f"naive-1t-{pair}")]))
        times["translate convert"].append(process_times([str(translate_command), "convert", str(run), str(source),
                                                         str(work / f"translate-1t-{pair}"), "--device", "cpu"]))
    medians = {name: [statistics.median(column) for column in zip(*rows)] for name, rows in times.items()}
    print(f"one thread, {count} images, whole processes, median of {pairs} alternated pairs:")
    for name, (wall, user, system) in medians.items():
        print(f"  {name:<18} wall {wall:7.1f} s  user {user:7.1f} s  sys {system:6.1f} s")
    ratios = [ours / theirs for ours, theirs in zip(medians["translate convert"], medians["naive loop"])]
    print("  translate / naive  wall {:5.2f}x    user {:5.2f}x    sys {:4.2f}x".format(*ratios), flush=True)


def huge_image_peak_rss(work: Path) -> tuple[float, float]:
    """Peak RSS (GiB) of a fresh process converting a 9500×9500 PNG with a small generator; the 8-bit image's GiB."""
    import numpy

    run, folder = work / "small-run", work / "huge"
    Trainer(TrainConfig(model="cyclegan", loss="lsgan", out=str(run), steps=1, image_size=32, sample_every=10**6,
                        model_options={"ngf": "8", "ndf": "8"})).train(progress=False)
    folder.mkdir()
    block = numpy.random.default_rng(0).integers(0, 256, (500, 500, 3), dtype=numpy.uint8)
    Image.fromarray(numpy.tile(block, (19, 19, 1))).save(folder / "huge.png", compress_level=1)
    peak = conversion_peak_rss(run, folder, work / "huge-out", convert={"max_pixels": 10**8})
    return peak, 9500 * 9500 * 3 / 2**30


def tiled_peak_rss(run: Path, work: Path, precision: str) -> float:
    """Peak RSS (GiB) of a fresh process converting one 4096×4096 image by tiling."""
    big = work / "big"
    make_images(big, 1, size=4096)
    return conversion_peak_rss(run, big, work / "big-out", load={"precision": precision})


def conversion_peak_rss(run: Path, source: Path, target: Path, load: dict | None = None,
                        convert: dict | None = None) -> float:
    """Peak RSS (GiB) of a fresh process converting ``source`` (``load``/``convert``: keyword arguments)."""
    code = (
        "from translate.convert import Translator; "
        f"r = Translator.load({str(run)!r}, device='cpu', **{load or {}!r}).convert_folder({str(source)!r}, "
        f"{str(target)!r}, **{convert or {}!r}); assert r.ok, r.failed; "
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"converting {source} failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images in the small run")
    parser.add_argument("--scale", type=int, default=10, help="the large run has this many times more images")
    parser.add_argument("--one-thread-images", type=int, default=50, help="images in the one-thread row")
    parser.add_argument("--pairs", type=int, default=2, help="alternated naive/translate pairs (one-thread row)")
    parser.add_argument("--rows", choices=["all", "one-thread"], default="all", help="which rows to run")
    args = parser.parse_args()
    torch.manual_seed(0)
    bf16 = cpu_computes_in("bf16")
    print(f"CycleGAN ResNet-9, {args.images} images of 256x256, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, bf16 instructions: {'yes' if bf16 else 'no'}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = work / "run"
        make_checkpoint(run)
        one_thread_row(run, work, args.one_thread_images, args.pairs)
        if args.rows == "one-thread":
            return
        make_images(work / "small", args.images)
        rate = lambda count, seconds: count / seconds  # noqa: E731

        naive_rate = rate(args.images, naive(run, work / "small", work / "naive-out"))
        print(f"naive loop              {naive_rate:6.2f} img/s", flush=True)
        fp32_rate = rate(args.images, translate_folder(Translator.load(run, device="cpu"), work / "small",
                                                       work / "fp32-out"))
        print(f"translate fp32          {fp32_rate:6.2f} img/s   {fp32_rate / naive_rate:4.2f}x naive", flush=True)
        translator, warm_up = compiled(run)
        compiled_rate = rate(args.images, translate_folder(translator, work / "small", work / "compiled-out"))
        print(f"translate fp32 compile  {compiled_rate:6.2f} img/s   {compiled_rate / naive_rate:4.2f}x naive "
              f"(after {warm_up:.0f} s of compilation)", flush=True)
        fastest, fastest_rate = "fp32", fp32_rate
        if bf16:
            bf16_rate = rate(args.images, translate_folder(Translator.load(run, device="cpu", precision="bf16"),
                                                           work / "small", work / "bf16-out"))
            print(f"translate bf16          {bf16_rate:6.2f} img/s   {bf16_rate / naive_rate:4.2f}x naive", flush=True)
            fastest, fastest_rate = max([(fastest, fastest_rate), ("bf16", bf16_rate)], key=lambda pair: pair[1])
        else:
            print("translate bf16          not run: this CPU has no bf16 instructions (far slower than fp32)")

        make_images(work / "large", args.images * args.scale)
        large_rate = rate(args.images * args.scale, translate_folder(
            Translator.load(run, device="cpu", precision=fastest), work / "large", work / "large-out"))
        print(f"translate {fastest} x{args.scale:<3}     {large_rate:6.2f} img/s   "
              f"{large_rate / fastest_rate:4.2f}x the small run", flush=True)
        print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB",
              flush=True)
        print(f"4096x4096 by tiling, {fastest}: peak RSS {tiled_peak_rss(run, work, fastest):.2f} GiB", flush=True)
        peak, image = huge_image_peak_rss(work)
        print(f"9500x9500 PNG, small generator: peak RSS {peak:.2f} GiB ({peak / image:.1f}x the 8-bit image)")


if __name__ == "__main__":
    main()
