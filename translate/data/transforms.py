"""Training and evaluation transforms: PIL images in, ``[-1, 1]`` tensors out.

Both take several images at once and treat them identically, so the two halves of a
paired example (input A, target B) always get the same crop and flip.
"""

from __future__ import annotations

import torch
from PIL import Image

from .images import to_tensor

#: The reference "resize_and_crop" ratio: load 286 for a 256 crop.
LOAD_RATIO = 286 / 256


class TrainTransform:
    """Resize to ``load_size`` square, random-crop ``image_size``, random horizontal flip.

    This is the pix2pix/CycleGAN reference preprocessing ("resize_and_crop", 286 -> 256).

    Args:
        image_size: side of the square crop that is returned.
        load_size: side the images are resized to before cropping; default
            ``round(image_size * 286 / 256)``.
        flip: whether to flip horizontally with probability 0.5.
    """

    def __init__(self, image_size: int, load_size: int | None = None, flip: bool = True):
        if load_size is None:
            load_size = round(image_size * LOAD_RATIO)
        if image_size < 1 or load_size < image_size:
            raise ValueError(
                f"need 1 <= image_size <= load_size, got image_size={image_size}, load_size={load_size}"
            )
        self.image_size = image_size
        self.load_size = load_size
        self.flip = flip

    def __call__(self, *images: Image.Image, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Apply one random crop and flip to every image; return ``(3, S, S)`` tensors in ``[-1, 1]``.

        Randomness comes from ``generator``, or torch's global RNG when it is ``None``,
        so ``torch.manual_seed`` makes the result reproducible.
        """
        span = self.load_size - self.image_size + 1
        top, left = torch.randint(span, (2,), generator=generator).tolist()
        flip = self.flip and bool(torch.rand((), generator=generator) < 0.5)
        box = (left, top, left + self.image_size, top + self.image_size)
        outputs = []
        for img in images:
            img = img.resize((self.load_size, self.load_size), Image.Resampling.BICUBIC).crop(box)
            if flip:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            outputs.append(to_tensor(img))
        return outputs

    def __repr__(self) -> str:
        return f"TrainTransform(image_size={self.image_size}, load_size={self.load_size}, flip={self.flip})"


class EvalTransform:
    """Resize to ``image_size`` square; deterministic."""

    def __init__(self, image_size: int):
        if image_size < 1:
            raise ValueError(f"image_size must be positive, got {image_size}")
        self.image_size = image_size

    def __call__(self, *images: Image.Image) -> list[torch.Tensor]:
        """Return each image resized to ``(3, S, S)`` as a tensor in ``[-1, 1]``."""
        size = (self.image_size, self.image_size)
        return [to_tensor(img.resize(size, Image.Resampling.BICUBIC)) for img in images]

    def __repr__(self) -> str:
        return f"EvalTransform(image_size={self.image_size})"
