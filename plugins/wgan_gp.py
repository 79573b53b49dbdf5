"""Wasserstein GAN with gradient penalty (``--loss wgan-gp``): the contract's ``penalty`` hook.

The critic is a PatchGAN (``critic = "patch"``) read as an unbounded score; "mean" is
over batch and patch grid::

    L_D = mean D(G(z)) − mean D(x)  +  λ · GP
    L_G = − mean D(G(z))

    GP  = mean_i ( ‖∇_x̂ Σ D(x̂)_i‖₂ / √P − 1 )²,   x̂_i = ε_i·x_i + (1 − ε_i)·G(z)_i,   ε_i ~ U(0, 1)

The penalty needs the critic itself, so it lives in :meth:`WGANGP.penalty`, which the
model calls with a function mapping images to a ``CriticOutput`` (any condition, such as
pix2pix's input image or a StarGAN label, is already bound: only images are
interpolated). One ε per sample; the gradient of the *sum* of the score map w.r.t. x̂ is
taken with ``create_graph=True`` (so the penalty trains the critic), flattened per
sample, and its L2 norm divided by √P (P scores in a sample's map) compared with 1:
``per_patch = True`` (option), so the target 1 means what it means for a critic with one
output at any image size. ``per_patch=False`` compares the sum's norm itself with 1, as the
StarGAN reference does with its small map (P = 1 at 64 px, 4 at 128 px); on an instance-normed
PatchGAN (P = 36 at 64 px) that penalty started in the thousands, held the critics at chance and
left a residual CycleGAN at the identity even after 2,400 iterations (per patch: +4.62 dB;
docs/learning.md). ``--preset reference`` sets ``per_patch=False`` (:attr:`reference_options`).
``λ = gp_weight = 10``; with ``gp_weight=0`` ``penalty`` returns ``None`` (plain
weight-unconstrained WGAN).

``per_sample_critic = True`` tells models to build a critic without BatchNorm: the
penalty is defined per sample, and batch statistics would couple them.

Schedule: ``critic_steps = 5`` critic steps per generator step (option), as the paper's
n_critic and the StarGAN reference; every model honours it. ``critic_steps=1`` gives
the 1:1 schedule of pix2pix/CycleGAN-style training. No state.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticFn, CriticOutput, Objective
from translate.options import OptionError, check_counts


class WGANGP(Objective):
    """WGAN critic/generator losses with the gradient penalty (Gulrajani et al. 2017)."""

    name = "wgan-gp"
    critic = "patch"
    per_sample_critic = True
    reference_options = {"per_patch": False}

    def __init__(self, gp_weight: float = 10.0, critic_steps: int = 5, per_patch: bool = True) -> None:
        if (
            isinstance(gp_weight, bool)
            or not isinstance(gp_weight, (int, float))
            or not math.isfinite(gp_weight)
            or gp_weight < 0
        ):
            raise OptionError(f"objective 'wgan-gp' option 'gp_weight' must be a number >= 0, got {gp_weight!r}")
        check_counts("objective 'wgan-gp' option", critic_steps=(critic_steps, 1))
        if not isinstance(per_patch, bool):
            raise OptionError(f"objective 'wgan-gp' option 'per_patch' must be true or false, got {per_patch!r}")
        self.gp_weight = float(gp_weight)
        self.critic_steps = critic_steps
        self.per_patch = per_patch

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return fake.score.mean() - real.score.mean()

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return -fake.score.mean()

    def penalty(self, critic: CriticFn, real_input: Tensor, fake_input: Tensor) -> Tensor | None:
        if self.gp_weight == 0:
            return None
        real_input = real_input.detach()
        fake_input = fake_input.detach()
        eps_shape = (real_input.shape[0],) + (1,) * (real_input.dim() - 1)
        eps = torch.rand(eps_shape, device=real_input.device, dtype=real_input.dtype)
        mixed = (eps * real_input + (1.0 - eps) * fake_input).requires_grad_(True)
        score = critic(mixed).score
        (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)
        if self.per_patch:
            norm = norm / score[0].numel() ** 0.5
        return self.gp_weight * (norm - 1.0).square().mean()


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [WGANGP]
