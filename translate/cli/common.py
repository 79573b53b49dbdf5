"""What every command shares: one-line errors and warnings, ``--plugin``, ``KEY=VALUE`` and ``--config``."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable

import click

from translate.errors import TranslateError
from translate.options import OptionError

if TYPE_CHECKING:
    from translate.plugin_host.manager import PluginRegistry

#: Environment variable that shows the traceback behind every one-line error, like ``translate --debug``.
DEBUG_SWITCH = "TRANSLATE_DEBUG"
#: ``ctx.meta`` key of the plugin registry a command runs with (see :func:`command_registry`).
REGISTRY_META = "translate.registry"


class UserError(click.ClickException):
    """A mistake the user can fix: printed as one line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"translate: error: {self.format_message()}", err=True)


def user_errors(command: Callable) -> Callable:
    """Turn the library's user-facing exceptions, and failures of third-party plugins, into one-line errors.

    A plugin's failure is found in the traceback by :meth:`~translate.plugin_host.manager.PluginRegistry.blame`
    (with the registry of :func:`command_registry`) and named with its distribution, version and
    the call that failed. Anything else, a bug of translate, keeps its traceback. Under ``--debug``
    (or ``TRANSLATE_DEBUG=1``) the traceback is printed before the one-line error.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except TranslateError as exc:
            raise _one_line_error(exc, str(exc)) from exc
        except (KeyboardInterrupt, click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BaseException as exc:  # a plugin may even call sys.exit()
            registry = click.get_current_context().meta.get(REGISTRY_META)
            failure = registry.blame(exc) if registry is not None else None
            if failure is None:
                raise
            hint = "" if debugging() else " (translate --debug shows the traceback)"
            raise _one_line_error(exc, f"{failure}{hint}") from exc

    return wrapper


def _one_line_error(exc: BaseException, message: str) -> UserError:
    if debugging():
        traceback.print_exception(exc)
    return UserError(message)


def debugging() -> bool:
    """True under ``translate --debug`` or ``TRANSLATE_DEBUG=1``: show the traceback behind a one-line error."""
    ctx = click.get_current_context(silent=True)
    flag = ctx is not None and bool(ctx.find_root().params.get("debug"))
    return flag or os.environ.get(DEBUG_SWITCH, "") not in ("", "0")


def command_registry(plugins: tuple[str, ...] = ()) -> "PluginRegistry":
    """The plugin registry of this command (every installed plugin plus the ``--plugin`` modules).

    Kept in the command's context so that :func:`user_errors` can name a plugin that fails.
    """
    from translate.plugin_host.manager import PluginRegistry

    registry = PluginRegistry(extra_modules=plugins)
    click.get_current_context().meta[REGISTRY_META] = registry
    return registry


def with_options(*options: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """Apply click option decorators as if stacked in the given order (the first is listed first in ``--help``)."""

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def parse_key_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``("gamma=0.5", "k=0")`` -> ``{"gamma": "0.5", "k": "0"}``."""
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", ctx=ctx, param=param)
        parsed[key.strip().replace("-", "_")] = value.strip()
    return parsed


#: ``--direction``, ``--precision`` and ``--preset`` choices, spelled out like the next one (tests keep
#: them equal to :data:`translate.models.directions.DIRECTIONS`, :data:`translate.devices.PRECISIONS`
#: and :data:`translate.train.trainer.PRESETS`).
DIRECTION_CHOICES = ("AtoB", "BtoA")
PRECISION_CHOICES = ("fp32", "bf16", "fp16")
#: ``train --precision`` choices: the precisions and :data:`translate.devices.AUTO` (a test keeps them equal).
TRAIN_PRECISION_CHOICES = (*PRECISION_CHOICES, "auto")
#: ``convert --backend`` choices, the precisions only ONNX Runtime computes in and the int8 defaults (tests keep
#: them equal to :mod:`translate.convert.onnx_backend`'s ``BACKENDS`` and ``ONNX_PRECISIONS`` and
#: :mod:`translate.convert.quantize`'s).
BACKEND_CHOICES = ("torch", "onnxruntime")
ONNX_ONLY_PRECISIONS = ("int8",)
CALIBRATION_IMAGES_DEFAULT = 16
MIN_PSNR_DEFAULT = 35.0
PRESET_CHOICES = ("translate", "reference")
#: ``--arch`` choices for reference ``.pth`` files. Spelled out so that the CLI need not import
#: torch; a test keeps them equal to :data:`translate.convert.reference_weights.REFERENCE_ARCHS`.
REFERENCE_ARCH_CHOICES = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")
#: ``convert --norm-stats`` choices and the seed of ``--dropout on`` (a test keeps them equal to
#: :mod:`translate.convert.generator_mode`'s ``NORM_STATS`` and ``DEFAULT_SEED``).
NORM_STATS_CHOICES = ("running", "batch")
DROPOUT_SEED_DEFAULT = 0

plugin_option = click.option(
    "--plugin", "plugins", multiple=True, metavar="MODULE",
    help="Import MODULE as a plugin for this run (repeatable).",
)

#: ``ctx.meta`` key of the resolved configuration of a command with ``--config``.
CONFIG_META = "translate.cli.config"
#: Parameters of :func:`config_file_options` itself, which a file cannot set.
CONFIG_PARAMS = ("config_file", "print_config")


def config_file_options(command: Callable) -> Callable:
    """Add ``--config FILE`` and ``--print-config`` to a command (see :mod:`translate.cli.config`).

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
        from translate.cli.config import configuration, dumps, resolve

        ctx = click.get_current_context()
        given = dict(params)
        params = resolve(ctx, params, config_file, exclude=CONFIG_PARAMS)
        resolved = configuration(ctx.command, params, exclude=CONFIG_PARAMS)
        if print_config:
            click.echo(dumps(resolved), nl=False)
            return None
        ctx.meta[CONFIG_META] = resolved
        try:
            return command(**params)
        except OptionError as exc:  # a key of a [model-opt]/[loss-opt] table: say which file it came from
            table = _table_of(exc, params, given)
            if table is None:
                raise
            raise OptionError(f"{exc} (key {exc.option!r} of the [{table}] table in config file '{config_file}')",
                              exc.option) from exc

    return wrapper


def _table_of(error: OptionError, params: dict[str, Any], given: dict[str, Any]) -> str | None:
    """The config-file table (``model-opt``, ``loss-opt``) the option ``error`` blames came from, if it came from
    a file: it is in the table's resolved values but was not given on the command line."""
    message = str(error)
    for name, table in (("model_options", "model-opt"), ("loss_options", "loss-opt")):
        owner = "model" if name == "model_options" else "objective"
        resolved, on_line = params.get(name) or {}, given.get(name) or {}
        if message.startswith(owner) and error.option in resolved and error.option not in on_line:
            return table
    return None


@contextlib.contextmanager
def one_line_warnings() -> Any:
    """Show the library's user-facing warnings as ``translate: warning: ...``, one line without source location.

    Under ``--debug`` a warning caused by an exception (a broken plugin's) shows its traceback first.
    """
    from translate.errors import TranslateWarning

    with warnings.catch_warnings():
        show = warnings.showwarning

        def show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                         line: str | None = None) -> None:
            if issubclass(category, TranslateWarning):
                cause = getattr(message, "__cause__", None)
                if cause is not None and debugging():
                    traceback.print_exception(cause)
                from tqdm.auto import tqdm

                with tqdm.external_write_mode(file=sys.stderr):  # on a line of its own, under a progress bar
                    click.echo(f"translate: warning: {message}", err=True)
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = show_warning
        yield
