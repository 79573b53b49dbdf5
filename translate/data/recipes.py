"""Download recipes: where a public data set or weights file lives, and how to check it.

The built-in recipes ship with the package (``translate/data/recipes.toml``). A user's
own file (``--recipes FILE`` or the environment variable ``TRANSLATE_RECIPES``) is read
after them: it adds recipes and replaces built-ins of the same name, e.g. to pin a
checksum or to point at a mirror. The file format is described at the top of
``recipes.toml`` and in ``datasets/README.md``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from translate.errors import TranslateError

#: Environment variable naming an extra recipe file (like ``--recipes``).
RECIPES_ENV = "TRANSLATE_RECIPES"
#: Recipe groups in a recipe file.
GROUPS = ("datasets", "weights")
#: Archive types a recipe may name.
ARCHIVES = {"datasets": ("zip", "tar.gz", "tgz", "tar"), "weights": ("pth",)}
#: The ``sha256`` value of a recipe whose checksum nobody has published.
UNKNOWN = "unknown"

_KEYS = {"kind", "description", "urls", "archive", "sha256", "sha256_source", "size", "expect", "folder",
         "arch", "direction", "refuse", "licence"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class RecipeError(TranslateError):
    """A recipe file is malformed or names no such recipe."""


@dataclass(frozen=True)
class Recipe:
    """One downloadable data set or weights file."""

    name: str
    group: str
    urls: tuple[str, ...] = ()
    archive: str = ""
    sha256: str = UNKNOWN
    sha256_source: str = ""
    size: int | None = None
    kind: str = ""
    description: str = ""
    expect: tuple[str, ...] = ()
    folder: str = ""
    arch: str = ""
    direction: str = "AtoB"
    refuse: str = ""
    licence: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def verified(self) -> bool:
        """True when the recipe pins a SHA-256."""
        return self.sha256 != UNKNOWN

    @property
    def target_name(self) -> str:
        """The folder the download becomes under its root."""
        return self.folder or self.name

    @property
    def file_name(self) -> str:
        """The downloaded file's name: the last part of the first URL."""
        return self.urls[0].rstrip("/").rsplit("/", 1)[-1] if self.urls else f"{self.name}.{self.archive}"

    def status(self) -> str:
        """``verified``, ``unverified`` (no published SHA-256) or ``refused`` (cannot be downloaded)."""
        if self.refuse:
            return "refused"
        return "verified" if self.verified else "unverified"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "description": self.description, "status": self.status(),
            "urls": list(self.urls), "archive": self.archive, "sha256": self.sha256,
            "sha256_source": self.sha256_source, "size": self.size, "folder": self.target_name,
            **({"arch": self.arch, "direction": self.direction} if self.group == "weights" else {}),
            **({"refuse": self.refuse} if self.refuse else {}),
            "source": self.source,
        }


def builtin_text() -> str:
    """The text of the recipe file shipped with the package."""
    return resources.files("translate.data").joinpath("recipes.toml").read_text(encoding="utf-8")


def load_recipes(group: str, extra: str | os.PathLike | None = None) -> dict[str, Recipe]:
    """Every recipe of ``group`` ("datasets" or "weights"): built-ins, then ``extra``
    (or the file in ``$TRANSLATE_RECIPES``) adding or replacing recipes by name."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {group!r}")
    recipes = parse_recipes(builtin_text(), "built-in recipes.toml")[group]
    extra = extra if extra is not None else os.environ.get(RECIPES_ENV) or None
    if extra is not None:
        path = Path(extra)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RecipeError(f"cannot read recipe file '{path}': {exc.strerror or exc}") from None
        recipes.update(parse_recipes(text, str(path))[group])
    return recipes


def find_recipe(name: str, group: str, extra: str | os.PathLike | None = None) -> Recipe:
    """The recipe called ``name``, or a :class:`RecipeError` listing the available ones."""
    recipes = load_recipes(group, extra)
    if name not in recipes:
        command = "data" if group == "datasets" else "weights"
        raise RecipeError(
            f"no {'data set' if group == 'datasets' else 'weights'} recipe named {name!r} "
            f"(available: {', '.join(sorted(recipes))}; see `translate {command} list`)"
        )
    return recipes[name]


def parse_recipes(text: str, source: str) -> dict[str, dict[str, Recipe]]:
    """Parse and validate a recipe file's text; errors name ``source`` and the recipe."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"recipe file '{source}' is not valid TOML: {exc}") from None
    unknown_groups = sorted(set(data) - set(GROUPS))
    if unknown_groups:
        raise RecipeError(
            f"recipe file '{source}' has unknown table(s) {', '.join(unknown_groups)}; "
            f"recipes go in [datasets.NAME] or [weights.NAME]"
        )
    parsed: dict[str, dict[str, Recipe]] = {group: {} for group in GROUPS}
    for group in GROUPS:
        for name, table in data.get(group, {}).items():
            parsed[group][name] = _recipe(name, group, table, source)
    return parsed


def _recipe(name: str, group: str, table: Any, source: str) -> Recipe:
    where = f"recipe file '{source}' [{group}.{name}]"
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table of keys")
    if not _NAME.match(name):
        raise RecipeError(f"{where}: a name is letters, digits, '_', '-' and '.'")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise RecipeError(f"{where} has unknown key(s) {', '.join(unknown)} (valid: {', '.join(sorted(_KEYS))})")
    for key in ("kind", "description", "archive", "sha256", "sha256_source", "folder", "arch", "direction",
                "refuse", "licence"):
        if key in table and not isinstance(table[key], str):
            raise RecipeError(f"{where}: '{key}' must be a string")
    refuse = table.get("refuse", "").strip()
    urls = table.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise RecipeError(f"{where}: 'urls' must be a list of strings")
    folder = table.get("folder", "")
    if folder and (not _NAME.match(folder) or folder in (".", "..")):
        raise RecipeError(f"{where}: 'folder' must be a plain folder name, got {folder!r}")
    expect = table.get("expect", [])
    if not isinstance(expect, list) or not all(isinstance(e, str) and _NAME.match(e) for e in expect):
        raise RecipeError(f"{where}: 'expect' must be a list of folder names")
    size = table.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise RecipeError(f"{where}: 'size' must be a positive number of bytes")
    recipe = Recipe(
        name=name, group=group, urls=tuple(urls), archive=table.get("archive", ""),
        sha256=table.get("sha256", "").lower(), sha256_source=table.get("sha256_source", ""), size=size,
        kind=table.get("kind", ""), description=table.get("description", ""), expect=tuple(expect),
        folder=folder, arch=table.get("arch", ""), direction=table.get("direction", "AtoB"), refuse=refuse,
        licence=table.get("licence", ""), source=source,
    )
    if refuse:
        return recipe
    if not urls:
        raise RecipeError(f"{where} needs 'urls' (or 'refuse' with a message)")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise RecipeError(f"{where}: URL {url!r} must start with http:// or https://")
    if recipe.archive not in ARCHIVES[group]:
        raise RecipeError(f"{where}: 'archive' must be one of {', '.join(ARCHIVES[group])}, got {recipe.archive!r}")
    if recipe.sha256 != UNKNOWN and not _SHA256.match(recipe.sha256):
        raise RecipeError(
            f"{where}: 'sha256' must be 64 hexadecimal digits, or \"{UNKNOWN}\" when no checksum is published"
        )
    if group == "weights":
        if not recipe.arch:
            raise RecipeError(f"{where}: weights need 'arch' (e.g. resnet_9blocks, unet_256)")
        if recipe.direction not in ("AtoB", "BtoA"):
            raise RecipeError(f"{where}: 'direction' must be AtoB or BtoA, got {recipe.direction!r}")
    return recipe
