"""Regenerate the embedded sample set in translate/data/sample/ (development only).

Domain A is 64x64 crops of public-domain / CC0 photographs shipped with
scikit-image and matplotlib; domain B is the same crops graded with
:func:`translate.data.sample.apply_sample_mapping`, the single definition of the
ground truth. Photos are split into training and held-out test photos, so
train/ and test/ never share a photograph. Crop positions come from a fixed seed:
running this again with the same library versions rewrites identical files.

    pip install scikit-image matplotlib   # dev-only; the runtime needs neither
    python datasets/make_sample.py

Training folders are high-quality JPEG (4:4:4, quality 95) to keep the package
small; test folders are PNG so ``testB == mapping(testA)`` up to 8-bit rounding.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from translate.data.images import to_pil, to_tensor
from translate.data.photo_tasks import load_photo, random_tiles, side_by_side
from translate.data.sample import SAMPLE_COUNTS, SAMPLE_ROOT, apply_sample_mapping

TILE = 64
SEED = 20240601
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}

TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "retina", "immunohistochemistry")
TEST_PHOTOS = ("coffee", "grace_hopper")


def grade(tile: Image.Image) -> Image.Image:
    """The domain-B version of a domain-A tile."""
    return to_pil(apply_sample_mapping(to_tensor(tile)))


def save(img: Image.Image, path: Path) -> None:
    if path.suffix == ".png":
        img.save(path, optimize=True)
    else:
        img.save(path, **JPEG_OPTIONS)


def write_photos(photos: tuple[str, ...], aligned: str, folder_a: str, folder_b: str, suffix: str,
                 unpaired_b: bool, root: Path) -> None:
    """Write the tiles of ``photos`` to ``aligned`` (A|B), ``folder_a`` and ``folder_b``.

    With ``unpaired_b`` the B folder is graded from a second, independent draw of
    windows (different names too), so A and B are truly unpaired; otherwise
    ``folder_b/x`` is the graded ``folder_a/x``.
    """
    per_photo = SAMPLE_COUNTS[aligned] // len(photos)
    for index, name in enumerate(photos):
        rng = np.random.default_rng([SEED, index, len(photos)])
        photo = load_photo(name)
        for number, tile in enumerate(random_tiles(photo, per_photo, TILE, rng)):
            stem = f"{name}_{number:02d}{suffix}"
            save(side_by_side(tile, grade(tile)), root / aligned / stem)
            save(tile, root / folder_a / stem)
            if not unpaired_b:
                save(grade(tile), root / folder_b / stem)
        if unpaired_b:
            for number, tile in enumerate(random_tiles(photo, per_photo, TILE, rng), start=per_photo):
                save(grade(tile), root / folder_b / f"{name}_{number:02d}{suffix}")


def main(root: Path = SAMPLE_ROOT) -> None:
    for folder in SAMPLE_COUNTS:
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir(parents=True)
    write_photos(TRAIN_PHOTOS, "train", "trainA", "trainB", ".jpg", unpaired_b=True, root=root)
    write_photos(TEST_PHOTOS, "test", "testA", "testB", ".png", unpaired_b=False, root=root)
    total = 0
    for folder, expected in SAMPLE_COUNTS.items():
        files = sorted((root / folder).iterdir())
        size = sum(f.stat().st_size for f in files)
        total += size
        assert len(files) == expected, (folder, len(files), expected)
        print(f"{folder:7s} {len(files):3d} files {size / 1024:7.1f} KiB")
    print(f"total           {total / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
