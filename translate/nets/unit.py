"""UNIT's shared-latent networks (Liu et al. 2017): per-domain encoders and decoders with weight sharing.

Each domain has an :class:`Encoder` (image -> latent mean μ) and a :class:`Decoder`
(latent -> image). As in the paper, the last high-level encoder block(s) are **one
module used by both encoders** and the first decoder block(s) one module used by both
decoders; that is what ties the two domains to one latent space. The layout
(``dim = 64``, ``n_down = 2``)::

    Encoder: reflect pad 3, 7x7 conv -> dim, norm, ReLU
             n_down x [reflect pad 1, 4x4 conv stride 2 (channels x2), norm, ReLU]
             n_res private residual blocks at dim * 2**n_down       (3x3 convs, reflect padding)
             shared block(s)                                        (same module in both encoders)
    Decoder: shared block(s)                                        (same module in both decoders)
             n_res private residual blocks
             n_up x [nearest x2 upsample, reflect pad 2, 5x5 conv (channels /2), norm, ReLU]
             reflect pad 3, 7x7 conv -> out_channels, tanh

With ``residual`` a decoder's output is a *change* to an image rather than an image: no
tanh, and the last conv starts at zero; the model adds it to the image that was encoded
(:func:`translate.nets.layers.residual_output`), so untrained translations are the identity.

Upsampling is nearest-neighbour x2 followed by a 5x5 conv, as UNIT's current reference
(it avoids the checkerboard artefacts of transposed convs); unlike that reference, the
upsampling layers use the same ``norm`` as the rest of the network (instance norm by
default) instead of a layer norm. Residual blocks are
:class:`translate.nets.resnet.ResnetBlock` (``x + [conv, norm, ReLU, conv, norm](x)``).

**Sharing without double registration.** An encoder *applies* its ``shared`` module but
does not register it as a child: the owner (:class:`translate.models.unit.UNIT`)
registers each shared module once. A module registered under two names would appear
twice in ``state_dict()``; safetensors keeps only one copy of aliased tensors, and
loading that back reports the other name as missing. So ``Encoder.parameters()`` holds
the private layers only, and a lone encoder needs its shared module moved along with it.

Both nets are fully convolutional; H and W must be multiples of ``2**n_down`` for the
output to match the input size (pad with :func:`translate.nets.layers.pad_to_multiple`
and crop back with :func:`~translate.nets.layers.crop_to`).
"""

from __future__ import annotations

from torch import Tensor, nn

from translate.nets.layers import conv_bias, norm_layer, starts_at_zero
from translate.nets.resnet import ResnetBlock
from translate.options import check_counts


def residual_blocks(channels: int, count: int, norm: str = "instance") -> nn.Sequential:
    """``count`` residual blocks at ``channels`` (an empty Sequential, i.e. identity, for 0)."""
    return nn.Sequential(*[ResnetBlock(channels, norm=norm, dropout=False, padding="reflect") for _ in range(count)])


def upsampling_head(dim: int, n_up: int, out_channels: int = 3, norm: str = "instance",
                    residual: bool = False) -> list[nn.Module]:
    """The end of a decoder, from a code of ``dim`` channels to an image (UNIT's and MUNIT's).

    ``n_up`` x [nearest x2 upsample, reflect pad 2, 5x5 conv (channels /2), ``norm``, ReLU], then
    reflect pad 3, 7x7 conv -> ``out_channels`` and tanh; with ``residual`` no tanh and the last conv
    starts at zero (the output is a change to an image, see the module docstring). ``norm`` is any
    kind of :func:`~translate.nets.layers.norm_layer` (MUNIT's decoder: ``"layer"``).
    """
    bias = conv_bias(norm)
    layers: list[nn.Module] = []
    width = dim
    for _ in range(n_up):
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(2),
            nn.Conv2d(width, width // 2, kernel_size=5, bias=bias),
            norm_layer(norm, width // 2),
            nn.ReLU(inplace=True),
        ]
        width //= 2
    head = nn.Conv2d(width, out_channels, kernel_size=7)
    layers += [nn.ReflectionPad2d(3), starts_at_zero(head) if residual else head]
    if not residual:
        layers.append(nn.Tanh())
    return layers


class Encoder(nn.Module):
    """Image ``(N, in_channels, H, W)`` -> latent mean μ ``(N, dim·2**n_down, H/2**n_down, W/2**n_down)``.

    :param dim: channels of the first conv; doubled by each downsampling.
    :param n_down: stride-2 downsamplings (inputs must be multiples of ``2**n_down``, and at
        least :attr:`min_size`).
    :param n_res: private residual blocks at the latent width.
    :param shared: the module applied last (shared with the other domain's encoder); not
        registered here, see the module docstring. ``None`` means no shared block.
    :param norm: ``"instance"`` (default), ``"batch"`` or ``"none"``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        dim: int = 64,
        n_down: int = 2,
        n_res: int = 3,
        shared: nn.Module | None = None,
        norm: str = "instance",
    ) -> None:
        super().__init__()
        check_counts("Encoder", in_channels=(in_channels, 1), dim=(dim, 1), n_down=(n_down, 0), n_res=(n_res, 0))
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, dim, kernel_size=7, bias=bias),
            norm_layer(norm, dim),
            nn.ReLU(inplace=True),
        ]
        width = dim
        for _ in range(n_down):
            layers += [
                nn.ReflectionPad2d(1),
                nn.Conv2d(width, width * 2, kernel_size=4, stride=2, bias=bias),
                norm_layer(norm, width * 2),
                nn.ReLU(inplace=True),
            ]
            width *= 2
        layers += list(residual_blocks(width, n_res, norm))
        self.private = nn.Sequential(*layers)
        object.__setattr__(self, "shared", nn.Identity() if shared is None else shared)  # applied, not owned
        #: Channels of the latent code.
        self.out_channels = width
        #: H and W must be multiples of this.
        self.size_multiple = 2**n_down
        #: Smallest H and W: the stem's reflection padding needs 4 pixels, the residual blocks' a 2×2 code.
        self.min_size = max(4, 2 * self.size_multiple)

    def forward(self, x: Tensor) -> Tensor:
        return self.shared(self.private(x))


class Decoder(nn.Module):
    """Latent ``(N, dim, h, w)`` -> image ``(N, out_channels, h·2**n_up, w·2**n_up)`` in [-1, 1].

    :param dim: channels of the latent code (the encoders' ``out_channels``); halved by
        each upsampling.
    :param n_up: nearest x2 upsamplings, each followed by a 5x5 conv, norm and ReLU.
    :param n_res: private residual blocks at the latent width, after the shared block(s).
    :param shared: the module applied first (shared with the other domain's decoder); not
        registered here, see the module docstring. ``None`` means no shared block.
    :param norm: ``"instance"`` (default), ``"batch"`` or ``"none"``.
    :param residual: output a change to the encoded image instead of an image: no tanh,
        and the last conv starts at zero (see the module docstring).
    """

    def __init__(
        self,
        out_channels: int = 3,
        dim: int = 256,
        n_up: int = 2,
        n_res: int = 3,
        shared: nn.Module | None = None,
        norm: str = "instance",
        residual: bool = False,
    ) -> None:
        super().__init__()
        check_counts("Decoder", out_channels=(out_channels, 1), n_up=(n_up, 0), n_res=(n_res, 0))
        check_counts("Decoder", dim=(dim, 2**n_up))  # halved at each upsampling
        layers: list[nn.Module] = list(residual_blocks(dim, n_res, norm))
        layers += upsampling_head(dim, n_up, out_channels, norm, residual)
        self.private = nn.Sequential(*layers)
        object.__setattr__(self, "shared", nn.Identity() if shared is None else shared)  # applied, not owned
        #: Output H and W are the latent's times this.
        self.size_multiple = 2**n_up

    def forward(self, z: Tensor) -> Tensor:
        return self.private(self.shared(z))


__all__ = ["Decoder", "Encoder", "residual_blocks", "upsampling_head"]
