"""Relativistic average GAN (``--loss ragan``): a generator loss that needs the critic's scores on real images.

Jolicoeur-Martineau (2018), "The relativistic discriminator: a key element missing from
standard GAN"; the adversarial loss of ESRGAN. The critic is a PatchGAN whose score map
``(N, 1, h, w)`` holds logits (``critic = "patch"``). Instead of "is this image real?" it
answers "does this image look more real than the other kind, on average?"::

    D̃(x)    = D(x)    − mean D(G(z))       (relative_score(real, fake))
    D̃(G(z)) = D(G(z)) − mean D(x)          (relative_score(fake, real))

where "mean" is over batch and patch grid (one number per batch) and each map keeps its
shape. With ``BCE(s, t)`` the binary cross-entropy with logits, as in ``vanilla``, averaged
over batch and patch grid::

    L_D = ½ · [ BCE(D̃(x), 1) + BCE(D̃(G(z)), 0) ]
    L_G = ½ · [ BCE(D̃(G(z)), 1) + BCE(D̃(x), 0) ]

Both losses are halved, as in the author's code and ESRGAN: the generator's term then has
the scale of ``vanilla``'s ``BCE(D(G(z)), 1)``, which the models' L1/cycle weights were
tuned against.

The generator loss needs ``D(x)``: ``generator_needs_real = True`` makes every model call
``generator_loss(fake, real)`` with ``real`` the critic's output on the batch's real images,
computed in the generator step without a graph (the critic does not learn there; the
generator's gradient flows through ``D(G(z))`` in both terms). For CycleGAN, whose generator
step comes first, these are the scores of the critic before this iteration's critic step —
exact, with nothing cached between steps. Cost: one more critic pass on real images per
generator step. No options, no state.
"""

from __future__ import annotations

from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective, bce_with_logits, relative_score


class RaGAN(Objective):
    """Relativistic average standard GAN (RaSGAN, Jolicoeur-Martineau 2018)."""

    name = "ragan"
    critic = "patch"
    generator_needs_real = True

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return 0.5 * (bce_with_logits(relative_score(real, fake), 1.0)
                      + bce_with_logits(relative_score(fake, real), 0.0))

    def generator_loss(self, fake: CriticOutput, real: CriticOutput) -> Tensor:
        return 0.5 * (bce_with_logits(relative_score(fake, real), 1.0)
                      + bce_with_logits(relative_score(real, fake), 0.0))


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [RaGAN]
