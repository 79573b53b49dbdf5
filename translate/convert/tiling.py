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

Memory: the blended output is accumulated in float one band of tile rows at a time;
finished rows go through ``finish`` (e.g. to 8-bit pixels) into the result, so with
8-bit input and output nothing of the image's full size exists in float.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor

from translate.options import OptionError

if TYPE_CHECKING:
    from translate.models.base import Model

#: Largest side translated whole. A 768² ResNet-9 pass in inference mode raised a process's peak memory
#: by about 1.2 GiB at fp32 (activations grow with the pixels), which keeps a 4096² conversion at about
#: 1.7 GiB of peak memory (benchmarks/convert.py).
DEFAULT_TILE = 768
#: Pixels neighbouring tiles share (see above).
DEFAULT_OVERLAP = 64


def check_tiling(tile: int, overlap: int) -> None:
    """Raise ``ValueError`` unless tiles of ``tile`` pixels overlapping by ``overlap`` can cover an image."""
    if tile < 1 or overlap < 0:
        raise ValueError(f"tiles need a positive size and a non-negative overlap, got {tile} and {overlap}")
    if overlap * 2 >= tile:
        raise ValueError(f"the tile overlap ({overlap}) must be less than half the tile size ({tile}); "
                         f"at most {(tile - 1) // 2} for tiles of {tile}")


def needs_tiles(height: int, width: int, tile: int) -> bool:
    """Whether an image of ``height``×``width`` is translated in tiles rather than whole."""
    return height > tile or width > tile


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[list[int], int]:
    """Start offsets and the common size of the fewest tiles of at most ``tile`` pixels that cover
    ``length`` with at least ``overlap`` shared between neighbours.

    The tiles are as small as that allows and evenly spread, so no more pixels are translated than
    needed: 1024 pixels in tiles of at most 768 overlapping by 64 are two tiles of 544, not two of
    768 (1.4x fewer pixels). The size is rounded up to ``multiple`` (the network's, so a tile needs
    no padding) where that still fits in ``tile`` and ``length``. ``length <= tile``: one tile, whole.
    """
    if length <= tile:
        return [0], length
    count = -(-(length - overlap) // (tile - overlap))
    size = -(-(length + (count - 1) * overlap) // count)  # the smallest with which count tiles cover length
    aligned = -(-size // multiple) * multiple
    if aligned <= min(tile, length):
        size = aligned
    return [index * (length - size) // (count - 1) for index in range(count)], size


def generator_multiple(model: Model) -> int:
    """The size multiple of ``model``'s generator (:meth:`Model.inference_network`): inputs of that
    multiple run without padding. 1 for a model that translates with more than one generator call."""
    condition = next(iter(model.conversion_targets().values()), {})
    try:
        return getattr(model.inference_network(**condition), "multiple", 1)
    except OptionError:
        return 1


def ramp(size: int, overlap: int, fade_in: bool, fade_out: bool) -> Tensor:
    """1-D blending weights of one tile: linear ramps of ``overlap`` pixels at the faded ends."""
    weights = torch.ones(size)
    steps = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    if fade_in and overlap:
        weights[:overlap] = steps
    if fade_out and overlap:
        weights[-overlap:] = steps.flip(0)
    return weights


def translate_tiled(translate: Callable[[Tensor], Tensor], images: Tensor, tile: int, overlap: int,
                    finish: Callable[[Tensor], Tensor] | None = None, multiple: int = 1) -> Tensor:
    """Apply ``translate`` to ``images`` ``(N, C, H, W)`` tile by tile and blend the tiles.

    ``translate`` gets pieces of ``images`` as they are (any dtype) and returns floats;
    ``finish`` (default: none) turns finished rows of the blended output into what is
    returned, e.g. :func:`translate.data.images.quantize` for 8-bit pixels. Memory is
    bounded by one tile, one band of tile rows in float, and the result. Images no larger
    than ``tile`` in both dimensions go through ``translate`` whole; larger ones in the tiles of
    :func:`tile_layout` (sizes rounded up to ``multiple`` where they fit).
    """
    check_tiling(tile, overlap)
    finish = finish or (lambda rows: rows)
    height, width = images.shape[-2:]
    if not needs_tiles(height, width, tile):
        return finish(translate(images))
    rows, tile_height = tile_layout(height, tile, overlap, multiple)
    cols, tile_width = tile_layout(width, tile, overlap, multiple)
    # A tile's weight is the outer product of its row and column ramps, so their sum is too.
    row_weight, col_weight = torch.zeros(height), torch.zeros(width)
    for top in rows:
        row_weight[top : top + tile_height] += ramp(tile_height, overlap, top > 0, top + tile_height < height)
    for left in cols:
        col_weight[left : left + tile_width] += ramp(tile_width, overlap, left > 0, left + tile_width < width)
    output: Tensor | None = None
    band: Tensor | None = None  # blended rows [band_top, band_top + len) that later tiles may still add to
    band_top = 0
    for index, top in enumerate(rows):
        bottom = top + tile_height
        for left in cols:
            right = left + tile_width
            result = translate(images[..., top:bottom, left:right]).float()
            if band is None:
                band = result.new_zeros(*result.shape[:2], 0, width)
            if band_top + band.shape[-2] < bottom:  # the band grows by the rows this tile row adds
                band = torch.cat([band, band.new_zeros(*band.shape[:2], bottom - band_top - band.shape[-2], width)], -2)
            weight = torch.outer(ramp(bottom - top, overlap, top > 0, bottom < height),
                                 ramp(right - left, overlap, left > 0, right < width)).to(result.device)
            band[..., top - band_top : bottom - band_top, left:right] += result * weight
        done = rows[index + 1] if index + 1 < len(rows) else height  # no later tile reaches above this row
        weights = torch.outer(row_weight[band_top:done], col_weight).to(band.device)
        finished = finish(band[..., : done - band_top, :] / weights)
        if output is None:  # channels-last, as images are stored: turning it into one is no copy
            output = torch.empty(*finished.shape[:2], height, width, dtype=finished.dtype, device=finished.device,
                                 memory_format=torch.channels_last)
        output[..., band_top:done, :] = finished
        band, band_top = band[..., done - band_top :, :], done
    return output
