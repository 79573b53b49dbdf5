"""``translate data`` and ``translate weights``: public data sets and reference weights."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from translate.cli.common import command_registry, plugin_option, user_errors


#: ``--max-expansion``'s default (a test keeps it equal to :data:`translate.data.download.MAX_EXPANSION`,
#: spelled out so that the command line need not import it).
MAX_EXPANSION = 100.0

recipes_option = click.option(
    "--recipes", "recipes_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
    help="Extra recipe file (TOML) that adds or replaces recipes by name. Default: $TRANSLATE_RECIPES, if set.",
)


def add_recipe_commands(group: click.Group, kind: str, thing: str, archive: str,
                        install: Callable[[Path, Path, Any], None] | None = None) -> None:
    """Give ``group`` the commands ``list`` and ``download`` for the recipes of ``kind`` (datasets, weights).

    ``thing`` names what a download becomes (in help and output); ``install`` turns the
    verified download into ``ROOT/NAME`` (default: unpack the archive, with ``--max-expansion``).
    """
    expansion_option = click.option(
        "--max-expansion", type=click.FloatRange(min=1), default=MAX_EXPANSION, show_default=True, metavar="RATIO",
        help="Refuse an archive whose content is declared larger than RATIO times the archive (a decompression "
             "bomb); archives unpacking to under 64 MiB are always allowed.",
    ) if install is None else (lambda command: command)

    @group.command("list", help=f"List what `translate {group.name} download` knows "
                                "(status: verified, unverified or refused).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @recipes_option
    @user_errors
    def list_recipes(as_json: bool, recipes_file: str | None) -> None:
        from translate.data.recipes import load_recipes

        recipes = load_recipes(kind, recipes_file)
        if as_json:
            click.echo(json.dumps([recipe.as_dict() for recipe in recipes.values()], indent=2))
            return
        for recipe in sorted(recipes.values(), key=lambda r: (r.kind, r.name)):
            size = f"{recipe.size / 2**20:,.0f} MiB" if recipe.size else ""
            click.echo(f"{recipe.name:<24} {recipe.kind:<9} {recipe.status():<11} {size:>10}  {recipe.description}")

    @group.command("download", help=(
        f"Download NAME, verify its checksum and install it as the {thing} ROOT/NAME.\n\n"
        "Interrupted downloads resume; nothing appears in ROOT/NAME unless the download was "
        "complete, matched its checksum and installed safely."
    ))
    @click.argument("name")
    @click.option("--root", type=click.Path(file_okay=False), default=kind, show_default=True,
                  help=f"Folder the {thing} goes into, as ROOT/NAME.")
    @click.option("--require-checksum", is_flag=True,
                  help="Refuse a recipe without a published SHA-256 instead of warning after the download.")
    @click.option("--keep-archive", is_flag=True, help=f"Keep the downloaded {archive} in ROOT (default: delete it).")
    @expansion_option
    @recipes_option
    @user_errors
    def download_recipe(name: str, root: str, require_checksum: bool, keep_archive: bool,
                        recipes_file: str | None, max_expansion: float = MAX_EXPANSION) -> None:
        from translate.data.download import download
        from translate.data.recipes import find_recipe

        recipe = find_recipe(name, kind, recipes_file)
        result = download(recipe, root, require_checksum=require_checksum, keep_archive=keep_archive,
                          install=install, max_expansion=max_expansion)
        if result.skipped:
            click.echo(f"'{result.path}' exists; nothing downloaded (remove it to download again)")
            return
        for warning in result.warnings:
            click.echo(f"translate: warning: {warning}", err=True)
        if result.verified:
            click.echo(f"verified: SHA-256 {result.sha256}")
        click.echo(f"{thing}: {result.path}")


@click.group("data")
def data_group() -> None:
    """Data sets: list and download the public ones, check a folder, combine A and B halves."""


add_recipe_commands(data_group, "datasets", "data set", "archive")


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
    model_cls = command_registry(plugins).model(model) if model else None  # an unknown name: a user error
    with tqdm(unit="img", desc="checking", dynamic_ncols=True, file=sys.stderr, disable=None, leave=False) as bar:
        report = check_data(folder, model=model_cls, image_size=image_size, decode=not quick,
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


@click.group("weights")
def weights_group() -> None:
    """Reference weights: list and download them (each becomes a checkpoint folder for convert and eval)."""


def install_reference_weights(file: Path, target: Path, recipe: Any) -> None:
    """Import a downloaded reference ``.pth`` as the checkpoint folder ``target``."""
    from translate.convert.reference_weights import import_weights

    import_weights(file, recipe.arch, target, direction=recipe.direction)


add_recipe_commands(weights_group, "weights", "checkpoint", ".pth file", install=install_reference_weights)
