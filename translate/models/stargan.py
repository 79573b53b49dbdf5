"""StarGAN (Choi et al. 2018): one generator for many domains, conditioned on a label vector.

``G(x, c)`` translates images ``x`` to the domain or attribute combination ``c``
(:class:`~translate.nets.stargan.StarGenerator`: label planes concatenated to the image,
and by default a per-label scale and shift after every instance norm). Labels come in two kinds:

* **domains** (``domains=photo,graded,...`` or one folder per domain): one-hot labels,
  classification by cross-entropy (the reference's RaFD setting);
* **attributes** (``attrs=Black_Hair,Blond_Hair,Male`` with CelebA's
  ``list_attr_celeba.txt``): multi-hot labels, classification by binary cross-entropy
  summed over attributes and averaged over the batch (the reference's CelebA setting).
  Hair colours (``Black_Hair``, ``Blond_Hair``, ``Brown_Hair``, ``Gray_Hair``) form an
  exclusive group: choosing one as a target clears the others.

Critics. The adversarial critic ``D`` is whatever the objective asks for
(:meth:`Model.add_critic`, normalised as ``critic_norm`` says: PatchGAN for lsgan/vanilla/hinge/wgan-gp,
the energy autoencoder for began/ebgan); its objective never sees labels. With domains it is
**conditioned on the target** (``conditional_critic``, translate's default): it reads the target's
label planes beside the image, and the translations to a domain are compared with training images
of that domain (the permuted batch's own; in a batch of one, the latest image seen of the domain,
kept in :meth:`training_state`; the critic skips its step until every target has been seen). It then
asks "is this a real image *of that domain*", where the reference's unconditional critic asks "is
this a real image of any domain" and must call an unchanged photo real. Attribute labels keep the
unconditional critic (a combination of attributes may have no real image). Domain
classification is a **separate network** ``C`` (:class:`~translate.nets.stargan.DomainClassifier`:
the reference critic's trunk with a 1×1 conv + global average pooling head, so it works
at any image size) with its own optimiser group ``"classifier"``. The reference shares one
trunk between the adversarial and the class head; here the adversarial head belongs to the
objective's critic factory, so sharing would tie the class head to one critic kind (on an
energy critic it would have to read the bottleneck code). A separate classifier is the same
for every objective, and because the two networks have disjoint parameters, stepping them
with separate Adam optimisers is what the reference's joint critic step does to each part.
The gradient penalty (wgan-gp) is taken through ``D`` only, never through the class head.

Update order per iteration (``yunjey/stargan:solver.py``), with ``c`` the real labels and
``c'`` the targets:

1. critic step: ``D`` on real ``x`` vs ``G(x, c')`` through the objective (plus its penalty); with
   the conditional critic, real images of the domains ``c'`` (labelled ``c'``) vs ``G(x, c')``;
2. classifier step: ``λ_cls · cls(C(x), c)`` — real images only (``yunjey/stargan#129``);
3. on the first of every ``critic_steps`` iterations, a generator step with ``D`` and ``C``
   frozen on ``adv(D(G(x, c'))) + λ_cls · cls(C(G(x, c')), c') + λ_rec · |G(G(x, c'), c) − x|₁``.

The objective owns the schedule (:attr:`~translate.objective.Objective.critic_steps`):
``wgan-gp`` takes 5 critic steps per generator step by default, as the reference
(``--loss-opt critic_steps=1`` changes it), the other built-ins 1. The reference steps the
generator on the last iteration of each group of ``n_critic``; here it steps on the first,
so a run of any length updates the generator. The iteration counter lives in
:meth:`training_state`, so a resumed run keeps the schedule. Logged: the critic's values
(``D``, ``D/penalty``, …), ``cls_real`` every iteration, and ``G``, ``cls_fake``, ``rec``
only on iterations where the generator stepped.

Targets ``c'`` are the real labels of the batch in a random order (``torch.randperm`` from
the global RNG), so every target is a label combination that occurs in the data. A batch
of one cannot be permuted: a one-hot sample then gets a random *other* domain, an attribute
sample the reference's test edit of one random attribute (a hair colour is set and the
other hair colours cleared, any other attribute flipped) among the edits that change it.

translate's defaults differ from the reference in seven ways, chosen by measurement on photos
with two gradings as three domains (``benchmarks/learning.py --model stargan``; the learning
docs have the table). With the reference's generator the label reaches the net only through
the zero-padded borders of its first convolution (the instance norm after it removes constant
planes), and after 480 steps at 64 px the translations to both gradings were the same blotchy
change; with the global residual path alone the generator stayed the identity. The defaults:

* ``condition="norm"``: every instance norm of the generator is followed by a learned scale and
  shift per label (:class:`~translate.nets.stargan.LabelNorm`), which normalisation cannot
  remove; without it the residual generator never left the identity (+0.00 dB);
* ``residual=True``: a global residual path (the untrained generator is the identity for every
  label, so the photo is kept from the first step and training learns only the change);
* ``upsample="nearest"``: resize-then-convolve upsampling (no checkerboard pattern);
* ``colour_matrix=True``: the residual path starts from the input recoloured by a learned affine colour
  matrix per label (:class:`~translate.nets.stargan.LabelColourMatrix`, moving 30 times as fast as the other
  weights). Without it sepia stayed 0.2-1.6 dB below the identity with every loss weight, critic and
  objective screened: the generator's body, whose instance norms remove each image's colour amplitude, learned
  to desaturate only slowly even when trained on the truth itself (+1.6 to +2.0 dB after 160-480 paired steps,
  against +12 dB for dusk after 160), and the generator warmed and saturated the photo instead, which fooled
  the classifier. With it sepia gains +1.3 to +2.9 dB and dusk +6.2 to +10.9 dB (seeds 0-4);
* ``lr=2e-4`` instead of 1e-4: at 1e-4 the change had barely begun after 480 steps;
* ``critic_norm="instance"``: the adversarial critic normalises its features (the reference's
  has no norm); the un-normalised critic hardly learned in 480 steps (its loss stayed at the
  0.25 of a constant output), so nothing held the generator's outputs to real images;
* ``conditional_critic`` (domains): the critic judges each translation against real images of its
  target domain (above); unconditional, only the classifier said where to go, and it was fooled by
  changes that missed the grading.

``reference_options`` (``--preset reference``) restores the reference's network and training
(and checkpoints saved before these options existed load with them). The loss weights stay the
reference's (λ_cls 1, λ_rec 10): larger λ_cls or smaller λ_rec made larger changes that were
further from the truth, and an identity term ``|G(x, c) − x|₁`` with the image's own label
(weight 1 or 5) did not keep the photo better, so there is none.

Conversion: ``translate(images, to="Blond_Hair")`` or ``to="Blond_Hair,Male"`` (attributes;
the others are 0 unless ``original=`` gives the images' own labels to edit) or
``to="photo"`` (one domain). :meth:`targets` lists the valid names and
:meth:`translate_all` returns one output per target. The domain and attribute names are
options, so checkpoints describe themselves; :meth:`metadata` repeats them with the
exclusive groups.

Where the names come from: ``domains``/``attrs`` given as options win. Otherwise
:meth:`options_from_data` (called by the trainer with the data root before it builds the
model) fills them: CelebA roots get the reference attributes
(``Black_Hair,Blond_Hair,Brown_Hair,Male,Young``), folder roots the sorted names of
``train/<domain>/`` (or ``A,B`` for ``trainA/``+``trainB/``).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from translate import hookimpl
from translate.data.domains import (
    CELEBA_DEFAULT_ATTRS,
    CELEBA_EXCLUSIVE_GROUPS,
    CelebADataset,
    DomainFolderDataset,
    find_domains,
    is_celeba,
)
from translate.models.base import Model, ObjectiveFactory
from translate.nets import PadCrop
from translate.nets.layers import NORM_KINDS, UPSAMPLE_KINDS
from translate.nets.stargan import (
    CONDITIONS,
    DomainClassifier,
    LabelledGenerator,
    StarGenerator,
    with_label_planes,
)
from translate.options import COUNT, WEIGHT, WIDTH, OptionError


def split_names(value: str | Sequence[str]) -> list[str]:
    """``"a, b,c"`` → ``["a", "b", "c"]`` (empty entries dropped); lists pass through stripped."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [part.strip() for part in parts if part.strip()]


class StarGAN(Model):
    """StarGAN: the reference's widths and loss weights (conv_dim 64, 6 blocks, 6-layer classifier, λ_cls 1,
    λ_rec 10) with translate's learning defaults (label norms, residual path with a colour matrix per label,
    resize-conv, lr 2e-4, IN critic conditioned on the target domain)."""

    name = "stargan"
    optimizer_names = ("generator", "critic", "classifier")
    tiny_options = {"conv_dim": 8, "repeat_num": 1, "critic_dim": 8, "critic_layers": 3}
    option_limits = {**Model.option_limits, "conv_dim": WIDTH, "repeat_num": COUNT, "critic_dim": WIDTH,
                     "critic_layers": WIDTH, "lambda_cls": WEIGHT, "lambda_rec": WEIGHT}
    #: The critic schedule moved to the objective (``critic_steps``).
    retired_options = frozenset({"n_critic"})
    reference_options = {"upsample": "transpose", "residual": False, "condition": "input", "lr": 1e-4,
                         "critic_norm": "none", "conditional_critic": False, "colour_matrix": False}

    def __init__(
        self,
        make_objective: ObjectiveFactory | None,
        image_size: int = 128,
        *,
        domains: str = "",
        attrs: str = "",
        conv_dim: int = 64,
        repeat_num: int = 6,
        critic_dim: int = 64,
        critic_layers: int = 6,
        critic_norm: str = "instance",
        conditional_critic: bool | None = None,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        upsample: str = "nearest",
        residual: bool = True,
        condition: str = "norm",
        colour_matrix: bool = True,
        critic_scales: int = 1,
        lambda_fm: float = 0.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
    ):
        super().__init__(make_objective, image_size, critic_scales=critic_scales, lambda_fm=lambda_fm)
        self.domains, self.attrs = ",".join(split_names(domains)), ",".join(split_names(attrs))
        self.conv_dim, self.repeat_num = conv_dim, repeat_num
        self.critic_dim, self.critic_layers, self.critic_norm = critic_dim, critic_layers, critic_norm
        self.lambda_cls, self.lambda_rec = lambda_cls, lambda_rec
        self.upsample, self.residual, self.condition = upsample, residual, condition
        self.colour_matrix = colour_matrix
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.multi_label = bool(self.attrs)
        self.labels = self._check_names(split_names(domains), split_names(attrs))
        self.exclusive_groups = [
            [name for name in group if name in self.labels]
            for group in CELEBA_EXCLUSIVE_GROUPS
            if self.multi_label and sum(name in self.labels for name in group) >= 2
        ]
        self.conditional_critic = not self.multi_label if conditional_critic is None else conditional_critic
        if self.conditional_critic and self.multi_label:
            raise OptionError("model 'stargan' option 'conditional_critic' needs domains: a critic conditioned on "
                              "the target is shown real images of it, and attribute combinations may have none")
        self.check_options()
        if colour_matrix and not residual:
            raise OptionError("model 'stargan' option 'colour_matrix' recolours the input of the residual path: "
                              "it needs residual=true (or colour_matrix=false)")
        for option, value, valid in (("upsample", upsample, UPSAMPLE_KINDS), ("condition", condition, CONDITIONS),
                                     ("critic_norm", critic_norm, NORM_KINDS)):
            if value not in valid:
                raise OptionError(f"model option {option!r} must be one of {', '.join(valid)}, got {value!r}")
        self.G = StarGenerator(len(self.labels), conv_dim=conv_dim, repeat_num=repeat_num, upsample=upsample,
                               residual=residual, condition=condition, colour_matrix=colour_matrix)
        critic_channels = 3 + len(self.labels) if self.conditional_critic else 3
        self.D = self.add_critic("D", in_channels=critic_channels, ndf=critic_dim, norm=critic_norm)
        self.C = None
        if self.trains:
            self.C = DomainClassifier(len(self.labels), conv_dim=critic_dim, n_layers=critic_layers)
        #: The latest training image of each domain (rows of ``domains_seen``), which the conditional
        #: critic is shown as the real image of that target; in :meth:`training_state` for exact resume.
        self.domain_reals: Tensor | None = None
        self.domains_seen: Tensor | None = None

    @staticmethod
    def _check_names(domains: list[str], attrs: list[str]) -> list[str]:
        if domains and attrs:
            raise OptionError(
                "model 'stargan' takes either 'domains' (one-hot) or 'attrs' (CelebA attributes), not both"
            )
        names = attrs or domains
        if not names:
            raise OptionError(
                "model 'stargan' needs its domains: train on a data folder with one subfolder per domain "
                "(the trainer fills them in), or pass --model-opt domains=a,b,... or --model-opt attrs=Black_Hair,..."
            )
        if len(set(names)) != len(names):
            raise OptionError(f"model 'stargan': a name is given twice in {','.join(names)}")
        if not attrs and len(names) < 2:
            raise OptionError(f"model 'stargan' needs at least two domains, got {','.join(names)}")
        return names

    # -- data ---------------------------------------------------------------------------

    @classmethod
    def options_from_data(cls, root: str, options: dict[str, Any]) -> dict[str, Any]:
        """Fill ``domains`` (folder data) or ``attrs`` (CelebA) from ``root`` when neither is given."""
        if split_names(options.get("domains", "")) or split_names(options.get("attrs", "")):
            return options
        if is_celeba(root):
            return {**options, "attrs": ",".join(CELEBA_DEFAULT_ATTRS)}
        return {**options, "domains": ",".join(find_domains(root, "train"))}

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]):
        attrs = split_names(options.get("attrs", ""))
        if attrs:
            return CelebADataset(root, split=split, image_size=image_size, train=train, attrs=attrs)
        domains = split_names(options.get("domains", "")) or None
        return DomainFolderDataset(root, split=split, image_size=image_size, train=train, domains=domains)

    def parameter_groups(self):
        return {
            "generator": list(self.G.parameters()),
            "critic": list(self.D.parameters()),
            "classifier": list(self.C.parameters()),
        }

    # -- labels -------------------------------------------------------------------------

    def classification_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """BCE summed over attributes and averaged over the batch, or cross-entropy over domains."""
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.shape[0]
        return F.cross_entropy(logits, labels.argmax(dim=1))

    def sample_targets(self, labels: Tensor) -> Tensor:
        """Target labels for a training batch: its real labels in a random order.

        A batch of one gets a random other domain (one-hot) or one random attribute edited
        as the reference's test labels (:meth:`edit_attribute`), chosen among the edits that
        change the labels (setting the hair colour a face already has changes nothing).
        """
        count = labels.shape[0]
        if count > 1:
            return labels[torch.randperm(count).to(labels.device)]
        if not self.multi_label:
            current = labels.argmax(dim=1)
            shift = torch.randint(1, len(self.labels), (count,)).to(labels.device)
            return F.one_hot((current + shift) % len(self.labels), len(self.labels)).to(labels.dtype)
        changes = [i for i in range(len(self.labels)) if not torch.equal(self.edit_attribute(labels, i), labels)]
        return self.edit_attribute(labels, changes[int(torch.randint(len(changes), ()))])

    def edit_attribute(self, labels: Tensor, index: int) -> Tensor:
        """The reference's test edit of attribute ``index``: a grouped one is set (its group
        cleared), any other flipped."""
        edited = labels.clone()
        group = self._group_of(self.labels[index])
        if group:
            edited[:, [self.labels.index(name) for name in group]] = 0.0
            edited[:, index] = 1.0
        else:
            edited[:, index] = 1.0 - edited[:, index]
        return edited

    def _group_of(self, name: str) -> list[str]:
        return next((group for group in self.exclusive_groups if name in group), [])

    def targets(self) -> list[str]:
        """Every valid ``to=`` name: the domains, or the attributes."""
        return list(self.labels)

    def target_labels(self, to: str | Sequence[str] | Tensor | None, count: int,
                      original: Tensor | None = None) -> Tensor:
        """Label vectors ``(count, c_dim)`` for ``translate(to=...)``.

        One-hot: ``to`` names one domain. Attributes: each name in ``to`` is set to 1 and
        the other members of its exclusive group to 0; the remaining attributes keep
        ``original`` (the images' own labels, ``(count, c_dim)`` or ``(c_dim,)``) or are 0.
        A tensor ``to`` is used as the labels themselves.
        """
        size = len(self.labels)
        if isinstance(to, Tensor):
            labels = to.float().reshape(-1, size) if to.numel() % size == 0 else None
            if labels is None or labels.shape[0] not in (1, count):
                raise OptionError(f"'to' labels must have shape ({count}, {size}) or ({size},), got {tuple(to.shape)}")
            return labels.expand(count, size).clone()
        names = split_names(to) if to is not None else []
        if not names:
            raise OptionError(f"model 'stargan' needs a target: to=NAME with NAME one of {', '.join(self.labels)}")
        unknown = [name for name in names if name not in self.labels]
        if unknown:
            raise OptionError(f"unknown target {', '.join(unknown)}; valid targets: {', '.join(self.labels)}")
        if not self.multi_label:
            if len(names) != 1:
                raise OptionError(f"translate to one domain at a time, got {', '.join(names)}")
            return F.one_hot(torch.full((count,), self.labels.index(names[0])), size).float()
        for group in self.exclusive_groups:
            clash = [name for name in names if name in group]
            if len(clash) > 1:
                raise OptionError(f"attributes {', '.join(clash)} exclude each other; choose one of them")
        if original is None:
            labels = torch.zeros(count, size)
        else:
            labels = original.detach().float().cpu().reshape(-1, size).expand(count, size).clone()
        for name in names:
            group = self._group_of(name)
            if group:
                labels[:, [self.labels.index(member) for member in group]] = 0.0
            labels[:, self.labels.index(name)] = 1.0
        return labels

    # -- training -----------------------------------------------------------------------

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        real, labels = batch["A"], batch["label"].to(batch["A"].dtype)
        targets = self.sample_targets(labels)
        generator_steps = self.start_iteration()
        with torch.set_grad_enabled(generator_steps):  # keep G's graph only when G steps
            fake = self.G(real, targets)
        critic, critic_real = self._critic_for(real, labels, targets)
        logged = self.critic_step([("D", critic, critic_real, fake)]) if critic_real is not None else {}
        cls_real = self.classification_loss(self.C(real), labels)
        self.optimize("classifier", self.lambda_cls * cls_real)
        logged["cls_real"] = cls_real.item()
        if generator_steps:
            with self.frozen(self.D, self.C):
                adversarial = self.adversarial_loss("D", critic, fake, real if critic_real is None else critic_real)
                cls_fake = self.classification_loss(self.C(fake), targets)
                rec = F.l1_loss(self.G(fake, labels), real)
                self.optimize("generator", adversarial + self.lambda_cls * cls_fake + self.lambda_rec * rec)
            logged.update({"G": adversarial.item(), "cls_fake": cls_fake.item(), "rec": rec.item()})
        return logged

    def _critic_for(self, real: Tensor, labels: Tensor, targets: Tensor) -> tuple[Any, Tensor | None]:
        """The adversarial critic for translations to ``targets``, and the real images it compares them with.

        Unconditional: ``D`` itself and the batch's images. Conditional: ``D`` reading the target's
        label planes beside the image, and for each target the latest training image of that domain
        (in a permuted batch, one of the batch's own); ``None`` while a target domain has not been
        seen yet (the first steps of a batch-1 run), when the critic skips its step.
        """
        if not self.conditional_critic:
            return self.D, real
        if self.domain_reals is None:
            self.domain_reals = real.new_zeros((len(self.labels), *real.shape[1:]))
            self.domains_seen = torch.zeros(len(self.labels), dtype=torch.bool, device=real.device)
        for index, domain in enumerate(labels.argmax(dim=1).tolist()):  # in order: the batch's last image wins
            self.domain_reals[domain] = real[index].detach()
            self.domains_seen[domain] = True
        wanted = targets.argmax(dim=1)

        def critic(images: Tensor) -> Any:
            return self.D(with_label_planes(images, targets))

        return critic, self.domain_reals[wanted] if bool(self.domains_seen[wanted].all()) else None

    def training_state(self) -> dict[str, Any]:
        if self.domain_reals is None:
            return super().training_state()
        return {**super().training_state(), "domain_reals": self.domain_reals.cpu(),
                "domains_seen": self.domains_seen.cpu()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        super().load_training_state(state)
        if "domain_reals" in state:
            device = next(self.parameters()).device
            self.domain_reals = state["domain_reals"].to(device)
            self.domains_seen = state["domains_seen"].to(device)

    # -- conversion ---------------------------------------------------------------------

    def translate(self, images: Tensor, to: str | Sequence[str] | Tensor | None = None,
                  original: Tensor | None = None) -> Tensor:
        labels = self.target_labels(to, images.shape[0], original)
        return self.G(images, labels.to(device=images.device, dtype=images.dtype))

    def inference_network(self, to: str | Sequence[str] | Tensor | None = None,
                          original: Tensor | None = None) -> PadCrop:
        """The generator with the labels of ``to`` bound, padded to its multiple (for export)."""
        labels = self.target_labels(to, 1, original)
        device = next(self.G.parameters()).device
        return PadCrop(LabelledGenerator(self.G, labels.to(device)), StarGenerator.size_multiple,
                       StarGenerator.min_size)

    def conversion_targets(self) -> dict[str, dict[str, Any]]:
        """``convert --every-target``: one output per domain or attribute (``{name: {"to": name}}``)."""
        return {name: {"to": name} for name in self.targets()}

    def translate_all(self, images: Tensor, original: Tensor | None = None) -> dict[str, Tensor]:
        """One translation of ``images`` per target: ``{name: output}`` in :meth:`targets` order."""
        return {name: self.translate(images, to=name, original=original) for name in self.targets()}

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """The input, then one column per domain (at most five); attributes are edited as the reference's test."""
        images, columns = batch["A"], [batch["A"]]
        for index, name in enumerate(self.labels[:5]):
            if self.multi_label and "label" in batch:
                labels = self.edit_attribute(batch["label"].to(images.dtype), index)
            else:
                labels = self.target_labels(name, images.shape[0]).to(device=images.device, dtype=images.dtype)
            columns.append(self.G(images, labels))
        return columns

    def metadata(self) -> dict[str, Any]:
        return {
            "domains": [] if self.multi_label else list(self.labels),
            "attrs": list(self.labels) if self.multi_label else [],
            "exclusive_groups": [list(group) for group in self.exclusive_groups],
            "targets": self.targets(),
        }


__all__ = ["StarGAN", "split_names"]


@hookimpl
def translate_models():
    return [StarGAN]
