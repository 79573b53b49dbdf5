"""The ``translate`` command line: a thin layer over the library.

Heavy modules (torch) are imported inside the commands, so ``translate --help``
answers at once.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from translate import __version__
from translate.errors import TranslateError


class UserError(click.ClickException):
    """A mistake the user can fix: printed as one line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"translate: error: {self.format_message()}", err=True)


def user_errors(command: Callable) -> Callable:
    """Turn the library's user-facing exceptions into one-line errors (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TranslateError as exc:
            raise UserError(str(exc)) from exc

    return wrapper


def parse_key_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``("gamma=0.5", "k=0")`` -> ``{"gamma": "0.5", "k": "0"}``."""
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        parsed[key.strip().replace("-", "_")] = value.strip()
    return parsed


plugin_option = click.option(
    "--plugin", "plugins", multiple=True, metavar="MODULE",
    help="Import MODULE as a plugin for this run (repeatable).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="translate")
def main() -> None:
    """Image-to-image translation: pix2pix, CycleGAN and more, with pluggable adversarial objectives."""


@main.command()
@click.option("--model", default="cyclegan", show_default=True, help="Model to train (see `translate plugins`).")
@click.option("--loss", default="lsgan", show_default=True, help="Adversarial objective (see `translate plugins`).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="Data folder (aligned train/ test/, or trainA/ trainB/). Default: the embedded sample set.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder. Default: runs/MODEL-LOSS (a new -2, -3 ... folder if it exists).")
@click.option("--steps", type=click.IntRange(min=1), default=None,
              help="Training steps. Default: 300 on the sample set, 200 epochs on your data.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs (instead of --steps).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Images per step.")
@click.option("--image-size", type=click.IntRange(min=16), default=None,
              help="Training crop size in pixels. Default: 256, or 64 on the sample set.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default=None,
              help="Which side is the input (pix2pix) or the default conversion direction (CycleGAN).")
@click.option("--attrs", default=None, metavar="A,B,...",
              help="StarGAN on CelebA: the attributes to learn (e.g. Black_Hair,Blond_Hair,Male).")
@click.option("--model-opt", "model_options", multiple=True, callback=parse_key_values, metavar="KEY=VALUE",
              help="Model option, e.g. --model-opt lambda_l1=50 (repeatable; see `translate plugins --json`).")
@click.option("--loss-opt", "loss_options", multiple=True, callback=parse_key_values, metavar="KEY=VALUE",
              help="Objective option, e.g. --loss-opt real_target=0.9 (repeatable).")
@click.option("--device", default="auto", show_default=True,
              help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (CPU runs are reproducible).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or the newest runs/MODEL-LOSS*).")
@click.option("--sample-every", type=click.IntRange(min=1), default=100, show_default=True,
              help="Write a sample grid every N steps.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True,
              help="Write a checkpoint every N steps (and at the end).")
@click.option("--log-every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Append losses, learning rates and objective state to metrics.jsonl every N steps.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Data-loading worker processes.")
@plugin_option
@user_errors
def train(direction: str | None, attrs: str | None, resume: bool, **options: Any) -> None:
    """Train a model; writes checkpoints and sample grids into the run folder."""
    from translate.train.trainer import Trainer, TrainConfig

    shortcuts = {"direction": direction, "attrs": attrs}  # flags that are model options
    options["model_options"] = {**options["model_options"],
                                **{key: value for key, value in shortcuts.items() if value is not None}}
    options["plugins"] = tuple(options["plugins"])
    trainer = Trainer(TrainConfig(**options), resume=resume)
    click.echo(f"training {trainer.config.model} with {trainer.config.loss} for {trainer.total_steps} steps "
               f"on {trainer.device} -> {trainer.run_dir}", err=True)
    saved = trainer.train()
    click.echo(f"checkpoint: {saved}")
    click.echo(f"samples:    {trainer.run_dir / 'samples'}")


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("src")
@click.argument("dst", type=click.Path(file_okay=False))
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default=None,
              help="Direction for two-way models (default: the one trained).")
@click.option("--to", "target", default=None, metavar="TARGET",
              help="Target domain or attributes for multi-domain models (e.g. --to Blond_Hair).")
@click.option("--every-target", is_flag=True,
              help="Write every direction/target domain, each into its own subfolder of DST.")
@click.option("--format", "fmt", type=click.Choice(["same", "png", "jpg", "webp"]), default="same",
              show_default=True, help="Output file format (same: the input's).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist (default: skip them).")
@click.option("--allow-inside-input", is_flag=True, help="Allow DST inside SRC (default: refused).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Compute precision (bf16 is about 2x faster on recent CPUs; fp16 for CUDA).")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images of one size translated together.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads decoding and encoding images while the model runs.")
@click.option("--tile", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Images larger than this (pixels per side) are translated in overlapping tiles.")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=64, show_default=True,
              help="Pixels shared by neighbouring tiles, blended linearly.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the generator (slow start, faster runs).")
@plugin_option
@user_errors
def convert(checkpoint: str, src: str, dst: str, direction: str | None, target: str | None, every_target: bool,
            fmt: str, quality: int, overwrite: bool, allow_inside_input: bool, device: str, precision: str,
            batch_size: int, workers: int, tile: int, tile_overlap: int, use_compile: bool,
            plugins: tuple[str, ...]) -> None:
    """Translate images with a trained model: SRC is a folder (walked), a file or a glob.

    Outputs mirror the relative paths under DST at each input's own size.
    CHECKPOINT is a checkpoint folder or a run folder (its latest checkpoint).
    Under torchrun every process converts a disjoint share.
    """
    from tqdm.auto import tqdm

    from translate.convert import Translator, distributed_share
    from translate.outputs import collect_inputs
    from translate.plugins import PluginRegistry

    base, sources = collect_inputs(src)
    source_dir, target_dir = base.resolve(), Path(dst).resolve()
    if not allow_inside_input and (target_dir == source_dir or source_dir in target_dir.parents):
        raise UserError(f"output folder '{dst}' is inside the input folder '{base}'; choose another output "
                        "folder or pass --allow-inside-input")
    translator = Translator.load(checkpoint, device=device, precision=precision, tile=tile, overlap=tile_overlap,
                                 compile=use_compile, registry=PluginRegistry(extra_modules=plugins))
    condition = {key: value for key, value in (("direction", direction), ("to", target)) if value}
    rank, world_size = distributed_share()
    share = len(sources[rank::world_size])
    with tqdm(total=share, unit="img", dynamic_ncols=True, disable=None if rank == 0 else True) as bar:
        report = translator.convert_folder(base, dst, sources=sources, fmt=fmt, quality=quality,
                                           overwrite=overwrite, batch_size=batch_size, workers=workers,
                                           every_target=every_target, progress=lambda _: bar.update(1),
                                           **condition)
    for clash in report.clashes:
        click.echo(f"name clash: {clash}", err=True)
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    prefix = f"rank {rank}: " if world_size > 1 else ""
    click.echo(prefix + report.summary())
    if not report.ok:
        sys.exit(1)


@main.command()
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True,
              help="onnx (needs the 'export' extra) or torchscript.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default=None,
              help="Which generator of a two-way model (default: the one trained).")
@click.option("--to", "target", default=None, metavar="TARGET",
              help="Target domain or attributes a multi-domain model is exported for (e.g. --to Blond_Hair).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@plugin_option
@user_errors
def export(checkpoint: str, out: str, fmt: str, direction: str | None, target: str | None, overwrite: bool,
           plugins: tuple[str, ...]) -> None:
    """Export the generator of CHECKPOINT to OUT, taking any height and width."""
    from translate.export import export as export_generator
    from translate.plugins import PluginRegistry

    if Path(out).exists() and not overwrite:
        raise UserError(f"'{out}' exists; pass --overwrite to replace it")
    condition = {key: value for key, value in (("direction", direction), ("to", target)) if value}
    path = export_generator(checkpoint, out, fmt, registry=PluginRegistry(extra_modules=plugins), **condition)
    click.echo(f"exported: {path}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@plugin_option
@user_errors
def plugins(as_json: bool, plugins: tuple[str, ...]) -> None:
    """List every plugin: where it comes from and the objectives and models it provides."""
    from translate.plugins import PluginRegistry

    registry = PluginRegistry(extra_modules=plugins)
    if as_json:
        click.echo(json.dumps({"plugins": [p.as_dict() for p in registry.plugins.values()],
                               "problems": registry.problems}, indent=2))
    else:
        for info in registry.plugins.values():
            source = f"{info.distribution} {info.version}" if info.distribution else info.module
            provides = ", ".join([f"objective {n}" for n in info.objectives] + [f"model {n}" for n in info.models])
            click.echo(f"{info.name:<14} {source:<28} {provides}")
        for problem in registry.problems:
            click.echo(f"problem: {problem}", err=True)
    if registry.problems:
        sys.exit(1)
