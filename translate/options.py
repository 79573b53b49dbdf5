"""Typed keyword options for objectives and models (``--loss-opt``/``--model-opt``)."""

from __future__ import annotations

import inspect
import typing
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


def parse_options(cls: type, raw: dict[str, str], what: str) -> dict[str, Any]:
    """Turn ``{"gamma": "0.5"}`` into typed keyword arguments for ``cls``.

    Values are converted to the type of the option's default; an option whose default
    is ``None`` (decided by another option, e.g. CUT's ``lambda_nce`` by its ``mode``)
    takes the type of its annotation (``float | None`` -> float). Unknown keys raise
    :class:`OptionError` naming the valid ones.
    """
    defaults = option_defaults(cls)
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "none"
            raise OptionError(f"{what} has no option {key!r} (valid: {valid})")
        kind = type(defaults[key]) if defaults[key] is not None else _annotated_type(cls, key)
        parsed[key] = convert_value(value, kind, f"{what} option {key!r}")
    return parsed


def _annotated_type(cls: type, name: str) -> type | None:
    """The one non-``None`` type in the annotation of ``cls.__init__``'s parameter ``name``, if any."""
    try:
        hint = typing.get_type_hints(cls.__init__).get(name)
    except Exception:  # an annotation that cannot be evaluated here: leave the value as given
        return None
    kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)] if typing.get_args(hint) else [hint]
    return kinds[0] if len(kinds) == 1 and isinstance(kinds[0], type) else None


def convert_value(value: Any, kind: type | None, what: str) -> Any:
    """Convert a command-line string to ``kind`` (bool, int or float); other values pass unchanged."""
    if not isinstance(value, str) or kind not in (bool, int, float):
        return value
    try:
        if kind is bool:
            lowered = value.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise OptionError(f"{what} expects {kind.__name__}, got {value!r}") from None


def check_counts(owner: str, **counts: tuple[Any, int]) -> None:
    """Refuse each ``name=(value, least)`` whose value is not an integer >= ``least``.

    ``owner`` starts the message (``"model 'unit' option"``, ``"StarGenerator"``); booleans
    are refused although Python counts them as integers.
    """
    for name, (value, least) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise OptionError(f"{owner} {name!r} must be an integer >= {least}, got {value!r}")
