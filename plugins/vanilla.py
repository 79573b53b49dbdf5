"""Vanilla (non-saturating) GAN objective (``--loss vanilla``).

The critic is a PatchGAN (``critic = "patch"``) whose score map ``(N, 1, h, w)`` holds
*logits*; the losses use binary cross-entropy with logits (numerically stable, no
sigmoid in the network). With ``BCE(s, t) = mean[ −t·log σ(s) − (1−t)·log(1 − σ(s)) ]``
over batch and patch grid::

    L_D = ½ · [ BCE(D(x), 1) + BCE(D(G(z)), 0) ]
    L_G = BCE(D(G(z)), 1)                          (non-saturating: maximise log D(G(z)))

The ½ on the critic follows the reference pix2pix/CycleGAN code; the generator term is
not halved (its weight against pix2pix's λ_L1 = 100 matches the reference). No options,
no state.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective


class Vanilla(Objective):
    """Original GAN loss with the non-saturating generator objective (Goodfellow et al. 2014)."""

    name = "vanilla"
    critic = "patch"

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        real_term = F.binary_cross_entropy_with_logits(real.score, real.score.new_ones(real.score.shape))
        fake_term = F.binary_cross_entropy_with_logits(fake.score, fake.score.new_zeros(fake.score.shape))
        return 0.5 * (real_term + fake_term)

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return F.binary_cross_entropy_with_logits(fake.score, fake.score.new_ones(fake.score.shape))


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [Vanilla]
