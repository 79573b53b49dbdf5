"""Loss-sensitive GAN for translate (``--loss loss-sensitive``): a margin that depends on the data.

Qi, "Loss-Sensitive Generative Adversarial Networks on Lipschitz Densities" (2017). Not to be
confused with LSGAN (least squares, translate's built-in ``lsgan``).

The critic D is read as a *loss function*: low on real images, and higher on a generated
image by at least a margin Δ that measures how far that image is from a real one. As the
generator improves, the margin shrinks (EBGAN's margin, by contrast, is a constant)::

    L_D = mean_i [ D(x_i) + λ · relu( Δ(x_i, G(z)_i) + D(x_i) − D(G(z)_i) ) ]
    L_G = mean_i D(G(z)_i)

    Δ(x, y) = s · mean |x − y|       (over channels and pixels; ``distance="l2"``: s · mean (x − y)²)

``D(v)`` of one image is its critic's score map averaged over the patch grid, so the hinge
is taken per sample. Any critic works: with a patch critic (the default) D is a PatchGAN
score, with an energy critic a reconstruction energy.

How it fits translate's Objective contract:

* :meth:`~translate.objective.Objective.critic_loss` only sees what the critic said, never
  the images, but the margin needs the images. :meth:`~translate.objective.Objective.penalty`
  gets both the images and the critic (any condition, such as pix2pix's input, already
  bound) in the same critic step, so ``critic_loss`` returns ``mean D(x)`` and ``penalty``
  returns ``λ · mean hinge``; the model adds the two. The penalty runs the critic once more
  on each batch.
* Real and generated images are paired by their index in the batch. For pix2pix that is a
  target and its own prediction; for unpaired models (CycleGAN, UNIT, StarGAN) two different
  images of the target domain, as the paper's independent x and G(z).
* ``per_sample_critic = True`` asks the model for a critic without batch norm, so each
  sample's score depends on that sample alone (the hinge is per sample) and the second
  pass gives the same scores as the first.
* No state: nothing to update or checkpoint.

Options (``--loss-opt key=value``): ``hinge_weight`` λ > 0 (1.0), ``margin_scale`` s > 0
(1.0), ``distance`` ``"l1"`` or ``"l2"`` (``"l1"``). The paper also keeps D Lipschitz with
weight decay: that is the critic optimiser's setting, i.e. the model's (UNIT has
``weight_decay``), not the objective's.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticFn, CriticOutput, Objective, per_sample
from translate.options import OptionError

__version__ = "0.1.0"

DISTANCES = ("l1", "l2")


class LossSensitive(Objective):
    """Loss-sensitive GAN objective with the data-dependent margin Δ (Qi 2017)."""

    name = "loss-sensitive"
    critic = "patch"
    per_sample_critic = True

    def __init__(self, hinge_weight: float = 1.0, margin_scale: float = 1.0, distance: str = "l1") -> None:
        for option, value in (("hinge_weight", hinge_weight), ("margin_scale", margin_scale)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise OptionError(f"objective 'loss-sensitive' option {option!r} must be a number > 0, got {value!r}")
        if distance not in DISTANCES:
            raise OptionError(f"objective 'loss-sensitive' option 'distance' must be l1 or l2, got {distance!r}")
        self.hinge_weight = float(hinge_weight)
        self.margin_scale = float(margin_scale)
        self.distance = distance

    def margin(self, real_input: Tensor, fake_input: Tensor) -> Tensor:
        """Δ per sample ``(N,)``: the scaled mean L1 (or squared) distance of each real/generated pair."""
        if real_input.shape != fake_input.shape:
            raise ValueError(
                f"objective 'loss-sensitive' pairs real and generated images by index and needs batches of one "
                f"shape, got {tuple(real_input.shape)} and {tuple(fake_input.shape)}"
            )
        difference = (real_input - fake_input).flatten(1)
        distance = difference.abs() if self.distance == "l1" else difference.square()
        return self.margin_scale * distance.mean(1)

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return per_sample(real.score).mean()

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return per_sample(fake.score).mean()

    def penalty(self, critic: CriticFn, real_input: Tensor, fake_input: Tensor) -> Tensor:
        real_input, fake_input = real_input.detach(), fake_input.detach()
        margin = self.margin(real_input, fake_input)
        real_loss = per_sample(critic(real_input).score)
        fake_loss = per_sample(critic(fake_input).score)
        return self.hinge_weight * F.relu(margin + real_loss - fake_loss).mean()


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [LossSensitive]
