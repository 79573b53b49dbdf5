"""Boundary Equilibrium GAN (``--loss began``): a stateful objective on an energy critic.

``critic = "energy"`` makes the model build an autoencoder critic
(:class:`translate.nets.energy.EnergyCritic`, per-pixel **L1** error: ``critic_options =
{"distance": "l1"}``). Its score is an energy map ``E(v)`` of shape ``(N, 1, h, w)``: the per-patch mean
of ``|D(v) − v|``, low where the critic reconstructs well ("looks real"). "mean" is over
batch and patch grid::

    L_D = mean E(x) − k_t · mean E(G(z))
    L_G = mean E(G(z))

The generator's reconstruction target is the generated image itself and is not detached
(gradient flows through both ``v`` and ``D(v)``, as in the paper).

State: the balance ``k_t`` (option ``k``, initially 0). After each critic step the model
calls :meth:`BEGAN.update` with the detached outputs computed *before* the step::

    k_{t+1} = clamp(k_t + λ_k · (γ · mean E(x) − mean E(G(z))), 0, 1)
    M       = mean E(x) + |γ · mean E(x) − mean E(G(z))|          (convergence measure, logged)

Both means pass through :meth:`~translate.objective.Objective.reduce` first (an all-reduce
under DDP) so every rank keeps the same ``k_t``. ``k_t`` (and ``γ``, for information) is
saved in checkpoints by :meth:`BEGAN.state_dict`.

Options: ``gamma`` γ ∈ (0, 1] = 0.75 (diversity ratio), ``lambda_k`` λ_k ≥ 0 = 0.001,
``k`` ∈ [0, 1] = 0.0.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from translate import hookimpl
from translate.objective import CriticOutput, Objective
from translate.options import OptionError


def _number(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(f"objective 'began' option {option!r} must be a finite number, got {value!r}")
    return float(value)


class BEGAN(Objective):
    """BEGAN loss with the proportional control of ``k_t`` (Berthelot et al. 2017)."""

    name = "began"
    critic = "energy"
    #: Per-pixel error of the energy critic the model builds for this objective.
    critic_options = {"distance": "l1"}

    def __init__(self, gamma: float = 0.75, lambda_k: float = 0.001, k: float = 0.0) -> None:
        gamma = _number(gamma, "gamma")
        lambda_k = _number(lambda_k, "lambda_k")
        k = _number(k, "k")
        if not 0.0 < gamma <= 1.0:
            raise OptionError(f"objective 'began' option 'gamma' must be in (0, 1], got {gamma!r}")
        if lambda_k < 0.0:
            raise OptionError(f"objective 'began' option 'lambda_k' must be >= 0, got {lambda_k!r}")
        if not 0.0 <= k <= 1.0:
            raise OptionError(f"objective 'began' option 'k' must be in [0, 1], got {k!r}")
        self.gamma = gamma
        self.lambda_k = lambda_k
        self.k = k

    def critic_loss(self, real: CriticOutput, fake: CriticOutput) -> Tensor:
        return real.score.mean() - self.k * fake.score.mean()

    def generator_loss(self, fake: CriticOutput) -> Tensor:
        return fake.score.mean()

    @torch.no_grad()
    def update(self, real: CriticOutput, fake: CriticOutput) -> dict[str, float]:
        means = torch.stack([real.score.detach().float().mean(), fake.score.detach().float().mean()])
        real_mean, fake_mean = (float(v) for v in self.reduce(means))
        balance = self.gamma * real_mean - fake_mean
        self.k = min(max(self.k + self.lambda_k * balance, 0.0), 1.0)
        return {"k": self.k, "M": real_mean + abs(balance)}

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "gamma": self.gamma}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "k" not in state:
            raise ValueError(f"objective 'began' state needs 'k', got keys {sorted(state)}")
        k = float(state["k"])
        if not 0.0 <= k <= 1.0:
            raise ValueError(f"objective 'began' state 'k' must be in [0, 1], got {k!r}")
        self.k = k


@hookimpl
def translate_objectives() -> list[type[Objective]]:
    return [BEGAN]
