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

from pathlib import Path

import numpy as np
import torch
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


def _graded(tile: Image.Image, grading=tone_grading) -> Image.Image:
    return to_pil(grading(to_tensor(tile)))


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


def write_unpaired_grading(root: str | Path, size: int = 64, train_per_photo: int = 16,
                           test_per_photo: int = 8) -> Path:
    """Write the unpaired grading task under ``root``: ``trainA/ trainB/ testA/ testB/`` (PNG).

    ``trainB`` holds graded crops of windows drawn independently of ``trainA``'s (unpaired);
    ``testB/x`` is the graded ``testA/x`` of held-out photos (the ground truth).
    """
    root = Path(root)
    for folder in ("trainA", "trainB", "testA", "testB"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for name, tile in _tiles(TRAIN_PHOTOS, train_per_photo, size, stream=0):
        tile.save(root / "trainA" / f"{name}.png")
    for name, tile in _tiles(TRAIN_PHOTOS, train_per_photo, size, stream=1):
        _graded(tile).save(root / "trainB" / f"{name}.png")
    for name, tile in _tiles(TEST_PHOTOS, test_per_photo, size, stream=2):
        tile.save(root / "testA" / f"{name}.png")
        _graded(tile).save(root / "testB" / f"{name}.png")
    return root


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
            _graded(tile, DOMAIN_GRADINGS[domain]).save(folder / f"{name}.png")
    for domain in GRADED_DOMAINS:
        (root / "test" / domain).mkdir(parents=True, exist_ok=True)
    for name, tile in _tiles(TEST_PHOTOS, test_per_photo, size, stream=2):
        for domain in GRADED_DOMAINS:
            _graded(tile, DOMAIN_GRADINGS[domain]).save(root / "test" / domain / f"{name}.png")
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
    resize = EvalTransform(size)
    crops: dict[str, torch.Tensor] = {}
    for domain in domains:
        files = image_files(root / "test" / domain)
        if [path.name for path in files] != names:
            raise DataError(f"'{root / 'test' / domain}' does not hold the same crops as '{root / 'test' / source}'")
        crops[domain] = torch.stack([resize(load_rgb(path))[0] for path in files])
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
    "degrade",
    "dusk_grading",
    "held_out_domains",
    "held_out_pairs",
    "load_photo",
    "random_tiles",
    "sepia_grading",
    "side_by_side",
    "style_example",
    "tone_grading",
    "write_domain_gradings",
    "write_paired_restoration",
    "write_unpaired_grading",
]
