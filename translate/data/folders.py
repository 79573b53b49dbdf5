"""Datasets over the folder layouts users already have (pix2pix paired, CycleGAN unpaired).

Layouts under a data root, for a split such as ``train``:

- ``aligned``: ``root/train/*`` images holding A (left half) | B (right half).
- ``paired_folders``: ``root/trainA/`` and ``root/trainB/`` whose files match by name
  (relative path without extension, so ``x.jpg`` pairs with ``x.png``).
- ``unpaired``: ``root/trainA/`` and ``root/trainB/`` with unrelated files.

Items are dicts of ``(3, S, S)`` tensors in ``[-1, 1]`` plus the source paths.
Every file is decoded with :func:`~translate.data.images.load_rgb`; a corrupt file
raises :class:`~translate.data.images.ImageReadError` naming it instead of being skipped.

Image sizes are read from the headers when a data set is built, before any training
step: an A|B image too narrow to split is a :class:`DataError` naming it, and training
images smaller than the crop (which are scaled up) get one warning naming an example.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from translate.errors import TranslateError, TranslateWarning

from .images import IMAGE_EXTENSIONS, list_images, load_rgb
from .transforms import EvalTransform, TrainTransform

PathLike = str | os.PathLike


class DataError(TranslateError, ValueError):
    """A data folder is missing, empty, or not in a layout ``translate`` can read."""


def image_files(folder: PathLike) -> list[Path]:
    """The images under ``folder`` (recursive, sorted), or :class:`DataError` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder '{folder}' does not exist")
    files = list_images(folder)
    if not files:
        raise DataError(f"data folder '{folder}' has no images (looked for {' '.join(IMAGE_EXTENSIONS)})")
    return files


def detect_layout(root: PathLike, split: str = "train") -> str:
    """Which layout ``root`` uses for ``split``: ``"aligned"``, ``"paired_folders"`` or ``"unpaired"``.

    ``root/<split>/`` wins when it exists; otherwise ``root/<split>A/`` and
    ``root/<split>B/`` are paired when their file names match exactly.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder '{root}' does not exist")
    if (root / split).is_dir():
        return "aligned"
    folder_a, folder_b = root / f"{split}A", root / f"{split}B"
    if not (folder_a.is_dir() and folder_b.is_dir()):
        raise DataError(
            f"data folder '{root}' has neither '{split}/' (A|B side by side) "
            f"nor '{split}A/' and '{split}B/'"
        )
    names_a = {_name(path, folder_a) for path in image_files(folder_a)}
    names_b = {_name(path, folder_b) for path in image_files(folder_b)}
    return "paired_folders" if names_a == names_b else "unpaired"


def _name(path: Path, folder: Path) -> str:
    """The pairing key of a file: its path relative to ``folder`` without the extension."""
    return path.relative_to(folder).with_suffix("").as_posix()


def _pair_by_name(folder_a: Path, folder_b: Path) -> list[tuple[Path, Path]]:
    """Files of ``folder_a`` and ``folder_b`` matched by name; DataError on a mismatch or duplicate."""
    keyed: list[dict[str, Path]] = []
    for folder in (folder_a, folder_b):
        by_name: dict[str, Path] = {}
        for path in image_files(folder):
            name = _name(path, folder)
            if name in by_name:
                raise DataError(
                    f"data folder '{folder}' has two images named '{name}' "
                    f"({by_name[name].name}, {path.name}); pairs are matched by name"
                )
            by_name[name] = path
        keyed.append(by_name)
    only_a = sorted(keyed[0].keys() - keyed[1].keys())
    only_b = sorted(keyed[1].keys() - keyed[0].keys())
    if only_a or only_b:
        folder, name = (folder_a, only_a[0]) if only_a else (folder_b, only_b[0])
        raise DataError(
            f"data folders '{folder_a}' and '{folder_b}' do not pair up by name "
            f"({len(only_a) + len(only_b)} unmatched, e.g. '{name}' only in '{folder}')"
        )
    return [(keyed[0][name], keyed[1][name]) for name in sorted(keyed[0])]


def check_sizes(files: list[Path], image_size: int, train: bool, side_by_side: bool = False) -> None:
    """Read the headers of ``files``: refuse what cannot give an example, warn about what is scaled up.

    With ``side_by_side`` (A|B images) an image narrower than 2 pixels is a :class:`DataError`
    and each half is compared with the crop. When ``train``, images smaller than the
    ``image_size`` crop on a side get one :class:`TranslateWarning` for the lot. Files
    whose header cannot be read are left for loading to report.
    """
    small = []
    for path in files:
        try:
            with Image.open(path) as img:
                width, height = img.size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            continue
        if side_by_side and width < 2:
            raise _too_narrow(path, width)
        if min(width // 2 if side_by_side else width, height) < image_size:
            small.append((path, width, height))
    if train and small:
        path, width, height = small[0]
        warnings.warn(f"{len(small)} training image(s) are smaller than the {image_size}-pixel crop and are scaled "
                      f"up, e.g. '{path}' ({width}×{height}); `translate data check` lists them all",
                      TranslateWarning, stacklevel=3)


def _make_transform(image_size: int, train: bool) -> TrainTransform | EvalTransform:
    return TrainTransform(image_size) if train else EvalTransform(image_size)


class AlignedDataset(Dataset):
    """Paired examples for pix2pix-style models.

    Reads ``root/<split>/`` (A|B side by side, split at ``width // 2``) or, when that
    folder does not exist, ``root/<split>A/`` + ``root/<split>B/`` matched by name.
    Items are ``{"A": input, "B": target, "path": str}``: with ``direction="BtoA"``
    the halves are swapped, so ``"A"`` is always what the model is given. ``"path"``
    is the side-by-side file, or the input's file in the two-folder layout.

    With ``train=True`` both halves get the same random resize-crop-flip
    (:class:`TrainTransform`); otherwise they are resized to ``image_size``.
    The ``transform`` attribute may be replaced.
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        image_size: int = 256,
        direction: str = "AtoB",
        train: bool = True,
    ):
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        self.root = Path(root)
        self.direction = direction
        self.layout = detect_layout(self.root, split)
        if self.layout == "aligned":
            self.pairs = [(path, path) for path in image_files(self.root / split)]
            check_sizes([path for path, _ in self.pairs], image_size, train, side_by_side=True)
        else:  # for "unpaired" folders this raises a DataError naming an unmatched file
            self.pairs = _pair_by_name(self.root / f"{split}A", self.root / f"{split}B")
            check_sizes([path for pair in self.pairs for path in pair], image_size, train)
        self.transform = _make_transform(image_size, train)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path_a, path_b = self.pairs[index]
        if self.layout == "aligned":
            a, b = _split_halves(path_a)
        else:
            a, b = load_rgb(path_a), load_rgb(path_b)
        if self.direction == "BtoA":
            a, b, path_a = b, a, path_b
        input_, target = self.transform(a, b)
        return {"A": input_, "B": target, "path": str(path_a)}


def _split_halves(path: Path) -> tuple[Image.Image, Image.Image]:
    """The left and right halves of a side-by-side A|B image."""
    img = load_rgb(path)
    width, height = img.size
    half = width // 2
    if half == 0:
        raise _too_narrow(path, width)
    return img.crop((0, 0, half, height)), img.crop((half, 0, width, height))


def _too_narrow(path: Path, width: int) -> DataError:
    return DataError(f"image '{path}' is {width} pixel wide, too narrow to hold A|B side by side")


class UnpairedDataset(Dataset):
    """Unpaired examples for CycleGAN/UNIT-style models from ``root/<split>A/`` and ``root/<split>B/``.

    ``len`` is the larger folder's count. Item ``i`` is ``A[i % len(A)]`` with, when
    ``train``, a B drawn at random from torch's global RNG (seeded per DataLoader
    worker by torch, so ``torch.manual_seed`` makes runs reproducible), else
    ``B[i % len(B)]``. A and B get independent transforms. Items are
    ``{"A", "B", "path_A", "path_B"}``.
    """

    def __init__(self, root: PathLike, split: str = "train", image_size: int = 256, train: bool = True):
        self.root = Path(root)
        self.train = train
        folders = (self.root / f"{split}A", self.root / f"{split}B")
        for folder in folders:
            if not folder.is_dir():
                raise DataError(
                    f"data folder '{folder}' does not exist (unpaired data needs '{split}A/' and '{split}B/')"
                )
        self.files_A, self.files_B = (image_files(folder) for folder in folders)
        check_sizes(self.files_A + self.files_B, image_size, train)
        self.transform = _make_transform(image_size, train)

    def __len__(self) -> int:
        return max(len(self.files_A), len(self.files_B))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        index = range(len(self))[index]  # IndexError outside the dataset, negatives allowed
        path_a = self.files_A[index % len(self.files_A)]
        if self.train:
            path_b = self.files_B[int(torch.randint(len(self.files_B), ()))]
        else:
            path_b = self.files_B[index % len(self.files_B)]
        (image_a,) = self.transform(load_rgb(path_a))
        (image_b,) = self.transform(load_rgb(path_b))
        return {"A": image_a, "B": image_b, "path_A": str(path_a), "path_B": str(path_b)}
