"""Choosing a generator network from a model's ``generator`` option."""

from __future__ import annotations

import math

from torch import nn

from translate.nets import PadCrop, build_generator
from translate.nets.layers import NORM_KINDS, UPSAMPLE_KINDS
from translate.options import OptionError


def unet_name(image_size: int) -> str:
    """The U-Net whose bottleneck is 1×1 at the training size (junyanz ``unet_256`` at 256)."""
    depth = max(5, min(8, int(math.log2(max(image_size, 2)))))
    return f"unet_{2 ** depth}"


def resnet_name(image_size: int) -> str:
    """9 residual blocks from 256 px up, 6 below (CycleGAN paper, appendix)."""
    return "resnet_9blocks" if image_size >= 256 else "resnet_6blocks"


def build_translator_net(arch: str, *, ngf: int, norm: str, dropout: bool, in_channels: int = 3,
                         upsample: str = "transpose", residual: bool = False) -> nn.Module:
    """The generator ``arch`` wrapped in :class:`PadCrop`, so it accepts any image size.

    ``upsample`` and ``residual`` are the models' options of the same names (see
    :func:`~translate.nets.build_generator`); an unusable value is an :class:`OptionError`
    naming the option.
    """
    if upsample not in UPSAMPLE_KINDS:
        raise OptionError(f"model option 'upsample' must be one of {', '.join(UPSAMPLE_KINDS)}, got {upsample!r}")
    if norm not in NORM_KINDS:
        raise OptionError(f"model option 'norm' must be one of {', '.join(NORM_KINDS)}, got {norm!r}")
    try:
        net = build_generator(arch, in_channels, 3, ngf=ngf, norm=norm, dropout=dropout, upsample=upsample,
                              residual=residual)
    except ValueError as exc:
        culprit = "residual" if residual and arch.startswith("unet") else "generator"
        raise OptionError(f"model option {culprit!r}: {exc}") from None
    return PadCrop(net, net.size_multiple, net.min_size)
