"""Relativistic average hinge GAN (``--loss rahinge``).

Jolicoeur-Martineau (2018), "The relativistic discriminator: a key element missing from
standard GAN". The critic is a PatchGAN (``critic = "patch"``); relative scores compare
each map with the *mean* score of the other kind, "mean" over batch and patch grid::

    D̃(x)    = D(x)    − mean D(G(z))       (relative_score(real, fake))
    D̃(G(z)) = D(G(z)) − mean D(x)          (relative_score(fake, real))

and the hinges are averaged over batch and patch grid::

    L_D = ½ · [ mean relu(1 − D̃(x)) + mean relu(1 + D̃(G(z))) ]
    L_G = ½ · [ mean relu(1 − D̃(G(z))) + mean relu(1 + D̃(x)) ]

The generator loss is symmetric to the critic's (real and generated swapped), as in the
author's code, unlike ``hinge``'s ``−mean D(G(z))``; both are halved.

``generator_needs_real = True``: every model calls ``generator_loss(fake, real)`` with
``real`` the critic's output on the batch's real images, computed in the generator step
without a graph; no statistic is cached between steps (see ``ragan``). Cost: one more
critic pass on real images per generator step. No options, no state.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective, relative_score


class RaHinge(Objective):
    """Relativistic average hinge loss (Jolicoeur-Martineau 2018)."""

    name = "rahinge"
    critic = "patch"
    generator_needs_real = True

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return 0.5 * (F.relu(1.0 - relative_score(real, fake)).mean() + F.relu(1.0 + relative_score(fake, real)).mean())

    def generator_loss(self, fake: CriticOutput, real: CriticOutput) -> Tensor:
        return 0.5 * (F.relu(1.0 - relative_score(fake, real)).mean() + F.relu(1.0 + relative_score(real, fake)).mean())


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [RaHinge]
