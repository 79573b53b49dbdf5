"""``translate plugins`` and ``translate plugins check``."""

from __future__ import annotations

import json
import sys
import warnings

import click

from translate.cli.common import plugin_option, user_errors


@click.group(invoke_without_command=True)
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
    """Check objective NAME, as installed, against the plugin contract.

    Exit status 1 if it breaks it. Trains each model for a few steps on tiny inputs and reports, in plain words, wrong
    output shapes, missing gradients (also of a penalty), a penalty through batch norm, NaN, a broken critic
    schedule, state lost in a checkpoint or a resumed run, hooks without @hookimpl and options that are not
    accepted (see translate.testing).
    """
    from translate.plugins import PluginRegistry
    from translate.testing import check_objective

    plugins = tuple(click.get_current_context().parent.params["plugins"]) + plugins
    registry = PluginRegistry(extra_modules=plugins)
    registry.objective(name)  # an unknown name is a usage error that says how plugins are found
    report = check_objective(name, models=models or None, critics=critics or None, steps=steps, registry=registry)
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)
