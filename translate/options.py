"""Typed keyword options for objectives and models (``--loss-opt``/``--model-opt``)."""

from __future__ import annotations

import inspect
from typing import Any

from translate.errors import TranslateError


class OptionError(TranslateError, ValueError):
    """An option given to an objective or a model is unknown or has the wrong type."""


def option_defaults(cls: type) -> dict[str, Any]:
    """Keyword options of ``cls.__init__`` with their defaults."""
    signature = inspect.signature(cls.__init__)
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty
    }


def option_specs(cls: type, exclude: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Every keyword option of ``cls.__init__`` as ``{name: {"default": ..., "type": "float"}}``, in signature order.

    ``type`` is what a command-line value is converted to (the type of the default, see
    :func:`convert_value`); for other defaults it is the parameter's annotation as written, or
    ``"str"``.
    """
    parameters = inspect.signature(cls.__init__).parameters
    specs = {}
    for name, default in option_defaults(cls).items():
        if name in exclude:
            continue
        if isinstance(default, (bool, int, float, str)):
            kind = type(default).__name__
        else:
            annotation = parameters[name].annotation
            kind = "str" if annotation is inspect.Parameter.empty else getattr(annotation, "__name__", str(annotation))
        specs[name] = {"default": default, "type": kind}
    return specs


def parse_options(cls: type, raw: dict[str, str], what: str) -> dict[str, Any]:
    """Turn ``{"gamma": "0.5"}`` into typed keyword arguments for ``cls``.

    Values are converted to the type of the option's default. Unknown keys raise
    :class:`OptionError` naming the valid ones.
    """
    defaults = option_defaults(cls)
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "none"
            raise OptionError(f"{what} has no option {key!r} (valid: {valid})")
        parsed[key] = convert_value(value, defaults[key], f"{what} option {key!r}")
    return parsed


def convert_value(value: Any, default: Any, what: str) -> Any:
    """Convert a command-line string to the type of ``default``."""
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise OptionError(
            f"{what} expects {type(default).__name__}, got {value!r}"
        ) from None
    return value


def check_counts(owner: str, **counts: tuple[Any, int]) -> None:
    """Refuse each ``name=(value, least)`` whose value is not an integer >= ``least``.

    ``owner`` starts the message (``"model 'unit' option"``, ``"StarGenerator"``); booleans
    are refused although Python counts them as integers.
    """
    for name, (value, least) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise OptionError(f"{owner} {name!r} must be an integer >= {least}, got {value!r}")
