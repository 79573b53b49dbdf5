"""Shared building blocks: normalisation choice, upsampling, global residual, padding to a size multiple, init."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Normalisation kinds accepted by :func:`norm_layer`.
NORM_KINDS = ("batch", "instance", "none")

#: Upsampling kinds of the generators' decoders: the reference's transposed convolution, or
#: resize-then-convolve with nearest or bilinear resizing (see :func:`upsampling`).
UPSAMPLE_KINDS = ("transpose", "nearest", "bilinear")

#: Inputs of :func:`residual_output` are kept this far inside (-1, 1), where atanh is finite.
RESIDUAL_MARGIN = 1e-3

#: Padding modes accepted by :func:`pad_to_multiple`.
PAD_MODES = ("reflect", "replicate", "constant")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer for ``channels`` feature maps.

    :param kind: ``"batch"`` (BatchNorm2d, affine, running statistics), ``"instance"``
        (InstanceNorm2d without affine parameters or running statistics, as CycleGAN) or
        ``"none"`` (identity).
    :raises ValueError: for any other kind.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid kinds: {', '.join(NORM_KINDS)}")


class ResizeConv(nn.Module):
    """×2 upsampling by resizing, then a 3×3 convolution (reflect padding): no checkerboards.

    A stride-2 transposed convolution adds its kernel's overlaps unevenly, so its outputs
    carry a period-2 pattern until training removes it (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts"); resizing first spreads every input pixel evenly.
    The convolution is :attr:`conv`.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str, bias: bool) -> None:
        super().__init__()
        self.mode = mode
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="reflect", bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(x)


def upsampling(kind: str, in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> nn.Module:
    """A layer doubling H and W: a transposed conv (``"transpose"``) or :class:`ResizeConv`.

    :param kind: one of :data:`UPSAMPLE_KINDS`. ``"transpose"`` is the reference's
        ``ConvTranspose2d(kernel_size, stride 2)`` (padding 1, and output padding 1 for an
        odd kernel), whose weights the reference's ``latest_net_G.pth`` files hold;
        ``"nearest"`` and ``"bilinear"`` resize and then apply a 3×3 conv
        (``kernel_size`` is then unused).
    :raises ValueError: for an unknown ``kind``.
    """
    if kind == "transpose":
        return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=kernel_size, stride=2, padding=1,
                                  output_padding=kernel_size % 2, bias=bias)
    if kind in ("nearest", "bilinear"):
        return ResizeConv(in_channels, out_channels, kind, bias)
    raise ValueError(f"unknown upsampling {kind!r}; valid kinds: {', '.join(UPSAMPLE_KINDS)}")


def residual_output(inputs: Tensor, change: Tensor, margin: float = RESIDUAL_MARGIN) -> Tensor:
    """``tanh(atanh(inputs) + change)``: the input changed by ``change`` in tanh's pre-activation space.

    A generator ending in this (a *global residual path*) maps an image to itself when
    ``change`` is 0, and its outputs stay in (-1, 1) like a tanh head's. Inputs are
    clamped ``margin`` inside (-1, 1) first, and computed in at least float32 (under bf16
    autocast ``1 - 1e-3`` would round to 1, where atanh is infinite).
    """
    dtype = torch.promote_types(inputs.dtype, torch.float32)
    limit = 1.0 - margin
    return torch.tanh(torch.atanh(inputs.to(dtype).clamp(-limit, limit)) + change.to(dtype))


class GlobalResidual(nn.Module):
    """Runs ``net`` and returns its input changed by ``net``'s output (:func:`residual_output`)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return residual_output(x, self.net(x))


def starts_at_zero(layer: nn.Module) -> nn.Module:
    """Zero ``layer``'s weight and bias, and mark it so :func:`init_weights` keeps them at zero."""
    layer.starts_at_zero = True
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by ``norm`` carries a bias.

    BatchNorm's shift makes a bias redundant; InstanceNorm without affine parameters (and
    no norm at all) needs it. This matches junyanz (bias iff InstanceNorm) for the two
    norms its released weights use.
    """
    return norm != "batch"


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "reflect",
                    min_size: int = 1) -> tuple[Tensor, tuple[int, int]]:
    """Pad the bottom and right of ``x`` so H and W become multiples of ``multiple``, and at least ``min_size``.

    Reflect padding cannot add more than ``size - 1`` pixels at once, so tiny images are
    reflected repeatedly; a side of a single pixel is replicated instead. Nothing is copied
    when H and W already are multiples of at least ``min_size``.

    :param x: ``(C, H, W)`` or ``(N, C, H, W)`` tensor.
    :param mode: ``"reflect"``, ``"replicate"`` or ``"constant"`` (zeros).
    :param min_size: smallest H and W the padded tensor may have (rounded up to ``multiple``).
    :return: the padded tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple}")
    if mode not in PAD_MODES:
        raise ValueError(f"unknown padding mode {mode!r}; valid modes: {', '.join(PAD_MODES)}")
    height, width = x.shape[-2:]
    pad_h, pad_w = (max(size, min_size) + -max(size, min_size) % multiple - size for size in (height, width))
    if pad_h == 0 and pad_w == 0:
        return x, (height, width)
    if mode == "reflect":
        return _reflect_pad(x, pad_h=pad_h, pad_w=pad_w), (height, width)
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (height, width)


def _reflect_pad(x: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Reflect-pad bottom/right by any amount, in steps of at most ``size - 1``."""
    while pad_h > 0 or pad_w > 0:
        step_h = min(pad_h, x.shape[-2] - 1)
        step_w = min(pad_w, x.shape[-1] - 1)
        if step_h == 0 and step_w == 0:  # a one-pixel side that still needs padding
            return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h -= step_h
        pad_w -= step_w
    return x


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """The top-left ``size = (H, W)`` window of ``x``: undoes :func:`pad_to_multiple`."""
    height, width = size
    return x[..., :height, :width]


def init_weights(module: nn.Module, gain: float = 0.02) -> None:
    """Initialise ``module`` and its children in place (junyanz ``normal`` init).

    Conv, transposed-conv and linear weights ~ N(0, gain), biases 0, except layers marked
    by :func:`starts_at_zero`, which stay 0; BatchNorm weights ~ N(1, gain), biases 0.
    Other layers keep PyTorch's defaults.
    """
    for layer in module.modules():
        if getattr(layer, "starts_at_zero", False):
            starts_at_zero(layer)
        elif isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.normal_(layer.weight, mean=0.0, std=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.affine:
            nn.init.normal_(layer.weight, mean=1.0, std=gain)
            nn.init.zeros_(layer.bias)


class PadCrop(nn.Module):
    """Run a fully convolutional ``net`` on inputs of any size, down to a single pixel.

    The input is padded (reflect, replicate where a side is a single pixel) to ``multiple``
    and to at least ``min_size`` — the smallest side ``net`` takes (a ResNet's reflection
    padding and instance norm need its residual body to be at least 2×2) — passed through
    ``net``, and the output is cropped back to the input's H and W. ``net``'s parameters
    appear under ``net.`` in this module's state dict.
    """

    def __init__(self, net: nn.Module, multiple: int, min_size: int = 1) -> None:
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.min_size = min_size

    def forward(self, x: Tensor) -> Tensor:
        padded, size = pad_to_multiple(x, multiple=self.multiple, min_size=self.min_size)
        return crop_to(self.net(padded), size=size)
