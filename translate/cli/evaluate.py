"""``translate eval`` and ``translate import-weights``: measuring and importing trained generators."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from translate.cli.common import (
    DIRECTION_CHOICES,
    REFERENCE_ARCH_CHOICES,
    UserError,
    command_registry,
    plugin_option,
    user_errors,
)


#: Options that only make sense with RUN (refused with --fake/--real): parameter name -> option.
RUN_OPTIONS = {"data": "--data", "split": "--split", "direction": "--direction", "target": "--to",
               "lpips_weights": "--lpips-weights", "all_checkpoints": "--all-checkpoints", "plugins": "--plugin"}


@click.command("eval")
@click.argument("run", type=click.Path(exists=True), required=False)
@click.option("--data", default=None, metavar="DIR",
              help="Data folder ('sample': the embedded sample set). Default: the run's training data.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (test, val, ...).")
@click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default=None,
              help="Direction of a two-way model (default: the one trained).")
@click.option("--to", "target", default=None, metavar="DOMAIN", help="Target domain of a multi-domain model.")
@click.option("--all-checkpoints", is_flag=True,
              help="Score every kept checkpoint of the run folder RUN (checkpoints/NNNNNN/) and name the best: "
                   "lowest FID, else highest PSNR.")
@click.option("--fake", type=click.Path(exists=True, file_okay=False), default=None, metavar="DIR",
              help="Instead of RUN: a folder of generated images, scored by FID and KID against --real.")
@click.option("--real", type=click.Path(exists=True, file_okay=False), default=None, metavar="DIR",
              help="Instead of RUN: the folder of real images --fake is compared with.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="FID and KID through torch-fidelity with this local copy of the field's Inception weights "
                   "(pt_inception-2015-12-05-6726825d.pth; needs the 'metrics' extra).")
@click.option("--lpips-weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="LPIPS on pairs through the lpips package, its AlexNet backbone from this local file "
                   "(torchvision's alexnet-owt-7be5be79.pth; needs the 'metrics' extra).")
@click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
              help="Images per KID subset (fewer when a set is smaller).")
@click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True,
              help="Number of KID subsets.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Images translated (or scored) together.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Where to write the JSON results. Default: eval-SPLIT.json (eval-SPLIT-checkpoints.json with "
                   "--all-checkpoints) in the run folder; with --fake/--real, nowhere.")
@plugin_option
@user_errors
def eval_command(run: str | None, data: str | None, split: str, direction: str | None, target: str | None,
                 all_checkpoints: bool, fake: str | None, real: str | None, inception_weights: str | None,
                 lpips_weights: str | None, kid_subset_size: int, kid_subsets: int, device: str, batch_size: int,
                 as_json: bool, out: str | None, plugins: tuple[str, ...]) -> None:
    """Evaluate RUN (a run or checkpoint folder) on a data split: PSNR, SSIM and L1 on pairs, LPIPS with
    --lpips-weights, FID and KID with --inception-weights, and BEGAN's convergence measure when it applies.

    Results are printed and written as JSON into the run folder; each number says what computed it.
    With --fake DIR --real DIR instead of RUN: FID and KID of any two image folders.
    """
    from translate.evaluate.report import write_json

    common = {"inception_weights": inception_weights, "kid_subset_size": kid_subset_size,
              "kid_subsets": kid_subsets, "device": device, "batch_size": batch_size}
    if fake is not None or real is not None:
        result, lines = _folders(run, fake, real, common)
    else:
        if run is None:
            raise UserError("name a RUN to evaluate, or two folders with --fake DIR --real DIR")
        run_options = {"split": split, "direction": direction, "to": target, "lpips_weights": lpips_weights,
                       "registry": command_registry(plugins), **common}
        result, lines, default = _run(run, _data_folder(run, data), all_checkpoints, run_options)
        out = out or str(default)
    written = write_json(result, out) if out else None
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo("\n".join(lines))
    if written is not None:
        click.echo(f"written: {written}")


def _folders(run: str | None, fake: str | None, real: str | None, options: dict[str, Any]
             ) -> tuple[dict[str, Any], list[str]]:
    """``--fake DIR --real DIR``: the result of scoring the two folders, and its table."""
    from translate.evaluate.folders import score_folders
    from translate.evaluate.report import folders_table

    context = click.get_current_context()
    given = [flag for name, flag in RUN_OPTIONS.items()
             if context.get_parameter_source(name) is ParameterSource.COMMANDLINE]
    if run is not None or given:
        what = "RUN" if run is not None else given[0]
        raise UserError(f"--fake/--real score two folders; {what} is for evaluating a run")
    if fake is None or real is None:
        raise UserError(f"--{'real' if real is None else 'fake'} DIR is missing: --fake and --real go together")
    with _progress() as bar:
        result = score_folders(fake, real, progress=lambda n: bar.update(n - bar.n), **options)
    return result, folders_table(result)


def _run(run: str, data: str, all_checkpoints: bool, options: dict[str, Any]) -> tuple[dict[str, Any], list[str], Path]:
    """RUN (with ``--all-checkpoints``, each of its checkpoints): the result, its table and its default file."""
    from translate.evaluate import default_output, evaluate, table
    from translate.evaluate.checkpoints import evaluate_checkpoints
    from translate.evaluate.report import checkpoints_table, default_checkpoints_output

    with _progress() as bar:
        progress = lambda n: bar.update(n - bar.n)  # noqa: E731
        if all_checkpoints:
            result = evaluate_checkpoints(run, data, progress=progress, **options)
            return result, checkpoints_table(result), default_checkpoints_output(result)
        result = evaluate(run, data, progress=progress, **options)
    return result, table(result), default_output(result)


def _progress() -> Any:
    """A progress bar of images on stderr (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(unit="img", desc="evaluating", dynamic_ncols=True, file=sys.stderr, disable=None, leave=False)


def _data_folder(run: str, data: str | None) -> str:
    """The data folder to evaluate RUN on: ``--data`` (``sample``: the embedded set), else the run's own."""
    from translate.data.sample import SAMPLE_ROOT

    if data is None:
        config = Path(run) / "config.json"
        if not config.is_file():
            raise UserError(f"'{run}' has no config.json naming its data; pass --data DIR (or --data sample)")
        try:
            saved = json.loads(config.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UserError(f"cannot read '{config}': {exc}") from exc
        if not isinstance(saved, dict):
            raise UserError(f"'{config}' is not a training configuration (a JSON object); pass --data DIR")
        data = saved.get("data") or str(SAMPLE_ROOT)
    elif data == "sample" and not Path(data).exists():
        data = str(SAMPLE_ROOT)
    if not Path(data).is_dir():
        raise UserError(f"data folder '{data}' does not exist")
    return data


@click.command("import-weights")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--arch", type=click.Choice(REFERENCE_ARCH_CHOICES),
              required=True, help="The reference's --netG the weights were trained with.")
@click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default="AtoB", show_default=True,
              help="Which side of paired A|B data the generator takes as input (used by eval).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@user_errors
def import_weights_command(file: str, out: str, arch: str, direction: str, overwrite: bool) -> None:
    """Import FILE, a latest_net_G.pth of the PyTorch CycleGAN/pix2pix reference, as checkpoint folder OUT.

    OUT then works with `translate convert OUT in/ out/`, `translate eval` and `translate export`.
    """
    from translate.convert.reference_weights import import_weights

    path = import_weights(file, arch, out, direction=direction, overwrite=overwrite)
    click.echo(f"checkpoint: {path}")
