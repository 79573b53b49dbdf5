"""MUNIT's networks (Huang et al. 2018): content and style encoders, and a decoder steered by a style code.

An image is split into a **content code** (spatial, domain-shared) and a **style code** (a
vector of ``style_dim`` numbers, domain-specific); a decoder rebuilds an image from a content
code and any style code, so one input gives as many outputs as there are styles. The layout
(``dim = 64``, the reference's sizes)::

    content encoder: translate.nets.unit.Encoder without shared blocks: reflect pad 3, 7x7 conv -> dim,
                     instance norm, ReLU; n_down x [4x4 conv stride 2 (channels x2), instance norm, ReLU];
                     n_res residual blocks (instance norm)            -> (N, dim·2**n_down, H/2**n_down, W/2**n_down)
    style encoder:   reflect pad 3, 7x7 conv -> dim, ReLU; 2 x [4x4 conv stride 2 (channels x2), ReLU];
                     n_down - 2 x [4x4 conv stride 2, ReLU]; global average pool; 1x1 conv -> style_dim
                     (no normalisation: the statistics it would remove are the style) -> (N, style_dim)
    decoder:         n_res residual blocks whose normalisation is AdaIN, its scale and shift per channel
                     computed from the style code by an MLP (style_dim -> mlp_dim -> ... -> every AdaIN's
                     parameters, ReLU between, n_mlp linear layers); then UNIT's upsampling head
                     (translate.nets.unit.upsampling_head: nearest x2 + 5x5 conv + norm + ReLU per
                     upsampling, 7x7 conv -> image) with layer norm (``up_norm="layer"``), which keeps
                     the per-channel statistics AdaIN set, where instance norm would remove them.

With ``residual`` the decoder's output is a change to an image (no tanh; the last conv starts
at zero), which the model adds to the image whose content was encoded
(:func:`translate.nets.layers.residual_output`): the untrained translation is the identity.

:class:`StyledPadCrop` is what a multimodal model's ``inference_network`` returns: like
:class:`translate.nets.layers.PadCrop`, but its ``forward`` takes the images and one style code
per image, and it carries ``style_dim`` so that export gives the graph a second input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.nets.layers import crop_to, pad_to_multiple, residual_output
from translate.nets.unit import Encoder, upsampling_head
from translate.options import check_counts


def adaptive_instance_norm(x: Tensor, scale: Tensor, shift: Tensor, eps: float = 1e-5) -> Tensor:
    """Instance norm of ``x`` ``(N, C, H, W)``, then each sample's channels scaled and shifted by ``scale``
    and ``shift`` ``(N, C)`` (AdaIN, Huang & Belongie 2017)."""
    return F.instance_norm(x, eps=eps) * scale[:, :, None, None] + shift[:, :, None, None]


class AdaINResnetBlock(nn.Module):
    """``x + [pad, conv 3x3, AdaIN, ReLU, pad, conv 3x3, AdaIN](x)`` at constant width.

    ``forward(x, parameters)`` takes the AdaIN parameters of the block, ``(N, 4·channels)``: scale and
    shift of the first AdaIN, then of the second (:attr:`parameter_count` per sample).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv1 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, kernel_size=3))
        self.conv2 = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, kernel_size=3))
        #: AdaIN parameters the block takes per sample.
        self.parameter_count = 4 * channels

    def forward(self, x: Tensor, parameters: Tensor) -> Tensor:
        c = self.channels
        h = adaptive_instance_norm(self.conv1(x), parameters[:, 0:c], parameters[:, c:2 * c])
        h = adaptive_instance_norm(self.conv2(torch.relu(h)), parameters[:, 2 * c:3 * c], parameters[:, 3 * c:4 * c])
        return x + h


def style_mlp(style_dim: int, hidden: int, layers: int, out_features: int) -> nn.Sequential:
    """``layers`` linear layers from a style code to ``out_features`` AdaIN parameters, ReLU between them.

    Weights are He-initialised (N(0, 2 / fan_in), biases 0) and marked ``own_init``, so
    :func:`~translate.nets.layers.init_weights` keeps them: its N(0, 0.02) would shrink a style code
    about tenfold per layer, and an untrained decoder would hardly depend on the style (measured: the
    outputs of four random styles differed by 0.002 on average after 240 steps, docs/learning.md).
    """
    check_counts("style MLP", layers=(layers, 1), hidden=(hidden, 1))
    widths = [style_dim] + [hidden] * (layers - 1) + [out_features]
    modules: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths, widths[1:])):
        if index:
            modules.append(nn.ReLU(inplace=True))
        linear = nn.Linear(width_in, width_out)
        nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        linear.own_init = True
        modules.append(linear)
    return nn.Sequential(*modules)


class StyleEncoder(nn.Module):
    """Image ``(N, in_channels, H, W)`` -> style code ``(N, style_dim)``; any size from :attr:`min_size` up.

    :param dim: channels of the first conv; doubled by the first two downsamplings only.
    :param n_down: stride-2 downsamplings (the reference: 4).
    """

    def __init__(self, in_channels: int = 3, dim: int = 64, n_down: int = 4, style_dim: int = 8) -> None:
        super().__init__()
        check_counts("StyleEncoder", in_channels=(in_channels, 1), dim=(dim, 1), n_down=(n_down, 0),
                     style_dim=(style_dim, 1))
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, dim, kernel_size=7),
                                   nn.ReLU(inplace=True)]
        width = dim
        for index in range(n_down):
            wider = width * 2 if index < 2 else width
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(width, wider, kernel_size=4, stride=2), nn.ReLU(inplace=True)]
            width = wider
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, style_dim, kernel_size=1)]
        self.model = nn.Sequential(*layers)
        #: Smallest H and W: the stem's reflection padding needs 4 pixels, each downsampling's 2.
        self.min_size = max(4, 2**n_down)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).flatten(1)


class StyleDecoder(nn.Module):
    """Content code ``(N, dim, h, w)`` and style code ``(N, style_dim)`` -> image ``(N, out_channels, h·2**n_up, w·2**n_up)``.

    :param n_res: AdaIN residual blocks at the content's width (at least one: they are where the style acts).
    :param mlp_dim, n_mlp: width and number of linear layers of the MLP that computes every AdaIN's
        parameters from the style code.
    :param up_norm: the normalisation of the upsampling layers (:func:`translate.nets.layers.norm_layer`
        kinds; ``"layer"`` as the reference).
    :param residual: output a change to the encoded image (see the module docstring).
    """

    def __init__(self, out_channels: int = 3, dim: int = 256, n_up: int = 2, n_res: int = 4, style_dim: int = 8,
                 mlp_dim: int = 256, n_mlp: int = 3, up_norm: str = "layer", residual: bool = False) -> None:
        super().__init__()
        check_counts("StyleDecoder", out_channels=(out_channels, 1), n_up=(n_up, 0), n_res=(n_res, 1),
                     style_dim=(style_dim, 1))
        check_counts("StyleDecoder", dim=(dim, 2**n_up))  # halved at each upsampling
        self.blocks = nn.ModuleList(AdaINResnetBlock(dim) for _ in range(n_res))
        self.block_parameters = 4 * dim
        self.mlp = style_mlp(style_dim, mlp_dim, n_mlp, n_res * self.block_parameters)
        self.head = nn.Sequential(*upsampling_head(dim, n_up, out_channels, up_norm, residual))
        #: Output H and W are the content code's times this.
        self.size_multiple = 2**n_up

    def forward(self, content: Tensor, style: Tensor) -> Tensor:
        parameters = self.mlp(style)
        x = content
        width = self.block_parameters
        for index, block in enumerate(self.blocks):
            x = block(x, parameters[:, index * width:(index + 1) * width])
        return self.head(x)


class StyledTranslator(nn.Module):
    """A content encoder and a decoder: ``forward(images, style)`` is the translation with that style code.

    With ``residual`` the output is the input changed by the decoder (a global residual path).
    """

    def __init__(self, content: Encoder, decoder: StyleDecoder, residual: bool) -> None:
        super().__init__()
        self.content = content.private  # the layers themselves: an Encoder applies a shared module it does not own
        self.decoder = decoder
        self.residual = residual

    def forward(self, images: Tensor, style: Tensor) -> Tensor:
        decoded = self.decoder(self.content(images), style)
        return residual_output(images, decoded) if self.residual else decoded


class StyledPadCrop(nn.Module):
    """:class:`~translate.nets.layers.PadCrop` for a network that also takes a style code per image.

    ``forward(x, style)``: ``x`` padded (reflect) to ``multiple`` and to at least ``min_size``, passed
    through ``net`` with ``style`` ``(N, style_dim)``, the output cropped back to ``x``'s size.
    ``style_dim`` tells export to give the graph a second input, ``style``.
    """

    def __init__(self, net: nn.Module, multiple: int, min_size: int, style_dim: int) -> None:
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.min_size = min_size
        self.style_dim = style_dim

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        padded, size = pad_to_multiple(x, multiple=self.multiple, min_size=self.min_size)
        return crop_to(self.net(padded, style), size=size)


__all__ = ["AdaINResnetBlock", "StyleDecoder", "StyleEncoder", "StyledPadCrop", "StyledTranslator",
           "adaptive_instance_norm", "style_mlp"]
