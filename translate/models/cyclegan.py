"""CycleGAN (Zhu et al. 2017): unpaired translation with two generators and two critics.

``G_AB`` maps domain A to B and ``G_BA`` back; critic ``D_A`` judges domain A,
``D_B`` domain B. Per iteration (as the reference): one generator step on

    adv(D_B(G_AB(a))) + adv(D_A(G_BA(b)))
    + λ_cyc · (|G_BA(G_AB(a)) − a| + |G_AB(G_BA(b)) − b|)
    + λ_cyc · λ_id · (|G_AB(b) − b| + |G_BA(a) − a|)

then one step of both critics, which see generated images through an image pool.
The generator step comes first, so it trains against the critics of the previous
iteration; relativistic objectives get those critics' scores on this batch's real
images. The generator steps on the first of every ``critic_steps`` iterations (the
objective's schedule); in the others the translations are computed without a graph,
for the critics only. λ_id is relative to λ_cyc as in the reference (there 0.5 · 10 = 5).

translate's defaults differ from the reference in four ways, chosen by measurement
(``benchmarks/learning.py``; docs/learning.md): the generators have a global residual
path (``residual``: an untrained generator is the identity, so outputs keep the photo
from the first step instead of hiding it in blobs that the other generator decodes),
the identity loss is off (``lambda_identity=0``: it asks ``G_AB(b) = b``, which holds the
residual generators at the identity and works against colour and tone changes), the
cycle weight is 1 instead of 10 (``lambda_cycle``: a residual generator starts with the
cycle satisfied exactly, and at 10 it stayed at the identity within a CPU budget on
structural styles and on one grading seed in three), and the upsampling resizes then convolves (``upsample``: no
checkerboard pattern). λ_id stays relative to λ_cyc (``lambda_identity=0.5`` weighs 0.5 here).
``reference_options`` (``--preset reference``) restores the reference's training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.data import UnpairedDataset
from translate.models.base import Model, ObjectiveFactory
from translate.models.directions import BothWays, check_direction
from translate.models.generators import build_translator_net, resnet_name
from translate.models.pool import ImagePool
from translate.nets import init_weights
from translate.options import COUNT, WEIGHT, WIDTH


class CycleGAN(BothWays, Model):
    """CycleGAN: ResNet generators with a global residual path, instance norm, cycle weight 1, image pool 50."""

    name = "cyclegan"
    tiny_options = {"ngf": 8, "ndf": 8}
    option_limits = {**Model.option_limits, "ngf": WIDTH, "ndf": WIDTH, "lambda_cycle": WEIGHT,
                     "lambda_identity": WEIGHT, "pool_size": COUNT}
    reference_options = {"upsample": "transpose", "residual": False, "lambda_cycle": 10.0, "lambda_identity": 0.5}

    def __init__(
        self,
        make_objective: ObjectiveFactory | None,
        image_size: int = 256,
        *,
        direction: str = "AtoB",
        generator: str = "auto",
        ngf: int = 64,
        ndf: int = 64,
        norm: str = "instance",
        dropout: bool = False,
        upsample: str = "nearest",
        residual: bool = True,
        lambda_cycle: float = 1.0,
        lambda_identity: float = 0.0,
        pool_size: int = 50,
        critic_scales: int = 1,
        lambda_fm: float = 0.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
    ):
        super().__init__(make_objective, image_size, critic_scales=critic_scales, lambda_fm=lambda_fm)
        self.direction = check_direction(direction)
        self.ngf, self.ndf, self.norm, self.dropout = ngf, ndf, norm, dropout
        self.generator = resnet_name(image_size) if generator == "auto" else generator
        self.upsample, self.residual = upsample, residual
        self.lambda_cycle, self.lambda_identity, self.pool_size = lambda_cycle, lambda_identity, pool_size
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.check_options()
        network = dict(ngf=ngf, norm=norm, dropout=dropout, upsample=upsample, residual=residual)
        self.G_AB = build_translator_net(self.generator, **network)
        self.G_BA = build_translator_net(self.generator, **network)
        self.D_A = self.add_critic("D_A", in_channels=3, ndf=ndf, norm=norm)
        self.D_B = self.add_critic("D_B", in_channels=3, ndf=ndf, norm=norm)
        self.pool_A, self.pool_B = ImagePool(pool_size), ImagePool(pool_size)
        init_weights(self)

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def parameter_groups(self):
        generators = list(self.G_AB.parameters()) + list(self.G_BA.parameters())
        critics = list(self.D_A.parameters()) + list(self.D_B.parameters())
        return {"generator": generators, "critic": critics}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        logged: dict[str, float] = {}
        if self.start_iteration():
            with self.frozen(self.D_A, self.D_B):
                fake_b, fake_a = self.G_AB(real_a), self.G_BA(real_b)
                adversarial = (self.adversarial_loss("D_B", self.D_B, fake_b, real_b)
                               + self.adversarial_loss("D_A", self.D_A, fake_a, real_a))
                cycle = F.l1_loss(self.G_BA(fake_b), real_a) + F.l1_loss(self.G_AB(fake_a), real_b)
                loss = adversarial + self.lambda_cycle * cycle
                logged = {"G": adversarial.item(), "cycle": cycle.item()}
                if self.lambda_identity > 0:
                    identity = F.l1_loss(self.G_AB(real_b), real_b) + F.l1_loss(self.G_BA(real_a), real_a)
                    loss = loss + self.lambda_cycle * self.lambda_identity * identity
                    logged["identity"] = identity.item()
                self.optimize("generator", loss)
        else:
            with torch.no_grad():
                fake_b, fake_a = self.G_AB(real_a), self.G_BA(real_b)
        logged.update(
            self.critic_step(
                [
                    ("D_A", self.D_A, real_a, self.pool_A.query(fake_a)),
                    ("D_B", self.D_B, real_b, self.pool_B.query(fake_b)),
                ]
            )
        )
        return logged

    def translate(self, images: Tensor, direction: str | None = None) -> Tensor:
        return self.inference_network(direction)(images)

    def inference_network(self, direction: str | None = None):
        return self.G_AB if self.way(direction) == "AtoB" else self.G_BA

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        fake_b, fake_a = self.G_AB(batch["A"]), self.G_BA(batch["B"])
        return [batch["A"], fake_b, self.G_BA(fake_b), batch["B"], fake_a, self.G_AB(fake_a)]

    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(), "pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        super().load_training_state(state)
        device = next(self.parameters()).device
        self.pool_A.load_state_dict(state["pool_A"], device)
        self.pool_B.load_state_dict(state["pool_B"], device)


@hookimpl
def translate_models():
    return [CycleGAN]
