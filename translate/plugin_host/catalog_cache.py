"""The plugin catalog cached on disk, so that ``translate plugins`` answers without importing torch.

Building a :class:`~translate.plugin_host.catalog.Catalog` imports every plugin (and torch): seconds.
The cache keeps the last one in ``$XDG_CACHE_HOME/translate`` (``~/.cache/translate``;
``TRANSLATE_CACHE_DIR`` overrides the folder), one file per Python environment. It is used
only while nothing it was built from changed:

* the installed plugins: distribution name and version, entry-point name and target of
  every entry point of the group ``translate`` (and ``TRANSLATE_DISABLE_PLUGIN_AUTOLOAD``), and
  the entry points declared in look-alike groups (listed as problems);
* the files it was built from, by modification time and size: every plugin's module and the
  modules of the classes plugins provide (with their base classes), and the modules that
  describe them;
* translate's version and the Python version.

Checking that costs a few ``stat`` calls and reading the distributions' entry points. The
file is written atomically; a cache that cannot be read or parsed is ignored and rewritten,
and one that cannot be written is left alone. Nothing is cached while an installed plugin
is broken (its fix may be anywhere, e.g. a missing dependency installed later), nor for
``--plugin`` modules.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from translate import __version__
from translate.plugin_host.catalog import Catalog

#: Folder of the cache files instead of ``$XDG_CACHE_HOME/translate`` (tests, read-only homes).
CACHE_DIR_SWITCH = "TRANSLATE_CACHE_DIR"
#: Version of the cache file's layout; a file of another version is ignored.
FORMAT = 1


def cache_file() -> Path:
    """This Python environment's cache file."""
    folder = os.environ.get(CACHE_DIR_SWITCH)
    if not folder:
        xdg = os.environ.get("XDG_CACHE_HOME", "")
        folder = str(Path(xdg if os.path.isabs(xdg) else Path.home() / ".cache") / "translate")
    environment = hashlib.sha256(sys.prefix.encode()).hexdigest()[:16]  # not sys.executable: python, python3, ...
    return Path(folder) / f"plugins-{environment}.json"


def plugin_catalog(extra_modules: tuple[str, ...] = (), refresh: bool = False) -> Catalog:
    """The catalog of every installed plugin (and of ``extra_modules``): from the cache when it is current.

    :param extra_modules: ``--plugin`` modules; with any, the catalog is built and not cached.
    :param refresh: build it even when the cache is current (and rewrite the cache).
    """
    if extra_modules:
        return _build(extra_modules)[0]
    path, key = cache_file(), _key()
    cached = None if refresh else _read(path, key)
    if cached is not None:
        return cached
    catalog, files, complete = _build(())
    if complete:
        _write(path, {"format": FORMAT, "key": key, "files": {name: _stamp(name) for name in files},
                      "catalog": catalog.as_dict()})
    return catalog


def _build(extra_modules: tuple[str, ...]) -> tuple[Catalog, list[str], bool]:
    """The catalog, the files it comes from, and whether every installed plugin loaded."""
    from translate.plugin_host.catalog import describe
    from translate.plugin_host.manager import PluginRegistry

    registry = PluginRegistry(extra_modules=extra_modules)
    catalog, files = describe(registry)
    return catalog, files, not registry.skipped


def _key() -> dict[str, Any]:
    """What the catalog depends on besides its files: the installed plugin entry points, translate, Python."""
    from translate.plugin_host.manager import installed_entry_points
    from translate.plugin_host.wiring import misplaced_entry_points

    return {
        "translate": __version__,
        "python": sys.version,
        "entry_points": [[ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None, ep.name, ep.value]
                         for ep in installed_entry_points()],
        "misplaced": misplaced_entry_points(),
    }


def _stamp(path: str) -> list[int] | None:
    """``[mtime_ns, size]`` of a file, ``None`` when it is gone."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return [status.st_mtime_ns, status.st_size]


def _read(path: Path, key: dict[str, Any]) -> Catalog | None:
    """The cached catalog if the cache is readable and current, else ``None``."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["format"] != FORMAT or record["key"] != key:
            return None
        if any(_stamp(name) != stamp for name, stamp in record["files"].items()):
            return None
        return Catalog.from_dict(record["catalog"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # missing, unreadable or corrupt
        return None


def _write(path: Path, record: dict[str, Any]) -> None:
    """Replace the cache file atomically; a cache that cannot be written is not an error."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(record, file)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)


__all__ = ["CACHE_DIR_SWITCH", "cache_file", "plugin_catalog"]
