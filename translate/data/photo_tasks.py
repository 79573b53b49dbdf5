"""Learning tasks with known ground truth, cut from real photographs (for tests and benchmarks).

Learning tests and ``benchmarks/learning.py`` need tasks where the right answer is known,
built from real photographs that install offline with the ``test`` extra: scikit-image's
``skimage.data``, scikit-learn's sample images and matplotlib's ``grace_hopper.jpg``.
Training and held-out photographs are disjoint, so a score on the test folders measures
what a model learned, not what it memorised.

* :func:`write_unpaired_grading` — an unpaired colour/tone task (CycleGAN, UNIT, CUT):
  ``trainA/`` photo crops, ``trainB/`` *other* windows after :func:`tone_grading`,
  ``testA/``/``testB/`` paired held-out crops. The grading is strong (the input scores
  about 17 dB against the truth), so doing nothing is a real baseline to beat.
* :func:`write_unpaired_task` — the same layout for any style: :data:`UNPAIRED_STYLES` names
  the grading and three *structural* styles, local changes that no per-pixel colour map
  produces: :func:`outlines` (dark ink lines along the photo's edges), :func:`flat_regions`
  (edge-preserving smoothing that flattens texture into regions of one colour) and
  :func:`cartoon` (both). Their best per-pixel colour map gains 1.5-2.8 dB over the input
  where the grading's gains 23 (:func:`best_colour_map`).
* :func:`write_paired_restoration` — a paired task (pix2pix): A is a blurred grayscale
  version of the colour crop B (:func:`degrade`), ``train/``/``test/`` side by side.

Crop positions come from fixed seeds, so a folder written twice is identical (with the
same library versions). None of this is needed at run time; the imports of the photo
libraries happen inside the functions.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from translate.data.folders import AlignedDataset
from translate.data.images import to_pil, to_tensor

#: Photos crops are trained on, and held-out photos crops are tested on (never both).
TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "motorcycle", "retina", "immunohistochemistry", "china")
TEST_PHOTOS = ("coffee", "grace_hopper", "flower")

#: Colour mixing of :func:`tone_grading` (rows: output R, G, B), then an S-curve and per-channel gamma.
GRADING_MATRIX = ((0.80, 0.30, 0.00), (0.05, 0.70, 0.15), (0.00, 0.25, 0.60))
GRADING_CONTRAST = 1.8
GRADING_GAMMA = (0.6, 0.9, 1.5)
#: Gaussian blur radius (pixels at the crop size) of :func:`degrade`.
BLUR_RADIUS = 1.5
#: :func:`flat_regions`: passes of a bilateral filter over a (2r+1)² window, its spatial and colour
#: standard deviations (pixels at the crop size; RGB distance in [0, 1]).
FLAT_PASSES, FLAT_RADIUS, FLAT_SIGMA_SPACE, FLAT_SIGMA_COLOUR = 8, 3, 3.0, 0.12
#: :func:`ink_lines`: difference of Gaussians (standard deviations in pixels) of the flattened luminance;
#: a line is full ink where the DoG is below -INK_RAMP and none where it is >= 0; then widened by a
#: INK_WIDTH × INK_WIDTH maximum filter (bold lines, 3-4 px at 64 px).
INK_SIGMAS, INK_RAMP, INK_WIDTH = (1.0, 1.6), 0.015, 3
#: The ink's grey level in [0, 1] (near black).
INK_LEVEL = 0.05
#: Rec. 601 luma weights.
LUMA = (0.299, 0.587, 0.114)

_SEED = 20261127


def load_photo(name: str) -> Image.Image:
    """One source photograph as an RGB image.

    ``skimage.data`` names, ``motorcycle`` (the left view of ``stereo_motorcycle``), scikit-learn's
    ``china`` and ``flower``, matplotlib's ``grace_hopper``.
    """
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as file:
            return Image.open(file).convert("RGB")
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return Image.fromarray(load_sample_image(f"{name}.jpg")).convert("RGB")
    import skimage.data

    if name == "motorcycle":
        return Image.fromarray(skimage.data.stereo_motorcycle()[0]).convert("RGB")
    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def random_tiles(photo: Image.Image, count: int, size: int, rng: np.random.Generator) -> list[Image.Image]:
    """``count`` random square windows of 15-40 % of the photo's short side, resized to ``size``.

    Windows that are nearly flat or nearly black (sky, the black surround of the retina and
    deep-field photos) are rejected, so every tile carries colour and texture.
    """
    width, height = photo.size
    tiles: list[Image.Image] = []
    while len(tiles) < count:
        side = max(size, int(rng.uniform(0.15, 0.40) * min(width, height)))
        side = min(side, width, height)
        left = int(rng.integers(0, width - side + 1))
        top = int(rng.integers(0, height - side + 1))
        tile = photo.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        luma = np.asarray(tile.convert("L"), dtype=np.float64) / 255.0
        if luma.mean() > 0.12 and luma.std() > 0.06:
            tiles.append(tile)
    return tiles


def tone_grading(images: torch.Tensor) -> torch.Tensor:
    """The unpaired task's ground truth: a per-pixel colour/tone grading of images in [-1, 1].

    ``u = (x + 1) / 2``; ``v = clamp(M u, 0, 1)`` mixes colours (:data:`GRADING_MATRIX`),
    an S-curve ``v^k / (v^k + (1 − v)^k)`` raises contrast (``k`` = :data:`GRADING_CONTRAST`),
    a gamma per channel (:data:`GRADING_GAMMA`) warms the tones; back to [-1, 1].
    Works on ``(3, H, W)`` and ``(N, 3, H, W)``.
    """
    matrix = torch.tensor(GRADING_MATRIX, dtype=images.dtype, device=images.device)
    gamma = torch.tensor(GRADING_GAMMA, dtype=images.dtype, device=images.device).view(3, 1, 1)
    unit = images.add(1.0).div(2.0)
    mixed = torch.einsum("ij,...jhw->...ihw", matrix, unit).clamp(0.0, 1.0)
    high = mixed.pow(GRADING_CONTRAST)
    curved = high / (high + (1.0 - mixed).pow(GRADING_CONTRAST)).clamp_min(1e-8)
    return curved.pow(gamma).mul(2.0).sub(1.0)


def degrade(image: Image.Image) -> Image.Image:
    """The paired task's input: ``image`` in grayscale, blurred (radius :data:`BLUR_RADIUS`), as RGB."""
    return image.convert("L").filter(ImageFilter.GaussianBlur(BLUR_RADIUS)).convert("RGB")


def _batched(style: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """``style`` written for ``(N, 3, H, W)`` in [0, 1], applied to ``(3, H, W)`` or ``(N, 3, H, W)`` in [-1, 1]."""
    @functools.wraps(style)
    def on_images(images: torch.Tensor) -> torch.Tensor:
        batch = images if images.dim() == 4 else images.unsqueeze(0)
        styled = style(batch.add(1.0).div(2.0)).clamp(0.0, 1.0).mul(2.0).sub(1.0)
        return styled if images.dim() == 4 else styled.squeeze(0)
    return on_images


def _gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius ⌈3σ⌉, reflect padding) of ``(N, C, H, W)``."""
    radius = max(1, math.ceil(3.0 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-taps.square() / (2.0 * sigma**2))
    kernel = (kernel / kernel.sum()).repeat(images.shape[1], 1, 1, 1)  # (C, 1, 1, k)
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel, groups=images.shape[1])
    return F.conv2d(rows, kernel.transpose(2, 3), groups=images.shape[1])


def _bilateral(images: torch.Tensor, radius: int, sigma_space: float, sigma_colour: float) -> torch.Tensor:
    """One bilateral filter pass over ``(N, 3, H, W)`` in [0, 1]: each pixel becomes the mean of its
    window weighted by spatial distance and by RGB distance, so edges between regions stay sharp."""
    height, width = images.shape[-2:]
    padded = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    total = torch.zeros_like(images)
    weights = torch.zeros_like(images[:, :1])
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = padded[..., radius + dy:radius + dy + height, radius + dx:radius + dx + width]
            colour = (shifted - images).square().sum(1, keepdim=True) / (2.0 * sigma_colour**2)
            weight = torch.exp(-(dx * dx + dy * dy) / (2.0 * sigma_space**2) - colour)
            total += weight * shifted
            weights += weight
    return total / weights


def _flattened(images: torch.Tensor) -> torch.Tensor:
    for _ in range(FLAT_PASSES):
        images = _bilateral(images, FLAT_RADIUS, FLAT_SIGMA_SPACE, FLAT_SIGMA_COLOUR)
    return images


def _ink(images: torch.Tensor) -> torch.Tensor:
    """Line strength in [0, 1], ``(N, 1, H, W)``, of the flattened ``images`` in [0, 1]."""
    luma = torch.einsum("c,nchw->nhw", images.new_tensor(LUMA), images).unsqueeze(1)
    narrow, wide = INK_SIGMAS
    dog = _gaussian_blur(luma, narrow) - _gaussian_blur(luma, wide)
    lines = dog.neg().div(INK_RAMP).clamp(0.0, 1.0)
    return F.max_pool2d(lines, INK_WIDTH, stride=1, padding=INK_WIDTH // 2)


def _inked(images: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
    return torch.lerp(images, torch.full_like(images, INK_LEVEL), lines)


@_batched
def flat_regions(images: torch.Tensor) -> torch.Tensor:
    """A structural style: texture flattened into regions of one colour, edges between them kept.

    :data:`FLAT_PASSES` passes of a bilateral filter (:data:`FLAT_RADIUS`, :data:`FLAT_SIGMA_SPACE`,
    :data:`FLAT_SIGMA_COLOUR`). Images in [-1, 1], ``(3, H, W)`` or ``(N, 3, H, W)``, as :func:`tone_grading`.
    """
    return _flattened(images)


@_batched
def ink_lines(images: torch.Tensor) -> torch.Tensor:
    """Where :func:`outlines` draws ink, as a grey image: -1 (black) on full lines, 1 elsewhere.

    Lines lie on the dark side of the edges of the flattened image (:func:`flat_regions`): where its
    luminance is below its surround, a difference of Gaussians (:data:`INK_SIGMAS`) below 0, full
    ink below -:data:`INK_RAMP`; a maximum filter (:data:`INK_WIDTH`) makes them bold. Flattening
    first keeps texture and noise from drawing lines.
    """
    return (1.0 - _ink(_flattened(images))).expand(-1, 3, -1, -1)


@_batched
def outlines(images: torch.Tensor) -> torch.Tensor:
    """A structural style: the photo with dark ink lines (grey :data:`INK_LEVEL`) along its edges
    (:func:`ink_lines`); everything else unchanged."""
    return _inked(images, _ink(_flattened(images)))


@_batched
def cartoon(images: torch.Tensor) -> torch.Tensor:
    """A structural style: :func:`flat_regions` with the :func:`outlines` ink lines drawn on it."""
    flat = _flattened(images)
    return _inked(flat, _ink(flat))


#: Styles of :func:`write_unpaired_task` by name: the colour/tone grading and the structural styles.
UNPAIRED_STYLES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "grading": tone_grading,
    "outlines": outlines,
    "flat": flat_regions,
    "cartoon": cartoon,
}


def best_colour_map(inputs: torch.Tensor, targets: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """The best per-pixel colour map from ``inputs`` to ``targets``, applied to ``inputs``.

    Each input colour's cell of a ``bins³`` RGB grid is moved by the mean change (target − input)
    of the pixels in that cell, fitted on these very images, so no per-pixel colour map (a grading,
    a curve, a LUT) does much better on them: what it leaves is what only a spatial change can
    reach. (Fitted on few pixels it also fits noise: at 64 px, 24 held-out crops and 16 bins it gains
    2.8 dB on outlines and cartoon, which darken dark pixels more often than light ones, 1.5 dB on
    flat regions and 23 dB on the grading.) Images ``(N, 3, H, W)`` in [-1, 1].
    """
    cells = inputs.add(1.0).mul(bins / 2.0).long().clamp(0, bins - 1)
    index = ((cells[:, 0] * bins + cells[:, 1]) * bins + cells[:, 2]).flatten()
    changes = (targets - inputs).transpose(0, 1).reshape(3, -1)
    sums = changes.new_zeros(3, bins**3).index_add_(1, index, changes)
    counts = changes.new_zeros(bins**3).index_add_(0, index, torch.ones_like(changes[0]))
    moved = (sums / counts.clamp_min(1.0))[:, index]
    return inputs + moved.view(3, inputs.shape[0], *inputs.shape[2:]).transpose(0, 1)


def _styled(tile: Image.Image, style: Callable[[torch.Tensor], torch.Tensor]) -> Image.Image:
    return to_pil(style(to_tensor(tile)))


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    """An aligned pix2pix example: ``a`` on the left, ``b`` on the right."""
    pair = Image.new("RGB", (a.width + b.width, a.height))
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width, 0))
    return pair


def _tiles(photos: tuple[str, ...], per_photo: int, size: int, stream: int) -> list[tuple[str, Image.Image]]:
    """(name, tile) for ``per_photo`` tiles of each photo; ``stream`` picks an independent draw."""
    named = []
    for index, name in enumerate(photos):
        rng = np.random.default_rng([_SEED, size, stream, index])
        for number, tile in enumerate(random_tiles(load_photo(name), per_photo, size, rng)):
            named.append((f"{name}_{stream}_{number:02d}", tile))
    return named


def write_unpaired_task(root: str | Path, style: str | Callable[[torch.Tensor], torch.Tensor], size: int = 64,
                        train_per_photo: int = 16, test_per_photo: int = 8) -> Path:
    """Write an unpaired task under ``root``: ``trainA/ trainB/ testA/ testB/`` (PNG).

    ``style`` is a name of :data:`UNPAIRED_STYLES` or a function of images in [-1, 1]
    (``(3, H, W)`` in, same shape out). ``trainA`` holds photo crops; ``trainB`` styled crops of
    windows drawn independently of ``trainA``'s (unpaired); ``testB/x`` is the styled ``testA/x``
    of held-out photos (the ground truth). The crops are the same for every style.
    """
    if isinstance(style, str):
        if style not in UNPAIRED_STYLES:
            raise ValueError(f"unknown style {style!r}; valid styles: {', '.join(UNPAIRED_STYLES)}")
        style = UNPAIRED_STYLES[style]
    root = Path(root)
    for folder in ("trainA", "trainB", "testA", "testB"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, tile in _tiles(TRAIN_PHOTOS, train_per_photo, size, stream=0):
        tile.save(root / "trainA" / f"{name}.png")
    for name, tile in _tiles(TRAIN_PHOTOS, train_per_photo, size, stream=1):
        _styled(tile, style).save(root / "trainB" / f"{name}.png")
    for name, tile in _tiles(TEST_PHOTOS, test_per_photo, size, stream=2):
        tile.save(root / "testA" / f"{name}.png")
        _styled(tile, style).save(root / "testB" / f"{name}.png")
    return root


def write_unpaired_grading(root: str | Path, size: int = 64, train_per_photo: int = 16,
                           test_per_photo: int = 8) -> Path:
    """Write the unpaired grading task under ``root``: ``trainA/ trainB/ testA/ testB/`` (PNG).

    ``trainB`` holds graded crops of windows drawn independently of ``trainA``'s (unpaired);
    ``testB/x`` is the graded ``testA/x`` of held-out photos (the ground truth).
    """
    return write_unpaired_task(root, tone_grading, size, train_per_photo, test_per_photo)


def write_paired_restoration(root: str | Path, size: int = 128, train_per_photo: int = 12,
                             test_per_photo: int = 6) -> Path:
    """Write the paired restoration task under ``root``: ``train/`` and ``test/`` of A|B pairs (PNG).

    A is :func:`degrade` of the colour crop B; test pairs come from the held-out photos.
    """
    root = Path(root)
    for split, photos, per_photo, stream in (("train", TRAIN_PHOTOS, train_per_photo, 0),
                                             ("test", TEST_PHOTOS, test_per_photo, 2)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for name, tile in _tiles(photos, per_photo, size, stream):
            side_by_side(degrade(tile), tile).save(root / split / f"{name}.png")
    return root


def held_out_pairs(root: str | Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out (input, truth) crops of a task written under ``root``, as ``(N, 3, size, size)`` tensors.

    Works for both tasks (``testA/`` + ``testB/`` matched by name, or aligned ``test/``).
    """
    pairs = AlignedDataset(root, split="test", image_size=size, train=False)
    items = [pairs[index] for index in range(len(pairs))]
    return torch.stack([item["A"] for item in items]), torch.stack([item["B"] for item in items])


__all__ = [
    "TEST_PHOTOS",
    "TRAIN_PHOTOS",
    "UNPAIRED_STYLES",
    "best_colour_map",
    "cartoon",
    "degrade",
    "flat_regions",
    "held_out_pairs",
    "ink_lines",
    "load_photo",
    "outlines",
    "random_tiles",
    "side_by_side",
    "tone_grading",
    "write_paired_restoration",
    "write_unpaired_grading",
    "write_unpaired_task",
]
