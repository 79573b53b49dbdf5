"""PatchGAN critic (junyanz ``NLayerDiscriminator`` layout)."""

from __future__ import annotations

from torch import Tensor, nn

from translate.nets.layers import conv_bias, norm_layer
from translate.objective import CriticOutput


class PatchDiscriminator(nn.Module):
    """Scores overlapping patches: a ``(N, 1, h, w)`` map of logits.

    4x4 convs with padding 1: a stride-2 conv to ``ndf`` (no norm), ``n_layers - 1``
    stride-2 convs doubling the width (capped at ``8 ndf``) with norm, one stride-1 conv
    with norm, then a stride-1 conv to one channel; LeakyReLU(0.2) between them. With
    ``n_layers = 3`` this is the 70x70 PatchGAN: ``h = H / 8 - 2`` (256 -> 30, 128 -> 14).

    Inputs smaller than :attr:`min_size` (``3 * 2 ** n_layers``, 24 px for
    ``n_layers = 3``) leave no patch to score and raise ``ValueError``. The output carries
    the ``n_layers + 1`` activations before the last conv as ``features`` (for feature matching).

    :param in_channels: 3 for an unconditional critic, 6 for pix2pix's ``cat(A, B)``.
    :param norm: ``"batch"`` (pix2pix), ``"instance"`` (CycleGAN) or ``"none"``.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        self.min_size = 3 * 2**n_layers
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = ndf
        for n in range(1, n_layers + 1):
            next_width = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            layers += [
                nn.Conv2d(width, next_width, kernel_size=4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, next_width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = next_width
        layers.append(nn.Conv2d(width, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> CriticOutput:
        height, width = x.shape[-2:]
        if min(height, width) < self.min_size:
            raise ValueError(
                f"PatchDiscriminator needs inputs of at least {self.min_size}x{self.min_size} px, "
                f"got {height}x{width}"
            )
        features = []
        for layer in self.model:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                features.append(x)
        return CriticOutput(score=x, features=features)
