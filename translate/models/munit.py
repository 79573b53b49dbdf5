"""MUNIT (Huang, Liu, Belongie & Kautz 2018): multimodal unsupervised translation, content and style.

Each domain X has a **content encoder** ``Ec_X`` (image → spatial content code, shared in meaning
between the domains), a **style encoder** ``Es_X`` (image → ``style_dim`` numbers) and a
**decoder** ``G_X`` (content code + style code → an image of X; the style steers it through AdaIN),
see :mod:`translate.nets.munit`. A → B is ``G_B(Ec_A(a), s)`` for any style ``s`` of B: random
styles ``s ~ N(0, I)`` give many outputs for one input, the style of an example image
``Es_B(b)`` gives an example-guided one. The model declares ``style_dim`` in :meth:`MUNIT.metadata`,
so ``translate convert --styles N`` / ``--style-from IMAGE`` and export with a style input work
(:mod:`translate.models.styles`).

Per iteration, with random styles ``r_a, r_b ~ N(0, I)`` and the codes ``c_a, s_a = Ec_A(a), Es_A(a)``
(likewise for b), the translations ``fake_a = G_A(c_b, r_a)`` and ``fake_b = G_B(c_a, r_b)`` are
computed once; the critics take one step on them (``D_A`` judges domain A, ``D_B`` domain B;
the reference order, D then G), then the encoders and decoders take one step on::

    λ_gan · (adv(D_A(fake_a)) + adv(D_B(fake_b)))
    + λ_recon · (|G_A(c_a, s_a) − a| + |G_B(c_b, s_b) − b|)                  image reconstruction
    + λ_content · (|Ec_B(fake_b) − c_a| + |Ec_A(fake_a) − c_b|)              content reconstruction
    + λ_style · (|Es_B(fake_b) − r_b| + |Es_A(fake_a) − r_a|)                style reconstruction
    + λ_cycle · (|G_A(Ec_B(fake_b), s_a) − a| + |G_B(Ec_A(fake_a), s_b) − b|)  style-augmented cycle

against the just-updated critics (frozen); with ``residual`` every ``G_X(c, s)`` above is the image
whose content ``c`` is, changed by the decoder's output. Reusing the translations (and their
random styles) for both steps is the reference's D-then-G order without a second forward pass,
as translate's UNIT does. Adversarial losses come from the objective (``--loss``), which also
chooses the critic kind and the schedule (the generator steps on the first of every
``critic_steps`` iterations). Random styles come from torch's global RNG, which ``--resume``
restores.

The reference (``NVlabs/MUNIT:configs/edges2shoes_folder.yaml``; ideas only, no code): ``ngf`` 64,
2 downsamplings, 4 residual blocks, style_dim 8, a 4-downsampling style encoder, an MLP of 3 layers
of 256, layer norm in the decoder's upsampling, 3 critic scales (LSGAN, no norm), λ_gan 1,
λ_recon 10, λ_content 1, λ_style 1, λ_cycle 0, Adam lr 1e-4, β (0.5, 0.999), weight decay 1e-4,
batch 1. translate keeps the rest and differs in five ways, chosen by measurement on the grading
task (64 px, ``ngf=16``, 240 steps, lsgan; docs/learning.md, "MUNIT"):

* the critics are translate's 70×70 PatchGANs (the objective's critic kind) with **instance norm**
  (``critic_norm``; the reference's have none: 13.0 dB against the identity's 18.4, instance norm
  23.1 dB), ``critic_scales`` of them per domain. Its default (``None``) is the reference's 3
  where the crop allows it (93 px and up: the coarsest PatchGAN needs 24 px), else as many as fit
  (2 at 64 px, 1 at 32 px), so ``translate train --model munit`` runs on the 64 px sample set;
  the number chosen is saved in the checkpoint;
* the decoders output a change to the encoded image (``residual``): the untrained translation is
  the identity, and the photo is kept from the first step (UNIT's and CycleGAN's measurement);
  resize-then-convolve upsampling is the reference's own;
* the adversarial weight ``lambda_gan`` is 10, as large as the image reconstruction weight: with
  a residual decoder an unchanged image satisfies every reconstruction term exactly, and at 1
  they hold the translation at the identity (18.4 dB);
* the **style-augmented cycle** is on (``lambda_cycle=10``, as some of the reference's configs):
  with a residual decoder the image reconstruction no longer teaches the style encoders anything
  (an unchanged image meets it whatever the style), and without the cycle the style of a real B
  image translated like no style at all (18.6 dB, while random styles gave 21.6); the cycle
  decodes the translations back with the encoded styles of real images, so an example's style
  steers the translation (20.9 dB example-guided, random styles 22.4);
* the style MLP is He-initialised (translate's N(0, 0.02) elsewhere): at 0.02 the decoders ignored
  the style (four random styles 0.002 apart, :func:`translate.nets.munit.style_mlp`).

``reference_options`` (``--preset reference``) restores the reference's decoders, critics, λ_gan and λ_cycle.
Weights are initialised N(0, 0.02) (translate's default; the reference uses Kaiming).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.models.base import ObjectiveFactory
from translate.models.encoder_decoder import DOMAINS, EncoderDecoderModel
from translate.models.styles import style_codes
from translate.nets import init_weights, pad_to_multiple
from translate.nets.layers import LAYER_NORM, NORM_KINDS, residual_output
from translate.nets.munit import StyleDecoder, StyledPadCrop, StyledTranslator, StyleEncoder
from translate.nets.unit import Encoder
from translate.options import COUNT, WEIGHT, WIDTH, OptionError

#: The reference's critic scales (1×, ½×, ¼×), used where the training crop allows.
REFERENCE_SCALES = 3
#: Smallest input of translate's 70×70 PatchGAN (``PatchDiscriminator().min_size``).
PATCH_CRITIC_MIN_SIZE = 24
#: Random styles of the sample grids: the styles of these seeds, as ``translate convert --styles 3`` writes them.
SAMPLE_STYLES = (0, 1, 2)


def critic_scales_for(image_size: int, most: int = REFERENCE_SCALES) -> int:
    """As many critic scales as a crop of ``image_size`` px allows, up to ``most``: a 70×70 PatchGAN needs
    24 px at its scale, so scale ``i`` needs ``23 · 2**i + 1`` px (47 for 2 scales, 93 for 3)."""
    needs = PATCH_CRITIC_MIN_SIZE - 1
    scales = 1
    while scales < most and needs * 2**scales + 1 <= image_size:
        scales += 1
    return scales


class MUNIT(EncoderDecoderModel):
    """MUNIT: content and style codes, random or example-guided styles (see the module docstring)."""

    name = "munit"
    tiny_options = {"ngf": 8, "ndf": 8, "n_res": 1, "mlp_dim": 16}  # critic_scales: 1 at 32 px by itself
    option_limits = {**EncoderDecoderModel.option_limits, "ngf": WIDTH, "ndf": WIDTH, "n_down": COUNT, "n_res": WIDTH,
                     "style_dim": WIDTH, "style_down": COUNT, "mlp_dim": WIDTH, "n_mlp": WIDTH,
                     "lambda_gan": WEIGHT, "lambda_recon": WEIGHT, "lambda_content": WEIGHT, "lambda_style": WEIGHT,
                     "lambda_cycle": WEIGHT, "weight_decay": WEIGHT}
    reference_options = {"residual": False, "lambda_gan": 1.0, "lambda_cycle": 0.0, "critic_norm": "none"}

    def __init__(
        self,
        make_objective: ObjectiveFactory | None,
        image_size: int = 256,
        *,
        direction: str = "AtoB",
        ngf: int = 64,
        n_down: int = 2,
        n_res: int = 4,
        style_dim: int = 8,
        style_down: int = 4,
        mlp_dim: int = 256,
        n_mlp: int = 3,
        up_norm: str = LAYER_NORM,
        ndf: int = 64,
        critic_norm: str = "instance",
        residual: bool = True,
        lambda_gan: float = 10.0,
        lambda_recon: float = 10.0,
        lambda_content: float = 1.0,
        lambda_style: float = 1.0,
        lambda_cycle: float = 10.0,
        critic_scales: int | None = None,
        lambda_fm: float = 0.0,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
    ):
        scales = critic_scales_for(image_size) if critic_scales is None else critic_scales
        super().__init__(make_objective, image_size, critic_scales=scales, lambda_fm=lambda_fm)
        self.direction = self.way(direction)
        for option, value, kinds in (("up_norm", up_norm, NORM_KINDS + (LAYER_NORM,)),
                                     ("critic_norm", critic_norm, NORM_KINDS)):
            if value not in kinds:
                raise OptionError(f"model 'munit' option {option!r} must be one of {', '.join(kinds)}, got {value!r}")
        self.ngf, self.n_down, self.n_res, self.style_dim, self.style_down = ngf, n_down, n_res, style_dim, style_down
        self.mlp_dim, self.n_mlp, self.up_norm, self.ndf, self.critic_norm = mlp_dim, n_mlp, up_norm, ndf, critic_norm
        self.residual = residual
        self.lambda_gan, self.lambda_recon, self.lambda_content = lambda_gan, lambda_recon, lambda_content
        self.lambda_style, self.lambda_cycle = lambda_style, lambda_cycle
        self.lr, self.beta1, self.beta2, self.weight_decay = lr, beta1, beta2, weight_decay
        self.check_options()

        width = ngf * 2**n_down
        for domain in DOMAINS:
            setattr(self, f"Ec_{domain}", Encoder(3, ngf, n_down, n_res, norm="instance"))
            setattr(self, f"Es_{domain}", StyleEncoder(3, ngf, style_down, style_dim))
            setattr(self, f"G_{domain}", StyleDecoder(3, width, n_down, n_res, style_dim, mlp_dim, n_mlp, up_norm,
                                                      residual))
        self.D_A = self.add_critic("D_A", in_channels=3, ndf=ndf, norm=critic_norm)
        self.D_B = self.add_critic("D_B", in_channels=3, ndf=ndf, norm=critic_norm)
        init_weights(self)

    # -- networks ---------------------------------------------------------------------------

    @property
    def min_size(self) -> int:
        """Smallest H and W the content encoders take; smaller images are padded up to it."""
        return self.Ec_A.min_size

    def _networks(self, domain: str, kind: str):
        return getattr(self, f"{kind}_{self.check_domain(domain)}")

    def decode(self, target: str, content: Tensor, style: Tensor, source: Tensor) -> Tensor:
        """Domain ``target``'s image of ``content`` with ``style``; with ``residual``, ``source`` changed."""
        decoded = self._networks(target, "G")(content, style)
        return residual_output(source, decoded) if self.residual else decoded

    def random_styles(self, count: int, like: Tensor) -> Tensor:
        """``count`` random style codes from N(0, I) (torch's global RNG), on ``like``'s device."""
        return torch.randn(count, self.style_dim, device=like.device, dtype=like.dtype)

    # -- the Model contract -----------------------------------------------------------------

    def parameter_groups(self):
        generator = [p for kind in ("Ec", "Es", "G") for domain in DOMAINS
                     for p in self._networks(domain, kind).parameters()]
        critics = [*self.D_A.parameters(), *self.D_B.parameters()] if self.trains else []
        return {"generator": generator, "critic": critics}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real_a, real_b = self.pad(batch["A"]), self.pad(batch["B"])
        generator_steps = self.start_iteration()
        with torch.set_grad_enabled(generator_steps):  # keep the graph only when the generators step
            content_a, content_b = self.Ec_A(real_a), self.Ec_B(real_b)
            random_a, random_b = self.random_styles(real_b.shape[0], real_b), self.random_styles(real_a.shape[0],
                                                                                                 real_a)
            fake_a = self.decode("A", content_b, random_a, real_b)
            fake_b = self.decode("B", content_a, random_b, real_a)
        logged = self.critic_step([("D_A", self.D_A, real_a, fake_a), ("D_B", self.D_B, real_b, fake_b)])
        if not generator_steps:
            return logged
        with self.frozen(self.D_A, self.D_B):
            adversarial = (self.adversarial_loss("D_A", self.D_A, fake_a, real_a)
                           + self.adversarial_loss("D_B", self.D_B, fake_b, real_b))
            style_a, style_b = self.Es_A(real_a), self.Es_B(real_b)
            recon = (F.l1_loss(self.decode("A", content_a, style_a, real_a), real_a)
                     + F.l1_loss(self.decode("B", content_b, style_b, real_b), real_b))
            content_ab, content_ba = self.Ec_B(fake_b), self.Ec_A(fake_a)  # the translations' content codes
            content = F.l1_loss(content_ab, content_a) + F.l1_loss(content_ba, content_b)
            style = F.l1_loss(self.Es_A(fake_a), random_a) + F.l1_loss(self.Es_B(fake_b), random_b)
            loss = (self.lambda_gan * adversarial + self.lambda_recon * recon + self.lambda_content * content
                    + self.lambda_style * style)
            logged.update(G=adversarial.item(), recon=recon.item(), content=content.item(), style=style.item())
            if self.lambda_cycle:
                cycle = (F.l1_loss(self.decode("A", content_ab, style_a, fake_b), real_a)
                         + F.l1_loss(self.decode("B", content_ba, style_b, fake_a), real_b))
                loss = loss + self.lambda_cycle * cycle
                logged["cycle"] = cycle.item()
            self.optimize("generator", loss)
        return logged

    # -- conversion -------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Both directions, and ``style_dim``: translations take a style (``convert --styles``, ``--style-from``)."""
        return {**super().metadata(), "style_dim": self.style_dim}

    def style_code(self, images: Tensor, direction: str | None = None) -> Tensor:
        """The style codes ``(N, style_dim)`` of example images of ``direction``'s target domain (any size;
        smaller than the style encoder's smallest size, padded up to it)."""
        encoder = self._networks(self.ends(direction)[1], "Es")
        return encoder(pad_to_multiple(images, 1, min_size=encoder.min_size)[0])

    def styles(self, style: object, count: int, direction: str | None, like: Tensor) -> Tensor:
        """``style`` (``None``, a seed, a code or example images; :func:`translate.models.styles.style_codes`)
        as one code per image, ``(count, style_dim)``."""
        return style_codes(style, count, self.style_dim, lambda images: self.style_code(images, direction), like)

    def translate(self, images: Tensor, direction: str | None = None, style: object = None) -> Tensor:
        """Translate with a style: ``None`` (the zero code, the prior's mean), a seed (the style of
        :func:`~translate.models.styles.random_style`), a code, or example images of the target domain."""
        network = self.inference_network(direction)
        return network(images, self.styles(style, images.shape[0], direction, images))

    def inference_network(self, direction: str | None = None) -> StyledPadCrop:
        """The source's content encoder and the target's decoder, taking ``(images, style codes)`` (what
        ``translate`` runs; export gives it a second input, ``style``)."""
        source, target = self.ends(direction)
        net = StyledTranslator(self._networks(source, "Ec"), self._networks(target, "G"), self.residual)
        return StyledPadCrop(net, self.size_multiple, self.min_size, self.style_dim)

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Per direction: the input, its translation with the styles of seeds 0, 1, 2, and with the style of
        the other domain's image in the same row."""
        columns = []
        for source, target, direction in (("A", "B", "AtoB"), ("B", "A", "BtoA")):
            images = batch[source]
            columns += [images, *(self.translate(images, direction, seed) for seed in SAMPLE_STYLES),
                        self.translate(images, direction, batch[target])]
        return columns


@hookimpl
def translate_models():
    return [MUNIT]
