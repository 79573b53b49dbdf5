"""What the installed plugins provide, described in plain data for ``translate plugins``.

A :class:`Catalog` holds each plugin (where it comes from, its hooks) and each objective,
model and logger it provides: docstring, options with defaults and types, and for
objectives the critic kind, critic steps and state keys. It is built once from a
:class:`~translate.plugin_host.manager.PluginRegistry` (which imports every plugin, and torch) and
then read from the cache (:mod:`translate.plugin_host.catalog_cache`) without importing anything.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from translate.options import option_specs
from translate.plugin_host.manager import one_line

if TYPE_CHECKING:
    from translate.plugin_host.manager import PluginRegistry

#: The kinds of class plugins provide, in the order they are listed.
KINDS = ("objective", "model", "logger")
#: Model options that are not ``--model-opt`` options (``--image-size`` sets it).
NOT_MODEL_OPTIONS = ("image_size",)


@dataclass
class Catalog:
    """Every plugin and what it provides, as JSON-ready dictionaries (the form of ``translate plugins --json``).

    :ivar plugins: one ``PluginInfo.as_dict()`` per plugin.
    :ivar objectives: one dictionary per provided objective (see :func:`describe`); ``models`` and
        ``loggers`` likewise. A name two plugins provide appears twice.
    :ivar problems: what ``PluginRegistry.problems`` reported, plus objectives that cannot be built
        with their default options.
    """

    plugins: list[dict[str, Any]] = field(default_factory=list)
    objectives: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    loggers: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Catalog":
        """Inverse of :meth:`as_dict`; raises ``KeyError``/``TypeError`` on anything else."""
        lists = {name: data[name] for name in ("plugins", "objectives", "models", "loggers", "problems")}
        if not all(isinstance(value, list) for value in lists.values()):
            raise TypeError("catalog fields must be lists")
        return cls(**lists)

    def entries(self, kind: str) -> list[dict[str, Any]]:
        """The entries of one kind: ``"objective"``, ``"model"`` or ``"logger"``."""
        return getattr(self, f"{kind}s")

    def names(self, kind: str) -> list[str]:
        """Sorted names of one kind, as :meth:`PluginRegistry.names <translate.plugin_host.manager.PluginRegistry.names>`."""
        return sorted({entry["name"] for entry in self.entries(kind)})

    def find(self, name: str) -> list[dict[str, Any]]:
        """Every objective, model and logger called ``name``."""
        return [entry for kind in KINDS for entry in self.entries(kind) if entry["name"] == name]


def describe(registry: "PluginRegistry") -> tuple[Catalog, list[str]]:
    """The catalog of ``registry``'s plugins, and the files it was built from.

    The files are every plugin module's and the modules of every provided class and its base
    classes: a change to any of them may change the catalog.
    """
    catalog = Catalog(plugins=[info.as_dict() for info in registry.plugins.values()], problems=list(registry.problems))
    modules = {info.module for info in registry.plugins.values()}
    modules |= {__name__, option_specs.__module__, type(registry).__module__}  # they shape the descriptions
    for kind in KINDS:
        for cls, plugin_name in registry.providers(kind):
            info = registry.plugins[plugin_name]
            entry = {"kind": kind, "name": cls.name, "plugin": info.name, "distribution": info.distribution,
                     "version": info.version, "module": cls.__module__, "class": cls.__qualname__,
                     "doc": _docstring(cls)}
            if kind == "objective":
                entry.update(_objective_details(cls, catalog.problems))
            elif kind == "model":
                entry["options"] = option_specs(cls, exclude=NOT_MODEL_OPTIONS)
            for spec in entry.get("options", {}).values():
                spec["default"] = _plain(spec["default"])
            catalog.entries(kind).append(entry)
            modules.update(base.__module__ for base in cls.__mro__)
    files = sorted({module.__file__ for name in modules
                    if (module := sys.modules.get(name)) is not None and getattr(module, "__file__", None)})
    return catalog, files


def _objective_details(cls: type, problems: list[str]) -> dict[str, Any]:
    """Options, critic kind, critic steps and state keys (from a fresh instance) of an objective class."""
    try:
        instance = cls()
        state_keys: list[str] | None = list(instance.state_dict())
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a plugin's bug: reported, not raised
        instance, state_keys = None, None
        problems.append(f"objective {cls.name!r} cannot be built with its default options: {one_line(exc)}")
    return {"options": option_specs(cls), "critic": _plain(cls.critic),
            "critic_steps": _plain(getattr(instance if instance is not None else cls, "critic_steps", 1)),
            "state_keys": _plain(state_keys)}


def _plain(value: Any) -> Any:
    """``value`` when JSON gives it back as it is, else its ``repr`` (a plugin may hold anything)."""
    try:
        if json.loads(json.dumps(value)) == value:
            return value
    except (TypeError, ValueError):
        pass
    return repr(value)


def _docstring(cls: type) -> str:
    """The class's own docstring, else its module's; ``""`` without either."""
    doc = cls.__dict__.get("__doc__") or getattr(sys.modules.get(cls.__module__), "__doc__", None) or ""
    return inspect.cleandoc(doc)


__all__ = ["KINDS", "Catalog", "describe"]
