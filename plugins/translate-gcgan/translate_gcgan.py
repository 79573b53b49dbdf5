"""GcGAN (Fu et al. 2019) for translate: one-sided A -> B translation kept geometry-consistent.

The worked example of a model plugin in translate's author guide (docs/plugins.md, "a third-party
model"). ``translate plugins show gcgan`` prints the class docstring below: what the model does, its
step order (the guide's table 7c) and where it departs from the reference.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.data import UnpairedDataset
from translate.models.base import Model, ObjectiveFactory
from translate.models.directions import check_direction
from translate.models.generators import build_translator_net, resnet_name
from translate.models.pool import ImagePool
from translate.nets import init_weights
from translate.options import COUNT, WEIGHT, WIDTH, OptionError

#: The geometric transformations f of the paper: a quarter turn, or a vertical flip.
GEOMETRIES = ("rot", "vflip")
#: The only way GcGAN translates (one generator is used at inference).
ONE_WAY = ("AtoB",)


class GcGAN(Model):
    """GcGAN (Fu et al. 2019): one-sided A -> B; a second generator keeps the translation geometry-consistent.

    G translates a; G_gc translates f(a), where f turns the image a quarter (geometry=rot) or flips it
    vertically (geometry=vflip). The two must agree, G(a) = f^-1(G_gc(f(a))); no cycle, no B -> A
    generator. Only G translates at inference: A to B only (--direction BtoA is an error).

    Step order per iteration (with an objective's critic_steps > 1 the generator steps on the first
    of every critic_steps iterations and the translations of the others are made without a graph):
      first:           the generator, against the critic of the previous iteration
      generator step:  adv(D(G(a)), D(f^-1(G_gc(f(a))))) with real D(b) for both,
                       + lambda_gc * (|G(a) - f^-1(G_gc(f(a)))| + |G_gc(f(a)) - f(G(a))|), each target detached,
                       + lambda_identity * (|G(b) - b| + |G_gc(f(b)) - f(b)|) when lambda_identity > 0
      critic step:     D(b), D(b) vs D(pool(G(a), f^-1(G_gc(f(a))))), the translations made before
                       the generator step
      critic:          one critic D for both outputs (G_gc's turned back by f^-1), without a
                       condition; the objective's kind (PatchGAN with instance norm, or energy)
      image pool:      one, pool_size images of both outputs

    Departures from the reference (hufu6371/GcGAN, gc_gan_cross): one critic judges both outputs in
    B's geometry (the reference trains a second critic on f(b) vs G_gc(f(a))); translate's ResNet
    generators with a global residual path and resize-then-convolve upsampling, and no identity loss
    (--preset reference restores the reference's generators and lambda_identity = 5).
    """

    name = "gcgan"
    # The kit's tiny runs: four images fill the pool in the first iteration, so a resumed run uses it.
    tiny_options = {"ngf": 8, "ndf": 8, "pool_size": 4}
    option_limits = {**Model.option_limits, "ngf": WIDTH, "ndf": WIDTH, "lambda_gc": WEIGHT,
                     "lambda_identity": WEIGHT, "pool_size": COUNT}
    reference_options = {"upsample": "transpose", "residual": False, "lambda_identity": 5.0}

    def __init__(self, make_objective: ObjectiveFactory | None, image_size: int = 256, *, geometry: str = "rot",
                 generator: str = "auto", ngf: int = 64, ndf: int = 64, upsample: str = "nearest",
                 residual: bool = True, lambda_gc: float = 20.0, lambda_identity: float = 0.0, pool_size: int = 50,
                 lr: float = 2e-4, beta1: float = 0.5, beta2: float = 0.999):
        super().__init__(make_objective, image_size)
        if geometry not in GEOMETRIES:
            raise OptionError(f"model 'gcgan' option 'geometry' must be rot or vflip, got {geometry!r}")
        self.geometry, self.ngf, self.ndf, self.upsample, self.residual = geometry, ngf, ndf, upsample, residual
        self.generator = resnet_name(image_size) if generator == "auto" else generator
        self.lambda_gc, self.lambda_identity, self.pool_size = lambda_gc, lambda_identity, pool_size
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.check_options()
        network = dict(ngf=ngf, norm="instance", dropout=False, upsample=upsample, residual=residual)
        self.G = build_translator_net(self.generator, **network)
        self.G_gc = build_translator_net(self.generator, **network)
        self.D = self.add_critic("D", in_channels=3, ndf=ndf, norm="instance")
        self.pool = ImagePool(pool_size)
        init_weights(self)

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def turn(self, images: Tensor) -> Tensor:
        """f: a quarter turn (counter-clockwise) or a vertical flip."""
        return torch.rot90(images, 1, (2, 3)) if self.geometry == "rot" else images.flip(2)

    def turn_back(self, images: Tensor) -> Tensor:
        """f^-1."""
        return torch.rot90(images, -1, (2, 3)) if self.geometry == "rot" else images.flip(2)

    def parameter_groups(self):
        return {"generator": [*self.G.parameters(), *self.G_gc.parameters()], "critic": list(self.D.parameters())}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        generator_steps = self.start_iteration()
        with torch.set_grad_enabled(generator_steps):
            fake_b, fake_gc = self.G(real_a), self.G_gc(self.turn(real_a))
        outputs = torch.cat([fake_b, self.turn_back(fake_gc)])  # several outputs, one critic: one batch
        reals = torch.cat([real_b, real_b])                      # paired by index with the outputs
        logged: dict[str, float] = {}
        if generator_steps:
            with self.frozen(self.D):
                adversarial = self.adversarial_loss("D", self.D, outputs, reals)
                consistency = (F.l1_loss(fake_b, self.turn_back(fake_gc).detach())
                               + F.l1_loss(fake_gc, self.turn(fake_b).detach()))
                loss = adversarial + self.lambda_gc * consistency
                logged = {"G": adversarial.item(), "gc": consistency.item()}
                if self.lambda_identity > 0:
                    turned_b = self.turn(real_b)
                    identity = F.l1_loss(self.G(real_b), real_b) + F.l1_loss(self.G_gc(turned_b), turned_b)
                    loss = loss + self.lambda_identity * identity
                    logged["identity"] = identity.item()
                self.optimize("generator", loss)
        logged.update(self.critic_step([("D", self.D, reals, self.pool.query(outputs))]))
        return logged

    def translate(self, images: Tensor, direction: str | None = None) -> Tensor:
        return self.inference_network(direction)(images)

    def inference_network(self, direction: str | None = None):
        check_direction(direction, model=self.name, ways=ONE_WAY)  # BtoA is an OptionError, not A -> B
        return self.G

    def metadata(self) -> dict[str, Any]:
        return {"input": "A", "output": "B"}  # read by convert, export and eval: one way, A to B

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        real_a = batch["A"]
        return [real_a, self.G(real_a), self.turn_back(self.G_gc(self.turn(real_a))), batch["B"]]

    def training_state(self) -> dict[str, Any]:
        return {**super().training_state(), "pool": self.pool.state_dict()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        super().load_training_state(state)
        self.pool.load_state_dict(state["pool"], next(self.parameters()).device)


@hookimpl
def translate_models() -> list[type[Model]]:
    return [GcGAN]
