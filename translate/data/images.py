"""Image I/O: decode any common file to RGB, list image folders, convert to and from tensors.

Every image that enters ``translate`` goes through :func:`load_rgb`, so grayscale,
alpha, palette, CMYK, 16-bit and float files, and photos with an EXIF rotation,
all arrive as upright 8-bit RGB. Tensors use the project's normalisation: float
``(3, H, W)`` in ``[-1, 1]`` (:func:`to_tensor`); conversion carries images as 8-bit
pixels (:func:`pixels`) and normalises them piece by piece (:func:`normalize`,
:func:`quantize`), so a large image never exists in float at full size.

Given ``max_pixels`` (conversion's default is :data:`DEFAULT_MAX_PIXELS`, Pillow's own
limit), larger images are refused from their header, before anything is decoded.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image, ImageOps

from translate.errors import TranslateError
from translate.files import atomic_file

#: File extensions (lower case) that count as images when listing a folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
#: Pillow's format name for each extension :func:`save_atomically` writes (anything else: PNG).
_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}
_NO_ALPHA = {"JPEG", "BMP"}

#: Images with more pixels are refused unread: Pillow's ``MAX_IMAGE_PIXELS`` (about 89.5 million, a
#: 9459×9459 square), above which Pillow warns of a decompression bomb. The CLI's ``--max-pixels``.
DEFAULT_MAX_PIXELS = 89_478_485


class ImageReadError(TranslateError, ValueError):
    """A file could not be decoded as an image (missing, empty, not an image, truncated)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot read image '{self.path}': {reason}")


def load_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Decode ``path`` fully and return it as an upright mode-``RGB`` image.

    The EXIF orientation tag is applied. Alpha channels (``LA``, ``RGBA``, palette
    transparency) are dropped, not composited. 16-bit and 32-bit integer images are
    scaled from ``0..65535`` to ``0..255``; float images are scaled from ``0..1``
    when all values lie in that range and are otherwise taken as ``0..255``.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated, undecodable, or
            has more than ``max_pixels`` pixels (``None``: only Pillow's limit applies).
    """
    return _to_rgb(open_upright(path, max_pixels))


def load_rgb_and_alpha(path: str | os.PathLike,
                       max_pixels: int | None = None) -> tuple[Image.Image, Image.Image | None]:
    """Like :func:`load_rgb`, plus the image's alpha channel (mode ``L``) when it has one."""
    img = open_upright(path, max_pixels)
    return _to_rgb(img), alpha_of(img)


def alpha_of(img: Image.Image) -> Image.Image | None:
    """The alpha channel of ``img`` as a mode-``L`` image, or ``None`` when it has none."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return img.convert("RGBA").getchannel("A")
    return None


def open_upright(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Decode ``path`` fully (so truncation fails here) and apply its EXIF orientation.

    The pixel count is checked against ``max_pixels`` from the header, before decoding.
    Pillow's own check (``PIL.Image.MAX_IMAGE_PIXELS``: a warning above it, an error above
    twice it) still runs inside ``Image.open``; ``translate convert`` turns it off
    (:func:`pillow_limit_off`), as this one replaces it.

    Raises:
        ImageReadError: the file is missing, empty, not an image, truncated, undecodable, a
            symbolic link that leads nowhere, or has more than ``max_pixels`` pixels.
    """
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size == 0:
            raise ImageReadError(path, "file is empty")
        with Image.open(path) as img:
            if max_pixels is not None and img.width * img.height > max_pixels:
                raise ImageReadError(path, f"{img.width}×{img.height} is {img.width * img.height:,} pixels, more "
                                           f"than the limit of {max_pixels:,} (raise it with --max-pixels)")
            img.load()
            return ImageOps.exif_transpose(img)
    except ImageReadError:
        raise
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageReadError(path, f"symbolic link to '{os.readlink(path)}', which does not exist") from None
        raise ImageReadError(path, "no such file") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(path, "not a recognised image format") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        if getattr(exc, "errno", None) == errno.ELOOP:
            raise ImageReadError(path, "symbolic link loop (it leads back to itself)") from None
        raise ImageReadError(path, str(exc) or type(exc).__name__) from None


@contextlib.contextmanager
def pillow_limit_off() -> Iterator[None]:
    """Turn Pillow's process-wide decompression-bomb check off in the block, for callers that pass ``max_pixels``."""
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_DEPTH_MODES:
        return _high_depth_to_rgb(img)
    if img.mode in ("P", "PA"):
        # Going through RGBA keeps Pillow from warning about byte transparency.
        img = img.convert("RGBA")
    return img.convert("RGB")


def _high_depth_to_rgb(img: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float single-channel image to 8-bit RGB (rounded, clipped)."""
    values = img.convert("F")
    if img.mode == "F":
        low, high = values.getextrema()
        scale = 255.0 if low >= 0.0 and high <= 1.0 else 1.0
    else:
        scale = 255.0 / 65535.0
    # F -> L truncates and clips, so adding 0.5 rounds to nearest.
    eight_bit = values.point(lambda v: v * scale + 0.5).convert("L")
    return eight_bit.convert("RGB")


def list_images(folder: str | os.PathLike, recursive: bool = True, broken_links: bool = False) -> list[Path]:
    """Image files in ``folder`` (and its subfolders when ``recursive``), sorted.

    A file counts as an image by its extension (case-insensitive, see
    :data:`IMAGE_EXTENSIONS`). Hidden files and anything inside hidden folders
    (names starting with ``.``) are skipped. With ``broken_links``, symbolic links with
    an image extension that lead nowhere (dangling, or a loop) are listed too, so that a
    caller can report them rather than lose them silently.

    Raises:
        NotADirectoryError: ``folder`` is not an existing folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: '{folder}'")
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and is_image_file(path, broken_links)
    )


def is_image_file(path: Path, broken_links: bool = False) -> bool:
    """Whether ``path`` is a file (through links); with ``broken_links`` also a link that leads nowhere."""
    return path.is_file() or (broken_links and path.is_symlink() and not path.exists())


def save_atomically(image: Image.Image, target: Path, alpha: Image.Image | None = None, quality: int = 95) -> None:
    """Write ``image`` (with ``alpha`` where the format keeps one) via a temporary file and a rename.

    The file ends with the mode a plain ``open()`` gives (see :mod:`translate.files`).
    """
    pil_format = _PIL_FORMATS.get(target.suffix.lower(), "PNG")
    if alpha is not None and pil_format not in _NO_ALPHA:
        image = image.copy()
        image.putalpha(alpha)
    options = {"quality": quality} if pil_format in ("JPEG", "WEBP") else {}
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as partial:
        image.save(partial, format=pil_format, **options)


def pixels(img: Image.Image) -> torch.Tensor:
    """An RGB image as a ``uint8`` tensor ``(3, H, W)`` (a channels-last view of one copy of its bytes)."""
    if img.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {img.mode!r} (use load_rgb)")
    width, height = img.size
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(height, width, 3).permute(2, 0, 1)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """8-bit pixels (``uint8``, any shape) as floats in ``[-1, 1]``; float tensors are returned as they are."""
    if images.is_floating_point():
        return images
    return images.float().div_(127.5).sub_(1.0)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """Floats in ``[-1, 1]`` (any shape) as 8-bit pixels: clamped, rounded to nearest."""
    # One float copy (clamp), then in place: a 4096² image is 200 MB per float copy.
    return images.detach().float().clamp(-1.0, 1.0).add_(1.0).mul_(127.5).round_().to(torch.uint8)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An RGB image as a float tensor ``(3, H, W)`` in ``[-1, 1]``."""
    return normalize(pixels(img))


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """A ``(3, H, W)`` tensor in ``[-1, 1]`` (or of 8-bit pixels) as an RGB image (clamped, rounded to 8 bits)."""
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"to_pil expects a (3, H, W) tensor, got shape {tuple(tensor.shape)}")
    eight_bit = tensor if tensor.dtype == torch.uint8 else quantize(tensor)
    # Through numpy: bytes(tensor.untyped_storage()) copies byte by byte in Python (0.5 s at 256²).
    return Image.fromarray(eight_bit.permute(1, 2, 0).cpu().contiguous().numpy())
