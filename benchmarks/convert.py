"""Conversion throughput: `translate convert` against a naive loop, measured side by side.

Trains a CycleGAN with a ResNet-9 generator briefly on real photographs (``--train-steps`` at
64 px: speed does not depend on the weights, but int8's fidelity does, and an untrained generator
says nothing about it), builds a folder of 256×256 photo crops, then converts the folder

* with a naive loop as the reference converter does it: PIL open -> tensor ->
  model at batch 1 without inference mode -> save;
* with :meth:`Translator.convert_folder` at fp32, with ``--compile`` (its one-off
  compilation timed apart) and at bf16 — bf16 only where this CPU has bf16
  instructions: elsewhere it is far slower than fp32 (see :mod:`translate.devices`);
* through ONNX Runtime (``--backend onnxruntime``) at fp32 (the export timed apart) and at int8
  (calibration on the folder's first 16 images, quantization and the fidelity gate timed apart),
  and reports the PSNR of int8 against ONNX Runtime fp32 on the photos not used for calibration;
* with the fastest eager precision on ``--scale`` times more images (does throughput hold?);

then runs the naive loop and each converter again, each in a fresh process (``translate convert``
as the console script runs it; ONNX Runtime from its cache), reporting whole-process images/s,
peak RSS (VmHWM) and system time, on the 256×256 crops and on ``--large-images`` photos of
1024×768 (converted in two tiles of 768×544; the naive loop translates them whole); translates one
4096×4096 image by tiling in a fresh process, reporting its peak RSS, and a 9500×9500 PNG (90 megapixels,
accepted with ``--max-pixels``) with a small generator, where memory is the image buffers': peak
RSS against the 8-bit image's size. ``--rounds N`` repeats the in-process naive/fp32/ONNX Runtime
rows and the fresh-process rows N times interleaved and keeps each one's best (and highest peak RSS),
for machines with other work running or noisy neighbours. ``--hide-avx512`` runs everything with the
AVX2 code paths of PyTorch, oneDNN and ONNX Runtime on a CPU that has AVX-512 (see ``hide_avx512.c``:
CPUID faulting on Linux; needs a C compiler): the kernels an AVX2-only CPU runs, on this machine's
caches and memory.

The one-thread row compares whole processes, as a user runs them: the naive loop as a
script and ``translate convert`` as a command, both with ``OMP_NUM_THREADS=1``, on
``--one-thread-images`` 256×256 photo crops, alternated ``--pairs`` times; it prints the
median wall, user and system seconds of each and their ratios, so overhead outside the
model (threads, temporary files, page faults) stays visible.

Run: ``python benchmarks/convert.py`` (``--images 64 --scale 10 --train-steps 300`` are the
defaults; takes about 45 minutes on 2 AVX2 cores); ``--rows one-thread`` runs the one-thread row
alone, ``--rows crops`` the fresh-process rows on the 256×256 crops, ``--rows large`` those on the
large photos. A quick check that it runs:
``python benchmarks/convert.py --images 4 --scale 1 --train-steps 2 --one-thread-images 2 --pairs 1
--large-images 1``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_pil, to_tensor
from translate.data.photo_tasks import TEST_PHOTOS, TRAIN_PHOTOS, load_photo, random_tiles, write_unpaired_grading
from translate.metrics import psnr
from translate.devices import cpu_computes_in
from translate.train.trainer import Trainer, TrainConfig

#: Images per batch in convert_folder (its default); the compiled model is warmed up at this shape.
BATCH_SIZE = 4
#: Calibration images of the int8 rows (the backend's default).
CALIBRATION_IMAGES = 16


def hide_avx512() -> None:
    """Run this script again with AVX-512 hidden from it and its children (``hide_avx512.c`` preloaded)."""
    library = Path(tempfile.gettempdir()) / "translate-benchmark-hide_avx512.so"
    try:
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(Path(__file__).with_name(
            "hide_avx512.c"))], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"--hide-avx512 needs a C compiler (cc) to build hide_avx512.c: {exc}") from None
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "LD_PRELOAD": str(library)})


def make_images(folder: Path, count: int, size: int = 256) -> None:
    """``count`` crops of the test extra's photographs, taking the photos in turn (so any first images vary)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [load_photo(name) for name in TRAIN_PHOTOS + TEST_PHOTOS]
    rng = np.random.default_rng(0)
    for index in range(count):
        (tile,) = random_tiles(photos[index % len(photos)], 1, size, rng)
        tile.save(folder / f"{index:05d}.png")


def make_noise_image(folder: Path, size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.effect_noise((size, size), 40).convert("RGB").save(folder / "big.png")


def make_checkpoint(run: Path, work: Path, steps: int) -> None:
    """A CycleGAN ResNet-9 trained ``steps`` steps at 64 px on the photo grading task."""
    data = write_unpaired_grading(work / "grading", size=64, train_per_photo=4, test_per_photo=1)
    Trainer(TrainConfig(model="cyclegan", loss="lsgan", data=str(data), out=str(run), steps=steps, image_size=64,
                        model_options={"generator": "resnet_9blocks"}, sample_every=10**6)).train(progress=False)


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
    report = translator.convert_folder(source, target, batch_size=BATCH_SIZE, overwrite=True)
    assert report.ok and report.converted, report.summary()
    return time.perf_counter() - started


def compiled(run: Path) -> tuple[Translator, float]:
    """A compiled fp32 translator, warmed up on a batch like convert_folder's, and the seconds that took."""
    translator = Translator.load(run, device="cpu", compile=True)
    started = time.perf_counter()
    translator.translate_batch(torch.zeros(BATCH_SIZE, 3, 256, 256))
    return translator, time.perf_counter() - started


def onnxruntime(run: Path, source: Path, precision: str) -> Translator:
    """An ONNX Runtime translator with its model built (exported; int8: calibrated on ``source``).

    The fidelity gate is measured and printed but not applied (``min_psnr=0``): this benchmark
    reports int8's PSNR itself, and a briefly trained model (``--train-steps 2``) still runs.
    """
    options = {"min_psnr": 0} if precision == "int8" else {}
    translator = Translator.load(run, backend="onnxruntime", precision=precision,
                                 report=lambda line: print(f"  onnxruntime: {line}", flush=True), **options)
    translator.runtime.prepare([{}], list_images(source))
    return translator


def held_out_psnr(int8_out: Path, fp32_out: Path, skip: int) -> tuple[float, float, int]:
    """Mean and worst PSNR of int8 against fp32 outputs over the images after the first ``skip``."""
    names = sorted(path.name for path in fp32_out.iterdir())
    names = names[skip:] or names  # too few images: every one (then they were all calibration images)
    values = [psnr(to_tensor(load_rgb(int8_out / name)).unsqueeze(0), to_tensor(load_rgb(fp32_out / name)).unsqueeze(0))
              for name in names]
    return sum(values) / len(values), min(values), len(names)


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
    run, folder = work / "small-run", work / "huge"
    Trainer(TrainConfig(model="cyclegan", loss="lsgan", out=str(run), steps=1, image_size=32, sample_every=10**6,
                        model_options={"ngf": "8", "ndf": "8"})).train(progress=False)
    folder.mkdir()
    block = np.random.default_rng(0).integers(0, 256, (500, 500, 3), dtype=np.uint8)
    Image.fromarray(np.tile(block, (19, 19, 1))).save(folder / "huge.png", compress_level=1)
    peak = conversion_peak_rss(run, folder, work / "huge-out", convert={"max_pixels": 10**8})
    return peak, 9500 * 9500 * 3 / 2**30


#: Each converter of the fresh-process rows: ``translate convert`` options, or the naive loop.
FRESH = {
    "naive loop": None,
    "translate fp32": [],
    "onnxruntime fp32": ["--backend", "onnxruntime"],
    "onnxruntime int8": ["--backend", "onnxruntime", "--precision", "int8", "--min-psnr", "0"],
}

#: ``translate convert`` as the console script runs it (torch not imported before the command
#: starts), then VmHWM as JSON: ru_maxrss would carry the parent's over across fork and exec.
CLI_SCRIPT = """
import json, sys
from translate.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    if exit.code:
        raise
print(json.dumps({"vmhwm_kib": next(int(line.split()[1]) for line in open("/proc/self/status")
                                    if line.startswith("VmHWM"))}))
"""


def fresh_process(converter: str, run: Path, source: Path, target: Path) -> tuple[float, float, float]:
    """Whole-process seconds, peak RSS (GiB) and system seconds of converting ``source`` in a new process."""
    if FRESH[converter] is None:
        command = [sys.executable, __file__, "--child", converter, str(run), str(source), str(target)]
    else:
        command = [sys.executable, "-c", CLI_SCRIPT, "convert", str(run), str(source), str(target), "--overwrite",
                   *FRESH[converter]]
    system_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    system = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime - system_before
    if result.returncode != 0:
        raise SystemExit(f"{converter} in a fresh process failed:\n{result.stderr[-2000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])["vmhwm_kib"] / 2**20, system


def child(converter: str, run: str, source: str, target: str) -> None:
    """The naive loop's fresh process of :func:`fresh_process`: convert, then print VmHWM as JSON."""
    naive(Path(run), Path(source), Path(target))
    vmhwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"vmhwm_kib": vmhwm}))


def fresh_rows(run: Path, source: Path, count: int, work: Path, what: str, rounds: int) -> None:
    """Every converter of :data:`FRESH` on ``source`` in a fresh process, ``rounds`` times interleaved:
    images/s, ratio and system time of each one's fastest process, and its highest peak RSS."""
    print(f"fresh processes on {count} {what} (whole process: start, load, convert; onnxruntime from its cache"
          f"{f'; fastest of {rounds}' if rounds > 1 else ''}):", flush=True)
    processes: dict[str, list[tuple[float, float, float]]] = {converter: [] for converter in FRESH}
    for _ in range(rounds):
        for converter in FRESH:
            processes[converter].append(fresh_process(converter, run, source, work / "fresh-out"))
    naive_seconds = min(processes["naive loop"])[0]
    for converter, results in processes.items():
        seconds, _, system = min(results)
        peak = max(peak for _, peak, _ in results)
        print(f"  {converter:<21} {count / seconds:6.2f} img/s   {naive_seconds / seconds:4.2f}x naive   "
              f"peak RSS {peak:.2f} GiB   system {system:5.1f} s", flush=True)


def cached_onnxruntime_models(run: Path, source: Path) -> None:
    """Build the ONNX Runtime models of the fresh-process rows (int8 calibrated on ``source``), so that
    those rows convert from the cache."""
    for precision in ("fp32", "int8"):
        onnxruntime(run, source, precision)


def crop_rows(run: Path, small: Path, count: int, work: Path, rounds: int) -> None:
    """The fresh-process rows on ``count`` 256×256 photo crops."""
    make_images(small, count)
    cached_onnxruntime_models(run, small)
    fresh_rows(run, small, count, work, "256x256 photo crops", rounds)


def large_photo_rows(run: Path, work: Path, count: int, rounds: int) -> None:
    """The fresh-process rows on ``count`` photos of 1024×768, which translate converts in two tiles of
    768×544 (the naive loop whole)."""
    folder = work / "large-photos"
    folder.mkdir(parents=True, exist_ok=True)
    photos = [load_photo(name) for name in TRAIN_PHOTOS + TEST_PHOTOS]
    for index in range(count):
        photos[index % len(photos)].convert("RGB").resize((1024, 768)).save(folder / f"{index:03d}.png")
    cached_onnxruntime_models(run, folder)
    fresh_rows(run, folder, count, work, "photos of 1024x768", rounds)


def tiled_peak_rss(run: Path, work: Path, precision: str) -> float:
    """Peak RSS (GiB) of a fresh process converting one 4096×4096 image by tiling."""
    big = work / "big"
    make_noise_image(big, 4096)
    return conversion_peak_rss(run, big, work / "big-out", load={"precision": precision})


def conversion_peak_rss(run: Path, source: Path, target: Path, load: dict | None = None,
                        convert: dict | None = None) -> float:
    """Peak RSS (GiB) of a fresh process converting ``source`` (``load``/``convert``: keyword arguments)."""
    code = (
        "from translate.convert import Translator; "
        f"r = Translator.load({str(run)!r}, device='cpu', **{load or {}!r}).convert_folder({str(source)!r}, "
        f"{str(target)!r}, **{convert or {}!r}); assert r.ok, r.failed; "
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"converting {source} failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.strip().splitlines()[-1]) / 2**20


def best_of(rounds: int, converters: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Run every converter ``rounds`` times, interleaved; the shortest seconds of each."""
    seconds = {name: float("inf") for name in converters}
    for _ in range(rounds):
        for name, convert in converters.items():
            seconds[name] = min(seconds[name], convert())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images in the small run")
    parser.add_argument("--scale", type=int, default=10, help="the large run has this many times more images")
    parser.add_argument("--train-steps", type=int, default=300, help="training steps of the benchmarked model")
    parser.add_argument("--rounds", type=int, default=1,
                        help="interleaved repetitions of the main and fresh-process rows (best kept)")
    parser.add_argument("--one-thread-images", type=int, default=50, help="images in the one-thread row")
    parser.add_argument("--pairs", type=int, default=2, help="alternated naive/translate pairs (one-thread row)")
    parser.add_argument("--large-images", type=int, default=8, help="photos of 1024x768 in the large-photo rows")
    parser.add_argument("--rows", choices=["all", "one-thread", "crops", "large"], default="all",
                        help="which rows to run")
    parser.add_argument("--hide-avx512", action="store_true",
                        help="run the AVX2 code paths (AVX-512, AMX and AVX-VNNI hidden from every process)")
    parser.add_argument("--child", nargs=4, metavar=("CONVERTER", "RUN", "SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if args.hide_avx512 and "hide_avx512" not in os.environ.get("LD_PRELOAD", ""):
        return hide_avx512()
    torch.manual_seed(0)
    bf16 = cpu_computes_in("bf16")
    print(f"CycleGAN ResNet-9, {args.images} photo crops of 256x256, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, bf16 instructions: {'yes' if bf16 else 'no'}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run, small = work / "run", work / "small"
        make_checkpoint(run, work, args.train_steps)
        if args.rows == "crops":
            return crop_rows(run, small, args.images, work, args.rounds)
        if args.rows == "large":
            return large_photo_rows(run, work, args.large_images, args.rounds)
        one_thread_row(run, work, args.one_thread_images, args.pairs)
        if args.rows == "one-thread":
            return
        make_images(small, args.images)
        rate = lambda count, seconds: count / seconds  # noqa: E731

        ort_fp32 = onnxruntime(run, small, "fp32")
        export_seconds = ort_fp32.runtime.timings["export"]
        ort_int8 = onnxruntime(run, small, "int8")
        build = ort_int8.runtime.timings
        eager = Translator.load(run, device="cpu")
        seconds = best_of(args.rounds, {
            "naive": lambda: naive(run, small, work / "naive-out"),
            "fp32": lambda: translate_folder(eager, small, work / "fp32-out"),
            "ort fp32": lambda: translate_folder(ort_fp32, small, work / "ort-fp32-out"),
            "ort int8": lambda: translate_folder(ort_int8, small, work / "ort-int8-out"),
        })
        naive_rate = rate(args.images, seconds["naive"])
        print(f"naive loop              {naive_rate:6.2f} img/s", flush=True)
        fp32_rate = rate(args.images, seconds["fp32"])
        print(f"translate fp32          {fp32_rate:6.2f} img/s   {fp32_rate / naive_rate:4.2f}x naive", flush=True)
        ort_fp32_rate = rate(args.images, seconds["ort fp32"])
        print(f"onnxruntime fp32        {ort_fp32_rate:6.2f} img/s   {ort_fp32_rate / naive_rate:4.2f}x naive "
              f"(after {export_seconds:.0f} s of export)", flush=True)
        ort_int8_rate = rate(args.images, seconds["ort int8"])
        print(f"onnxruntime int8        {ort_int8_rate:6.2f} img/s   {ort_int8_rate / naive_rate:4.2f}x naive "
              f"(after {build['calibration']:.0f} s of calibration on {min(CALIBRATION_IMAGES, args.images)} images, "
              f"{build['quantization']:.0f} s of quantization, {build['gate']:.0f} s of fidelity gate)", flush=True)
        mean, worst, count = held_out_psnr(work / "ort-int8-out", work / "ort-fp32-out", CALIBRATION_IMAGES)
        print(f"int8 against fp32       PSNR {mean:.1f} dB (worst {worst:.1f} dB) on {count} photo crops", flush=True)

        translator, warm_up = compiled(run)
        compiled_rate = rate(args.images, translate_folder(translator, small, work / "compiled-out"))
        print(f"translate fp32 compile  {compiled_rate:6.2f} img/s   {compiled_rate / naive_rate:4.2f}x naive "
              f"(after {warm_up:.0f} s of compilation)", flush=True)
        fastest, fastest_rate = "fp32", fp32_rate
        if bf16:
            bf16_rate = rate(args.images, translate_folder(Translator.load(run, device="cpu", precision="bf16"),
                                                           small, work / "bf16-out"))
            print(f"translate bf16          {bf16_rate:6.2f} img/s   {bf16_rate / naive_rate:4.2f}x naive", flush=True)
            fastest, fastest_rate = max([(fastest, fastest_rate), ("bf16", bf16_rate)], key=lambda pair: pair[1])
        else:
            print("translate bf16          not run: this CPU has no bf16 instructions (far slower than fp32)")

        fresh_rows(run, small, args.images, work, "256x256 photo crops", args.rounds)

        make_images(work / "large", args.images * args.scale)
        large_rate = rate(args.images * args.scale, translate_folder(
            Translator.load(run, device="cpu", precision=fastest), work / "large", work / "large-out"))
        print(f"translate {fastest} x{args.scale:<3}     {large_rate:6.2f} img/s   "
              f"{large_rate / fastest_rate:4.2f}x the small run", flush=True)
        print(f"4096x4096 by tiling, {fastest}: peak RSS {tiled_peak_rss(run, work, fastest):.2f} GiB", flush=True)
        peak, image = huge_image_peak_rss(work)
        print(f"9500x9500 PNG, small generator: peak RSS {peak:.2f} GiB ({peak / image:.1f}x the 8-bit image)")
        large_photo_rows(run, work, args.large_images, args.rounds)


if __name__ == "__main__":
    main()
