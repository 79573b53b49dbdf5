"""The test images a demo page offers for a run: a few inputs from the test split of the data it trained on.

The data folder is the one the run's ``config.json`` names (none: the embedded sample set). The
inputs are those of the side the model reads: ``testA/`` for A to B, ``testB/`` for B to A, the
matching halves of side-by-side ``test/`` images when there are no such folders, and a few images of
every domain for multi-domain models. They are copied into a folder of the page's own, as the page
may only show files it owns; the originals stay as they are.
"""

from __future__ import annotations

import shutil
from itertools import chain, zip_longest
from pathlib import Path

from translate.data.domains import domain_folders
from translate.data.folders import DataError
from translate.data.images import ImageReadError, list_images, load_rgb, save_atomically

#: Most test images the page offers for one run and side.
MAX_EXAMPLES = 12
#: The split the test images come from.
SPLIT = "test"


def input_images(data: Path, side: str | None, limit: int = MAX_EXAMPLES) -> list[tuple[Path, str | None]]:
    """Up to ``limit`` test inputs of ``data`` for the ``side`` (``A``/``B``; ``None``: every domain) a model
    reads: (file, which half of a side-by-side image, ``None`` for a whole file). Empty when the data has no
    test split."""
    if side is None:
        return [(path, None) for path in _domain_images(data, limit)]
    folder = data / f"{SPLIT}{side}"
    if folder.is_dir():
        return [(path, None) for path in list_images(folder)[:limit]]
    if (data / SPLIT).is_dir():
        return [(path, side) for path in list_images(data / SPLIT)[:limit]]
    return []


def _domain_images(data: Path, limit: int) -> list[Path]:
    """A few images of each domain folder of the test split, taken in turn."""
    try:
        folders = domain_folders(data, SPLIT)
    except DataError:
        return []
    per_domain = [list_images(folder)[:limit] for folder in folders.values()]
    return [path for path in chain.from_iterable(zip_longest(*per_domain)) if path is not None][:limit]


def copy_examples(images: list[tuple[Path, str | None]], folder: Path) -> list[Path]:
    """Copies of ``images`` (:func:`input_images`) in ``folder`` under their own names (one subfolder each, as two
    domains may hold the same name): whole files as they are, halves of side-by-side images as PNG. Unreadable
    ones are left out."""
    copies = []
    for index, (path, half) in enumerate(images):
        target = folder / str(index) / (path.name if half is None else f"{path.stem}.png")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if half is None:
                shutil.copyfile(path, target)
            else:
                save_atomically(_half(path, half), target)
        except (OSError, ImageReadError, DataError):
            continue
        copies.append(target)
    return copies


def _half(path: Path, side: str):
    """The ``A`` (left) or ``B`` (right) half of a side-by-side image, split as training splits it."""
    image = load_rgb(path)
    half = image.width // 2
    if half == 0:
        raise DataError(f"image '{path}' is too narrow to hold A|B side by side")
    return image.crop((0, 0, half, image.height) if side == "A" else (half, 0, image.width, image.height))
