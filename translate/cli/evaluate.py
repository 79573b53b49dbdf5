"""``translate eval`` and ``translate import-weights``: measuring and importing trained generators."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from translate.cli.common import (
    DIRECTION_CHOICES,
    REFERENCE_ARCH_CHOICES,
    UserError,
    command_registry,
    plugin_option,
    user_errors,
)


@click.command("eval")
@click.argument("run", type=click.Path(exists=True))
@click.option("--data", default=None, metavar="DIR",
              help="Data folder ('sample': the embedded sample set). Default: the run's training data.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate on (test, val, ...).")
@click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default=None,
              help="Direction of a two-way model (default: the one trained).")
@click.option("--to", "target", default=None, metavar="DOMAIN", help="Target domain of a multi-domain model.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="FID and KID through torch-fidelity with this local copy of the field's Inception weights "
                   "(pt_inception-2015-12-05-6726825d.pth; needs the 'metrics' extra).")
@click.option("--lpips-weights", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
              help="LPIPS on pairs through the lpips package, its AlexNet backbone from this local file "
                   "(torchvision's alexnet-owt-7be5be79.pth; needs the 'metrics' extra).")
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
                 inception_weights: str | None, lpips_weights: str | None, kid_subset_size: int, kid_subsets: int, device: str,
                 batch_size: int, as_json: bool, out: str | None, plugins: tuple[str, ...]) -> None:
    """Evaluate RUN (a run or checkpoint folder) on a data split: PSNR, SSIM and L1 on pairs, LPIPS with
    --lpips-weights, FID and KID with --inception-weights, and BEGAN's convergence measure when it applies.

    Results are printed and written as JSON into the run folder; each number says what computed it.
    """
    from tqdm.auto import tqdm

    from translate.data.sample import SAMPLE_ROOT
    from translate.evaluate import default_output, evaluate, table, write_json
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
    with tqdm(unit="img", desc="evaluating", dynamic_ncols=True, file=sys.stderr, disable=None, leave=False) as bar:
        result = evaluate(run, data, split=split, direction=direction, to=target,
                          inception_weights=inception_weights, lpips_weights=lpips_weights, device=device, batch_size=batch_size,
                          registry=command_registry(plugins), kid_subset_size=kid_subset_size,
                          kid_subsets=kid_subsets, progress=lambda n: bar.update(n - bar.n))
    written = write_json(result, out or default_output(result))
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo("\n".join(table(result)))
        click.echo(f"written: {written}")


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
