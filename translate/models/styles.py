"""Style codes of multimodal models: one input, as many outputs as there are styles.

A model that declares ``"style_dim": d`` in its ``metadata()`` (MUNIT) translates with a style
code, a vector of ``d`` numbers, besides its input. Its random styles are drawn from the
standard normal distribution N(0, I), so a style is also named by a **seed**: the style of
seed ``s`` is :func:`random_style(s, d) <random_style>`, the same on every machine, for every
image and in every run. ``translate convert --styles N --seed S`` writes the styles of seeds
``S, S+1, ..., S+N-1``; no style at all means the zero code (the mean of the prior).

:func:`style_codes` turns whatever a caller passes as ``style=`` (nothing, a seed, a code, or
example images whose style is encoded by the model) into one code per image.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from translate.options import OptionError

#: What ``style=`` may be.
STYLE_KINDS = "a seed (int), a style code (tensor of style_dim numbers, or one row per image) or example " \
              "images (a tensor (3, H, W) or (N, 3, H, W) in [-1, 1])"


def random_style(seed: int, style_dim: int) -> Tensor:
    """The style code of ``seed``: ``style_dim`` numbers drawn from N(0, I) by a generator seeded with it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise OptionError(f"a style seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    return torch.randn(style_dim, generator=torch.Generator().manual_seed(seed))


def style_codes(style: object, count: int, style_dim: int, encode: Callable[[Tensor], Tensor],
                reference: Tensor) -> Tensor:
    """One style code per image, ``(count, style_dim)``, on ``reference``'s device and dtype.

    :param style: ``None`` (the zero code), a seed (:func:`random_style`), a code (``(style_dim,)``,
        ``(1, style_dim)`` or ``(count, style_dim)``) or example images (``(3, H, W)``, or ``(1, 3, H, W)``
        or ``(count, 3, H, W)``) whose style ``encode`` computes.
    :raises OptionError: for anything else, naming what ``style=`` takes.
    """
    if style is None:
        return reference.new_zeros(count, style_dim)
    if isinstance(style, int) and not isinstance(style, bool):
        return random_style(style, style_dim).to(reference).expand(count, style_dim)
    if not isinstance(style, Tensor):
        raise OptionError(f"style must be {STYLE_KINDS}, got {type(style).__name__}")
    if style.dim() in (3, 4):
        images = style if style.dim() == 4 else style[None]
        if images.shape[1] != 3 or images.shape[0] not in (1, count):
            raise OptionError(f"style images must be (3, H, W), (1, 3, H, W) or ({count}, 3, H, W), "
                              f"got {tuple(style.shape)}")
        style = encode(images.to(reference))
    code = style if style.dim() == 2 else style.reshape(1, -1)
    if code.shape[-1] != style_dim or code.shape[0] not in (1, count):
        raise OptionError(f"a style code must have {style_dim} numbers, (1, {style_dim}) or ({count}, {style_dim}), "
                          f"got {tuple(style.shape)}")
    return code.to(reference).expand(count, style_dim)


__all__ = ["STYLE_KINDS", "random_style", "style_codes"]
