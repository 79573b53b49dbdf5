"""Exponential moving average of generator weights (``--ema 0.999``).

After every iteration ``ema ← decay · ema + (1 − decay) · weights`` for each parameter of
the model's ``generator`` optimiser group. Sample grids are drawn with the averaged
weights, and checkpoints store them in ``ema.safetensors`` (same keys as
``model.safetensors``), which ``translate convert`` prefers. Buffers (batch-norm
statistics) are not averaged: the current ones are used with the averaged weights.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from translate.errors import TranslateError


class ExponentialMovingAverage:
    """Shadow copies of ``model``'s generator parameters, updated with :meth:`update`."""

    def __init__(self, model: nn.Module, parameters: list[nn.Parameter], decay: float):
        if not 0.0 < decay < 1.0:
            raise TranslateError(f"--ema must be between 0 and 1 (e.g. 0.999), got {decay}")
        self.decay = decay
        names = {id(parameter): name for name, parameter in model.named_parameters()}
        self.names = [names[id(parameter)] for parameter in parameters]
        self.parameters = list(parameters)
        self.shadow = [parameter.detach().clone() for parameter in self.parameters]

    @torch.no_grad()
    def update(self) -> None:
        """Move the averages towards the current weights."""
        for average, parameter in zip(self.shadow, self.parameters):
            average.lerp_(parameter.detach(), 1.0 - self.decay)

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        """Context in which the model holds the averaged weights (restored afterwards)."""
        current = [parameter.detach().clone() for parameter in self.parameters]
        with torch.no_grad():
            for parameter, average in zip(self.parameters, self.shadow):
                parameter.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for parameter, saved in zip(self.parameters, current):
                    parameter.copy_(saved)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averages keyed like the model's state dict (what ``ema.safetensors`` holds)."""
        return {name: average.detach().cpu().contiguous() for name, average in zip(self.names, self.shadow)}

    def load_state_dict(self, state: dict[str, torch.Tensor], source: str) -> None:
        """Restore the averages; ``source`` names the file in errors."""
        missing = [name for name in self.names if name not in state]
        if missing:
            raise TranslateError(f"'{source}' lacks averaged weights {missing[:3]}")
        for name, average in zip(self.names, self.shadow):
            if state[name].shape != average.shape:
                raise TranslateError(
                    f"'{source}': {name} has shape {tuple(state[name].shape)}, the model {tuple(average.shape)}"
                )
            average.copy_(state[name])
