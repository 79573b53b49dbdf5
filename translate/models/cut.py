"""CUT and FastCUT (Park, Efros, Zhang & Zhu 2020): one-sided unpaired translation by patchwise contrast.

One generator ``G`` (A → B) and one critic ``D`` (domain B, the objective's kind) — no second
generator and no cycle. What keeps the output faithful to its input is PatchNCE
(:mod:`translate.nets.contrastive`): features of ``G(a)`` and of ``a`` are taken at five
layers of ``G``'s own encoder, 256 random positions per layer (the same in both images), each
layer's samples go through a two-layer MLP of 256 units (``F``, one head per layer) and are
L2-normalised, and each output patch must pick its own input patch among the other sampled
patches of the same image (temperature τ = 0.07)::

    NCE(x, y) = λ_NCE · mean over layers and patches of ℓ(q = F(enc(y)), k = F(enc(x)))

Per iteration (``taesungp/contrastive-unpaired-translation:models/cut_model.py``): the
translation ``fake = G(real)`` is computed once; the critic takes one step on ``b`` vs
``fake_b`` through the objective; then ``G`` and the heads take one step, with ``D`` frozen, on

    λ_GAN · adv(D(fake_b)) + NCE(a, G(a))                              fastcut
    λ_GAN · adv(D(fake_b)) + ½ · (NCE(a, G(a)) + NCE(b, G(b)))         cut (identity NCE on B images)

``mode`` sets the reference's two configurations (each setting can still be given on its own),
but for FastCUT's PatchNCE weight (see the deviations below):

========================  ===========  ==================================
                          ``cut``      ``fastcut``
========================  ===========  ==================================
``lambda_nce``            1            1 (the reference's 10 with ``--preset reference``)
``nce_idt``               on           off
``flip_equivariance``     off          on
epochs on user data       200 + 200    150 + 50
========================  ===========  ==================================

(the epochs are constant-rate + linear decay to 0: :attr:`Model.default_epochs` and
:attr:`Model.lr_decay_from`, 0.5 for CUT and 0.75 for FastCUT). With ``nce_idt``, ``b`` is
translated in the same batch as ``a`` (``G(cat(a, b))``) and ``G(b)`` should keep ``b``
as it is. With ``flip_equivariance``, each iteration flips the whole input batch
horizontally with probability ½ before ``G``; the output's features are flipped back before
they are compared with the *unflipped* input's, so ``G`` is asked to commute with flips.

Other reference defaults kept: λ_GAN = 1; LSGAN (``--loss lsgan``, translate's default); the
ResNet generator with instance norm and no dropout (9 blocks from 256 px; 6 below, as our
CycleGAN); a 70×70 PatchGAN critic with instance norm (or the objective's energy critic); no
image pool; Adam 2e-4, β = (0.5, 0.999); batch 1; the critic steps before the generator on
the same translation (with an objective's ``critic_steps`` > 1, every iteration makes a critic
step and the generator steps on the first of every ``critic_steps``); the key side of PatchNCE
gets no gradient; negatives only from the same image; the same sampled positions for every
image of a batch.

Deviations from the reference, and why:

* **A global residual path and resize-then-convolve upsampling** (``residual``, ``upsample``),
  as translate's CycleGAN and chosen by the same measurements (docs/learning.md): the
  untrained generator is the identity, and instance norm no longer makes it drop the
  photo's global brightness and colour, which the colour/tone task is all about.
  ``reference_options`` (``--preset reference``) restores the reference's ResNet.
* **FastCUT's PatchNCE weight is CUT's, 1, not 10.** With the residual path FastCUT starts at the
  identity, which PatchNCE scores as perfect; at 10 against the adversarial 1 it stayed there
  (+0.8-1.3 dB over doing nothing on the grading task of docs/learning.md, at CycleGAN's wall-clock
  time), at 1 it translates (+5.3-5.9 dB, three seeds) and stays the faster mode.
  ``--preset reference`` restores 10 for ``mode=fastcut`` (:meth:`CUT.reference_preset`).
* **No anti-aliased down/upsampling.** The reference's generator blurs before its strided
  convs and after its upsampling; ours is the junyanz ResNet that CycleGAN uses, so
  ``--model-opt generator=...``, the architecture options, reference-weight loading and export
  work unchanged (the reference's own ``--no_antialias --no_antialias_up`` is this network).
* **Feature layers by meaning, not by index.** The reference's ``nce_layers = 0,4,8,12,16``
  index its anti-aliased ``Sequential``: the (padded) input, the first and the second
  downsampling conv, residual blocks 1 and 5. In our layout those are ``0,4,7,10,14``
  (ResNet-9 and ResNet-6 alike), the default of ``nce_layers``; the downsampling convs here
  are the strided ones, so their features are at half and quarter resolution (the
  reference's are taken before its blur-pool, at full and half resolution).
* **Heads exist from construction.** The reference builds its MLPs lazily on the first
  forward pass; here their input widths are found by running a blank 16×16 image through
  the encoder when the model is built, so the heads are in the optimiser, DDP, checkpoints
  and ``--resume`` from step 0.
* **Initialisation** N(0, 0.02) with zero bias, translate's default (the reference CUT uses
  Xavier with gain 0.02); the same for CycleGAN, so comparisons between them are fair.
* **The identity term shares one draw of positions with the A images** (both halves of
  ``G(cat(a, b))`` are sampled together); the reference draws separately for the two terms.
* The PatchNCE logits leave out the reference's masked self-similarity entry (a logit of
  −10/τ, i.e. e^−143 ≈ 0 in the softmax): the formula of the paper, the same value in fp32.

Conversion is one-way: A → B. ``--direction BtoA`` (when training, converting or exporting)
is an error saying so; to translate B to A, train with the folders swapped.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from translate import hookimpl
from translate.data import UnpairedDataset
from translate.models.base import Model, ObjectiveFactory
from translate.models.directions import check_direction
from translate.models.generators import build_translator_net, resnet_name
from translate.nets import init_weights
from translate.nets.contrastive import (
    ProjectionHeads,
    encoder_features,
    feature_channels,
    patch_nce_loss,
    sample_patches,
)
from translate.options import RATE, WEIGHT, WIDTH, OptionError

#: What ``mode`` sets in the reference: its CUT and FastCUT configurations (model options, then schedule).
REFERENCE_MODES = {
    "cut": {"lambda_nce": 1.0, "nce_idt": True, "flip_equivariance": False},
    "fastcut": {"lambda_nce": 10.0, "nce_idt": False, "flip_equivariance": True},
}
#: What ``mode`` sets in translate: the reference's, but FastCUT's PatchNCE weight is CUT's. At 10 it held
#: FastCUT at the identity it starts from (+0.8-1.3 dB on the grading task; +5.3-5.9 dB at 1; docs/learning.md).
MODES = {**REFERENCE_MODES, "fastcut": {**REFERENCE_MODES["fastcut"], "lambda_nce": 1.0}}
#: (epochs on user data, fraction after which the rate decays) per mode: 200 + 200 and 150 + 50 epochs.
SCHEDULES = {"cut": (400, 0.5), "fastcut": (200, 0.75)}
#: The reference's layers 0, 4, 8, 12, 16 (input, both downsampling convs, residual blocks 1 and 5) in our ResNet.
NCE_LAYERS = "0,4,7,10,14"


def check_one_way(direction: str | None) -> None:
    """Refuse any direction but A to B (``None`` means the model's own): the shared one-way check."""
    check_direction(direction, model="cut", ways=("AtoB",))


class CUT(Model):
    """CUT (``mode=cut``, default) and FastCUT (``mode=fastcut``): the reference's defaults, translate's generator."""

    name = "cut"
    #: The heads have their own Adam (same settings), as the reference's ``optimizer_F``.
    optimizer_names = ("generator", "critic", "projection")
    tiny_options = {"ngf": 8, "ndf": 8}
    reference_options = {"upsample": "transpose", "residual": False}
    option_limits = {**Model.option_limits, "ngf": WIDTH, "ndf": WIDTH, "lambda_gan": WEIGHT, "lambda_nce": WEIGHT,
                     "num_patches": WIDTH, "projection_dim": WIDTH, "nce_temperature": RATE}

    def __init__(
        self,
        make_objective: ObjectiveFactory | None,
        image_size: int = 256,
        *,
        mode: str = "cut",
        direction: str = "AtoB",
        generator: str = "auto",
        ngf: int = 64,
        ndf: int = 64,
        norm: str = "instance",
        dropout: bool = False,
        upsample: str = "nearest",
        residual: bool = True,
        lambda_gan: float = 1.0,
        lambda_nce: float | None = None,
        nce_idt: bool | None = None,
        flip_equivariance: bool | None = None,
        nce_layers: str = NCE_LAYERS,
        num_patches: int = 256,
        projection_dim: int = 256,
        nce_temperature: float = 0.07,
        critic_scales: int = 1,
        lambda_fm: float = 0.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
    ):
        super().__init__(make_objective, image_size, critic_scales=critic_scales, lambda_fm=lambda_fm)
        if mode.lower() not in MODES:
            raise OptionError(f"model 'cut' option 'mode' must be cut or fastcut, got {mode!r}")
        self.mode = mode.lower()
        check_one_way(check_direction(direction))
        given = {"lambda_nce": lambda_nce, "nce_idt": nce_idt, "flip_equivariance": flip_equivariance}
        chosen = {key: MODES[self.mode][key] if value is None else value for key, value in given.items()}
        self.direction, self.ngf, self.ndf, self.norm, self.dropout = direction, ngf, ndf, norm, dropout
        self.upsample, self.residual = upsample, residual
        self.generator = resnet_name(image_size) if generator == "auto" else generator
        self.lambda_gan, self.lambda_nce = lambda_gan, chosen["lambda_nce"]
        self.nce_idt, self.flip_equivariance = chosen["nce_idt"], chosen["flip_equivariance"]
        self.nce_layers, self.num_patches, self.projection_dim = nce_layers, num_patches, projection_dim
        self.nce_temperature, self.lr, self.beta1, self.beta2 = nce_temperature, lr, beta1, beta2
        self.default_epochs, self.lr_decay_from = SCHEDULES[self.mode]
        self.check_options()
        if not self.generator.startswith("resnet_"):
            raise OptionError(f"model 'cut' option 'generator': PatchNCE reads the encoder of a ResNet generator "
                              f"(resnet_9blocks or resnet_6blocks), got {self.generator!r}")
        self.G = build_translator_net(self.generator, ngf=ngf, norm=norm, dropout=dropout, upsample=upsample,
                                      residual=residual)
        self.layers = self._parse_layers(nce_layers, len(self.G.net.model))
        self.D = self.add_critic("D", in_channels=3, ndf=ndf, norm=norm)
        self.F = ProjectionHeads(feature_channels(self.G, self.layers), projection_dim) if self.trains else None
        init_weights(self)

    @classmethod
    def reference_preset(cls, options: dict[str, Any]) -> dict[str, Any]:
        """:attr:`reference_options`, plus the reference's PatchNCE weight of the ``mode`` asked for
        (FastCUT's differs from translate's), then ``options`` over them."""
        mode = str(options.get("mode", "cut")).lower()
        weight = {"lambda_nce": REFERENCE_MODES[mode]["lambda_nce"]} if mode in REFERENCE_MODES else {}
        return {**cls.reference_options, **weight, **options}

    @staticmethod
    def _parse_layers(text: str, count: int) -> list[int]:
        """``"0,4,7"`` -> ``[0, 4, 7]``: ascending indices into the generator's layers (``model.N`` keys)."""
        try:
            layers = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            layers = []
        if not layers or layers != sorted(set(layers)) or not 0 <= layers[0] <= layers[-1] < count:
            raise OptionError(f"model 'cut' option 'nce_layers' must be ascending layer indices of the generator "
                              f"between 0 and {count - 1} separated by commas (default {NCE_LAYERS}), got {text!r}")
        return layers

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def parameter_groups(self):
        return {"generator": list(self.G.parameters()), "critic": list(self.D.parameters()),
                "projection": list(self.F.parameters())}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        count = real_a.shape[0]
        generator_steps = self.start_iteration()
        real = torch.cat([real_a, real_b]) if self.nce_idt and self.lambda_nce > 0 else real_a
        flipped = self.flip_equivariance and bool(torch.rand(()) < 0.5)
        with torch.set_grad_enabled(generator_steps):  # keep G's graph only when G steps
            fake = self.G(real.flip(3) if flipped else real)
        fake_b = fake[:count]
        logged = self.critic_step([("D", self.D, real_b, fake_b)])
        if generator_steps:
            with self.frozen(self.D):
                adversarial = self.adversarial_loss("D", self.D, fake_b, real_b)
                loss = self.lambda_gan * adversarial
                logged["G"] = adversarial.item()
                if self.lambda_nce > 0:
                    nce = self.patch_nce(real, fake, flipped)
                    loss = loss + nce.mean()  # with the identity term: ½ (NCE on A + NCE on B), equal halves
                    logged["NCE"] = nce[:count].mean().item()
                    if nce.shape[0] > count:
                        logged["NCE_idt"] = nce[count:].mean().item()
                self.optimize(("generator", "projection"), loss)
        return logged

    def patch_nce(self, source: Tensor, output: Tensor, flipped: bool = False) -> Tensor:
        """λ_NCE · PatchNCE of each image of ``output = G(source)`` (of the flipped ``source`` when ``flipped``).

        Returns ``(N,)``: per image, the mean over layers and sampled patches.
        """
        # The translation ran through G's data-parallel wrapper; the encoder passes here use the
        # plain network (their gradients join the same backward pass, which the wrapper averages).
        generator = self._modules["G"]
        queries = encoder_features(generator, output, self.layers)
        if flipped:
            queries = [query.flip(3) for query in queries]
        with torch.no_grad():
            keys = encoder_features(generator, source, self.layers)
        key_samples, positions = sample_patches(keys, self.num_patches)
        query_samples, _ = sample_patches(queries, self.num_patches, positions)
        with torch.no_grad():
            projected_keys = self.F(key_samples)
        projected_queries = self.F(query_samples)
        losses = [patch_nce_loss(q, k, self.nce_temperature) for q, k in zip(projected_queries, projected_keys)]
        return self.lambda_nce * torch.stack(losses).mean(0)

    def translate(self, images: Tensor, direction: str | None = None) -> Tensor:
        return self.inference_network(direction)(images)

    def inference_network(self, direction: str | None = None):
        check_one_way(direction)
        return self.G

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        columns = [batch["A"], self.G(batch["A"]), batch["B"]]
        return columns + [self.G(batch["B"])] if self.nce_idt else columns

    def metadata(self) -> dict[str, Any]:
        return {"input": "A", "output": "B"}


@hookimpl
def translate_models():
    return [CUT]
