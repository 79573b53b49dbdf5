"""The ``translate`` command line: a thin layer over the library.

Heavy modules (torch) are imported inside the commands, so ``translate --help``
answers at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import warnings
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

#: ``ctx.meta`` key of the resolved configuration of a command with ``--config``.
CONFIG_META = "translate.config"
#: Parameters of :func:`config_file_options` itself, which a file cannot set.
CONFIG_PARAMS = ("config_file", "print_config")


def config_file_options(command: Callable) -> Callable:
    """Add ``--config FILE`` and ``--print-config`` to a command (see :mod:`translate.config`).

    File values fill every option not given on the command line; the resolved
    configuration is printed by ``--print-config`` or left in ``ctx.meta[CONFIG_META]``
    (as TOML keys and values) for the command to save.
    """

    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
                  help="TOML file of options (keys named like the options); options given here override it.")
    @click.option("--print-config", is_flag=True,
                  help="Print the resolved configuration as TOML (usable with --config) and exit.")
    @functools.wraps(command)
    def wrapper(config_file: str | None, print_config: bool, **params: Any) -> Any:
        from translate.config import configuration, dumps, resolve

        ctx = click.get_current_context()
        params = resolve(ctx, params, config_file, exclude=CONFIG_PARAMS)
        resolved = configuration(ctx.command, params, exclude=CONFIG_PARAMS)
        if print_config:
            click.echo(dumps(resolved), nl=False)
            return None
        ctx.meta[CONFIG_META] = resolved
        return command(**params)

    return wrapper


@contextlib.contextmanager
def one_line_warnings() -> Any:
    """Show the library's user-facing warnings as ``translate: warning: ...``, one line without source location."""
    from translate.errors import TranslateWarning

    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                         line: str | None = None) -> None:
            if issubclass(category, TranslateWarning):
                click.echo(f"translate: warning: {message}", err=True)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_warning
        yield


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="translate")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Image-to-image translation: pix2pix, CycleGAN and more, with pluggable adversarial objectives."""
    ctx.with_resource(one_line_warnings())


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
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Autocast precision: bf16 (faster on GPUs and on CPUs with bf16 instructions such as AVX-512 BF16 "
                   "or AMX; far slower on other CPUs, with a warning) or fp16 (CUDA, loss scaling).")
@click.option("--compile", is_flag=True, help="torch.compile the networks (slow start; pays off on long GPU runs).")
@click.option("--channels-last", is_flag=True, help="Channels-last memory format (faster convolutions on GPUs).")
@click.option("--ema", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, metavar="DECAY",
              help="Keep an exponential moving average of the generator weights (e.g. 0.999) for samples and convert.")
@click.option("--logger", "loggers", multiple=True, metavar="NAME",
              help="Where metrics go: jsonl, gallery, tensorboard (repeatable; default: every one installed).")
@plugin_option
@user_errors
@config_file_options
def train(direction: str | None, attrs: str | None, resume: bool, **options: Any) -> None:
    """Train a model; writes checkpoints and sample grids into the run folder.

    Options can come from a TOML file (--config run.toml; options given here override it);
    a new run folder gets the resolved configuration as config.toml.
    """
    from translate.config import dumps
    from translate.train import distributed
    from translate.train.trainer import Trainer, TrainConfig

    shortcuts = {"direction": direction, "attrs": attrs}  # flags that are model options
    options["model_options"] = {**options["model_options"],
                                **{key: value for key, value in shortcuts.items() if value is not None}}
    options["plugins"], options["loggers"] = tuple(options["plugins"]), tuple(options["loggers"])
    trainer = Trainer(TrainConfig(**options), resume=resume)
    if not trainer.distributed.is_main:  # under torchrun rank 0 reports
        trainer.train(progress=False)
        distributed.teardown(trainer.distributed)
        return
    if not resume:  # out = the run folder, so `--config RUN/config.toml --resume` continues it
        resolved = {**click.get_current_context().meta[CONFIG_META], "out": str(trainer.run_dir)}
        (trainer.run_dir / "config.toml").write_text(dumps(resolved), encoding="utf-8")
    click.echo(f"training {trainer.config.model} with {trainer.config.loss} for {trainer.total_steps} steps "
               f"on {trainer.device} -> {trainer.run_dir}", err=True)
    saved = trainer.train()
    distributed.teardown(trainer.distributed)
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
              help="Compute precision: bf16/fp16 are faster on GPUs and on CPUs with such instructions "
                   "(AVX-512 BF16, AMX); far slower on other CPUs, with a warning.")
@click.option("--batch-size", type=click.IntRange(min=1), default=4, show_default=True,
              help="Images of one size translated together.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads decoding and encoding images while the model runs.")
@click.option("--tile", type=click.IntRange(min=64), default=1024, show_default=True,
              help="Images larger than this (pixels per side) are translated in overlapping tiles.")
@click.option("--tile-overlap", type=click.IntRange(min=0), default=64, show_default=True,
              help="Pixels shared by neighbouring tiles, blended linearly.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the generator (slow start, faster runs).")
@click.option("--arch", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
              default=None, help="Architecture of a reference latest_net_G.pth given as CHECKPOINT (needed for .pth).")
@plugin_option
@user_errors
def convert(checkpoint: str, src: str, dst: str, direction: str | None, target: str | None, every_target: bool,
            fmt: str, quality: int, overwrite: bool, allow_inside_input: bool, device: str, precision: str,
            batch_size: int, workers: int, tile: int, tile_overlap: int, use_compile: bool, arch: str | None,
            plugins: tuple[str, ...]) -> None:
    """Translate images with a trained model: SRC is a folder (walked), a file or a glob.

    Outputs mirror the relative paths under DST at each input's own size.
    CHECKPOINT is a checkpoint folder or a run folder (its latest checkpoint), or a
    latest_net_G.pth of the PyTorch CycleGAN/pix2pix reference with --arch.
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
                                 compile=use_compile, registry=PluginRegistry(extra_modules=plugins), arch=arch)
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


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@plugin_option
@click.pass_context
@user_errors
def plugins(ctx: click.Context, as_json: bool, plugins: tuple[str, ...]) -> None:
    """List every plugin: where it comes from, its hooks and the objectives, models and loggers it provides.

    Broken plugins are skipped and listed as problems (exit status 1).
    `translate plugins check NAME` checks an objective against the plugin contract.
    """
    from translate.plugins import PluginRegistry, PluginWarning

    if ctx.invoked_subcommand is not None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # listed below as problems
        registry = PluginRegistry(extra_modules=plugins)
    if as_json:
        click.echo(json.dumps({"plugins": [p.as_dict() for p in registry.plugins.values()],
                               "problems": registry.problems}, indent=2))
    else:
        for info in registry.plugins.values():
            source = f"{info.distribution} {info.version}" if info.distribution else info.module
            provides = ", ".join([f"objective {n}" for n in info.objectives] + [f"model {n}" for n in info.models]
                                 + [f"logger {n}" for n in info.loggers])
            click.echo(f"{info.name:<14} {source:<28} {provides}")
        for problem in registry.problems:
            click.echo(f"problem: {problem}", err=True)
    if registry.problems:
        sys.exit(1)


@plugins.command("check")
@click.argument("name")
@click.option("--model", "models", multiple=True, metavar="MODEL",
              help="Check with this model only (repeatable). Default: every installed model.")
@click.option("--critic", "critics", multiple=True, type=click.Choice(["patch", "energy"]),
              help="Critic kind to run (repeatable). Default: the one the objective declares.")
@click.option("--steps", type=click.IntRange(min=1), default=2, show_default=True,
              help="Training iterations per model.")
@plugin_option
@user_errors
def check(name: str, models: tuple[str, ...], critics: tuple[str, ...], steps: int,
          plugins: tuple[str, ...]) -> None:
    """Check objective NAME against the plugin contract.

    Exit status 1 if it breaks it. Trains each model for a few steps on tiny inputs and reports, in plain words, wrong
    output shapes, missing gradients, NaN, objective state lost in a checkpoint and
    options that are not accepted (see translate.testing).
    """
    from translate.plugins import PluginRegistry
    from translate.testing import check_objective

    plugins = tuple(click.get_current_context().parent.params["plugins"]) + plugins
    registry = PluginRegistry(extra_modules=plugins)
    report = check_objective(registry.objective(name), models=models or None, critics=critics or None,
                             steps=steps, registry=registry)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


# -- data sets, evaluation and reference weights ------------------------------------------------------------

recipes_option = click.option(
    "--recipes", "recipes_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
    help="Extra recipe file (TOML) that adds or replaces recipes by name. Default: $TRANSLATE_RECIPES, if set.",
)


def _echo_recipes(recipes: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([recipe.as_dict() for recipe in recipes.values()], indent=2))
        return
    for recipe in sorted(recipes.values(), key=lambda r: (r.kind, r.name)):
        size = f"{recipe.size / 2**20:,.0f} MiB" if recipe.size else ""
        click.echo(f"{recipe.name:<24} {recipe.kind:<9} {recipe.status():<11} {size:>10}  {recipe.description}")


def _report_download(result: Any, what: str) -> None:
    if result.skipped:
        click.echo(f"'{result.path}' exists; nothing downloaded (remove it to download again)")
        return
    for warning in result.warnings:
        click.echo(f"translate: warning: {warning}", err=True)
    if result.verified:
        click.echo(f"verified: SHA-256 {result.sha256}")
    click.echo(f"{what}: {result.path}")


@main.group("data")
def data_group() -> None:
    """Data sets: list and download the public ones, check a folder, combine A and B halves."""


@data_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@recipes_option
@user_errors
def data_list(as_json: bool, recipes_file: str | None) -> None:
    """List the data sets `translate data download` knows (status: verified, unverified or refused)."""
    from translate.data.recipes import load_recipes

    _echo_recipes(load_recipes("datasets", recipes_file), as_json)


@data_group.command("download")
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), default="datasets", show_default=True,
              help="Folder the data set goes into, as ROOT/NAME.")
@click.option("--require-checksum", is_flag=True,
              help="Refuse a recipe without a published SHA-256 instead of warning after the download.")
@click.option("--keep-archive", is_flag=True, help="Keep the downloaded archive in ROOT (default: delete it).")
@recipes_option
@user_errors
def data_download(name: str, root: str, require_checksum: bool, keep_archive: bool, recipes_file: str | None) -> None:
    """Download data set NAME, verify it and unpack it into ROOT/NAME.

    Interrupted downloads resume; nothing appears in ROOT/NAME unless the archive was
    complete, matched its checksum and unpacked safely.
    """
    from translate.data.download import download
    from translate.data.recipes import find_recipe

    recipe = find_recipe(name, "datasets", recipes_file)
    result = download(recipe, root, require_checksum=require_checksum, keep_archive=keep_archive)
    _report_download(result, "data set")


@data_group.command("check")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--model", default=None, help="Also check that this model can train on FOLDER (see `translate plugins`).")
@click.option("--image-size", type=click.IntRange(min=1), default=256, show_default=True,
              help="Training crop size: smaller images are reported.")
@click.option("--quick", is_flag=True, help="Read image headers only (faster; misses truncated files).")
@click.option("--strict", is_flag=True, help="Exit with status 1 on warnings too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a report.")
@plugin_option
@user_errors
def data_check(folder: str, model: str | None, image_size: int, quick: bool, strict: bool, as_json: bool,
               plugins: tuple[str, ...]) -> None:
    """Say which layout FOLDER uses, count its images and list what to fix (exit status 1 on errors)."""
    from tqdm.auto import tqdm

    from translate.data.check import check_data
    from translate.plugins import PluginRegistry

    registry = PluginRegistry(extra_modules=plugins) if model else None
    with tqdm(unit="img", desc="checking", dynamic_ncols=True, file=sys.stderr, disable=None, leave=False) as bar:
        report = check_data(folder, model=model, image_size=image_size, decode=not quick, registry=registry,
                            progress=lambda n: bar.update(n - bar.n))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
    if not report.ok or (strict and report.warnings):
        sys.exit(1)


@data_group.command("combine")
@click.argument("a_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("b_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["same", "png", "jpg"]), default="same", show_default=True,
              help="Output file format (same: the A file's).")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True, help="JPEG quality.")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist (default: skip them).")
@user_errors
def data_combine(a_dir: str, b_dir: str, out: str, fmt: str, quality: int, overwrite: bool) -> None:
    """Write A|B side-by-side images to OUT for files with the same relative name in A_DIR and B_DIR.

    A_DIR/train/1.jpg and B_DIR/train/1.png become OUT/train/1.jpg (the pix2pix layout).
    Unmatched names, unreadable files and pairs of different sizes are listed (exit status 1).
    """
    from translate.data.combine import combine

    report = combine(a_dir, b_dir, out, fmt=fmt, quality=quality, overwrite=overwrite)
    for name in report.only_a:
        click.echo(f"only in A: {name}", err=True)
    for name in report.only_b:
        click.echo(f"only in B: {name}", err=True)
    for path, reason in report.failed:
        click.echo(f"failed: {path}: {reason}", err=True)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@main.group("weights")
def weights_group() -> None:
    """Reference weights: list and download them (each becomes a checkpoint folder for convert and eval)."""


@weights_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@recipes_option
@user_errors
def weights_list(as_json: bool, recipes_file: str | None) -> None:
    """List the weights `translate weights download` knows."""
    from translate.data.recipes import load_recipes

    _echo_recipes(load_recipes("weights", recipes_file), as_json)


@weights_group.command("download")
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), default="weights", show_default=True,
              help="Folder the checkpoint goes into, as ROOT/NAME.")
@click.option("--require-checksum", is_flag=True,
              help="Refuse a recipe without a published SHA-256 instead of warning after the download.")
@click.option("--keep-archive", is_flag=True, help="Keep the downloaded .pth file in ROOT (default: delete it).")
@recipes_option
@user_errors
def weights_download(name: str, root: str, require_checksum: bool, keep_archive: bool,
                     recipes_file: str | None) -> None:
    """Download weights NAME and import them as the checkpoint folder ROOT/NAME."""
    from translate.data.download import download
    from translate.data.recipes import find_recipe
    from translate.reference_weights import import_weights

    recipe = find_recipe(name, "weights", recipes_file)
    result = download(recipe, root, require_checksum=require_checksum, keep_archive=keep_archive,
                      install=lambda file, target, r: import_weights(file, r.arch, target, direction=r.direction))
    _report_download(result, "checkpoint")


@main.command("eval")
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", default=None, metavar="DIR",
              help="Data folder ('sample': the embedded sample set). Default: the run's training data.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (test, val, ...).")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default=None,
              help="Direction of a two-way model (default: the one trained).")
@click.option("--to", "target", default=None, metavar="DOMAIN", help="Target domain of a multi-domain model.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="Local Inception-v3 file (torchvision state dict or TorchScript) for FID and KID.")
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
              help="Images per KID subset (fewer when the split is smaller).")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of KID subsets.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images translated together.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Where to write the JSON results. Default: eval-SPLIT.json in the run folder.")
@plugin_option
@user_errors
def eval_command(run: str, data: str | None, split: str, direction: str | None, target: str | None,
                 inception_weights: str | None, kid_subset_size: int, kid_subsets: int, device: str,
                 batch_size: int, as_json: bool, out: str | None, plugins: tuple[str, ...]) -> None:
    """Evaluate RUN (a run or checkpoint folder) on a data split: PSNR, SSIM and L1 on pairs,
    FID and KID with --inception-weights, and BEGAN's convergence measure when it applies.

    Results are printed and written as JSON into the run folder.
    """
    from tqdm.auto import tqdm

    from translate.data.sample import SAMPLE_ROOT
    from translate.evaluate import default_output, evaluate, table, write_json
    from translate.plugins import PluginRegistry

    if data is None:
        config = Path(run) / "config.json"
        if not config.is_file():
            raise UserError(f"'{run}' has no config.json naming its data; pass --data DIR (or --data sample)")
        data = json.loads(config.read_text()).get("data") or str(SAMPLE_ROOT)
    elif data == "sample" and not Path(data).exists():
        data = str(SAMPLE_ROOT)
    if not Path(data).is_dir():
        raise UserError(f"data folder '{data}' does not exist")
    with tqdm(unit="img", desc="evaluating", dynamic_ncols=True, file=sys.stderr, disable=None, leave=False) as bar:
        result = evaluate(run, data, split=split, direction=direction, to=target,
                          inception_weights=inception_weights, device=device, batch_size=batch_size,
                          registry=PluginRegistry(extra_modules=plugins), kid_subset_size=kid_subset_size,
                          kid_subsets=kid_subsets, progress=lambda n: bar.update(n - bar.n))
    written = write_json(result, out or default_output(result))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo("\n".join(table(result)))
        click.echo(f"written: {written}")


@main.command("import-weights")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--arch", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
              required=True, help="The reference's --netG the weights were trained with.")
@click.option("--direction", type=click.Choice(["AtoB", "BtoA"]), default="AtoB", show_default=True,
              help="Which side of paired A|B data the generator takes as input (used by eval).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@user_errors
def import_weights_command(file: str, out: str, arch: str, direction: str, overwrite: bool) -> None:
    """Import FILE, a latest_net_G.pth of the PyTorch CycleGAN/pix2pix reference, as checkpoint folder OUT.

    OUT then works with `translate convert OUT in/ out/`, `translate eval` and `translate export`.
    """
    from translate.reference_weights import import_weights

    path = import_weights(file, arch, out, direction=direction, overwrite=overwrite)
    click.echo(f"checkpoint: {path}")
