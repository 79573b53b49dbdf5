"""Tiled inference: translate images larger than memory allows in overlapping tiles.

The generators are fully convolutional, so a tile translates like the same region
of the whole image except near its borders, where the network sees padding instead
of the neighbouring pixels. Tiles therefore overlap, and in the overlap each output
pixel is a weighted mean of the tiles covering it, the weight ramping linearly from
0 at a tile's inner edge to 1 at ``overlap`` pixels in; there are no visible seams.

Where tiling changes results: normalisation layers that use statistics of the whole
image (instance norm in the CycleGAN/UNIT/StarGAN generators, batch norm in training
mode) compute them per tile instead, so a tile whose content differs from the rest
of the image (a patch of sky) is normalised differently. On images with similar
content throughout the difference is small; use a larger ``tile`` to reduce it. The
overlap should cover what the network sees past a tile's edge that matters:
a ResNet generator's receptive field is large but its effective reach is a few tens
of pixels, hence the default of 64 (at least 1/8 of the tile).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def ramp(size: int, overlap: int, fade_in: bool, fade_out: bool) -> Tensor:
    """1-D blending weights of one tile: linear ramps of ``overlap`` pixels at the faded ends."""
    weights = torch.ones(size)
    steps = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    if fade_in and overlap:
        weights[:overlap] = steps
    if fade_out and overlap:
        weights[-overlap:] = steps.flip(0)
    return weights


def translate_tiled(translate: Callable[[Tensor], Tensor], images: Tensor, tile: int, overlap: int) -> Tensor:
    """Apply ``translate`` to ``images`` ``(N, C, H, W)`` tile by tile and blend the tiles.

    Memory is bounded by one tile plus the output. Images no larger than ``tile``
    in both dimensions go through ``translate`` whole.
    """
    if overlap * 2 >= tile:
        raise ValueError(f"tile overlap {overlap} must be less than half the tile size {tile}")
    height, width = images.shape[-2:]
    if height <= tile and width <= tile:
        return translate(images)
    output = None
    total_weight = torch.zeros(1, 1, height, width, device=images.device)
    rows, cols = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    for top in rows:
        for left in cols:
            piece = images[..., top : top + tile, left : left + tile]
            result = translate(piece).float()
            if output is None:
                output = torch.zeros(images.shape[0], result.shape[1], height, width, device=images.device)
            h, w = piece.shape[-2:]
            weight = torch.outer(
                ramp(h, overlap, top > 0, top + h < height), ramp(w, overlap, left > 0, left + w < width)
            ).to(images.device)
            output[..., top : top + h, left : left + w] += result * weight
            total_weight[..., top : top + h, left : left + w] += weight
    return output.div_(total_weight)  # in place: the output is the largest tensor here
