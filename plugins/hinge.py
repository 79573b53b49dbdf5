"""Hinge GAN objective (``--loss hinge``).

The critic is a PatchGAN (``critic = "patch"``); "mean" is over batch and patch grid::

    L_D = mean relu(1 − D(x)) + mean relu(1 + D(G(z)))
    L_G = − mean D(G(z))

The critic stops caring about a patch once it is beyond the margin (score ≥ 1 on real,
≤ −1 on generated); the generator simply pushes scores up. No options, no state.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective


class Hinge(Objective):
    """Hinge adversarial loss (Lim & Ye 2017; as in SAGAN / BigGAN)."""

    name = "hinge"
    critic = "patch"

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return F.relu(1.0 - real.score).mean() + F.relu(1.0 + fake.score).mean()

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return -fake.score.mean()


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [Hinge]
