"""``translate data combine``: build aligned A|B images from two folders with matching names.

The pix2pix layout keeps each pair as one image, A on the left and B on the right
(reference: ``junyanz:datasets/combine_A_and_B.py``). :func:`combine` walks ``a_dir``,
pairs every image with the file of the same relative path (extension aside) under
``b_dir``, and writes ``out/<relative path>`` side by side, so
``A/train/1.jpg`` + ``B/train/1.png`` become ``OUT/train/1.jpg``. Both halves must have
the same size; pairs that do not, unreadable files and unmatched names are reported,
the rest is written (each output atomically; existing outputs are kept unless
``overwrite``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from translate.errors import TranslateError

from translate.data.images import ImageReadError, list_images, load_rgb, save_atomically

#: Output formats: ``same`` keeps A's extension.
FORMATS = ("same", "png", "jpg")


@dataclass
class CombineReport:
    """What :func:`combine` did."""

    written: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.only_a or self.only_b)

    def summary(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped_existing)} skipped (output exists), "
                f"{len(self.failed)} failed, {len(self.only_a)} only in A, {len(self.only_b)} only in B")


def _keyed(folder: Path) -> dict[str, Path]:
    keyed: dict[str, Path] = {}
    for path in list_images(folder):
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in keyed:
            raise TranslateError(
                f"folder '{folder}' has two images named '{key}' ({keyed[key].name}, {path.name}); "
                "pairs are matched by name without the extension"
            )
        keyed[key] = path
    return keyed


def combine(a_dir: str | os.PathLike, b_dir: str | os.PathLike, out: str | os.PathLike, fmt: str = "same",
            quality: int = 95, overwrite: bool = False) -> CombineReport:
    """Write ``A|B`` images for every name found in both ``a_dir`` and ``b_dir``.

    Raises :class:`TranslateError` when a folder is missing, has no images, or no
    name is shared; everything else is reported per file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    a_dir, b_dir, out = Path(a_dir), Path(b_dir), Path(out)
    for folder in (a_dir, b_dir):
        if not folder.is_dir():
            raise TranslateError(f"folder '{folder}' does not exist")
    if out.resolve() in (a_dir.resolve(), b_dir.resolve()):
        raise TranslateError(f"output folder '{out}' must differ from the input folders")
    keyed_a, keyed_b = _keyed(a_dir), _keyed(b_dir)
    if not keyed_a or not keyed_b:
        empty = a_dir if not keyed_a else b_dir
        raise TranslateError(f"folder '{empty}' has no images")
    shared = sorted(keyed_a.keys() & keyed_b.keys())
    if not shared:
        raise TranslateError(
            f"no file name is in both '{a_dir}' and '{b_dir}' (e.g. '{next(iter(sorted(keyed_a)))}' is only in A); "
            "pairs are matched by relative path without the extension"
        )
    report = CombineReport(only_a=sorted(keyed_a.keys() - keyed_b.keys()),
                           only_b=sorted(keyed_b.keys() - keyed_a.keys()))
    for key in shared:
        path_a, path_b = keyed_a[key], keyed_b[key]
        suffix = path_a.suffix if fmt == "same" else f".{fmt}"
        target = out / f"{key}{suffix}"
        if target.exists() and not overwrite:
            report.skipped_existing.append(target)
            continue
        try:
            image_a, image_b = load_rgb(path_a), load_rgb(path_b)
        except ImageReadError as exc:
            report.failed.append((str(exc.path), exc.reason))
            continue
        if image_a.size != image_b.size:
            report.failed.append((str(path_b), f"size {image_b.size[0]}x{image_b.size[1]} differs from A's "
                                  f"{image_a.size[0]}x{image_a.size[1]} ('{path_a}')"))
            continue
        width, height = image_a.size
        pair = Image.new("RGB", (2 * width, height))
        pair.paste(image_a, (0, 0))
        pair.paste(image_b, (width, 0))
        try:
            save_atomically(pair, target, None, quality)
        except OSError as exc:
            report.failed.append((str(target), f"cannot write: {exc}"))
            continue
        report.written.append(target)
    return report
