"""The logger contract: what a logging plugin implements (beside the objective contract).

A logger is a sink for what a training run reports: every metric of every logged step
and every sample grid. Plugins provide loggers through the ``translate_loggers`` hook
(:mod:`translate.plugin_host.hookspecs`); the built-in ones (``jsonl``, ``gallery``,
``tensorboard``) live in :mod:`translate.train.loggers` and are registered the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class RunLogger:
    """Base class of loggers: override what the sink needs; every method may be left as is.

    A logger is built once per run (on rank 0 only) with the run folder. Its ``name``
    is what ``--logger`` selects.
    """

    #: What ``--logger`` selects.
    name: ClassVar[str] = ""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    @classmethod
    def available(cls) -> bool:
        """Whether this logger can run here (e.g. its package is installed)."""
        return True

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        """Scalars of one step (losses, ``lr/<group>``, objective state, speed)."""

    def log_samples(self, step: int, epoch: int, path: Path) -> None:
        """A sample grid was written to ``path`` at ``step`` (in ``epoch``, counted from 1)."""

    def close(self) -> None:
        """The run stopped (finished, failed or interrupted)."""


__all__ = ["RunLogger"]
