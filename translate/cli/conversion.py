"""``translate convert`` and ``translate export``: using a trained model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from translate.cli.common import (
    BACKEND_CHOICES,
    CALIBRATION_IMAGES_DEFAULT,
    DIRECTION_CHOICES,
    DROPOUT_SEED_DEFAULT,
    MIN_PSNR_DEFAULT,
    NORM_STATS_CHOICES,
    ONNX_ONLY_PRECISIONS,
    PRECISION_CHOICES,
    REFERENCE_ARCH_CHOICES,
    UserError,
    command_registry,
    plugin_option,
    user_errors,
    with_options,
)


#: What to translate into: a direction, a target domain, or every one of them.
CONDITION_OPTIONS = (
    click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default=None,
                 help="Direction for two-way models (default: the one trained)."),
    click.option("--to", "target", default=None, metavar="TARGET",
                 help="Target domain or attributes for multi-domain models (e.g. --to Blond_Hair)."),
    click.option("--every-target", is_flag=True,
                 help="Write every direction/target domain, each into its own subfolder of DST."),
    click.option("--styles", type=click.IntRange(min=1), default=None, metavar="N",
                 help="Multimodal models (MUNIT): write N outputs per input, NAME_s0 ... NAME_s{N-1}, with the "
                      "random styles of seeds --seed ... --seed+N-1 (the same styles for every input)."),
    click.option("--style-from", type=click.Path(exists=True, dir_okay=False), default=None, metavar="IMAGE",
                 help="Multimodal models (MUNIT): translate with the style of IMAGE, an example of the target "
                      "domain."),
)
#: How outputs are written.
OUTPUT_OPTIONS = (
    click.option("--format", "fmt", type=click.Choice(["same", "png", "jpg", "webp"]), default="same",
                 show_default=True, help="Output file format (same: the input's)."),
    click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
                 help="JPEG/WebP quality."),
    click.option("--overwrite", is_flag=True, help="Replace outputs that already exist (default: skip them)."),
    click.option("--allow-inside-input", is_flag=True, help="Allow DST inside SRC (default: refused)."),
)
#: Where and how the model computes.
BACKEND_OPTIONS = (
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
    click.option("--precision", type=click.Choice(PRECISION_CHOICES + ONNX_ONLY_PRECISIONS), default="fp32",
                 show_default=True,
                 help="Compute precision: bf16/fp16 are faster on GPUs and on CPUs with such instructions "
                      "(AVX-512 BF16, AMX); far slower on other CPUs, with a warning. int8 needs --backend "
                      "onnxruntime."),
    click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="torch", show_default=True,
                 help="onnxruntime: convert through ONNX Runtime on the CPU at fp32 or int8 (needs the 'onnx' "
                      "extra); the exported model is cached beside the checkpoint."),
    click.option("--calibrate", type=click.Path(exists=True, file_okay=False), default=None, metavar="DIR",
                 help="int8: calibrate on the images of DIR (default: the first images being converted)."),
    click.option("--calibration-images", type=click.IntRange(min=1), default=None, metavar="N",
                 help=f"int8: how many images calibrate the model and are checked by --min-psnr.  "
                      f"[default: {CALIBRATION_IMAGES_DEFAULT}]"),
    click.option("--min-psnr", type=click.FloatRange(min=0), default=None, metavar="DB",
                 help=f"int8: refuse the int8 model if its output on a calibration image is less than DB dB "
                      f"PSNR from fp32's.  [default: {MIN_PSNR_DEFAULT:g}]"),
    click.option("--compile", "use_compile", is_flag=True,
                 help="torch.compile the generator (slow start, faster runs)."),
    click.option("--arch", type=click.Choice(REFERENCE_ARCH_CHOICES), default=None,
                 help="Architecture of a reference latest_net_G.pth given as CHECKPOINT (needed for .pth)."),
)
#: How the generator runs: eval mode, or the pix2pix reference's test-time mode.
GENERATOR_MODE_OPTIONS = (
    click.option("--norm-stats", type=click.Choice(NORM_STATS_CHOICES), default="running", show_default=True,
                 help="Batch-norm statistics: running (eval mode) or batch (each image's own, as the pix2pix "
                      "reference's test.py without --eval). Generators with batch norm only."),
    click.option("--dropout", type=click.Choice(["off", "on"]), default="off", show_default=True,
                 help="on: dropout stays active, as in the pix2pix reference's test.py without --eval. "
                      "Generators with dropout only."),
    click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None, metavar="N",
                 help=f"Seed of the first random style of --styles, and of torch's random state for each image "
                      f"with --dropout on (the dropout masks).  [default: {DROPOUT_SEED_DEFAULT}]"),
)
#: How images flow through: batches, threads, tiles, the size limit.
THROUGHPUT_OPTIONS = (
    click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
                 help="Images of one size translated together."),
    click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
                 help="Threads decoding and encoding images while the model runs."),
    click.option("--tile", type=click.IntRange(min=64), default=768, show_default=True,
                 help="Images larger than this (pixels per side) are translated in the fewest overlapping "
                      "tiles of at most this size."),
    click.option("--tile-overlap", type=click.IntRange(min=0), default=64, show_default=True,
                 help="Pixels shared by neighbouring tiles, blended linearly (less than half of --tile)."),
    click.option("--max-pixels", type=click.IntRange(min=1), default=89_478_485, show_default=True,
                 help="Images with more pixels (width × height) are listed as failed without being decoded; "
                      "the default is Pillow's decompression-bomb limit."),
)


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("src")
@click.argument("dst", type=click.Path(file_okay=False))
@with_options(*CONDITION_OPTIONS, *OUTPUT_OPTIONS, *BACKEND_OPTIONS, *GENERATOR_MODE_OPTIONS, *THROUGHPUT_OPTIONS)
@plugin_option
@user_errors
def convert(checkpoint: str, src: str, dst: str, direction: str | None, target: str | None, every_target: bool,
            styles: int | None, style_from: str | None, fmt: str, quality: int, overwrite: bool, allow_inside_input: bool, device: str, precision: str,
            backend: str, calibrate: str | None, calibration_images: int | None, min_psnr: float | None,
            batch_size: int, workers: int, tile: int, tile_overlap: int, max_pixels: int, use_compile: bool,
            arch: str | None, norm_stats: str, dropout: str, seed: int | None, plugins: tuple[str, ...]) -> None:
    """Translate images with a trained model: SRC is a folder (walked), a file or a glob.

    Outputs mirror the relative paths under DST at each input's own size.
    CHECKPOINT is a checkpoint folder or a run folder (its latest checkpoint), or a
    latest_net_G.pth of the PyTorch CycleGAN/pix2pix reference with --arch.
    Multimodal models (MUNIT) write --styles N outputs per input, or one with the
    style of an example image (--style-from).
    Under torchrun every process converts a disjoint share. --backend onnxruntime
    converts through ONNX Runtime at fp32 or int8 (calibrated, refused below --min-psnr).
    --norm-stats batch --dropout on run a batch-norm generator as the pix2pix reference's test.py does.
    """
    from translate.convert.allocator import huge_pages_for_tensors, keep_freed_memory

    huge_pages_for_tensors()  # before torch is imported: large activations are faulted in 2 MiB at a time
    from tqdm.auto import tqdm

    from translate.convert.generator_mode import GeneratorMode
    from translate.convert.outputs import collect_inputs
    from translate.convert.tiling import check_tiling
    from translate.convert.translator import Translator, distributed_share
    from translate.data.images import pillow_limit_off

    try:
        check_tiling(tile, tile_overlap)
    except ValueError as exc:
        raise UserError(f"--tile {tile} --tile-overlap {tile_overlap}: {exc}") from None
    if backend == "torch":  # ONNX Runtime takes an image's activations in one block, mapped afresh for each run
        keep_freed_memory()  # activations freed layer by layer are reused, not faulted in afresh for every image
    base, sources = collect_inputs(src)
    refuse_output_inside_input(base, dst, allow_inside_input)
    backend_options = onnxruntime_options(backend, precision, calibrate, calibration_images, min_psnr)
    translator = Translator.load(checkpoint, device=device, precision=precision, tile=tile, overlap=tile_overlap,
                                 compile=use_compile, registry=command_registry(plugins), arch=arch,
                                 backend=backend,
                                 mode=GeneratorMode(norm_stats, dropout == "on", None if styles and dropout == "off"
                                                    else seed),
                                 **backend_options)
    condition = {key: value for key, value in (("direction", direction), ("to", target), ("style", style_from))
                 if value}
    if styles is not None and style_from is not None:
        raise UserError("--styles writes random styles and --style-from the style of one image; choose one")
    rank, world_size = distributed_share()
    share = len(sources[rank::world_size])
    with tqdm(total=share, unit="img", dynamic_ncols=True, disable=None if rank == 0 else True) as bar, \
            pillow_limit_off():  # --max-pixels replaces Pillow's check and its multi-line warning
        report = translator.convert_folder(base, dst, sources=sources, fmt=fmt, quality=quality,
                                           overwrite=overwrite, batch_size=batch_size, workers=workers,
                                           every_target=every_target, styles=styles,
                                           style_seed=DROPOUT_SEED_DEFAULT if seed is None else seed,
                                           max_pixels=max_pixels,
                                           progress=lambda _: bar.update(1), **condition)
    show_report(report, f"rank {rank}: " if world_size > 1 else "")


def refuse_output_inside_input(base: Path, dst: str, allowed: bool) -> None:
    """Unless ``allowed``, refuse an output folder inside the input folder ``base`` (a second run would
    convert its own outputs)."""
    source_dir, target_dir = base.resolve(), Path(dst).resolve()
    if not allowed and (target_dir == source_dir or source_dir in target_dir.parents):
        raise UserError(f"output folder '{dst}' is inside the input folder '{base}'; choose another output "
                        "folder or pass --allow-inside-input")


def show_report(report: Any, prefix: str) -> None:
    """Print a :class:`~translate.convert.translator.ConvertReport`: clashes and failures on stderr, the summary
    on stdout; exit with status 1 when an input failed."""
    for clash in report.clashes:
        click.echo(f"name clash: {clash}", err=True)
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    click.echo(prefix + report.summary())
    if not report.ok:
        sys.exit(1)


def onnxruntime_options(backend: str, precision: str, calibrate: str | None, calibration_images: int | None,
                        min_psnr: float | None) -> dict[str, Any]:
    """``Translator.load`` options of ``--backend onnxruntime``; refuses int8 options without int8."""
    given = {"calibrate": calibrate, "calibration_images": calibration_images, "min_psnr": min_psnr}
    options: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
    if precision in ONNX_ONLY_PRECISIONS and backend != "onnxruntime":
        raise UserError(f"--precision {precision} needs --backend onnxruntime")
    if options and precision != "int8":
        raise UserError(f"--{next(iter(options)).replace('_', '-')} is for --backend onnxruntime --precision int8")
    if backend != "onnxruntime":
        return {}
    from tqdm.auto import tqdm

    from translate.convert.translator import distributed_share

    if distributed_share()[0] == 0:
        options["report"] = lambda line: tqdm.write(f"onnxruntime: {line}", file=sys.stderr)
    return options


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True,
              help="onnx (needs the 'export' extra) or torchscript.")
@click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default=None,
              help="Which generator of a two-way model (default: the one trained).")
@click.option("--to", "target", default=None, metavar="TARGET",
              help="Target domain or attributes a multi-domain model is exported for (e.g. --to Blond_Hair).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@plugin_option
@user_errors
def export(checkpoint: str, out: str, fmt: str, direction: str | None, target: str | None, overwrite: bool,
           plugins: tuple[str, ...]) -> None:
    """Export the generator of CHECKPOINT to OUT, taking any height and width.

    A multimodal model's (MUNIT's) graph takes a second input, 'style': one style code
    per image, (N, style_dim) float32; random styles are standard normal vectors.
    """
    from translate.convert.export import export as export_generator
    if Path(out).exists() and not overwrite:
        raise UserError(f"'{out}' exists; pass --overwrite to replace it")
    condition = {key: value for key, value in (("direction", direction), ("to", target)) if value}
    path = export_generator(checkpoint, out, fmt, registry=command_registry(plugins), **condition)
    click.echo(f"exported: {path}")
