"""Non-saturating GAN with the R1 gradient penalty on real images (``--loss r1``).

Mescheder, Geiger & Nowozin (2018), "Which training methods for GANs do actually
converge?"; the default of StyleGAN and StarGAN v2. The critic is a PatchGAN whose score
map ``(N, 1, h, w)`` holds logits (``critic = "patch"``). With ``BCE(s, t)`` the binary
cross-entropy with logits averaged over batch and patch grid, as in ``vanilla``::

    L_D = BCE(D(x), 1) + BCE(D(G(z)), 0)  +  R1
    L_G = BCE(D(G(z)), 1)                                 (non-saturating)

    R1  = γ/2 · mean_i ‖∇_x mean D(x)_i‖²                 (zero-centred, on real images)

``mean D(x)_i`` is the mean of sample i's score map of P logits, whose gradient with respect to
its real image is flattened and squared: the critic is scored as the BCE scores it, by the mean
of its map, and a one-logit critic gives the paper's ``‖∇D(x)‖²``. (The gradient of the map's
*sum*, P times this one, made the penalty P² times as large: with a 6×6 map at 64 px and the
instance-normed PatchGAN, whose input gradients are large at initialisation, γ = 0.03 on the sum
held the critic at chance and a residual CycleGAN at the identity for 480 steps, docs/learning.md.)
The gradient is
taken with ``create_graph=True`` so that the penalty trains the critic, and never reaches the
generator (the images are detached). Unlike ``vanilla`` the critic's BCE terms are not
halved, as in StarGAN v2 and Mescheder's code: γ weighs the penalty against them.

Option ``gamma`` γ ≥ 0 = 1.0 (StarGAN v2's λ_reg); ``gamma=0`` makes :meth:`R1.penalty`
return ``None`` (the plain non-saturating GAN). ``per_sample_critic =
True``: the penalty is per sample, so models build the critic without batch norm. One critic
step per generator step; no state. ``r2`` (:mod:`translate_plugins.r2`) takes the same
penalty on generated images.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticFn, CriticOutput, Objective, bce_with_logits
from translate.options import OptionError


def zero_centred_penalty(critic: CriticFn, images: Tensor, gamma: float) -> Tensor:
    """``γ/2 · mean_i ‖∇ mean critic(images)_i‖²``: the squared gradient norm of each sample's mean score.

    ``images`` are detached first; the result is differentiable with respect to the critic.
    """
    images = images.detach().requires_grad_(True)
    score = critic(images).score
    (grad,) = torch.autograd.grad(score.flatten(1).mean(1).sum(), images, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).square().sum(1).mean()


class R1(Objective):
    """Non-saturating GAN loss with the R1 penalty on real images (Mescheder et al. 2018)."""

    name = "r1"
    critic = "patch"
    per_sample_critic = True
    #: The images whose gradient is penalised: ``"real"`` (R1) or ``"fake"`` (R2).
    penalised: ClassVar[str] = "real"

    def __init__(self, gamma: float = 1.0) -> None:
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
            raise OptionError(f"objective {self.name!r} option 'gamma' must be a number >= 0, got {gamma!r}")
        self.gamma = float(gamma)

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return bce_with_logits(real.score, 1.0) + bce_with_logits(fake.score, 0.0)

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return bce_with_logits(fake.score, 1.0)

    def penalty(self, critic: CriticFn, real_input: Tensor, fake_input: Tensor) -> Tensor | None:
        if self.gamma == 0:
            return None
        return zero_centred_penalty(critic, real_input if self.penalised == "real" else fake_input, self.gamma)


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [R1]
