"""Relativistic average least-squares GAN (``--loss ralsgan``).

Jolicoeur-Martineau (2018), "The relativistic discriminator: a key element missing from
standard GAN". The critic is a PatchGAN (``critic = "patch"``) read as an unbounded score;
relative scores compare each map with the *mean* score of the other kind, "mean" over
batch and patch grid::

    D̃(x)    = D(x)    − mean D(G(z))       (relative_score(real, fake))
    D̃(G(z)) = D(G(z)) − mean D(x)          (relative_score(fake, real))

and the squared errors are averaged over batch and patch grid::

    L_D = ½ · [ mean (D̃(x) − 1)² + mean (D̃(G(z)) + 1)² ]
    L_G = ½ · [ mean (D̃(G(z)) − 1)² + mean (D̃(x) + 1)² ]

Targets +1 and −1 and the ½ on both losses follow the author's code: the generator's
term has the scale of ``lsgan``'s ``mean (D(G(z)) − 1)²``.

``generator_needs_real = True``: every model calls ``generator_loss(fake, real)`` with
``real`` the critic's output on the batch's real images, computed in the generator step
without a graph; no statistic is cached between steps (see ``ragan`` for what that means
for CycleGAN). Cost: one more critic pass on real images per generator step. No options,
no state.
"""

from __future__ import annotations

from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective, relative_score


class RaLSGAN(Objective):
    """Relativistic average LSGAN (Jolicoeur-Martineau 2018)."""

    name = "ralsgan"
    critic = "patch"
    generator_needs_real = True

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return 0.5 * ((relative_score(real, fake) - 1.0).square().mean()
                      + (relative_score(fake, real) + 1.0).square().mean())

    def generator_loss(self, fake: CriticOutput, real: CriticOutput) -> Tensor:
        return 0.5 * ((relative_score(fake, real) - 1.0).square().mean()
                      + (relative_score(real, fake) + 1.0).square().mean())


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [RaLSGAN]
