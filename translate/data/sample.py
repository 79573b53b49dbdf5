"""The embedded sample set: small photo crops (domain A) and a known colour grading of them (domain B).

``translate train`` uses it when no ``--data`` is given, and tests use its ground
truth to measure how well a model learned. Domain B is a fixed, invertible,
per-pixel "warm grading" of domain A, so a small generator can learn it in
either direction and PSNR against :func:`apply_sample_mapping` is exact.

The mapping, with ``x`` in ``[-1, 1]`` and ``u = (x + 1) / 2`` in ``[0, 1]`` per pixel::

    v = clamp(M @ u, 0, 1)          M = [[0.70, 0.25, 0.05],
                                         [0.20, 0.60, 0.10],
                                         [0.10, 0.25, 0.45]]
    w_c = v_c ** gamma_c            gamma = (0.7, 1.0, 1.4)   for c = R, G, B
    y = 2 * w - 1

``M`` has non-negative entries and row sums 1.0, 0.9, 0.8, so the clamp never bites
on valid input and the mapping is invertible (det M = 0.151).

Layout under :data:`SAMPLE_ROOT` (64x64 crops, see ``sample/README.md``)::

    train/   A|B side by side (128x64), from the training photos
    test/    A|B side by side (128x64), from held-out photos
    trainA/  photo crops            trainB/  graded crops of *different* windows (unpaired)
    testA/   = left halves of test/ testB/   = right halves, same file names (paired)
"""

from __future__ import annotations

from pathlib import Path

import torch

#: Root folder of the embedded sample set (usable as ``--data``).
SAMPLE_ROOT: Path = Path(__file__).resolve().parent / "sample"

#: Number of images in each folder of the sample set.
SAMPLE_COUNTS = {"train": 72, "test": 16, "trainA": 72, "trainB": 72, "testA": 16, "testB": 16}

#: Colour-mixing matrix of the mapping (rows: output R, G, B).
SAMPLE_MATRIX = ((0.70, 0.25, 0.05), (0.20, 0.60, 0.10), (0.10, 0.25, 0.45))

#: Per-channel gamma of the mapping, applied after the matrix.
SAMPLE_GAMMA = (0.7, 1.0, 1.4)


def apply_sample_mapping(images: torch.Tensor) -> torch.Tensor:
    """Map domain-A images to domain B: the sample set's ground truth.

    Args:
        images: ``(3, H, W)`` or ``(N, 3, H, W)`` float tensor in ``[-1, 1]``.

    Returns:
        A tensor of the same shape, dtype and device, in ``[-1, 1]``.
    """
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"expected (3, H, W) or (N, 3, H, W) images, got shape {tuple(images.shape)}")
    matrix = torch.tensor(SAMPLE_MATRIX, dtype=images.dtype, device=images.device)
    gamma = torch.tensor(SAMPLE_GAMMA, dtype=images.dtype, device=images.device).view(3, 1, 1)
    unit = images.add(1.0).div(2.0)
    mixed = torch.einsum("ij,...jhw->...ihw", matrix, unit).clamp(0.0, 1.0)
    return mixed.pow(gamma).mul(2.0).sub(1.0)
