"""Configuration files: a command's options in TOML (``translate train --config run.toml``).

Keys are the command's option names, with dashes or underscores (``batch-size`` or
``batch_size``); values have the option's type. Repeatable options are arrays, and
``KEY=VALUE`` options (``--model-opt``, ``--loss-opt``) are tables::

    model = "pix2pix"
    loss = "wgan-gp"
    steps = 2000
    batch-size = 4
    plugin = ["my_loss"]

    [model-opt]
    lambda_l1 = 50
    generator = "resnet_9blocks"

    [loss-opt]
    gp_weight = 5

Every option of the command can be set this way, including ones added later: the keys are
read from the command's click parameters. Options given on the command line override the
file; for tables the command line overrides key by key. Values are checked exactly as on the
command line (ranges, choices, paths relative to the current folder). An unknown key or a
value of the wrong type is an error naming the key and the file.

:func:`dumps` writes the resolved configuration back as TOML (``--print-config``, and
``config.toml`` in a run folder), readable again with ``--config``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import click
from click.core import ParameterSource

from translate.errors import TranslateError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Where a value counts as given by the user, so the file does not replace it.
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(TranslateError):
    """A configuration file cannot be read, or holds an unknown key or a value of the wrong type."""


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a dict; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write it, is not TOML
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file '{path}' is not valid TOML: {exc}") from exc


def option_keys(command: click.Command, exclude: Iterable[str] = ()) -> dict[str, click.Option]:
    """The file keys of ``command``: each option's long name without dashes (``batch-size``)."""
    keys = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in exclude:
            long_names = [opt for opt in param.opts if opt.startswith("--")]
            keys[(long_names or param.opts)[0].lstrip("-")] = param
    return keys


def resolve(ctx: click.Context, params: dict[str, Any], path: str | Path | None,
            exclude: Iterable[str] = ()) -> dict[str, Any]:
    """``params`` (what click parsed) completed from the config file at ``path``.

    A value from the file replaces an option's default; an option given on the command
    line wins, except that for ``KEY=VALUE`` tables the two are merged key by key with
    the command line winning. Options in ``exclude`` (``--config`` itself) cannot be set
    in a file.
    """
    if path is None:
        return dict(params)
    resolved = dict(params)
    for name, value in file_values(ctx, read_toml(path), path, exclude).items():
        if ctx.get_parameter_source(name) not in _GIVEN:
            resolved[name] = value
        elif isinstance(value, dict) and isinstance(params[name], dict):
            resolved[name] = {**value, **params[name]}
    return resolved


def file_values(ctx: click.Context, data: dict[str, Any], path: str | Path,
                exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The options set in ``data`` (a parsed config file), keyed by parameter name and processed by click."""
    keys = option_keys(ctx.command, exclude)
    by_spelling = {key.replace("-", "_"): key for key in keys}
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = by_spelling.get(raw_key.replace("-", "_"))
        if key is None:
            raise ConfigError(f"config file '{path}': unknown key {raw_key!r} (valid keys: {', '.join(sorted(keys))})")
        param = keys[key]
        if param.name in values:
            raise ConfigError(f"config file '{path}': key {raw_key!r} is given twice (as {key!r} and with underscores)")
        values[param.name] = _process(ctx, param, key, value, path)
    return values


def _process(ctx: click.Context, param: click.Option, key: str, value: Any, path: str | Path) -> Any:
    """Check a file value's type, then let click convert and validate it as a command-line value."""
    where = f"config file '{path}': key {key!r}"
    expected, check = _expected_type(param)
    table = isinstance(value, dict)
    if param.multiple:
        if table:
            value = [f"{name}={_table_text(item, f'{where}, entry {name!r}')}" for name, item in value.items()]
        if not isinstance(value, list):
            raise ConfigError(f"{where} expects an array or a table, got {_describe(value)}")
        for item in value:
            if not check(item):
                raise ConfigError(f"{where} expects an array of {expected}s, got an element {_describe(item)}")
        value = tuple(value)
    elif not check(value):
        raise ConfigError(f"{where} expects {_article(expected)} {expected}, got {_describe(value)}")
    try:
        processed = param.process_value(ctx, value)
    except click.BadParameter as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    if table and not isinstance(processed, dict):
        raise ConfigError(f"{where} expects an array, got a table")
    return processed


def _expected_type(param: click.Option) -> tuple[str, Any]:
    """The TOML type an option's values need: its name and a check."""
    kind = param.type
    if param.is_flag or isinstance(kind, click.types.BoolParamType):
        return "boolean", lambda v: isinstance(v, bool)
    if isinstance(kind, click.types.IntParamType):
        return "integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if isinstance(kind, click.types.FloatParamType):
        return "number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    return "string", lambda v: isinstance(v, str)


def _table_text(value: Any, where: str) -> str:
    """A table entry as the text ``--model-opt key=TEXT`` would carry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ConfigError(f"{where} expects a string, number or boolean, got {_describe(value)}")


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}
    kind = next((name for cls, name in names.items() if isinstance(value, cls)), type(value).__name__)
    shown = json.dumps(value) if isinstance(value, (bool, int, float, str)) else kind
    return f"{shown} ({_article(kind)} {kind})" if shown != kind else f"{_article(kind)} {kind}"


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def configuration(command: click.Command, params: dict[str, Any], exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The resolved options as file keys and TOML values (``None``, i.e. "the default", left out)."""
    result: dict[str, Any] = {}
    for key, param in option_keys(command, exclude).items():
        value = params.get(param.name)
        if value is None:
            continue
        result[key] = list(value) if isinstance(value, tuple) else value
    return result


def dumps(config: dict[str, Any]) -> str:
    """TOML text of a flat configuration: scalars, arrays of scalars and tables of scalars."""
    lines = [f"{_key(key)} = {_value(value)}" for key, value in config.items() if not isinstance(value, dict)]
    for key, table in config.items():
        if isinstance(table, dict):
            lines += ["", f"[{_key(key)}]"] + [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a TOML value")
