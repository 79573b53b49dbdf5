"""Labelled data for multi-domain models (StarGAN): one folder per domain, or CelebA attributes.

Two layouts under a data root, for a split such as ``train``:

- **Domain folders** (RaFD-style, custom domains): ``root/<split>/<domain>/`` holds the
  images of one domain (searched recursively). Domains are the sorted subfolder names,
  or the names a trained model was built with. As a fallback the unpaired layout
  ``root/<split>A/`` + ``root/<split>B/`` is read as two domains named ``A`` and ``B``
  (so the embedded sample set works as it does for CycleGAN). Items:
  ``{"A": image, "label": one-hot float (n_domains,), "path": str}``.
- **CelebA**: ``root/list_attr_celeba.txt`` (line 1 = number of images, line 2 = the
  attribute names, then ``filename v1 v2 …`` with values ``1``/``-1``, separated by runs of
  whitespace) and the images in ``root/img_align_celeba/`` or ``root/images/``. Labels are
  the selected attributes in the order given, multi-hot (``1`` → 1.0, ``-1`` → 0.0).
  Split as the reference (``yunjey/stargan:data_loader.py``): the lines are shuffled with
  seed 1234 and the first 1999 are ``test``, the rest ``train`` — for files with fewer than
  19990 images the test part is a tenth of them instead, so a small extract still trains.
  Images are center-cropped to 178 px (CelebA's aligned width; smaller images to their
  shorter side), resized to ``image_size`` and, when training, flipped at random.

Everything wrong with the data raises :class:`~translate.data.folders.DataError` with
the folder or file it concerns.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from .folders import DataError, image_files
from .images import load_rgb, to_tensor
from .transforms import EvalTransform, TrainTransform

PathLike = str | os.PathLike

#: Name of CelebA's attribute file in a data root.
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
#: Folders (in order of preference) that may hold the CelebA images.
CELEBA_IMAGE_DIRS = ("img_align_celeba", "images")
#: The reference's CelebA attributes (``yunjey/stargan`` default ``selected_attrs``).
CELEBA_DEFAULT_ATTRS = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
#: CelebA attributes of which a face has at most one: setting one clears the others.
CELEBA_EXCLUSIVE_GROUPS = (("Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"),)
#: Reference split: images after the seed-1234 shuffle that form the test split.
CELEBA_TEST_COUNT = 1999
CELEBA_SPLIT_SEED = 1234
#: CelebA aligned images are 178 px wide; the reference center-crops them to 178².
CELEBA_CROP = 178


def is_celeba(root: PathLike) -> bool:
    """Whether ``root`` holds a CelebA attribute file."""
    return (Path(root) / CELEBA_ATTR_FILE).is_file()


def domain_folders(root: PathLike, split: str = "train", domains: list[str] | None = None) -> dict[str, Path]:
    """The folder of each domain of ``split``: ``{name: folder}`` in label order.

    Without ``domains`` they are the sorted non-hidden subfolders of ``root/<split>/``
    (or ``A`` and ``B`` from ``root/<split>A/`` and ``root/<split>B/``). With ``domains``
    each must exist there. Raises :class:`DataError` when fewer than two domains are
    found or a named domain is missing; empty folders are reported by the dataset.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder '{root}' does not exist")
    base = root / split
    subfolders = []
    if base.is_dir():
        subfolders = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if subfolders:
        folders = {name: base / name for name in subfolders}
    elif (root / f"{split}A").is_dir() and (root / f"{split}B").is_dir():
        folders = {"A": root / f"{split}A", "B": root / f"{split}B"}
    else:
        raise DataError(
            f"data folder '{root}' has no domain folders: put each domain's images in '{split}/<domain>/' "
            f"(or give CelebA's {CELEBA_ATTR_FILE})"
        )
    if domains is None:
        if len(folders) < 2:
            raise DataError(
                f"data folder '{base}' has one domain ({', '.join(folders)}); a multi-domain model needs at least two"
            )
        return folders
    missing = [name for name in domains if name not in folders]
    if missing:
        raise DataError(
            f"data folder '{root}' has no '{split}' folder for domain(s) {', '.join(missing)} "
            f"(found: {', '.join(folders)})"
        )
    return {name: folders[name] for name in domains}


def find_domains(root: PathLike, split: str = "train") -> list[str]:
    """Domain names of the folder layout under ``root`` (sorted), see :func:`domain_folders`."""
    return list(domain_folders(root, split))


class DomainFolderDataset(Dataset):
    """One folder per domain: ``root/<split>/<domain>/`` images with one-hot labels.

    :param domains: domain names in label order (a trained model's); default: the sorted
        subfolder names. Every domain needs at least one image.
    Items are ``{"A": (3, S, S) image in [-1, 1], "label": one-hot float, "path": str}``;
    training applies the resize-crop-flip of :class:`TrainTransform`, otherwise a resize.
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        image_size: int = 256,
        train: bool = True,
        domains: list[str] | None = None,
    ):
        self.root = Path(root)
        folders = domain_folders(self.root, split, domains)
        if len(folders) < 2:
            raise DataError(f"a multi-domain model needs at least two domains, got {', '.join(folders) or 'none'}")
        self.domains = list(folders)
        self.items: list[tuple[Path, int]] = []
        for index, folder in enumerate(folders.values()):
            self.items += [(path, index) for path in image_files(folder)]  # DataError on an empty domain
        self.transform = TrainTransform(image_size) if train else EvalTransform(image_size)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        path, domain = self.items[index]
        (image,) = self.transform(load_rgb(path))
        label = torch.zeros(len(self.domains))
        label[domain] = 1.0
        return {"A": image, "label": label, "path": str(path)}


def read_celeba_attributes(path: PathLike) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Parse ``list_attr_celeba.txt``: the attribute names and ``(filename, values)`` per image.

    Values are the file's ``1``/``-1`` integers. :class:`DataError` names the line of any
    malformed entry.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read '{path}': {exc}") from exc
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(f"'{path}' is not a CelebA attribute file (line 1: image count, line 2: attribute names)")
    names = lines[1].split()
    entries: list[tuple[str, list[int]]] = []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(names) + 1 or any(v not in ("1", "-1") for v in fields[1:]):
            raise DataError(
                f"'{path}' line {number}: expected a file name and {len(names)} values 1/-1, "
                f"got {len(fields) - 1} fields"
            )
        entries.append((fields[0], [int(v) for v in fields[1:]]))
    if not entries:
        raise DataError(f"'{path}' lists no images")
    return names, entries


def celeba_image_dir(root: PathLike) -> Path:
    """The folder holding CelebA's images: ``img_align_celeba/`` or ``images/`` under ``root``."""
    for name in CELEBA_IMAGE_DIRS:
        if (Path(root) / name).is_dir():
            return Path(root) / name
    raise DataError(
        f"data folder '{root}' has {CELEBA_ATTR_FILE} but no image folder ({' or '.join(CELEBA_IMAGE_DIRS)}/)"
    )


def celeba_split(count: int) -> int:
    """How many of ``count`` shuffled images form the test split (1999, or a tenth of a small file)."""
    return CELEBA_TEST_COUNT if count >= 10 * CELEBA_TEST_COUNT else count // 10


class CelebATransform:
    """Center-crop to 178² (or the shorter side), resize to ``image_size``, flip at random when training."""

    def __init__(self, image_size: int, train: bool):
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.image_size = image_size
        self.train = train

    def __call__(self, img: Image.Image) -> torch.Tensor:
        width, height = img.size
        side = min(CELEBA_CROP, width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
        img = img.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        if self.train and bool(torch.rand(()) < 0.5):
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(img)


class CelebADataset(Dataset):
    """CelebA faces with the selected attributes as multi-hot labels.

    :param attrs: attribute names in label order (e.g. ``["Black_Hair", "Blond_Hair", "Male"]``);
        an unknown name raises :class:`DataError` listing the valid ones.
    :param split: ``"train"`` or ``"test"`` (the reference split, see the module docs).
    Items are ``{"A": image, "label": multi-hot float (len(attrs),), "path": str}``.
    """

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        image_size: int = 128,
        train: bool = True,
        attrs: list[str] | tuple[str, ...] = CELEBA_DEFAULT_ATTRS,
    ):
        self.root = Path(root)
        attr_file = self.root / CELEBA_ATTR_FILE
        if not attr_file.is_file():
            raise DataError(f"data folder '{self.root}' has no {CELEBA_ATTR_FILE}")
        if split not in ("train", "test"):
            raise DataError(f"CelebA has the splits 'train' and 'test', not {split!r}")
        names, entries = read_celeba_attributes(attr_file)
        attrs = list(attrs)
        unknown = [a for a in attrs if a not in names]
        if unknown:
            raise DataError(
                f"'{attr_file}' has no attribute(s) {', '.join(unknown)}; valid: {', '.join(names)}"
            )
        if not attrs:
            raise DataError("CelebA needs at least one attribute (attrs=Black_Hair,Blond_Hair,...)")
        self.attrs = attrs
        self.image_dir = celeba_image_dir(self.root)
        columns = [names.index(a) for a in attrs]
        random.Random(CELEBA_SPLIT_SEED).shuffle(entries)
        test_count = celeba_split(len(entries))
        chosen = entries[:test_count] if split == "test" else entries[test_count:]
        if not chosen:
            raise DataError(f"'{attr_file}' lists {len(entries)} image(s): too few for a {split} split")
        self.items = [(name, [1.0 if values[c] == 1 else 0.0 for c in columns]) for name, values in chosen]
        self.transform = CelebATransform(image_size, train)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        name, label = self.items[index]
        path = self.image_dir / name
        return {"A": self.transform(load_rgb(path)), "label": torch.tensor(label), "path": str(path)}


__all__ = [
    "CELEBA_ATTR_FILE",
    "CELEBA_DEFAULT_ATTRS",
    "CELEBA_EXCLUSIVE_GROUPS",
    "CelebADataset",
    "CelebATransform",
    "DomainFolderDataset",
    "celeba_image_dir",
    "celeba_split",
    "domain_folders",
    "find_domains",
    "is_celeba",
    "read_celeba_attributes",
]
