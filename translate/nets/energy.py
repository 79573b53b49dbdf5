"""Energy critic: a fully convolutional autoencoder whose score is a reconstruction energy.

Used by objectives that declare ``critic = "energy"`` (BEGAN, EBGAN). The critic
reconstructs its whole input (for a conditional model that is ``cat(A, B)``) and
reports, per patch, how badly it did::

    x ──pad──> encoder ──> code ──> decoder ──crop──> x̃
    energy = avg_pool_patch( mean_over_channels( d(x̃, x) ) )     d = |·| ("l1") or (·)² ("l2")

Layout (``ndf = 64``, ``n_down = 3``):

* encoder: ``n_down`` × [4×4 conv, stride 2, pad 1, LeakyReLU(0.2)], channels
  ``ndf, 2·ndf, 4·ndf`` (capped at ``8·ndf``); no normalisation, so every sample is
  processed on its own (no BatchNorm coupling the batch, unlike the paper-era FC bottlenecks);
* bottleneck: 1×1 conv to ``code_channels`` — the code ``(N, code_channels, H/2ⁿ, W/2ⁿ)``,
  linear (no activation), which EBGAN's pulling-away term reads;
* decoder: 3×3 conv + ELU, then ``n_down`` × [nearest ×2 upsample, 3×3 conv, ELU], and a
  last 3×3 conv to ``in_channels`` with **no output activation**: the reconstruction is
  linear (as in the BEGAN paper's decoder), so the energy gradient never vanishes in a
  saturated tanh; images live in [-1, 1] and the decoder learns that range.

Any input size works: the input is reflect-padded to a multiple of ``2**n_down``
(:func:`translate.nets.layers.pad_to_multiple`), the reconstruction cropped back, and
the error averaged over ``patch × patch`` windows (the last row/column of windows may
be partial; each window averages only the pixels it covers). The energy map has shape
``(N, 1, ceil(H/patch), ceil(W/patch))``.

Gradients flow from the energy to the critic's parameters *and* to the input through
both the reconstruction and the target (the target is not detached): BEGAN's and
EBGAN's generator losses go through ``d(D(G(z)), G(z))`` as in the papers.

Weights are initialised N(0, 0.02) with zero bias (translate's default).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from translate.nets.layers import crop_to, init_weights, pad_to_multiple
from translate.objective import CriticOutput
from translate.options import check_counts

DISTANCES = ("l1", "l2")


class EnergyCritic(nn.Module):
    """Fully convolutional autoencoder critic returning a per-patch energy map.

    :param in_channels: channels of the input it reconstructs (6 for pix2pix's ``cat(A, B)``).
    :param ndf: channels of the first encoder layer; doubled per downsampling, capped at ``8·ndf``.
    :param n_down: number of stride-2 downsamplings; inputs are padded to a multiple of ``2**n_down``.
    :param code_channels: channels of the bottleneck code.
    :param distance: per-pixel error, ``"l1"`` (BEGAN) or ``"l2"`` (squared error, EBGAN).
    :param patch: side of the square windows the error is averaged over.
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_down: int = 3,
        code_channels: int = 64,
        distance: str = "l1",
        patch: int = 8,
    ) -> None:
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"energy critic distance must be one of {DISTANCES}, got {distance!r}")
        check_counts("energy critic", in_channels=(in_channels, 1), ndf=(ndf, 1), n_down=(n_down, 1),
                     code_channels=(code_channels, 1), patch=(patch, 1))
        self.in_channels = in_channels
        self.n_down = n_down
        self.distance = distance
        self.patch = patch

        widths = [min(ndf * 2**i, ndf * 8) for i in range(n_down)]
        enc: list[nn.Module] = []
        prev = in_channels
        for width in widths:
            enc += [nn.Conv2d(prev, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            prev = width
        self.encoder = nn.Sequential(*enc)
        self.bottleneck = nn.Conv2d(prev, code_channels, 1)

        dec: list[nn.Module] = [nn.Conv2d(code_channels, widths[-1], 3, padding=1), nn.ELU()]
        prev = widths[-1]
        for width in reversed([ndf] + widths[:-1]):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(prev, width, 3, padding=1), nn.ELU()]
            prev = width
        dec.append(nn.Conv2d(prev, in_channels, 3, padding=1))
        self.decoder = nn.Sequential(*dec)

        init_weights(self, gain=0.02)

    def reconstruct(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Reconstruction of ``x`` (same shape) and the bottleneck code."""
        padded, size = pad_to_multiple(x, 2**self.n_down, mode="reflect")
        code = self.bottleneck(self.encoder(padded))
        return crop_to(self.decoder(code), size), code

    def forward(self, x: Tensor) -> CriticOutput:
        recon, code = self.reconstruct(x)
        diff = recon - x
        error = diff.abs() if self.distance == "l1" else diff.square()
        error = error.mean(dim=1, keepdim=True)
        energy = F.avg_pool2d(error, self.patch, stride=self.patch, ceil_mode=True)
        return CriticOutput(score=energy, code=code)

    def energy_shape(self, height: int, width: int) -> tuple[int, int]:
        """Size ``(h, w)`` of the energy map for an input of ``height × width``."""
        return math.ceil(height / self.patch), math.ceil(width / self.patch)


__all__ = ["DISTANCES", "EnergyCritic"]
