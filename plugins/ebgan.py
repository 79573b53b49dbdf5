"""Energy-Based GAN (``--loss ebgan``): an energy critic and a term on its bottleneck code.

``critic = "energy"`` makes the model build an autoencoder critic
(:class:`translate.nets.energy.EnergyCritic`, per-pixel **squared** error:
``critic_options = {"distance": "l2"}``). Its :class:`~translate.objective.CriticOutput` carries the
energy map ``E(v)`` ``(N, 1, h, w)`` — per-patch mean of ``(D(v) − v)²`` — and the
bottleneck ``code`` ``(N, C, h', w')``. With margin ``m``, "mean" over samples and patches::

    L_D = mean [ E(x) + relu(m − E(G(z))) ]              (hinge per patch)
    L_G = mean E(G(z)) + λ_pt · PT(code of G(z))

    PT  = 1 / (N (N − 1)) · Σ_{i ≠ j} ( s_iᵀ s_j / (‖s_i‖ ‖s_j‖) )²     s_i = flattened code of sample i

The pulling-away term PT pushes the codes of generated samples towards orthogonality
(against mode collapse); it is 0 for a batch of one sample. As in the paper the
generator's reconstruction target is not detached. Options: ``margin`` m > 0 = 1.0 (for
per-pixel squared error on images in [−1, 1]), ``pt_weight`` λ_pt ≥ 0 = 0.1. No state.
"""

from __future__ import annotations

import math
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective
from translate.options import OptionError


def _number(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(f"objective 'ebgan' option {option!r} must be a finite number, got {value!r}")
    return float(value)


def pulling_away(code: Tensor) -> Tensor:
    """Pulling-away term: mean squared cosine similarity over distinct pairs of samples.

    :param code: ``(N, ...)``; each sample is flattened. Returns a 0-dim tensor, 0 when ``N < 2``.
    """
    n = code.shape[0]
    if n < 2:
        return code.new_zeros(())
    unit = F.normalize(code.flatten(1), dim=1)
    cos2 = (unit @ unit.t()).square()
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


class EBGAN(Objective):
    """EBGAN loss with the pulling-away term (Zhao, Mathieu & LeCun 2017)."""

    name = "ebgan"
    critic = "energy"
    #: Per-pixel error of the energy critic the model builds for this objective.
    critic_options = {"distance": "l2"}

    def __init__(self, margin: float = 1.0, pt_weight: float = 0.1) -> None:
        margin = _number(margin, "margin")
        pt_weight = _number(pt_weight, "pt_weight")
        if margin <= 0.0:
            raise OptionError(f"objective 'ebgan' option 'margin' must be > 0, got {margin!r}")
        if pt_weight < 0.0:
            raise OptionError(f"objective 'ebgan' option 'pt_weight' must be >= 0, got {pt_weight!r}")
        self.margin = margin
        self.pt_weight = pt_weight

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return real.score.mean() + F.relu(self.margin - fake.score).mean()

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        loss = fake.score.mean()
        if self.pt_weight > 0 and fake.score.shape[0] > 1:
            if fake.code is None:
                raise ValueError(
                    "objective 'ebgan' needs the critic's bottleneck code for its pulling-away term "
                    "(build an energy critic, or set pt_weight=0)"
                )
            loss = loss + self.pt_weight * pulling_away(fake.code)
        return loss


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [EBGAN]
