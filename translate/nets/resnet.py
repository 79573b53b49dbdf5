"""CycleGAN's ResNet generator, laid out so junyanz ``latest_net_G.pth`` files load as-is."""

from __future__ import annotations

from torch import Tensor, nn

from translate.nets.layers import conv_bias, norm_layer, residual_output, starts_at_zero, upsampling

#: Padding kinds of the residual blocks' 3x3 convs.
BLOCK_PADDINGS = ("reflect", "zero")


def _block_pad(padding: str) -> nn.Module:
    """A 1-pixel padding layer; a module (not conv padding) so key indices never shift."""
    if padding == "reflect":
        return nn.ReflectionPad2d(1)
    if padding == "zero":
        return nn.ZeroPad2d(1)
    raise ValueError(f"unknown padding {padding!r}; valid kinds: {', '.join(BLOCK_PADDINGS)}")


class ResnetBlock(nn.Module):
    """``x + conv_block(x)`` with two 3x3 convs at constant width.

    ``conv_block`` is ``[pad, conv, norm, ReLU, (Dropout 0.5), pad, conv, norm]``, so the
    convs are ``conv_block.1`` and ``conv_block.5`` (``conv_block.6`` with dropout).
    """

    def __init__(self, channels: int, norm: str, dropout: bool, padding: str) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers = [
            _block_pad(padding),
            nn.Conv2d(channels, channels, kernel_size=3, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(inplace=True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            _block_pad(padding),
            nn.Conv2d(channels, channels, kernel_size=3, bias=bias),
            norm_layer(norm, channels),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """Encoder, ``n_blocks`` residual blocks, decoder; output in [-1, 1] via tanh.

    Stem (reflect pad 3, 7x7 conv), two stride-2 3x3 downsamplings, residual blocks at
    ``4 * ngf`` channels, two ×2 upsamplings, head (reflect pad 3, 7x7 conv, tanh).
    Everything lives in one ``nn.Sequential`` named ``model`` with the junyanz indices
    (9 blocks: convs at ``model.1/4/7``, blocks ``model.10``-``model.18``, up
    ``model.19/22``, head ``model.26``). With the defaults (transposed convs, no global
    residual path) this is the reference's layout, which its ``latest_net_G.pth`` files
    load into; the other ``upsample`` kinds keep the indices (``model.19.conv.weight``).

    Output size equals input size when H and W are multiples of :attr:`size_multiple` and
    at least :attr:`min_size`; wrap in :class:`~translate.nets.layers.PadCrop` for other sizes.

    :param norm: ``"instance"`` (CycleGAN), ``"batch"`` or ``"none"``; convs carry a bias
        unless followed by BatchNorm.
    :param dropout: dropout 0.5 between the two convs of each residual block.
    :param padding: ``"reflect"`` or ``"zero"`` padding inside the residual blocks (the
        stem and head always reflect, as junyanz).
    :param upsample: ``"transpose"`` (the reference's 3x3 stride-2 transposed convs),
        ``"nearest"`` or ``"bilinear"`` (resize, then a 3x3 conv; no checkerboard
        pattern); see :func:`~translate.nets.layers.upsampling`.
    :param residual: a global residual path: the output is the input changed by the head
        (:func:`~translate.nets.layers.residual_output`), and the head conv starts at
        zero, so the untrained generator is the identity mapping and training learns
        only the change. Needs ``in_channels == out_channels``.
    """

    size_multiple = 4
    #: Smallest H and W: the residual blocks' reflection padding needs a body of at least 2×2.
    min_size = 8

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: bool = False,
        padding: str = "reflect",
        upsample: str = "transpose",
        residual: bool = False,
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError(f"a global residual path needs as many input as output channels, "
                             f"got {in_channels} and {out_channels}")
        self.residual = residual
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, kernel_size=7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(inplace=True),
        ]
        for factor in (1, 2):
            layers += [
                nn.Conv2d(ngf * factor, ngf * factor * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                norm_layer(norm, ngf * factor * 2),
                nn.ReLU(inplace=True),
            ]
        layers += [ResnetBlock(ngf * 4, norm=norm, dropout=dropout, padding=padding) for _ in range(n_blocks)]
        for factor in (4, 2):
            layers += [
                upsampling(upsample, ngf * factor, ngf * factor // 2, kernel_size=3, bias=bias),
                norm_layer(norm, ngf * factor // 2),
                nn.ReLU(inplace=True),
            ]
        head = nn.Conv2d(ngf, out_channels, kernel_size=7)
        layers += [nn.ReflectionPad2d(3), starts_at_zero(head) if residual else head]
        if not residual:
            layers.append(nn.Tanh())  # the residual path applies its own tanh (no parameters, so no key moves)
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if self.residual:
            return residual_output(x, self.model(x))
        return self.model(x)
