"""Shared building blocks: normalisation choice, upsampling, global residual, padding to a size multiple, init."""

from __future__ import annotations

import copy

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


#: What :func:`norm_layer` builds besides :data:`NORM_KINDS`: ``"layer"`` (:class:`LayerNorm2d`, MUNIT's decoder).
LAYER_NORM = "layer"


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer for ``channels`` feature maps.

    :param kind: ``"batch"`` (BatchNorm2d, affine, running statistics), ``"instance"``
        (InstanceNorm2d without affine parameters or running statistics, as CycleGAN),
        ``"none"`` (identity) or ``"layer"`` (:class:`LayerNorm2d`).
    :raises ValueError: for any other kind.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    if kind == LAYER_NORM:
        return LayerNorm2d(channels)
    raise ValueError(f"unknown norm {kind!r}; valid kinds: {', '.join(NORM_KINDS + (LAYER_NORM,))}")


class LayerNorm2d(nn.Module):
    """Layer normalisation of feature maps: each sample normalised over channels, height and width
    together, then a learnt scale and shift per channel (1 and 0 at first).

    Unlike instance norm it keeps the differences between channels' means and spreads, so a decoder
    with it after AdaIN (MUNIT's) keeps the colour a style code set. Computed with plain reductions,
    so exported graphs take any height and width.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        variance = (x - mean).square().mean(dim=(1, 2, 3), keepdim=True)
        normalised = (x - mean) * torch.rsqrt(variance + self.eps)
        return normalised * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ResizeConv(nn.Module):
    """×2 upsampling by resizing, then a 3×3 convolution (reflect padding): no checkerboards.

    A stride-2 transposed convolution adds its kernel's overlaps unevenly, so its outputs
    carry a period-2 pattern until training removes it (Odena et al. 2016, "Deconvolution
    and Checkerboard Artifacts"); resizing first spreads every input pixel evenly.
    The convolution is :attr:`conv`, whose 3×3 weights are what checkpoints hold.

    Nearest resizing of inputs of at least :data:`FOLD_MIN_PIXELS` pixels is computed folded
    (:func:`folded_resize_conv`): the same outputs and gradients up to float rounding, at the input's
    resolution, with 16 multiply-adds per input pixel and channel pair instead of 36. The folded
    kernels are summed from :attr:`conv`'s weights in every forward, so the 3×3 weights are what
    learns. Smaller inputs and bilinear resizing run as written.
    """

    def __init__(self, in_channels: int, out_channels: int, mode: str, bias: bool) -> None:
        super().__init__()
        self.mode = mode
        #: Input pixels from which nearest resizing computes folded (:data:`FOLD_MIN_PIXELS`).
        self.fold_min_pixels = FOLD_MIN_PIXELS
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="reflect", bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "nearest" and x.shape[-2] * x.shape[-1] >= self.fold_min_pixels:
            bias = self.conv.bias
            return folded_resize_conv(x, fold_resize_kernel(self.conv.weight), None if bias is None else bias.repeat(4))
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(x)


#: Input pixels (H·W) from which :class:`ResizeConv` computes folded. Folding costs a pass over the weights
#: in each forward and backward, while it saves multiply-adds in proportion to the pixels: below this
#: (the U-Net's innermost levels, 2×2 to 8×8, with the largest weights) resizing, then convolving is faster.
FOLD_MIN_PIXELS = 256


def _fold_matrix(like: Tensor) -> Tensor:
    """The fold as a ``(9, 16)`` matrix in ``like``'s dtype and device: row ``3k + l`` (3×3 tap ``(k, l)``),
    column ``4(2a + b) + 2i + j`` (tap ``(i, j)`` of phase ``(a, b)``), 1 where the first sums into the second."""
    # taps[a][i][k]: whether tap i of phase a sums kernel row k. Output row 2p (phase 0) sees source rows
    # p-1 (kernel row 0) and p (rows 1 and 2); row 2p+1 (phase 1) sees p (rows 0 and 1) and p+1 (row 2).
    taps = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]],
                        dtype=like.dtype, device=like.device)
    rows = taps.permute(2, 0, 1)  # (k, a, i)
    return (rows[:, None, :, None, :, None] * rows[None, :, None, :, None, :]).reshape(9, 16)


def fold_resize_kernel(kernel: Tensor) -> Tensor:
    """The ``(4·O, I, 2, 2)`` kernels of the four output phases of a nearest ×2 resize followed by the 3×3
    convolution ``kernel`` (``(O, I, 3, 3)``), phase ``(a, b)`` (output row and column parities) in rows
    ``(2a + b)·O`` to ``(2a + b + 1)·O``.

    After nearest ×2 upsampling, output row ``2p`` sees source rows ``p-1`` (kernel row 0) and ``p``
    (kernel rows 1 and 2), and row ``2p+1`` sees ``p`` (rows 0 and 1) and ``p+1`` (row 2); columns
    likewise. The sums are one matrix product (:func:`_fold_matrix`), so the fold is differentiable (the
    gradient of each 3×3 weight is the sum of its folded copies') and costs one pass over the weights.
    """
    out_channels, in_channels = kernel.shape[0], kernel.shape[1]
    phases = torch.matmul(kernel.reshape(out_channels * in_channels, 9), _fold_matrix(kernel))
    return phases.reshape(out_channels, in_channels, 4, 2, 2).permute(2, 0, 1, 3, 4).reshape(
        4 * out_channels, in_channels, 2, 2)


def folded_resize_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A nearest ×2 resize and a 3×3 convolution with reflect padding, computed at ``x``'s resolution.

    ``weight`` is :func:`fold_resize_kernel` of the 3×3 kernel, ``bias`` its bias repeated 4 times (or
    ``None``). Reflecting one pixel of the upsampled image repeats the source's edge, so one 2×2
    convolution over the edge-padded source gives every phase's outputs; each phase's are cropped at its
    offset and the phases interleaved (pixel shuffle). Of the interleavings measured forward and backward
    at the ResNet's and U-Net's decoder sizes (four convolutions, one per phase; a 4×4 stride-2 transposed
    convolution), this was the fastest.
    """
    height, width = x.shape[-2], x.shape[-1]
    windows = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), weight, bias)
    c = weight.shape[0] // 4
    phases = [windows[:, 0:c, 0:height, 0:width], windows[:, c:2 * c, 0:height, 1:width + 1],
              windows[:, 2 * c:3 * c, 1:height + 1, 0:width], windows[:, 3 * c:4 * c, 1:height + 1, 1:width + 1]]
    # (N, C, 4, H, W) as channels c*4 + 2a + b: pixel shuffle puts phase (a, b) at (2p + a, 2q + b).
    return F.pixel_shuffle(torch.stack(phases, 2).flatten(1, 2), 2)


class FoldedResizeConv(nn.Module):
    """A nearest :class:`ResizeConv` with its kernels folded once (:func:`fold_resize_kernel`), for
    inference (exported graphs): the folded weights do not learn, and no fold is left in the graph.

    It computes what :class:`ResizeConv` computes (:func:`folded_resize_conv`).
    Measured in ONNX Runtime (ResNet-9 at 256², AVX2 kernels): the two decoder convolutions took 77 ms
    instead of 123 and their resizes and padding went, for 25 ms of pixel shuffles; the whole generator
    took 8% less time (median of 30 alternated runs).
    """

    def __init__(self, resize_conv: ResizeConv) -> None:
        super().__init__()
        if resize_conv.mode != "nearest":
            raise ValueError(f"only nearest resizing folds, not {resize_conv.mode!r}")
        conv = resize_conv.conv
        self.out_channels = conv.out_channels
        self.weight = nn.Parameter(fold_resize_kernel(conv.weight.detach()), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().repeat(4), requires_grad=False)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.out_channels}, folded from a nearest ×2 resize and a 3×3 conv"

    def forward(self, x: Tensor) -> Tensor:
        return folded_resize_conv(x, self.weight, self.bias)


#: Output channels below which :func:`exported_form` computes a convolution by kernel rows: ONNX Runtime
#: computes convolutions in blocks of 8 output channels (16 with AVX-512), so 3 cost as much as 8 and
#: the k×k loop over one block is the slowest it has.
NARROW_CONV_CHANNELS = 8


class KernelRowsConv(nn.Module):
    """A k×k convolution with few output channels (an RGB head) as one 1×k convolution with k times the
    output channels, one group per kernel row, whose outputs are summed at their rows' offsets: the
    same outputs up to float rounding, for inference (exported graphs; the weights do not learn).

    ONNX Runtime spends the same on the k-fold wider 1×k convolution as on the k×k one with few
    outputs, then a few cheap additions. Measured (ONNX Runtime, AVX2 kernels, one thread, the ResNet's
    64->3 7×7 head at 256²): 28 ms instead of 98 ms.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        if not _splits_by_rows(conv):
            raise ValueError(f"only stride-1, ungrouped, zero-padded convolutions with fewer than "
                             f"{NARROW_CONV_CHANNELS} outputs split by kernel rows, not {conv}")
        out_channels, in_channels, rows, columns = conv.weight.shape
        self.out_channels, self.rows, self.padding = out_channels, rows, tuple(conv.padding)
        # Output channel r * out_channels + c of the 1×k convolution is kernel row r of output channel c.
        self.weight = nn.Parameter(conv.weight.detach().permute(2, 0, 1, 3).reshape(rows * out_channels, in_channels,
                                                                                   1, columns).clone(),
                                   requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1]}, {self.out_channels}, {self.rows}x{self.weight.shape[-1]} kernel by rows, "
                f"padding={self.padding}")

    def forward(self, x: Tensor) -> Tensor:
        by_row = F.conv2d(x, self.weight, padding=self.padding)
        height, c = by_row.shape[-2] - self.rows + 1, self.out_channels
        output = by_row[:, 0:c, 0:height]
        for row in range(1, self.rows):
            output = output + by_row[:, row * c:(row + 1) * c, row:row + height]
        return output if self.bias is None else output + self.bias.view(1, -1, 1, 1)


def exported_form(module: nn.Module) -> nn.Module:
    """``module`` as exported graphs compute it: every nearest :class:`ResizeConv` inside it a
    :class:`FoldedResizeConv` and every narrow convolution a :class:`KernelRowsConv`. A copy when
    anything changes (the rewritten layers do not learn), else ``module`` itself."""
    if not any(_rewrites(child) for child in module.modules()):
        return module
    module = copy.deepcopy(module)
    _rewrite_in_place(module)
    return module


def _splits_by_rows(module: nn.Module) -> bool:
    return (type(module) is nn.Conv2d and module.out_channels < NARROW_CONV_CHANNELS and module.kernel_size[0] > 1
            and module.stride == (1, 1) and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros" and not isinstance(module.padding, str))


def _rewrites(module: nn.Module) -> bool:
    return (isinstance(module, ResizeConv) and module.mode == "nearest") or _splits_by_rows(module)


def _rewrite_in_place(module: nn.Module) -> None:
    for name, child in module.named_children():
        if _rewrites(child):
            setattr(module, name, FoldedResizeConv(child) if isinstance(child, ResizeConv) else KernelRowsConv(child))
        else:
            _rewrite_in_place(child)


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
    by :func:`starts_at_zero`, which stay 0, and layers marked ``own_init`` (MUNIT's style
    MLP), which keep the initialisation they were built with; BatchNorm weights ~ N(1, gain),
    biases 0. Other layers keep PyTorch's defaults.
    """
    for layer in module.modules():
        if getattr(layer, "own_init", False):
            continue
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
