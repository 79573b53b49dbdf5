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

and for each generator step ``objective.generator_loss(critic(fake_input))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal

if TYPE_CHECKING:
    from torch import Tensor

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
    """

    score: Tensor
    code: Tensor | None = None

    def detach(self) -> "CriticOutput":
        """The same output cut from the autograd graph."""
        return CriticOutput(self.score.detach(), None if self.code is None else self.code.detach())


CriticFn = Callable[["Tensor"], CriticOutput]


class Objective:
    """Base class of adversarial objectives (loss plugins).

    Subclasses set :attr:`name` and :attr:`critic`, take their options as keyword
    arguments of ``__init__`` with defaults (``--loss-opt key=value`` fills them)
    and keep each one as an attribute of the same name, and implement :meth:`critic_loss` and :meth:`generator_loss`. Stateful
    objectives also override :meth:`update`, :meth:`state_dict` and
    :meth:`load_state_dict`.
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

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        """Loss the critic minimises, from its outputs on real and generated input."""
        raise NotImplementedError(f"{type(self).__name__} must implement critic_loss")

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        """Adversarial loss the generator minimises, from the critic's output on its images."""
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


def mean_score(output: CriticOutput) -> Tensor:
    """Mean of a critic's score map over batch and patch grid."""
    return output.score.mean()


def per_sample(score: Tensor) -> Tensor:
    """Mean of a score map per sample: ``(N, 1, h, w) -> (N,)``."""
    return score.flatten(1).mean(1)


__all__ = [
    "CriticFn",
    "CriticKind",
    "CriticOutput",
    "Objective",
    "mean_score",
    "per_sample",
]
