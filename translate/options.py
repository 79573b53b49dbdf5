"""Typed keyword options for objectives and models (``--loss-opt``/``--model-opt``).

A class states the valid range of its numeric options once, in ``option_limits``
(option name -> :class:`Limit`); :func:`parse_options` (the command line and
configuration files) and :func:`check_options` (options read back from a checkpoint)
enforce them, and models check themselves when built (:meth:`translate.models.base.Model.check_options`).
"""

from __future__ import annotations

import inspect
import math
import typing
from dataclasses import dataclass
from typing import Any

from translate.errors import TranslateError


class OptionError(TranslateError, ValueError):
    """An option given to an objective or a model is unknown or has the wrong type.

    :ivar option: the option's name where one option is to blame (the command line uses it to say
        which configuration file and table the option came from), else ``None``.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


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

    ``type`` is what a command-line value is converted to (:func:`option_type`); for other
    options it is the parameter's annotation as written, or ``"str"``.
    """
    parameters = inspect.signature(cls.__init__).parameters
    specs = {}
    for name, default in option_defaults(cls).items():
        if name in exclude:
            continue
        kind = option_type(cls, name)
        if kind not in (bool, int, float, str):
            annotation = parameters[name].annotation
            name_of_kind = "str" if annotation is inspect.Parameter.empty else getattr(annotation, "__name__", str(annotation))
        else:
            name_of_kind = kind.__name__
        specs[name] = {"default": default, "type": name_of_kind}
    return specs


def option_type(cls: type, name: str) -> type | None:
    """What a command-line value of option ``name`` is converted to: the type of its default, or for
    a default of ``None`` (decided by another option, e.g. CUT's ``lambda_nce`` by its ``mode``)
    the one non-``None`` type of its annotation (``float | None`` -> float); ``None`` if neither says."""
    default = option_defaults(cls)[name]
    return type(default) if default is not None else _annotated_type(cls, name)


@dataclass(frozen=True)
class Limit:
    """The valid values of a numeric option: finite, ``>= low`` (``> low`` when ``low_open``),
    ``< high`` when ``high`` is set, and a whole number when ``integer``."""

    low: float
    low_open: bool = False
    high: float | None = None
    integer: bool = False

    def allows(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value) or value < self.low or (self.low_open and value == self.low):
            return False
        return self.high is None or value < self.high

    def describe(self) -> str:
        """``"an integer >= 1"``, ``"a number > 0"``, ``"a number in [0, 1)"``."""
        kind = "an integer" if self.integer else "a number"
        if self.high is not None:
            return f"{kind} in {'(' if self.low_open else '['}{_number(self.low)}, {_number(self.high)})"
        return f"{kind} {'>' if self.low_open else '>='} {_number(self.low)}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


#: Channel widths and layer counts that must be there: 1, 2, ...
WIDTH = Limit(1, integer=True)
#: Counts that may be zero (residual blocks, pool size): 0, 1, ...
COUNT = Limit(0, integer=True)
#: Loss weights and weight decay: 0 switches a term off.
WEIGHT = Limit(0)
#: Learning rates.
RATE = Limit(0, low_open=True)
#: Adam's beta1 and beta2.
BETA = Limit(0, high=1)


def check_limits(what: str, values: dict[str, Any], limits: dict[str, Limit]) -> None:
    """Refuse the first of ``values`` outside its :class:`Limit` with an :class:`OptionError`
    (``what`` starts the message: ``"model 'pix2pix' option"``)."""
    for name, limit in limits.items():
        if name in values and not limit.allows(values[name]):
            raise OptionError(f"{what} {name!r} must be {limit.describe()}, got {values[name]!r}", name)


def check_options(cls: type, values: dict[str, Any], what: str) -> None:
    """Refuse keys ``cls`` does not take (naming the valid ones) and values outside its ``option_limits``."""
    _check_known(cls, values, what)
    check_limits(f"{what} option", values, getattr(cls, "option_limits", {}))


def _check_known(cls: type, keys: Any, what: str) -> None:
    defaults = option_defaults(cls)
    for key in keys:
        if key not in defaults:
            valid = ", ".join(sorted(defaults)) or "none"
            raise OptionError(f"{what} has no option {key!r} (valid: {valid})", key)


def parse_options(cls: type, raw: dict[str, str], what: str) -> dict[str, Any]:
    """Turn ``{"gamma": "0.5"}`` into typed keyword arguments for ``cls``.

    Values are converted to :func:`option_type`. Unknown keys and values outside the class's
    ``option_limits`` raise :class:`OptionError` (see :func:`check_options`).
    """
    _check_known(cls, raw, what)
    parsed = {}
    for key, value in raw.items():
        try:
            parsed[key] = convert_value(value, option_type(cls, key), f"{what} option {key!r}")
        except OptionError as exc:
            exc.option = key
            raise
    check_limits(f"{what} option", parsed, getattr(cls, "option_limits", {}))
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
