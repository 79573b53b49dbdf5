"""``translate eval --fake DIR --real DIR``: FID and KID of any two image folders, no run needed.

As ``python -m pytorch_fid FAKE REAL`` or torch-fidelity's ``fidelity --input1 FAKE --input2 REAL``
do, but reading what translate reads (every image under each folder, EXIF orientation applied;
see :func:`translate.data.images.load_rgb`) at its own size: torch-fidelity's feature
extractor resizes each image to 299×299 itself. Consecutive images of one size go through the
network together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from translate.data.folders import image_files
from translate.data.images import load_rgb, pixels
from translate.devices import resolve_device
from translate.errors import TranslateError
from translate.evaluate import inception
from translate.evaluate.libraries import require


def score_folders(fake: str | os.PathLike, real: str | os.PathLike, inception_weights: str | os.PathLike | None,
                  device: str = "auto", batch_size: int = 8, kid_subset_size: int = 1000, kid_subsets: int = 100,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """FID and KID of the images under ``fake`` against those under ``real``; returns the results as a dict.

    ``progress`` is called with the number of images read so far (both folders).
    """
    require("torch_fidelity", "--fake/--real (FID and KID)")
    if inception_weights is None:
        raise TranslateError(inception.HOW_TO_GET)
    fake_files, real_files = image_files(fake), image_files(real)
    fid_kid = inception.FidKid(inception_weights, resolve_device(device), kid_subset_size, kid_subsets)
    done = 0

    def features(files: list[Path]) -> Tensor:
        nonlocal done
        found = []
        for batch in _batches(files, batch_size):
            found.append(fid_kid.features(batch))
            done += batch.shape[0]
            if progress is not None:
                progress(done)
        return torch.cat(found)

    fake_features, real_features = features(fake_files), features(real_files)
    return {
        "fake": str(fake),
        "real": str(real),
        "fake_images": len(fake_files),
        "real_images": len(real_files),
        "metrics": fid_kid.scores(fake_features, real_features),
        "implementations": fid_kid.implementations(len(fake_files), len(real_files)),
    }


def _batches(files: list[Path], batch_size: int) -> Iterator[Tensor]:
    """8-bit ``(N, 3, H, W)`` batches of consecutive images of one size, at most ``batch_size`` each."""
    batch: list[Tensor] = []
    for path in files:
        image = pixels(load_rgb(path))
        if batch and (len(batch) == batch_size or batch[0].shape != image.shape):
            yield torch.stack(batch)
            batch = []
        batch.append(image)
    if batch:
        yield torch.stack(batch)
