"""How a generator runs while converting: eval mode (the default), or the pix2pix reference's test-time mode.

The PyTorch pix2pix reference's ``test.py`` calls ``model.eval()`` only when given ``--eval``:
by default its generator runs as in training, as the pix2pix paper prescribes ("at inference
time, we run the generator net in exactly the same manner as during the training phase"). Batch
norm then normalises with the statistics of the batch being translated (``test.py`` translates
one image at a time) instead of its running statistics, and dropout stays on, so outputs
depend on torch's random state. translate converts in eval mode unless asked otherwise:

- ``norm_stats="batch"`` (``--norm-stats batch``): batch-norm layers use each image's own
  statistics; their running statistics are neither used nor updated;
- ``dropout=True`` (``--dropout on``): dropout layers drop, from ``torch.manual_seed(seed)``.

In either, each image is translated alone, with torch's random state set by
``torch.manual_seed(seed)`` first (and restored afterwards), so an output depends on its input
and the seed only: the reference's output for that seed, on the same kind of device. An image
larger than the tile size goes through in tiles, each with its own batch statistics.
Generators without such layers refuse the options (one line).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from translate.errors import TranslateError

#: ``--norm-stats`` values: running statistics (eval mode) or each image's own (the reference's test.py).
NORM_STATS = ("running", "batch")
#: The seed of ``--dropout on`` when none is given.
DEFAULT_SEED = 0


@dataclass(frozen=True)
class GeneratorMode:
    """Which statistics batch norm uses, whether dropout is on, and the seed of torch's random state."""

    norm_stats: str = "running"
    dropout: bool = False
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.norm_stats not in NORM_STATS:
            raise TranslateError(f"--norm-stats must be one of {', '.join(NORM_STATS)}, got {self.norm_stats!r}")
        if self.seed is not None and not self.dropout:
            raise TranslateError("--seed sets the dropout masks of --dropout on (and the styles of --styles); add "
                                 "--dropout on or --styles N, or drop --seed")

    @property
    def is_eval(self) -> bool:
        """True for plain eval mode (running statistics, no dropout)."""
        return self.norm_stats == "running" and not self.dropout

    def apply(self, model: nn.Module) -> None:
        """Switch ``model``'s batch-norm and dropout layers (``model`` in eval mode) to this mode; refuse a
        model without the layers asked for."""
        norms, dropouts = _layers(model)
        if self.norm_stats == "batch":
            if not norms:
                raise TranslateError("--norm-stats batch is for generators with batch norm (the reference's "
                                     "pix2pix U-Nets); this one has none")
            for layer in norms:
                layer.train()
                layer.track_running_stats = False  # batch statistics; the running ones stay as they are
        if self.dropout:
            if not dropouts:
                raise TranslateError("--dropout on is for generators with dropout layers (the reference's "
                                     "pix2pix U-Nets); this one has none")
            for layer in dropouts:
                layer.train()

    @contextlib.contextmanager
    def seeded(self, device: torch.device) -> Iterator[None]:
        """Within: torch's random state as ``torch.manual_seed(seed)`` leaves it (restored afterwards)."""
        accelerator = [] if device.type == "cpu" else [device]
        with torch.random.fork_rng(devices=accelerator, device_type="cuda" if device.type == "cpu" else device.type):
            torch.manual_seed(DEFAULT_SEED if self.seed is None else self.seed)
            yield

    def describe(self, model: nn.Module) -> str | None:
        """How ``model``'s batch-norm and dropout layers run, for the conversion report (``None``: it has none)."""
        norms, dropouts = _layers(model)
        if not norms and not dropouts:
            return None
        if self.is_eval:
            return ("generator in eval mode: batch norm with running statistics, dropout off (the pix2pix "
                    "reference's test.py without --eval: --norm-stats batch --dropout on)")
        parts = []
        if norms:
            parts.append("batch norm with each image's own statistics" if self.norm_stats == "batch"
                         else "batch norm with running statistics")
        if dropouts:
            seed = DEFAULT_SEED if self.seed is None else self.seed
            parts.append(f"dropout on (seed {seed})" if self.dropout else "dropout off")
        return (f"generator as in training (the pix2pix reference's test.py without --eval): {', '.join(parts)}, "
                "one image at a time")


def _layers(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """``model``'s batch-norm layers and dropout layers."""
    modules = list(model.modules())
    norms = [m for m in modules if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    dropouts = [m for m in modules if isinstance(m, nn.modules.dropout._DropoutNd)]
    return norms, dropouts
