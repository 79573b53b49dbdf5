"""``translate plugins``, ``translate plugins show`` and ``translate plugins check``."""

from __future__ import annotations

import json
import sys
import warnings
from typing import TYPE_CHECKING, Any

import click

from translate.cli.common import UserError, command_registry, debugging, plugin_option, user_errors

if TYPE_CHECKING:
    from translate.plugin_host.catalog import Catalog

#: The command-line option that sets each kind's options.
OPTION_FLAGS = {"objective": "--loss-opt", "model": "--model-opt"}


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: every plugin, and every objective, model and logger with its options.")
@click.option("--refresh", is_flag=True,
              help="Import every plugin again instead of reading the cache (which is rewritten).")
@plugin_option
@click.pass_context
@user_errors
def plugins(ctx: click.Context, as_json: bool, refresh: bool, plugins: tuple[str, ...]) -> None:
    """List every plugin: where it comes from, its hooks and the objectives, models and loggers it provides.

    Broken plugins are skipped and listed as problems (exit status 1).
    `translate plugins show NAME` describes an objective, model or logger and its options;
    `translate plugins check NAME` checks an objective against the plugin contract, and
    `translate plugins check --model NAME` a model.
    What plugins provide is cached until an installed plugin changes (see --refresh).
    """
    if ctx.invoked_subcommand is not None:
        return
    catalog = _catalog(plugins, refresh, quiet=True)
    if as_json:
        click.echo(json.dumps(catalog.as_dict(), indent=2))
    else:
        for info in catalog.plugins:
            source = f"{info['distribution']} {info['version']}" if info["distribution"] else info["module"]
            provides = ", ".join(f"{kind} {name}" for kind in ("objective", "model", "logger")
                                 for name in info[f"{kind}s"])
            click.echo(f"{info['name']:<14} {source:<28} {provides}")
        for problem in catalog.problems:
            click.echo(f"problem: {problem}", err=True)
    if catalog.problems:
        sys.exit(1)


@plugins.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@plugin_option
@user_errors
def show(name: str, as_json: bool, plugins: tuple[str, ...]) -> None:
    """Describe the objective, model or logger NAME and where it comes from.

    Prints its docstring, its options (default, type) and, for an objective, its critic kind, critic
    steps and state keys; the source is the plugin, distribution, version, module and class.
    """
    parent = click.get_current_context().parent.params
    catalog = _catalog(tuple(parent["plugins"]) + plugins, parent["refresh"])
    entries = catalog.find(name)
    if not entries:
        known = "; ".join(f"{kind}s: {', '.join(catalog.names(kind)) or 'none'}"
                          for kind in ("objective", "model", "logger"))
        raise UserError(f"no objective, model or logger is called {name!r} ({known})")
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    click.echo("\n\n".join("\n".join(_describe(entry)) for entry in entries))


def _describe(entry: dict[str, Any]) -> list[str]:
    """``translate plugins show`` of one objective, model or logger."""
    source = (f"{entry['distribution']} {entry['version']}" if entry["distribution"]
              else "no distribution (--plugin module)")
    lines = [f"{entry['kind']} {entry['name']}",
             f"  from:          plugin {entry['plugin']!r}, {source}, class {entry['module']}.{entry['class']}"]
    if "options" in entry:
        lines.append(f"  options:       {OPTION_FLAGS[entry['kind']]} KEY=VALUE" if entry["options"]
                     else "  options:       none")
        width = max(map(len, entry["options"]), default=0)
        lines += [f"    {key:<{width}}  {spec['type']:<6} default {json.dumps(spec['default'])}"
                  for key, spec in entry["options"].items()]
    if entry["kind"] == "objective":
        state = ", ".join(entry["state_keys"]) if entry["state_keys"] else (
            "none" if entry["state_keys"] is not None else "unknown (cannot be built with its defaults)")
        lines += [f"  critic:        {entry['critic']}",
                  f"  critic steps:  {entry['critic_steps']} per generator step",
                  f"  state keys:    {state}"]
    if entry["doc"]:
        lines += [""] + [f"  {line}".rstrip() for line in entry["doc"].splitlines()]
    return lines


def _catalog(plugins: tuple[str, ...], refresh: bool, quiet: bool = False) -> "Catalog":
    """The plugin catalog (cached); ``quiet`` leaves broken plugins to the list of problems instead of warnings
    (unless ``--debug`` asks for their tracebacks)."""
    from translate.plugin_host.catalog_cache import plugin_catalog
    from translate.plugin_host.manager import PluginWarning

    with warnings.catch_warnings():
        if quiet and not debugging():
            warnings.simplefilter("ignore", PluginWarning)
        return plugin_catalog(plugins, refresh=refresh)


@plugins.command("check")
@click.argument("name", required=False)
@click.option("--model", "models", multiple=True, metavar="MODEL",
              help="With NAME: check the objective with this model only (repeatable; default every installed "
                   "model). Without NAME: check this model against the model contract (repeatable).")
@click.option("--critic", "critics", multiple=True, type=click.Choice(["patch", "energy"]),
              help="Objective check: critic kind to run (repeatable). Default: the one the objective declares.")
@click.option("--loss", "losses", multiple=True, metavar="OBJECTIVE",
              help="Model check: objective to train the model with (repeatable). Default: lsgan and began "
                   "(a patch and an energy critic).")
@click.option("--export", "export_format", type=click.Choice(["onnx", "torchscript"]), default=None,
              help="Model check: format the generator is exported in. Default: onnx when the onnx extra is "
                   "installed, else torchscript.")
@click.option("--steps", type=click.IntRange(min=1), default=2, show_default=True,
              help="Iterations before the check's checkpoint: each model trains this many and one more, and a "
                   "copy resumed from the checkpoint must end where the run does.")
@plugin_option
@user_errors
def check(name: str | None, models: tuple[str, ...], critics: tuple[str, ...], losses: tuple[str, ...],
          export_format: str | None, steps: int, plugins: tuple[str, ...]) -> None:
    """Check objective NAME, or with --model alone a model, as installed, against the plugin contract.

    Exit status 1 if it breaks it. An objective check trains each model for a few steps on tiny inputs and
    reports, in plain words, wrong output shapes, missing gradients (also of a penalty), a penalty through batch
    norm, NaN, a broken critic schedule, state lost in a checkpoint or a resumed run, hooks without @hookimpl and
    options that are not accepted (see translate.testing). A model check (translate plugins check --model MODEL)
    trains the model with lsgan and began and reports networks outside the optimiser groups or that never
    change, state a resumed run loses, conversion and export that differ from translate(), directions it does
    not refuse, and sample columns, options or metadata that do not fit (see translate.testing_models).
    """
    from translate.plugin_host.manager import PluginWarning, unknown_name

    parent = click.get_current_context().parent.params
    plugins = tuple(parent["plugins"]) + plugins
    catalog = _catalog(plugins, parent["refresh"])  # names are checked before torch is imported
    if name is None and not models:
        raise UserError("name an objective (translate plugins check NAME) or a model (translate plugins check "
                        "--model MODEL) to check")
    if name is None and critics:
        raise UserError("--critic is for an objective check (translate plugins check NAME); a model check "
                        "chooses critics with --loss")
    if name is not None and (losses or export_format):
        raise UserError(f"--loss and --export are for a model check: translate plugins check --model MODEL "
                        f"(without {name!r})")
    if name is not None and name not in catalog.names("objective") and name in catalog.names("model"):
        raise UserError(f"{name!r} is a model: check it with translate plugins check --model {name}")
    wanted = [("objective", (name,) if name is not None else losses), ("model", models)]
    for kind, names in wanted:
        for missing in sorted(set(names) - set(catalog.names(kind))):
            raise unknown_name(kind, missing, catalog.names(kind), catalog.problems)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # a broken plugin was warned about with the catalog
        registry = command_registry(plugins)
    if name is None:
        from translate.testing_models import check_model

        reports = [check_model(model, objectives=losses or None, steps=steps, export=export_format,
                               registry=registry) for model in models]
    else:
        from translate.testing import check_objective

        reports = [check_objective(name, models=models or None, critics=critics or None, steps=steps,
                                   registry=registry)]
    for report in reports:
        click.echo(report.summary())
    if not all(report.ok for report in reports):
        sys.exit(1)
