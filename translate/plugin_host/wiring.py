"""How a plugin is wired to translate, and what to say when the wiring is wrong.

Three mistakes leave a plugin silently absent: its distribution declares no entry point
(or one in another group than ``translate``), or its hook functions lack
``@translate.hookimpl`` (pluggy ignores unmarked functions). :mod:`translate.plugin_host.manager` warns
about unmarked hooks when it registers a module and adds :func:`not_found_hint` to
"unknown objective" errors; :func:`translate.testing.check_objective` given a name goes
through the same road. Nothing here imports torch.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import distributions

from translate import hookimpl

#: The entry-point group translate reads (``[project.entry-points.translate]``).
ENTRY_POINT_GROUP = "translate"

#: How translate finds plugins, for messages about a name it did not find.
HOW_PLUGINS_ARE_FOUND = (
    f"translate finds plugins through the entry-point group {ENTRY_POINT_GROUP!r} of installed distributions "
    f"([project.entry-points.{ENTRY_POINT_GROUP}] in pyproject.toml, then pip install the package again) "
    "and in modules named with --plugin MODULE"
)

_MARKER = f"{hookimpl.project_name}_impl"  # the attribute @hookimpl sets on a function


def unmarked_hooks(plugin: object, name: str) -> list[str]:
    """One problem per module-level ``translate_*`` function of ``plugin`` without ``@hookimpl``.

    pluggy calls only marked functions, so such a hook is ignored without a word. Only
    functions defined in the plugin module itself count (not ones it imports).
    """
    if not inspect.ismodule(plugin):
        return []
    return [
        f"plugin {name!r} ({plugin.__name__}) defines {attribute}() without @translate.hookimpl, so it is never "
        "called; mark it with @hookimpl (from translate import hookimpl)"
        for attribute, value in sorted(vars(plugin).items())
        if attribute.startswith(f"{ENTRY_POINT_GROUP}_") and inspect.isfunction(value)
        and value.__module__ == plugin.__name__ and not hasattr(value, _MARKER)
    ]


#: Entry-point groups that look meant for translate: ``Translate``, ``translate.objectives``, ``translate_plugins``...
_LOOK_ALIKE = re.compile(rf"{ENTRY_POINT_GROUP}([._-].*)?", re.IGNORECASE)


def misplaced_entry_points() -> list[str]:
    """Entry points declared in a group that looks meant for translate (:data:`_LOOK_ALIKE`) but is not
    ``translate``, each as a problem with its fix."""
    found = []
    for dist in distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP and _LOOK_ALIKE.fullmatch(ep.group):
                found.append(f"distribution {dist.metadata['Name']!r} declares {ep.name} = {ep.value!r} in the "
                             f"entry-point group {ep.group!r}, which translate does not read; declare it under "
                             f"[project.entry-points.{ENTRY_POINT_GROUP}]")
    return sorted(set(found))


def not_found_hint(load_problems: list[str]) -> str:
    """What to add to "unknown objective 'x'": how plugins are found and what may have gone wrong."""
    return "; ".join(dict.fromkeys([HOW_PLUGINS_ARE_FOUND, *misplaced_entry_points(), *load_problems]))


__all__ = ["ENTRY_POINT_GROUP", "HOW_PLUGINS_ARE_FOUND", "misplaced_entry_points", "not_found_hint",
           "unmarked_hooks"]
