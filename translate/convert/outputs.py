"""Where conversion outputs go: inputs, mirrored output names, clashes, shards.

Outputs are written by :func:`translate.data.images.save_atomically`.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from translate.data.images import IMAGE_EXTENSIONS, is_image_file, list_images
from translate.errors import TranslateError

#: ``--format`` choices and the file extension each writes (``same`` keeps the input's).
FORMATS = {"same": None, "png": ".png", "jpg": ".jpg", "webp": ".webp"}


@dataclass(frozen=True)
class Job:
    """One input file and the output file it becomes."""

    source: Path
    target: Path


def collect_inputs(spec: str | os.PathLike) -> tuple[Path, list[Path]]:
    """The base folder and image files named by ``spec``: a folder (walked), a file, or a glob.

    Output paths mirror each file's path relative to the base folder. A glob's
    base is its longest folder prefix without wildcards (``photos/**/*.jpg`` -> ``photos``).
    Symbolic links that lead nowhere (dangling, or a loop) are listed, so that
    conversion reports them as failed instead of losing them silently.
    """
    path = Path(spec)
    if path.is_dir():
        return path, list_images(path, broken_links=True)
    if path.is_file():
        return path.parent, [path]
    if glob.has_magic(str(spec)):
        parts = Path(spec).parts
        fixed = [part for part in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
        base = Path(*fixed) if fixed else Path(".")
        files = sorted(
            Path(p) for p in glob.glob(str(spec), recursive=True)
            if is_image_file(Path(p), broken_links=True) and Path(p).suffix.lower() in IMAGE_EXTENSIONS
        )
        return base, files
    raise TranslateError(f"input '{spec}' is not a folder, a file or a glob pattern")


def plan_jobs(sources: list[Path], base: Path, dst: Path, fmt: str = "same") -> tuple[list[Job], list[str]]:
    """Mirror ``sources`` under ``dst``; returns the jobs and a message per name clash.

    Two inputs can only clash when ``fmt`` changes extensions (``a.png`` and ``a.jpg``
    both become ``a.png``): the first keeps the name, the others get their original
    extension in the name (``a_jpg.png``), and the clash is reported. Nothing is
    overwritten by another input of the same run.
    """
    extension = FORMATS[fmt]
    jobs, taken, clashes = [], {}, []
    for source in sources:
        relative = source.relative_to(base)
        target = dst / (relative.with_suffix(extension) if extension else relative)
        if target.as_posix().lower() in taken:
            first = taken[target.as_posix().lower()]
            target = target.with_name(f"{target.stem}_{source.suffix.lstrip('.').lower()}{target.suffix}")
            counter = 2
            while target.as_posix().lower() in taken:
                target = target.with_name(f"{target.stem}_{counter}{target.suffix}")
                counter += 1
            clashes.append(f"'{source}' and '{first}' map to one output name; '{source}' is written as '{target}'")
        taken[target.as_posix().lower()] = source
        jobs.append(Job(source, target))
    return jobs, clashes


def shard(jobs: list[Job], rank: int, world_size: int) -> list[Job]:
    """This process's share of ``jobs`` under ``torchrun`` (disjoint, together complete)."""
    return jobs[rank::world_size]
