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
  the grading and *structural* styles, changes that no per-pixel colour map produces. Two
  are spatial, a pixel's change depends on where it lies in the frame: :func:`vignette` (a
  spotlight) and :func:`graduated` (a graduated filter); the colour map learned from the
  training photos scores below the identity on them (:func:`training_colour_map`). The
  others follow the photo's edges: :func:`pencil` (shading by edge strength),
  :func:`defocus` (a blur), :func:`outlines` (dark ink lines), :func:`flat_regions`
  (edge-preserving smoothing that flattens texture into regions of one colour) and
  :func:`cartoon` (the last two together). The best per-pixel colour map fitted on the
  held-out truth itself gains 1.5-5 dB on them, mostly noise fitted
  (:func:`best_colour_map`), where the grading's gains 23.
* :func:`write_paired_restoration` — a paired task (pix2pix): A is a blurred grayscale
  version of the colour crop B (:func:`degrade`), ``train/``/``test/`` side by side.
* :func:`write_domain_gradings` — a multi-domain task (StarGAN): ``train/photo/`` crops and
  two gradings of *other* windows, ``train/dusk/`` (:func:`dusk_grading`) and
  ``train/sepia/`` (:func:`sepia_grading`); ``test/<domain>/x`` is the held-out crop
  ``test/photo/x`` in each domain. Each grading is strong (the input scores about 14 and
  16 dB against its truth) and they differ from each other (12 dB), so a generator that
  ignores the label cannot score well on both.

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

from translate.data.domains import find_domains
from translate.data.folders import AlignedDataset, DataError, UnpairedDataset, image_files
from translate.data.images import load_rgb, to_pil, to_tensor
from translate.data.transforms import EvalTransform

#: Photos crops are trained on, and held-out photos crops are tested on (never both).
TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "motorcycle", "retina", "immunohistochemistry", "china")
TEST_PHOTOS = ("coffee", "grace_hopper", "flower")

#: Colour mixing of :func:`tone_grading` (rows: output R, G, B), then an S-curve and per-channel gamma.
GRADING_MATRIX = ((0.80, 0.30, 0.00), (0.05, 0.70, 0.15), (0.00, 0.25, 0.60))
GRADING_CONTRAST = 1.8
GRADING_GAMMA = (0.6, 0.9, 1.5)
#: :func:`dusk_grading`: a cool, dark grading (colour mixing towards blue, then per-channel gamma).
DUSK_MATRIX = ((0.55, 0.15, 0.00), (0.05, 0.65, 0.10), (0.05, 0.20, 0.85))
DUSK_GAMMA = (1.5, 1.25, 0.85)
#: :func:`sepia_grading`: the classic sepia toning matrix, then an S-curve.
SEPIA_MATRIX = ((0.393, 0.769, 0.189), (0.349, 0.686, 0.168), (0.272, 0.534, 0.131))
SEPIA_CONTRAST = 1.4
#: Domains of :func:`write_domain_gradings`: the photographs, then the two gradings.
GRADED_DOMAINS = ("photo", "dusk", "sepia")
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
#: :func:`pencil`: blur of the luminance before its gradient (pixels), the gradient magnitude (per
#: pixel, luminance in [0, 1]) of full shading, and the darkening there (a factor of 1 - depth).
PENCIL_SIGMA, PENCIL_RAMP, PENCIL_DEPTH = 0.7, 0.25, 0.7
#: :func:`defocus`: the Gaussian blur's standard deviation (pixels at the crop size).
DEFOCUS_SIGMA = 2.5
#: :func:`vignette`: how far brightness swings between the centre and the corners.
VIGNETTE_DEPTH = 0.9
#: :func:`graduated`: the R, G, B factors of the top row (dark blue) and of the bottom row (bright warm).
GRADUATED_TOP, GRADUATED_BOTTOM = (0.45, 0.55, 0.8), (1.45, 1.3, 1.0)
#: Rec. 601 luma weights.
LUMA = (0.299, 0.587, 0.114)

_SEED = 20261127
#: Independent window draws of each training domain of :func:`write_domain_gradings` (2 is the held-out draw).
_DOMAIN_STREAMS = {"photo": 0, "dusk": 3, "sepia": 4}


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


def _mix(images: torch.Tensor, matrix: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    """``clamp(M u, 0, 1)`` with ``u = (x + 1) / 2``: colours of images in [-1, 1] mixed, in [0, 1]."""
    weights = torch.tensor(matrix, dtype=images.dtype, device=images.device)
    return torch.einsum("ij,...jhw->...ihw", weights, images.add(1.0).div(2.0)).clamp(0.0, 1.0)


def _s_curve(unit: torch.Tensor, contrast: float) -> torch.Tensor:
    """``v^k / (v^k + (1 − v)^k)`` of values in [0, 1]: more contrast for ``k`` > 1."""
    high = unit.pow(contrast)
    return high / (high + (1.0 - unit).pow(contrast)).clamp_min(1e-8)


def _gamma(unit: torch.Tensor, gamma: tuple[float, float, float]) -> torch.Tensor:
    return unit.pow(torch.tensor(gamma, dtype=unit.dtype, device=unit.device).view(3, 1, 1))


def tone_grading(images: torch.Tensor) -> torch.Tensor:
    """The unpaired task's ground truth: a per-pixel colour/tone grading of images in [-1, 1].

    ``u = (x + 1) / 2``; ``v = clamp(M u, 0, 1)`` mixes colours (:data:`GRADING_MATRIX`),
    an S-curve ``v^k / (v^k + (1 − v)^k)`` raises contrast (``k`` = :data:`GRADING_CONTRAST`),
    a gamma per channel (:data:`GRADING_GAMMA`) warms the tones; back to [-1, 1].
    Works on ``(3, H, W)`` and ``(N, 3, H, W)``.
    """
    return _gamma(_s_curve(_mix(images, GRADING_MATRIX), GRADING_CONTRAST), GRADING_GAMMA).mul(2.0).sub(1.0)


def dusk_grading(images: torch.Tensor) -> torch.Tensor:
    """The ``dusk`` domain of :func:`write_domain_gradings`: cool and dark, for images in [-1, 1].

    Colours mixed towards blue (:data:`DUSK_MATRIX`), then a gamma per channel
    (:data:`DUSK_GAMMA`) that darkens red and green and lifts blue. ``(3, H, W)`` or ``(N, 3, H, W)``.
    """
    return _gamma(_mix(images, DUSK_MATRIX), DUSK_GAMMA).mul(2.0).sub(1.0)


def sepia_grading(images: torch.Tensor) -> torch.Tensor:
    """The ``sepia`` domain of :func:`write_domain_gradings`: brown monochrome, for images in [-1, 1].

    The sepia toning matrix (:data:`SEPIA_MATRIX`: every output channel a weighted luma), then
    an S-curve of contrast :data:`SEPIA_CONTRAST`. ``(3, H, W)`` or ``(N, 3, H, W)``.
    """
    return _s_curve(_mix(images, SEPIA_MATRIX), SEPIA_CONTRAST).mul(2.0).sub(1.0)


#: The grading that makes each domain of :func:`write_domain_gradings` from a photo crop.
DOMAIN_GRADINGS = {"photo": lambda images: images, "dusk": dusk_grading, "sepia": sepia_grading}


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


def _luma(images: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luminance ``(N, 1, H, W)`` of ``(N, 3, H, W)`` images."""
    return torch.einsum("c,nchw->nhw", images.new_tensor(LUMA), images).unsqueeze(1)


def _ink(images: torch.Tensor) -> torch.Tensor:
    """Line strength in [0, 1], ``(N, 1, H, W)``, of the flattened ``images`` in [0, 1]."""
    luma = _luma(images)
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
def pencil(images: torch.Tensor) -> torch.Tensor:
    """A structural style: the photo darkened along its edges in proportion to their strength, like
    pencil shading (a soft :func:`outlines`: no threshold, no flattening).

    The gradient magnitude of the lightly blurred luminance (:data:`PENCIL_SIGMA`, central differences)
    over :data:`PENCIL_RAMP`, capped at 1, darkens by up to :data:`PENCIL_DEPTH` (multiplying).
    """
    luma = _gaussian_blur(_luma(images), PENCIL_SIGMA)
    padded = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    across = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
    down = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
    strength = torch.hypot(across, down).div(PENCIL_RAMP).clamp(0.0, 1.0)
    return images * (1.0 - PENCIL_DEPTH * strength)


@_batched
def defocus(images: torch.Tensor) -> torch.Tensor:
    """A structural style: the photo out of focus (a Gaussian blur of :data:`DEFOCUS_SIGMA` pixels)."""
    return _gaussian_blur(images, DEFOCUS_SIGMA)


def _coordinates(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column positions in [-1, 1] of ``images``' pixels, shaped ``(H, 1)`` and ``(1, W)``."""
    height, width = images.shape[-2:]
    rows = torch.linspace(-1.0, 1.0, height, dtype=images.dtype, device=images.device).view(-1, 1)
    columns = torch.linspace(-1.0, 1.0, width, dtype=images.dtype, device=images.device).view(1, -1)
    return rows, columns


@_batched
def vignette(images: torch.Tensor) -> torch.Tensor:
    """A spatial style: a spotlight, the frame's centre brightened and its corners darkened (a colour map
    cannot: a pixel's change depends on where it lies, and averages out over the frame). Brightness is
    multiplied by ``1 + depth · (1/3 − r²/2)``, r² the squared distance from the centre in [-1, 1]
    coordinates (1/3 its mean over the frame): by 1.3 at the centre and 0.4 in the corners
    (:data:`VIGNETTE_DEPTH` 0.9)."""
    rows, columns = _coordinates(images)
    return images * (1.0 + VIGNETTE_DEPTH * (1.0 / 3.0 - (rows.square() + columns.square()) / 2.0))


@_batched
def graduated(images: torch.Tensor) -> torch.Tensor:
    """A spatial style: a graduated filter, the frame's top darkened and tinted blue, its bottom
    brightened warm, blending linearly from row to row (:data:`GRADUATED_TOP`, :data:`GRADUATED_BOTTOM`:
    each channel's factor at the top and bottom rows)."""
    rows, _ = _coordinates(images)
    bottom = rows.add(1.0).div(2.0)  # 0 at the top row, 1 at the bottom
    top_factor = images.new_tensor(GRADUATED_TOP).view(1, 3, 1, 1)
    bottom_factor = images.new_tensor(GRADUATED_BOTTOM).view(1, 3, 1, 1)
    return images * torch.lerp(top_factor, bottom_factor, bottom)


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
    "pencil": pencil,
    "defocus": defocus,
    "vignette": vignette,
    "graduated": graduated,
}


def _colour_cells(images: torch.Tensor, bins: int) -> torch.Tensor:
    """Each pixel's cell of a ``bins³`` RGB grid, flattened over ``(N, H, W)``."""
    cells = images.add(1.0).mul(bins / 2.0).long().clamp(0, bins - 1)
    return ((cells[:, 0] * bins + cells[:, 1]) * bins + cells[:, 2]).flatten()


def fit_colour_map(inputs: torch.Tensor, targets: torch.Tensor, bins: int = 16
                   ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-pixel colour map that moves each colour as ``inputs`` → ``targets`` moves it on average.

    Each cell of a ``bins³`` RGB grid is moved by the mean change (target − input) of the fitting
    pixels in it (cells no fitting pixel falls in stay put). Returns the map, for images
    ``(N, 3, H, W)`` in [-1, 1] like the fitting pairs.
    """
    changes = (targets - inputs).transpose(0, 1).reshape(3, -1)
    index = _colour_cells(inputs, bins)
    sums = changes.new_zeros(3, bins**3).index_add_(1, index, changes)
    counts = changes.new_zeros(bins**3).index_add_(0, index, torch.ones_like(changes[0]))
    moves = sums / counts.clamp_min(1.0)

    def apply(images: torch.Tensor) -> torch.Tensor:
        moved = moves[:, _colour_cells(images, bins)]
        return images + moved.view(3, images.shape[0], *images.shape[2:]).transpose(0, 1)
    return apply


def best_colour_map(inputs: torch.Tensor, targets: torch.Tensor, bins: int = 16) -> torch.Tensor:
    """The best per-pixel colour map from ``inputs`` to ``targets``, applied to ``inputs``.

    :func:`fit_colour_map` fitted on these very images, so no per-pixel colour map (a grading,
    a curve, a LUT) does much better on them: what it leaves is what only a spatial change can
    reach. Fitted on few pixels it also fits noise and chance: at 64 px, 24 held-out crops and 16
    bins it gains 2.8 dB on outlines and cartoon, which darken dark pixels more often than light ones,
    1.5 dB on flat regions and 23 dB on the grading. :func:`training_colour_map` is the fairer
    baseline. Images ``(N, 3, H, W)`` in [-1, 1].
    """
    return fit_colour_map(inputs, targets, bins)(inputs)


def training_colour_map(root: str | Path, style: str, size: int, bins: int = 16
                        ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The colour map a model could learn from a task's training photos: :func:`fit_colour_map` on
    ``trainA/``'s crops of the task under ``root`` and their ``style`` (a name of
    :data:`UNPAIRED_STYLES`). Applied to the held-out inputs, it scores what the best per-pixel
    colour map reaches without seeing the held-out truth; a spatial style's is no better than the
    identity (:func:`vignette`, :func:`graduated`)."""
    crops = _load_crops(image_files(Path(root) / "trainA"), size)
    return fit_colour_map(crops, UNPAIRED_STYLES[style](crops), bins)


def _load_crops(files: list[Path], size: int) -> torch.Tensor:
    """``files`` as ``(N, 3, size, size)`` in [-1, 1], each resized by :class:`EvalTransform`."""
    resize = EvalTransform(size)
    return torch.stack([resize(load_rgb(path))[0] for path in files])


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


def write_domain_gradings(root: str | Path, size: int = 64, train_per_photo: int = 16,
                          test_per_photo: int = 8) -> Path:
    """Write the multi-domain grading task under ``root``: ``train/<domain>/`` and ``test/<domain>/`` (PNG).

    Domains :data:`GRADED_DOMAINS`, the layout :class:`~translate.data.domains.DomainFolderDataset`
    reads. Each training domain holds its own independently drawn windows of the training photos
    (unpaired: no crop appears in two domains); ``test/<domain>/x`` is the same held-out crop
    ``x`` in every domain (the truth of translating ``test/photo/x`` there).
    """
    root = Path(root)
    for domain in GRADED_DOMAINS:
        folder = root / "train" / domain
        folder.mkdir(parents=True, exist_ok=True)
        for name, tile in _tiles(TRAIN_PHOTOS, train_per_photo, size, stream=_DOMAIN_STREAMS[domain]):
            _styled(tile, DOMAIN_GRADINGS[domain]).save(folder / f"{name}.png")
    for domain in GRADED_DOMAINS:
        (root / "test" / domain).mkdir(parents=True, exist_ok=True)
    for name, tile in _tiles(TEST_PHOTOS, test_per_photo, size, stream=2):
        for domain in GRADED_DOMAINS:
            _styled(tile, DOMAIN_GRADINGS[domain]).save(root / "test" / domain / f"{name}.png")
    return root


def held_out_domains(root: str | Path, size: int, source: str = "photo") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The held-out crops of a multi-domain task under ``root``: ``(inputs, {domain: truth})``.

    ``inputs`` are ``test/<source>/`` as ``(N, 3, size, size)``; the truth of each domain (the
    source included, whose truth is the input) is ``test/<domain>/`` in the same file order.
    A domain whose file names differ from the source's is a :class:`DataError`.
    """
    root = Path(root)
    domains = find_domains(root, "test")
    if source not in domains:
        raise DataError(f"data folder '{root / 'test'}' has no '{source}' domain (found: {', '.join(domains)})")
    names = [path.name for path in image_files(root / "test" / source)]
    crops: dict[str, torch.Tensor] = {}
    for domain in domains:
        files = image_files(root / "test" / domain)
        if [path.name for path in files] != names:
            raise DataError(f"'{root / 'test' / domain}' does not hold the same crops as '{root / 'test' / source}'")
        crops[domain] = _load_crops(files, size)
    return crops[source], crops


def held_out_pairs(root: str | Path, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out (input, truth) crops of a task written under ``root``, as ``(N, 3, size, size)`` tensors.

    Works for both tasks (``testA/`` + ``testB/`` matched by name, or aligned ``test/``).
    """
    pairs = AlignedDataset(root, split="test", image_size=size, train=False)
    items = [pairs[index] for index in range(len(pairs))]
    return torch.stack([item["A"] for item in items]), torch.stack([item["B"] for item in items])


def style_example(root: str | Path, size: int) -> torch.Tensor:
    """The example whose style multimodal models (MUNIT) are scored with on the grading task: the first
    training image of domain B (graded, never held out), ``(1, 3, size, size)`` in [-1, 1]."""
    examples = UnpairedDataset(root, split="train", image_size=size, train=False)
    return examples[0]["B"][None]


__all__ = [
    "DOMAIN_GRADINGS",
    "GRADED_DOMAINS",
    "TEST_PHOTOS",
    "TRAIN_PHOTOS",
    "UNPAIRED_STYLES",
    "best_colour_map",
    "cartoon",
    "defocus",
    "degrade",
    "dusk_grading",
    "fit_colour_map",
    "flat_regions",
    "graduated",
    "held_out_domains",
    "held_out_pairs",
    "ink_lines",
    "load_photo",
    "outlines",
    "pencil",
    "random_tiles",
    "sepia_grading",
    "side_by_side",
    "style_example",
    "tone_grading",
    "training_colour_map",
    "vignette",
    "write_domain_gradings",
    "write_paired_restoration",
    "write_unpaired_grading",
    "write_unpaired_task",
]
