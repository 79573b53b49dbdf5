"""The ``translate`` command line: a thin layer over the library.

Heavy modules (torch) are imported inside the commands, so ``translate --help``
answers at once. One module per family of commands; :mod:`translate.cli.common`
holds what they share (one-line errors and warnings, ``--plugin``, ``--config``).
"""

from __future__ import annotations

import click

from translate import __version__
from translate.cli.common import DEBUG_SWITCH, one_line_warnings
from translate.cli.conversion import convert, export
from translate.cli.data import data_group, weights_group
from translate.cli.demo import demo
from translate.cli.evaluate import eval_command, import_weights_command
from translate.cli.plugin_commands import plugins
from translate.cli.training import train


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="translate")
@click.option("--debug", is_flag=True,
              help=f"Show the traceback behind an error, e.g. of a failing plugin (also {DEBUG_SWITCH}=1).")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Image-to-image translation: pix2pix, CycleGAN and more, with pluggable adversarial objectives."""
    ctx.with_resource(one_line_warnings())


for command in (train, convert, export, eval_command, demo, plugins, data_group, weights_group,
                import_weights_command):
    main.add_command(command)
