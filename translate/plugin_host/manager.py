"""The plugin manager: finds plugins, records what each provides, reports clashes.

Plugins come from three places, all through the same hooks (:mod:`translate.plugin_host.hookspecs`):

* entry points of the group ``translate`` in installed distributions — the
  built-in objectives and models of ``image-translate`` travel this road too;
* ``--plugin MODULE`` on the command line (loaded for one run);
* objects registered by tests through :meth:`PluginRegistry.register`.

pluggy skips an entry point whose name is already registered without a word, so
the entry points are read here and every clash is reported instead: two entry
points with one name, or two plugins providing one objective or model name.
Selecting a clashing name is an error naming both plugins; nothing is shadowed.

``TRANSLATE_DISABLE_PLUGIN_AUTOLOAD=1`` skips third-party entry points (the
built-ins of ``image-translate`` still load).

A plugin that raises while it is imported (anything but ``KeyboardInterrupt``, even
``sys.exit()``), breaks the contract (a misspelt hook, a provided class whose ``name`` is
not a string) or fails in its hook is skipped with a :class:`PluginWarning` naming it, and
listed in :attr:`PluginRegistry.problems`; everything else keeps working. A plugin the user
asked for by name (``--plugin MODULE``, :meth:`PluginRegistry.register`) fails loudly
with a :class:`PluginError` instead.

A plugin that fails later, while translate calls into it (an objective's loss, a
model's ``train_step``), is found from the error's traceback by :meth:`PluginRegistry.blame`,
so that the command line can name it in one line instead of showing the traceback.
"""

from __future__ import annotations

import importlib
import os
import re
import traceback
import warnings
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from translate import DISTRIBUTION
from translate.errors import TranslateError, TranslateWarning
from translate.plugin_host import hookspecs
from translate.plugin_host.wiring import ENTRY_POINT_GROUP, misplaced_entry_points, not_found_hint, unmarked_hooks

if TYPE_CHECKING:
    from translate.models.base import Model
    from translate.objective import Objective
    from translate.run_logger import RunLogger

AUTOLOAD_SWITCH = "TRANSLATE_DISABLE_PLUGIN_AUTOLOAD"


class PluginError(TranslateError):
    """A plugin cannot be loaded, or a name it provides cannot be used."""


class PluginWarning(TranslateWarning):
    """An installed plugin was skipped because it is broken; the message names it and the error."""


class PluginFailure(PluginError):
    """A third-party plugin raised while translate called into it: a bug of that plugin.

    :ivar plugin: the plugin, with its distribution and version.
    :ivar call: the function translate called into the plugin, e.g. ``MyLoss.generator_loss``.
    :ivar location: ``file.py:line`` of the plugin's innermost frame, where it raised.
    :ivar error: the plugin's exception, whose traceback is the full story.
    """

    def __init__(self, plugin: "PluginInfo", call: str, location: str, error: BaseException):
        self.plugin, self.call, self.location, self.error = plugin, call, location, error
        super().__init__(f"{plugin.label} failed in {call} at {location}: {one_line(error)}")


@dataclass
class PluginInfo:
    """One registered plugin and what it provides."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    objectives: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    loggers: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``plugin 'lecam' (translate-lecam 0.1.0)``: the plugin with where it comes from, for messages."""
        source = f"{self.distribution} {self.version}" if self.distribution else f"module {self.module}"
        return f"plugin {self.name!r} ({source})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``translate plugins --json``)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "objectives": self.objectives,
            "models": self.models,
            "loggers": self.loggers,
            "hooks": self.hooks,
        }


class PluginRegistry:
    """All plugins of one run, and the objectives and models they provide."""

    def __init__(self, extra_modules: tuple[str, ...] = (), autoload: bool | None = None):
        self.manager = pluggy.PluginManager("translate")
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self._load_problems: list[str] = []
        #: Installed plugins left out because they are broken (each also among :attr:`problems`).
        self.skipped: list[str] = []
        self._explicit: set[str] = set()  # asked for by name: their failures are errors, not warnings
        self._providers: dict[str, dict[str, list[tuple[type, str]]]] = {"objective": {}, "model": {}}
        self._load_entry_points(third_party=autoload)
        for module_name in extra_modules:
            self._load_module(module_name)
        self._collect()

    # -- loading -------------------------------------------------------------------

    def _load_entry_points(self, third_party: bool | None) -> None:
        seen: dict[str, str] = {}
        for ep in installed_entry_points(third_party):
            dist = _dist_name(ep)
            name = ep.name
            if name in seen:
                self._load_problems.append(
                    f"entry point name {name!r} is used by both {seen[name]!r} and {dist!r}; "
                    f"both are loaded, the second as {name}@{dist}"
                )
                name = f"{name}@{dist}"
            seen.setdefault(ep.name, dist or "?")
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # a plugin's own bug, even sys.exit(): name it, no traceback
                self._skip(f"plugin {ep.name!r} from {dist!r} ({ep.value}) failed to load: {one_line(exc)}", exc)
                continue
            version = ep.dist.version if ep.dist is not None else None
            try:
                self._register(module, name, dist, version)
            except PluginError as exc:
                self._skip(f"{exc} (from {dist!r})", exc.__cause__)

    def _skip(self, problem: str, error: BaseException | None) -> None:
        """Record and warn about a broken installed plugin that is left out.

        The warning's ``__cause__`` is the plugin's ``error``, for ``translate --debug`` to show its traceback.
        """
        problem = f"{problem}; skipped"
        self._load_problems.append(problem)
        self.skipped.append(problem)
        warning = PluginWarning(problem)
        warning.__cause__ = error
        warnings.warn(warning, stacklevel=3)

    def _load_module(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise PluginError(f"plugin module {module_name!r} failed to import: {one_line(exc)}") from exc
        if self.manager.is_registered(module):
            return
        self._register(module, module_name, None, None)
        self._explicit.add(module_name)

    def register(self, plugin: object, name: str) -> None:
        """Register a plugin object (a module or any object with hook functions).

        Used by tests and programs that embed translate; re-collects what plugins provide.
        A plugin whose hooks fail raises :class:`PluginError` and is left out.
        """
        self._register(plugin, name, None, None)
        self._explicit.add(name)
        try:
            self._collect()
        except PluginError:
            self.manager.unregister(name=name)
            del self.plugins[name]
            self._explicit.discard(name)
            self._collect()
            raise

    def _register(self, plugin: object, name: str, dist: str | None, version: str | None) -> None:
        if name in self.plugins:
            raise PluginError(f"a plugin named {name!r} is already registered")
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except (ValueError, pluggy.PluginValidationError) as exc:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            raise PluginError(f"plugin {name!r} does not follow the contract: {one_line(exc, with_type=False)}") from exc
        hooks = _hook_names(self.manager, plugin)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.plugins[name] = PluginInfo(name, dist, version, module, hooks=hooks)
        for problem in unmarked_hooks(plugin, name):  # registered, but pluggy will never call these
            self._load_problems.append(problem)
            warnings.warn(problem, PluginWarning, stacklevel=4)

    # -- what plugins provide --------------------------------------------------------

    def _collect(self) -> None:
        self._providers = {"objective": {}, "model": {}, "logger": {}}
        for info in self.plugins.values():
            info.objectives.clear()
            info.models.clear()
            info.loggers.clear()
        provided: dict[str, list[tuple[str, type]]] = {}
        failed: dict[str, PluginError] = {}
        for kind, hook in (("objective", self.manager.hook.translate_objectives),
                           ("model", self.manager.hook.translate_models),
                           ("logger", self.manager.hook.translate_loggers)):
            for impl in hook.get_hookimpls():
                plugin_name = self.manager.get_name(impl.plugin)
                if plugin_name in failed:
                    continue
                try:
                    classes = _provided_classes(impl.function, kind, hook.name, plugin_name)
                except PluginError as exc:
                    if plugin_name in self._explicit:
                        raise
                    failed[plugin_name] = exc
                    continue
                provided.setdefault(plugin_name, []).extend((kind, cls) for cls in classes)
        for plugin_name, problem in failed.items():
            self.manager.unregister(name=plugin_name)
            del self.plugins[plugin_name]
            provided.pop(plugin_name, None)
            self._skip(str(problem), problem.__cause__)
        for plugin_name, classes in provided.items():
            for kind, cls in classes:
                self._providers[kind].setdefault(cls.name, []).append((cls, plugin_name))
                getattr(self.plugins[plugin_name], f"{kind}s").append(cls.name)

    @property
    def problems(self) -> list[str]:
        """Every problem found: plugins that failed to load, clashes of entry-point names and of objective/model
        names, and entry points declared in a group that looks meant for translate but is not ``translate``."""
        found = [*self._load_problems, *misplaced_entry_points()]
        for kind, names in self._providers.items():
            for name, providers in sorted(names.items()):
                if len(providers) > 1:
                    found.append(f"{kind} {name!r} is provided by {_plugin_list(providers)}")
        return found

    def names(self, kind: str) -> list[str]:
        """Sorted names of every objective (``kind="objective"``), model (``"model"``) or logger (``"logger"``)."""
        return sorted(self._providers[kind])

    def providers(self, kind: str) -> list[tuple[type, str]]:
        """``(class, plugin name)`` of every objective, model or logger, by name (a clashing name comes twice)."""
        return [provider for name in self.names(kind) for provider in self._providers[kind][name]]

    def _get(self, kind: str, name: str) -> type:
        providers = self._providers[kind].get(name)
        if not providers:
            raise unknown_name(kind, name, self.names(kind), self._load_problems)
        if len(providers) > 1:
            raise PluginError(
                f"{kind} {name!r} is provided by {_plugin_list(providers)}; uninstall one of them or load only one with "
                f"{AUTOLOAD_SWITCH}=1 and --plugin"
            )
        return providers[0][0]

    def blame(self, error: BaseException) -> PluginFailure | None:
        """The third-party plugin whose code raised ``error``, or ``None`` when none did.

        The innermost frame of the traceback in a module of a plugin (its own module, or
        the module of a class it provides) names the plugin; the outermost of that plugin's
        consecutive frames names the call translate made into it. translate's own code,
        its built-in plugins included, is never blamed: an error there is a bug of translate.
        """
        owners = self._third_party_modules()
        frames = list(traceback.walk_tb(error.__traceback__))  # outermost first
        owner_of = [_owner(frame.f_globals.get("__name__", ""), owners) for frame, _ in frames]
        for inner in reversed(range(len(frames))):
            plugin = owner_of[inner]
            if plugin is None:
                continue
            outer = inner
            while outer > 0 and owner_of[outer - 1] == plugin:
                outer -= 1
            code = frames[outer][0].f_code
            frame, line = frames[inner]
            location = f"{Path(frame.f_code.co_filename).name}:{line}"
            return PluginFailure(self.plugins[plugin], getattr(code, "co_qualname", code.co_name), location, error)
        return None

    def _third_party_modules(self) -> dict[str, str]:
        """Module name -> plugin name, for every plugin that is not part of translate's own distribution."""
        own = {"translate"} | {info.module.partition(".")[0] for info in self.plugins.values()
                               if info.distribution == DISTRIBUTION}
        owners: dict[str, str] = {}
        for kind in self._providers.values():
            for providers in kind.values():
                for cls, plugin in providers:
                    owners[cls.__module__] = plugin
        owners.update((info.module, name) for name, info in self.plugins.items())
        return {module: plugin for module, plugin in owners.items()
                if module.partition(".")[0] not in own and self.plugins[plugin].distribution != DISTRIBUTION}

    def plugin_of(self, cls: type) -> PluginInfo | None:
        """The plugin that provides ``cls`` (an objective, model or logger class), else the one providing the
        nearest base class of ``cls`` (the conformance kit checks subclasses), else ``None``."""
        provided = [(c, plugin) for kind in self._providers.values() for providers in kind.values()
                    for c, plugin in providers]
        for base in cls.__mro__ if isinstance(cls, type) else ():
            for candidate, plugin_name in provided:
                if candidate is base:
                    return self.plugins[plugin_name]
        return None

    def objective(self, name: str) -> type["Objective"]:
        """The objective class that ``--loss NAME`` selects."""
        return self._get("objective", name)

    def model(self, name: str) -> type["Model"]:
        """The model class that ``--model NAME`` selects."""
        return self._get("model", name)

    def logger(self, name: str) -> type["RunLogger"]:
        """The logger class that ``--logger NAME`` selects."""
        return self._get("logger", name)


def installed_entry_points(third_party: bool | None = None) -> list[EntryPoint]:
    """The entry points of the group ``translate``, by name and distribution.

    :param third_party: also those of other distributions than translate's own; default: unless
        ``TRANSLATE_DISABLE_PLUGIN_AUTOLOAD=1``.
    """
    if third_party is None:
        third_party = os.environ.get(AUTOLOAD_SWITCH, "") in ("", "0")
    found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, _dist_name(e) or ""))
    return [ep for ep in found if third_party or _dist_name(ep) == DISTRIBUTION]


def unknown_name(kind: str, name: str, available: list[str], load_problems: list[str] = ()) -> PluginError:
    """The error for an objective, model or logger name that no plugin provides.

    It lists the names that exist and says how plugins are found (:func:`translate.plugin_host.wiring.not_found_hint`),
    with entry points declared in a look-alike group and ``load_problems`` (plugins that failed to load).
    """
    valid = ", ".join(available) or "none installed"
    return PluginError(f"unknown {kind} {name!r} (available: {valid}); {not_found_hint(list(load_problems))}")


def _dist_name(ep: Any) -> str | None:
    """The entry point's distribution name, normalised as in PEP 503."""
    if getattr(ep, "dist", None) is None:
        return None
    return re.sub(r"[-_.]+", "-", ep.dist.name).lower()


def _provided_classes(hook_function: Any, kind: str, hook_name: str, plugin_name: str) -> list[type]:
    """Call one plugin's hook; its result must be a list of named Objective/Model/RunLogger subclasses."""
    from translate.models.base import Model
    from translate.objective import Objective
    from translate.run_logger import RunLogger

    base = {"objective": Objective, "model": Model, "logger": RunLogger}[kind]
    try:
        classes = list(hook_function() or [])
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise PluginError(f"plugin {plugin_name!r} failed in {hook_name}: {one_line(exc)}") from exc
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, base) and isinstance(cls.name, str) and cls.name):
            name = f" whose name is {cls.name!r}" if isinstance(cls, type) and issubclass(cls, base) else ""
            raise PluginError(
                f"plugin {plugin_name!r} returned {cls!r}{name} from {hook_name}; expected a {base.__name__} subclass "
                "whose name is a non-empty string"
            )
    return classes


def one_line(exc: BaseException, with_type: bool = True) -> str:
    """``RuntimeError: boom`` with any line breaks of the message folded into spaces (``SystemExit`` alone
    when there is no message)."""
    message = " ".join(str(exc).split())
    if not with_type:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _owner(module: str, owners: dict[str, str]) -> str | None:
    """The plugin owning ``module`` or the nearest of its parent packages."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        plugin = owners.get(".".join(parts[:end]))
        if plugin is not None:
            return plugin
    return None


def _plugin_list(providers: list[tuple[type, str]]) -> str:
    return " and ".join(repr(plugin) for _, plugin in providers)


def _hook_names(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    callers = manager.get_hookcallers(plugin) or []
    return sorted(caller.name for caller in callers)
