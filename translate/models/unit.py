"""UNIT (Liu, Breuel & Kautz 2017): unsupervised translation through a shared latent space.

Encoders ``E_A``, ``E_B`` map each domain to one latent space; decoders ``G_A``, ``G_B``
map it back to a domain, so A→B is ``G_B(E_A(a))`` and B→A is ``G_A(E_B(b))``. As in the
paper the last encoder block(s) are one module shared by both encoders
(``shared_encoder``) and the first decoder block(s) one module shared by both decoders
(``shared_decoder``); see :mod:`translate.nets.unit`. ``n_shared=0`` shares nothing (what
UNIT's later reference code does).

The latent is Gaussian with unit variance: the encoders output the mean μ only, training
decodes ``z = μ + ε`` with ``ε ~ N(0, I)``, and :meth:`UNIT.translate` decodes ``z = μ``.
KL(N(μ, I) ‖ N(0, I)) is ½μ² per dimension; like every reference we use mean(μ²).

Per iteration, with ``z_a = E_A(a) + ε`` and ``z_b = E_B(b) + ε``, the translations
``fake_b = G_B(z_a)`` and ``fake_a = G_A(z_b)`` are computed once; the critics take one
step on them (``D_A`` judges domain A, ``D_B`` domain B; the reference order, D then G),
then the encoders and decoders take one step on::

    λ_gan · (adv(D_A(fake_a)) + adv(D_B(fake_b)))
    + λ_recon · (|G_A(z_a) − a| + |G_B(z_b) − b|)                      within-domain
    + λ_kl · (mean E_A(a)² + mean E_B(b)²)
    + λ_cycle · (|G_A(E_B(fake_b) + ε) − a| + |G_B(E_A(fake_a) + ε) − b|)  cycle
    + λ_cycle_kl · (mean E_B(fake_b)² + mean E_A(fake_a)²)

against the just-updated critics (frozen); with ``residual`` every ``G_X(z)`` above stands
for the image that ``z`` encodes, changed by the decoder's output. The generators have not
changed between the two steps, so reusing the translations is the reference's D-then-G
order without a second forward pass (it reuses the noise sample too). Adversarial losses
come from the objective (``--loss``), which also chooses the critic kind and the schedule:
the generator steps on the first of every ``critic_steps`` iterations (1 for most
objectives); in the others the translations are computed without a graph.

The paper-era (version_02) configuration is λ_gan 10, λ_recon 100, λ_kl 0.1, λ_cycle 100,
λ_cycle_kl 0.1, Adam lr 1e-4, β (0.5, 0.999), weight decay 1e-4 (on both optimisers), 64
base channels, 2 downsamplings, 3 private residual blocks per network and one shared
block each way; translate's defaults keep all of it but λ_gan and λ_recon (below). UNIT's current
reference divides every weight by 10 (gan 1, recon 10, KL 0.01, cycle 10, cycle KL 0.01;
the same balance) and trains with LSGAN multi-scale critics;
pass those as options to follow it. The paper trained the vanilla GAN (``--loss vanilla``).
Weights are initialised N(0, 0.02) (translate's default; UNIT's reference uses Kaiming).

translate's defaults differ from the paper in three ways, chosen by measurement
(``benchmarks/learning.py``; docs/learning.md): the decoders output a change to the
encoded image (``residual``; see :mod:`translate.nets.unit`), so translations keep the
photo from the first step (the paper's autoencoders take thousands of steps to
reconstruct anything), the adversarial weight is as large as the cycle weight
(``lambda_gan=100``): at 10 the reconstruction and cycle terms, which an unchanged image
satisfies exactly, hold the decoders at the identity, and the within-domain reconstruction,
another such term, weighs 10 (``lambda_recon``), not 100: at 100 pencil shading, a change
that follows the photo's edges, stayed within 0.3 dB of the identity in 480 steps (+1.35 dB
at 10), and the grading gained less (+4.0 against +5.5 dB).
``reference_options`` (``--preset reference``) restores the paper-era training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate import hookimpl
from translate.models.base import Model, ObjectiveFactory
from translate.models.directions import check_direction
from translate.models.encoder_decoder import EncoderDecoderModel
from translate.nets import PadCrop, init_weights
from translate.nets.layers import NORM_KINDS, GlobalResidual, residual_output
from translate.nets.unit import Decoder, Encoder, residual_blocks
from translate.options import COUNT, WEIGHT, WIDTH, OptionError


def unique_parameters(*modules: nn.Module) -> list[nn.Parameter]:
    """Parameters of ``modules`` in order, each once (a shared module is listed by several owners)."""
    seen: set[int] = set()
    unique = []
    for module in modules:
        for parameter in module.parameters():
            if id(parameter) not in seen:
                seen.add(id(parameter))
                unique.append(parameter)
    return unique


class UNIT(EncoderDecoderModel):
    """UNIT with the paper's weight sharing, residual decoders, λ_gan = 100 and λ_recon = 10 (see the module
    docstring)."""

    name = "unit"
    tiny_options = {"ngf": 8, "ndf": 8, "n_res": 1}
    option_limits = {**Model.option_limits, "ngf": WIDTH, "ndf": WIDTH, "n_down": COUNT, "n_res": COUNT,
                     "n_shared": COUNT, "lambda_gan": WEIGHT, "lambda_recon": WEIGHT, "lambda_kl": WEIGHT,
                     "lambda_cycle": WEIGHT, "lambda_cycle_kl": WEIGHT, "weight_decay": WEIGHT}
    reference_options = {"residual": False, "lambda_gan": 10.0, "lambda_recon": 100.0}

    def __init__(
        self,
        make_objective: ObjectiveFactory | None,
        image_size: int = 256,
        *,
        direction: str = "AtoB",
        ngf: int = 64,
        n_down: int = 2,
        n_res: int = 3,
        n_shared: int = 1,
        ndf: int = 64,
        norm: str = "instance",
        residual: bool = True,
        lambda_gan: float = 100.0,
        lambda_recon: float = 10.0,
        lambda_kl: float = 0.1,
        lambda_cycle: float = 100.0,
        lambda_cycle_kl: float = 0.1,
        critic_scales: int = 1,
        lambda_fm: float = 0.0,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
    ):
        super().__init__(make_objective, image_size, critic_scales=critic_scales, lambda_fm=lambda_fm)
        check_direction(direction)
        if norm not in NORM_KINDS:
            raise OptionError(f"model 'unit' option 'norm' must be one of {', '.join(NORM_KINDS)}, got {norm!r}")
        self.direction, self.ngf, self.ndf, self.norm, self.residual = direction, ngf, ndf, norm, residual
        self.n_down, self.n_res, self.n_shared = n_down, n_res, n_shared
        self.lambda_gan, self.lambda_recon, self.lambda_kl = lambda_gan, lambda_recon, lambda_kl
        self.lambda_cycle, self.lambda_cycle_kl = lambda_cycle, lambda_cycle_kl
        self.lr, self.beta1, self.beta2, self.weight_decay = lr, beta1, beta2, weight_decay
        self.check_options()

        width = ngf * 2**n_down
        # Registered here, once; the encoders/decoders only apply them (see translate.nets.unit).
        self.shared_encoder = residual_blocks(width, n_shared, norm)
        self.shared_decoder = residual_blocks(width, n_shared, norm)
        self.E_A = Encoder(3, ngf, n_down, n_res, shared=self.shared_encoder, norm=norm)
        self.E_B = Encoder(3, ngf, n_down, n_res, shared=self.shared_encoder, norm=norm)
        self.G_A = Decoder(3, width, n_down, n_res, shared=self.shared_decoder, norm=norm, residual=residual)
        self.G_B = Decoder(3, width, n_down, n_res, shared=self.shared_decoder, norm=norm, residual=residual)
        self.D_A = self.add_critic("D_A", in_channels=3, ndf=ndf, norm=norm)
        self.D_B = self.add_critic("D_B", in_channels=3, ndf=ndf, norm=norm)
        init_weights(self)

    # -- networks ---------------------------------------------------------------------------

    @property
    def min_size(self) -> int:
        """Smallest H and W the encoders take; smaller images are padded up to it (see :class:`Encoder`)."""
        return self.E_A.min_size

    def encoder(self, domain: str) -> Encoder:
        return self.E_A if self.check_domain(domain) == "A" else self.E_B

    def decoder(self, domain: str) -> Decoder:
        return self.G_A if self.check_domain(domain) == "A" else self.G_B

    def latent(self, mu: Tensor) -> Tensor:
        """The code to decode: ``μ + ε`` (ε ~ N(0, I)) in training mode, ``μ`` in eval mode."""
        return mu + torch.randn_like(mu) if self.training else mu

    def decode(self, decoder: nn.Module, z: Tensor, source: Tensor) -> Tensor:
        """``decoder``'s image for code ``z`` of the images ``source``: with ``residual``, ``source`` changed."""
        decoded = decoder(z)
        return residual_output(source, decoded) if self.residual else decoded

    # -- the Model contract -----------------------------------------------------------------

    def distribute(self, wrap) -> None:
        """DDP-wrap the networks, and let the encoders and decoders apply the wrapped shared blocks."""
        super().distribute(wrap)
        for shared, users in (("shared_encoder", ("E_A", "E_B")), ("shared_decoder", ("G_A", "G_B"))):
            if shared in self.replicas:
                for user in users:
                    object.__setattr__(self._modules[user], "shared", self.replicas[shared])

    def parameter_groups(self):
        generator = unique_parameters(self.E_A, self.E_B, self.shared_encoder,
                                      self.shared_decoder, self.G_A, self.G_B)
        critics = unique_parameters(self.D_A, self.D_B) if self.trains else []
        return {"generator": generator, "critic": critics}

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        # Training crops are normally multiples already; otherwise the losses see the padded images.
        real_a, real_b = self.pad(batch["A"]), self.pad(batch["B"])
        generator_steps = self.start_iteration()
        with torch.set_grad_enabled(generator_steps):  # keep the graph only when the generators step
            mu_a, mu_b = self.E_A(real_a), self.E_B(real_b)
            z_a, z_b = self.latent(mu_a), self.latent(mu_b)
            fake_a, fake_b = self.decode(self.G_A, z_b, real_b), self.decode(self.G_B, z_a, real_a)
        logged = self.critic_step([("D_A", self.D_A, real_a, fake_a), ("D_B", self.D_B, real_b, fake_b)])
        if not generator_steps:
            return logged
        with self.frozen(self.D_A, self.D_B):
            adversarial = (self.adversarial_loss("D_A", self.D_A, fake_a, real_a)
                           + self.adversarial_loss("D_B", self.D_B, fake_b, real_b))
            recon = (F.l1_loss(self.decode(self.G_A, z_a, real_a), real_a)
                     + F.l1_loss(self.decode(self.G_B, z_b, real_b), real_b))
            kl = mu_a.pow(2).mean() + mu_b.pow(2).mean()
            mu_ab, mu_ba = self.E_B(fake_b), self.E_A(fake_a)  # codes of the translations
            cycle = (F.l1_loss(self.decode(self.G_A, self.latent(mu_ab), fake_b), real_a)
                     + F.l1_loss(self.decode(self.G_B, self.latent(mu_ba), fake_a), real_b))
            cycle_kl = mu_ab.pow(2).mean() + mu_ba.pow(2).mean()
            loss = (
                self.lambda_gan * adversarial
                + self.lambda_recon * recon
                + self.lambda_kl * kl
                + self.lambda_cycle * cycle
                + self.lambda_cycle_kl * cycle_kl
            )
            self.optimize("generator", loss)
        logged.update(G=adversarial.item(), recon=recon.item(), kl=kl.item(), cycle=cycle.item(),
                      cycle_kl=cycle_kl.item())
        return logged

    def translate(self, images: Tensor, direction: str | None = None) -> Tensor:
        """Encode with the source domain's encoder, decode ``z = μ`` with the target's decoder."""
        return self.inference_network(direction)(images)

    def inference_network(self, direction: str | None = None) -> PadCrop:
        """Source encoder then target decoder, padded to :attr:`size_multiple` (what ``translate`` runs)."""
        source, target = self.ends(direction)
        encoder, decoder = self.encoder(source), self.decoder(target)
        # spelled out layer by layer: the encoders and decoders only apply the shared blocks (not children)
        layers = nn.Sequential(encoder.private, encoder.shared, decoder.shared, decoder.private)
        return PadCrop(GlobalResidual(layers) if self.residual else layers, self.size_multiple, self.min_size)

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        return [batch["A"], self.translate(batch["A"], "AtoB"), batch["B"], self.translate(batch["B"], "BtoA")]


@hookimpl
def translate_models():
    return [UNIT]
