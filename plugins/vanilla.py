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

from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective, bce_with_logits


class Vanilla(Objective):
    """Original GAN loss with the non-saturating generator objective (Goodfellow et al. 2014)."""

    name = "vanilla"
    critic = "patch"

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return 0.5 * (bce_with_logits(real.score, 1.0) + bce_with_logits(fake.score, 0.0))

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return bce_with_logits(fake.score, 1.0)


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [Vanilla]
