"""pix2pix's U-Net generator, laid out so junyanz ``latest_net_G.pth`` files load as-is."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from translate.nets.layers import conv_bias, norm_layer, upsampling


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: downsample, ``submodule``, upsample, and (except outermost) a skip.

    ``model`` is, by position:

    - outermost: ``[downconv, submodule, ReLU, upconv, tanh]``
    - intermediate: ``[LReLU, downconv, downnorm, submodule, ReLU, upconv, upnorm, (Dropout)]``
    - innermost: ``[LReLU, downconv, ReLU, upconv, upnorm]``

    Non-outermost blocks return ``cat(LReLU(x), model(x))``: the skip carries the
    *activated* input, which is what junyanz computes (its in-place LeakyReLU overwrites
    ``x`` before the concatenation), so released weights give the same outputs.

    :param outer_channels: channels this block returns (before the skip concatenation).
    :param inner_channels: channels after this block's downsampling.
    :param in_channels: channels this block receives; defaults to ``outer_channels``.
    :param upsample: ``upconv``'s kind: ``"transpose"`` (the reference's 4x4 stride-2
        transposed conv), ``"nearest"`` or ``"bilinear"`` (resize, then a 3x3 conv).
    """

    def __init__(
        self,
        outer_channels: int,
        inner_channels: int,
        in_channels: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        self.outermost = outermost
        innermost = submodule is None
        bias = conv_bias(norm)
        down_conv = nn.Conv2d(
            outer_channels if in_channels is None else in_channels,
            inner_channels,
            kernel_size=4,
            stride=2,
            padding=1,
            bias=bias,
        )
        up_in = inner_channels if innermost else inner_channels * 2
        if outermost:
            up_conv = upsampling(upsample, up_in, outer_channels, kernel_size=4, bias=True)
            layers = [down_conv, submodule, nn.ReLU(), up_conv, nn.Tanh()]
        else:
            up_conv = upsampling(upsample, up_in, outer_channels, kernel_size=4, bias=bias)
            down = [nn.LeakyReLU(0.2), down_conv]
            if not innermost:
                down += [norm_layer(norm, inner_channels), submodule]
            layers = down + [nn.ReLU(), up_conv, norm_layer(norm, outer_channels)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.outermost:
            return self.model(x)
        # the first layer is junyanz's in-place LeakyReLU: the skip carries its output.
        # A loop instead of slicing the Sequential keeps this scriptable (translate export).
        activated = x
        out = x
        for index, layer in enumerate(self.model):
            out = layer(out)
            if index == 0:
                activated = out
        return torch.cat([activated, out], dim=1)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels (``unet_256``: 8, ``unet_128``: 7).

    Widths ``ngf``, ``2 ngf``, ``4 ngf``, then ``8 ngf`` for every deeper level. With
    ``dropout``, the ``num_downs - 5`` inner ``8 ngf`` blocks (not the innermost) apply
    dropout 0.5 after their up-norm. ``model`` is the outermost
    :class:`UnetSkipConnectionBlock`, so keys read ``model.model.0.weight``, ...

    H and W must be multiples of :attr:`size_multiple` (``2 ** num_downs``); wrap in
    :class:`~translate.nets.layers.PadCrop` for other sizes.

    :param norm: ``"batch"`` (pix2pix), ``"instance"`` or ``"none"``.
    :param upsample: ``"transpose"`` (the reference's layout, which its ``latest_net_G.pth``
        files load into), ``"nearest"`` or ``"bilinear"``; see
        :func:`~translate.nets.layers.upsampling`. The innermost level always keeps its
        transposed conv: at the training size it upsamples a 1×1 code, which resizing
        would turn into a constant map (zero variance for its norm layer at batch 1, whose
        running statistics then blow the output up in evaluation mode), while a transposed
        conv gives each of the four pixels its own kernel tap, without the overlaps that
        make checkerboards.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be at least 5, got {num_downs}")
        self.size_multiple = 2**num_downs
        #: Smallest H and W: one multiple (the innermost level is then 1×1 and has no norm).
        self.min_size = self.size_multiple
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=dropout,
                                            upsample=upsample)
        for factor in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * factor, ngf * factor * 2, submodule=block, norm=norm,
                                            upsample=upsample)
        self.model = UnetSkipConnectionBlock(
            out_channels,
            ngf,
            in_channels=in_channels,
            submodule=block,
            outermost=True,
            norm=norm,
            upsample=upsample,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
