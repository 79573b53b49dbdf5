"""What an objective gives a model, checked at run time in the sentences the conformance kit prints.

Models call objectives only through :meth:`Model.critic_step <translate.models.base.Model.critic_step>`
and :meth:`Model.adversarial_loss <translate.models.base.Model.adversarial_loss>`. There every loss an
objective returns must be a 0-dim tensor (checked at every step: it costs nothing) and, on the first
critic and generator steps of each critic, a finite one; a penalty must reach the critic's parameters
with a gradient (checked on its first step). The trainer compares the objective's attributes at its
first checkpoint with what ``state_dict()`` restores (:func:`unsaved_attributes`).

Each function returns the problem as a sentence (``None``: no problem). ``where`` is put where the
kit names the runs a problem happened in (``"with cyclegan (patch critic)"``); at run time it is empty.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import Tensor, nn

from translate.objective import Objective


def _at(where: str) -> str:
    return f" {where}" if where else ""


def loss_problem(value: Any, method: str, where: str = "") -> str | None:
    """Unless ``value`` is a 0-dim tensor: what ``method`` returned instead, and what to return."""
    if not isinstance(value, Tensor):
        return f"{method} returned {type(value).__name__}{_at(where)}; it must return a 0-dim torch.Tensor"
    if value.dim() != 0:
        return (f"{method} returned a tensor of shape {tuple(value.shape)}{_at(where)}; it must return a 0-dim "
                "(scalar) tensor, e.g. reduce with .mean()")
    return None


def finite_problem(value: Tensor, method: str, where: str = "") -> str | None:
    """Unless the 0-dim ``value`` is finite: that ``method`` returned a NaN or an infinity."""
    if torch.isfinite(value.detach()).item():
        return None
    return f"{method} returned {value.item()}{_at(where)}; losses must be finite"


def penalty_gradient_problem(penalty: Tensor, critic: nn.Module, where: str = "") -> str | None:
    """Unless ``penalty`` is connected to ``critic``'s parameters: that it trains nothing.

    Only a broken connection is a problem (a penalty built from ``torch.autograd.grad`` without
    ``create_graph=True``, or detached); a gradient that happens to be zero in one step is not.
    """
    parameters = [parameter for parameter in critic.parameters() if parameter.requires_grad]
    if penalty.requires_grad and parameters:
        gradients = torch.autograd.grad(penalty, parameters, retain_graph=True, allow_unused=True)
        if any(gradient is not None for gradient in gradients):
            return None
    return no_penalty_gradient_problem(where)


def no_penalty_gradient_problem(where: str = "") -> str:
    """The sentence for a penalty that gives the critic no gradient."""
    return (f"penalty gives no gradient to the critic{_at(where)}, so it trains nothing (a gradient penalty "
            "needs torch.autograd.grad(..., create_graph=True), and no .detach())")


def attribute_values(objective: Objective) -> dict[str, Any]:
    """The objective's data attributes that a checkpoint could carry: plain values, and tensors (as copies)."""
    values = {}
    for name, value in vars(objective).items():
        if isinstance(value, Tensor):
            values[name] = value.detach().clone()
        elif not callable(value) and _is_plain(value):
            values[name] = value
    return values


def unsaved_attributes(initial: dict[str, Any], trained: Objective, restored: Objective) -> list[str]:
    """Attributes of ``trained`` that changed since ``initial`` (:func:`attribute_values` before training) and
    that ``restored`` (a fresh objective given ``trained.state_dict()``) does not get back: state a resumed
    run loses."""
    now, back = attribute_values(trained), attribute_values(restored)
    return sorted(name for name, value in now.items()
                  if not _same(value, initial.get(name)) and not _same(value, back.get(name)))


def unsaved_state_problem(attribute: str, where: str = "") -> str:
    """The sentence for state kept outside ``state_dict()``."""
    return (f"attribute {attribute!r} changed during training but is not in state_dict(){_at(where)}, so a "
            "resumed run starts it afresh: return it from state_dict() and set it in load_state_dict()")


def state_warning(objective_name: str, attributes: Iterable[str]) -> str:
    """The trainer's one-line warning for the attributes of :func:`unsaved_attributes` (any critic)."""
    listed = ", ".join(repr(name) for name in sorted(set(attributes)))
    return (f"objective {objective_name!r} keeps {listed} outside state_dict(): they changed during training, "
            "but a checkpoint does not carry them, so --resume starts them afresh; return them from state_dict() "
            "and set them in load_state_dict()")


def _same(value: Any, other: Any) -> bool:
    if isinstance(value, Tensor) or isinstance(other, Tensor):
        return (isinstance(value, Tensor) and isinstance(other, Tensor) and value.shape == other.shape
                and bool(torch.equal(value.cpu(), other.cpu())))
    try:
        return bool(value == other)
    except Exception:  # e.g. comparing lists of tensors
        return False


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


__all__ = [
    "attribute_values",
    "finite_problem",
    "loss_problem",
    "no_penalty_gradient_problem",
    "penalty_gradient_problem",
    "state_warning",
    "unsaved_attributes",
    "unsaved_state_problem",
]
