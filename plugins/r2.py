"""Non-saturating GAN with the R2 gradient penalty on generated images (``--loss r2``).

Mescheder, Geiger & Nowozin (2018), "Which training methods for GANs do actually converge?":
R2 is R1 (:mod:`translate_plugins.r1`) taken on generated instead of real images. The
losses are ``r1``'s, with BCE averaged over batch and patch grid::

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)  +  R2
    L_G = BCE(D(G(z)), 1)

    R2  = γ/2 · mean_i ‖∇_y mean D(y)_i‖²,   y = G(z) detached   (zero-centred, on generated images)

The gradient is taken with ``create_graph=True`` (the penalty trains the critic) with
respect to the detached generated images (it never reaches the generator). For CycleGAN
the generated images are those its critics see, i.e. drawn from the image pool.
Option ``gamma`` γ ≥ 0 = 1.0; ``gamma=0`` gives no penalty. ``per_sample_critic = True``
(no batch norm in the critic). One critic step per generator step; no state.
"""

from __future__ import annotations

from translate import hookimpl
from translate.objective import Objective
from translate_plugins.r1 import R1


class R2(R1):
    """Non-saturating GAN loss with the R2 penalty on generated images (Mescheder et al. 2018)."""

    name = "r2"
    penalised = "fake"


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [R2]
