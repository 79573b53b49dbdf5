"""Least-squares GAN objective (``--loss lsgan``): a worked example of the plugin contract.

A loss plugin is a module with one :class:`~translate.objective.Objective` subclass and a
``translate_objectives`` hook implementation returning it. The objective never sees a
model, only what the critic said about real and generated input: a
:class:`~translate.objective.CriticOutput` whose ``score`` is a PatchGAN map ``(N, 1, h, w)``
(``critic = "patch"``). "mean" below is over the batch and the patch grid.

With targets ``a`` (fake, option ``fake_target``), ``b`` (real, ``real_target``) and ``c``
(generator, ``generator_target``)::

    L_D = ½ · [ mean (D(x) − b)²  +  mean (D(G(z)) − a)² ]
    L_G =       mean (D(G(z)) − c)²                         (no ½)

Defaults ``a = 0, b = 1, c = 1``. The critic loss is halved as in the reference
CycleGAN/pix2pix code; the generator loss is *not*, so its scale matches the one their
L1 / cycle weights (100 / 10) were tuned against. Options are keyword arguments of
``__init__`` (``--loss-opt real_target=0.9``) kept as attributes of the same name.
The objective has no state, no penalty and nothing to update.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective
from translate.options import OptionError


class LSGAN(Objective):
    """Least-squares adversarial loss (Mao et al. 2017)."""

    name = "lsgan"
    critic = "patch"

    def __init__(self, real_target: float = 1.0, fake_target: float = 0.0, generator_target: float = 1.0) -> None:
        for option, value in (("real_target", real_target), ("fake_target", fake_target),
                              ("generator_target", generator_target)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise OptionError(f"objective 'lsgan' option {option!r} must be a finite number, got {value!r}")
        self.real_target = float(real_target)
        self.fake_target = float(fake_target)
        self.generator_target = float(generator_target)

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        real_term = F.mse_loss(real.score, real.score.new_full(real.score.shape, self.real_target))
        fake_term = F.mse_loss(fake.score, fake.score.new_full(fake.score.shape, self.fake_target))
        return 0.5 * (real_term + fake_term)

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return F.mse_loss(fake.score, fake.score.new_full(fake.score.shape, self.generator_target))


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [LSGAN]
