"""The Objective contract: what an adversarial-loss plugin implements.

An objective never talks about a model. It sees what a critic said about real
and generated inputs (:class:`CriticOutput`) and turns that into losses. Every
model in translate asks the objective which kind of critic to build
(:attr:`Objective.critic`) and then calls, in this order, for each critic step::

    real = critic(real_input)            # CriticOutput
    fake = critic(fake_input.detach())   # CriticOutput
    loss = objective.critic_loss(real, fake)
    penalty = objective.penalty(critic_fn, real_input, fake_input.detach())
    (loss + penalty if penalty is not None else loss).backward(); critic_optimizer.step()
    logged = objective.update(real.detach(), fake.detach())   # values from *before* the step

and for each generator step (the critic frozen)::

    fake = critic(fake_input)                             # gradients flow into the generator
    loss = objective.generator_loss(fake)                 # or, with generator_needs_real = True:
    loss = objective.generator_loss(fake, real)           # real = critic(real_input) without a graph

Every iteration makes one critic step; the generator steps on the first iteration
of every :attr:`Objective.critic_steps` (the objective owns that schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

if TYPE_CHECKING:
    from torch import Tensor

from translate.errors import TranslateError
from translate.options import option_defaults

CriticKind = Literal["patch", "energy"]


@dataclass
class CriticOutput:
    """What a critic says about a batch of images.

    :ivar score: ``(N, 1, h, w)`` map, one value per patch. For a ``patch`` critic
        these are logits/scores; for an ``energy`` critic they are reconstruction
        energies (low = looks real).
    :ivar code: the energy critic's bottleneck code ``(N, C, h', w')``; ``None`` for
        patch critics.
    :ivar features: a patch critic's intermediate activations, first layer first (what
        feature matching compares, ``--model-opt lambda_fm``); ``None`` for energy critics.
    """

    score: Tensor
    code: Tensor | None = None
    features: list[Tensor] | None = None

    def detach(self) -> "CriticOutput":
        """The same output cut from the autograd graph."""
        return CriticOutput(self.score.detach(), None if self.code is None else self.code.detach(),
                            None if self.features is None else [feature.detach() for feature in self.features])


CriticFn = Callable[["Tensor"], CriticOutput]


class Objective:
    """Base class of adversarial objectives (loss plugins).

    Subclasses set :attr:`name` and :attr:`critic`, take their options as keyword
    arguments of ``__init__`` with defaults (``--loss-opt key=value`` fills them)
    and keep each one as an attribute of the same name, and implement
    :meth:`critic_loss` and :meth:`generator_loss`. Relativistic objectives set
    :attr:`generator_needs_real`; objectives that want several critic steps per
    generator step set :attr:`critic_steps`. Stateful objectives also override
    :meth:`update`, :meth:`state_dict` and :meth:`load_state_dict`.
    """

    #: What ``--loss`` selects; unique across all installed plugins.
    name: ClassVar[str] = ""
    #: Which critic the model builds: ``"patch"`` (PatchGAN score map) or
    #: ``"energy"`` (autoencoder whose score is a per-patch reconstruction energy).
    critic: ClassVar[CriticKind] = "patch"
    #: True when the critic must treat every sample on its own (no BatchNorm),
    #: e.g. because a per-sample gradient penalty is taken through it.
    per_sample_critic: ClassVar[bool] = False
    #: Keyword arguments for the critic network the model builds, e.g.
    #: ``{"distance": "l2"}`` for an energy critic's reconstruction error.
    critic_options: ClassVar[dict[str, Any]] = {}
    #: True when :meth:`generator_loss` needs the critic's output on real input
    #: (relativistic objectives): models then call ``generator_loss(fake, real)``,
    #: with ``real`` computed in the generator step without a graph. False (the
    #: default) spares that critic pass and calls ``generator_loss(fake)``.
    generator_needs_real: ClassVar[bool] = False
    #: Critic steps per generator step. Every iteration (one batch) makes one critic
    #: step; the generator steps on the first iteration of every ``critic_steps``.
    #: A class attribute that an instance may override, e.g. from an option
    #: (``wgan-gp`` takes ``critic_steps``, default 5).
    critic_steps: int = 1
    #: Option values that restore the reference implementation's objective where the built-in's
    #: defaults differ from it (``translate train --preset reference``, as a model's
    #: ``reference_options``); options given with ``--loss-opt`` still win.
    reference_options: ClassVar[dict[str, Any]] = {}

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        """Loss the critic minimises, from its outputs on real and generated input."""
        raise NotImplementedError(f"{type(self).__name__} must implement critic_loss")

    def generator_loss(self, fake: CriticOutput, real: CriticOutput | None = None) -> Tensor:
        """Adversarial loss the generator minimises, from the critic's output on its images.

        :param real: the critic's output on real input, cut from the graph; passed only
            when :attr:`generator_needs_real` is True (otherwise models call
            ``generator_loss(fake)``, so an override may take ``fake`` alone).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement generator_loss")

    def penalty(self, critic: CriticFn, real_input: Tensor, fake_input: Tensor) -> Tensor | None:
        """Extra critic loss that needs the critic itself (e.g. a gradient penalty).

        :param critic: maps a batch of images to a :class:`CriticOutput`; any
            condition (pix2pix's input image, a label) is already bound, so only
            the images are to be interpolated or perturbed.
        :return: a scalar added to :meth:`critic_loss`, or ``None`` (the default).
        """
        return None

    def update(self, real: CriticOutput, fake: CriticOutput) -> dict[str, float]:
        """Update internal state after a critic step; return scalars to log.

        ``real`` and ``fake`` are the detached outputs computed *before* the step.
        """
        return {}

    def reduce(self, value: Tensor) -> Tensor:
        """Average a statistic over distributed ranks before it changes state.

        The trainer replaces this with an all-reduce under DDP so that every rank
        keeps the same state; alone it returns ``value`` unchanged.
        """
        return value

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state saved with every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if state:
            raise ValueError(f"objective {self.name!r} has no state but the checkpoint holds {sorted(state)}")

    def options(self) -> dict[str, Any]:
        """The options this objective was built with (saved in checkpoints)."""
        return {name: getattr(self, name) for name in option_defaults(type(self))}


class ObjectiveError(TranslateError):
    """An objective broke the contract while a model used it: a bug of the objective's plugin.

    Raised by the run-time checks of :mod:`translate.models.objective_checks`; the trainer turns it
    into one line naming the plugin's distribution and version.

    :ivar objective: the objective's class.
    :ivar method: the method that broke the contract, e.g. ``"critic_loss"``.
    :ivar problem: what is wrong and what to change, in the conformance kit's words.
    """

    def __init__(self, objective: type, method: str, problem: str):
        self.objective, self.method, self.problem = objective, method, problem
        super().__init__(f"objective {getattr(objective, 'name', '')!r} ({objective.__qualname__}): {problem}")


def mean_score(output: CriticOutput) -> Tensor:
    """Mean of a critic's score map over batch and patch grid."""
    return output.score.mean()


def per_sample(score: Tensor) -> Tensor:
    """Mean of a score map per sample: ``(N, 1, h, w) -> (N,)``."""
    return score.flatten(1).mean(1)


def bce_with_logits(logits: Tensor, target: float) -> Tensor:
    """Binary cross-entropy of a map of logits against one target (1 = real), averaged over every value."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(logits, logits.new_full(logits.shape, target))


def relative_score(output: CriticOutput, reference: CriticOutput) -> Tensor:
    """Relativistic average score: ``output``'s score map minus the mean score of ``reference``.

    ``relative_score(real, fake)`` is ``D(x) − mean D(G(z))``: how much more real each
    real patch looks than the generated images on average (Jolicoeur-Martineau 2018).
    """
    return output.score - reference.score.mean()


__all__ = [
    "CriticFn",
    "CriticKind",
    "CriticOutput",
    "Objective",
    "ObjectiveError",
    "bce_with_logits",
    "mean_score",
    "per_sample",
    "relative_score",
]
