"""``translate eval RUN --all-checkpoints``: score every kept checkpoint of a run and name the best.

Each checkpoint folder (``checkpoints/NNNNNN/``) is evaluated as :func:`~translate.evaluate.evaluate`
does, with the FID/KID and LPIPS networks loaded once and the real images' Inception features
computed once. The best checkpoint is the one with the lowest FID when FID was computed, else
the highest PSNR on paired data; unpaired data without FID has no score to rank by.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from translate.devices import resolve_device
from translate.evaluate.images import EvalError
from translate.evaluate.scoring import evaluate
from translate.evaluate.tools import MetricTools
from translate.train import checkpoint

#: How the best checkpoint is chosen: the first of these metrics every checkpoint has, lowest or highest.
RANKING = (("fid", min), ("psnr", max))


def evaluate_checkpoints(run: str | os.PathLike, data: str | os.PathLike,
                         inception_weights: str | os.PathLike | None = None,
                         lpips_weights: str | os.PathLike | None = None, device: str = "auto",
                         kid_subset_size: int = 1000, kid_subsets: int = 100,
                         progress: Callable[[int], None] | None = None, **options: Any) -> dict[str, Any]:
    """Evaluate every kept checkpoint of the run folder ``run``; returns each result and the best.

    ``options`` are :func:`~translate.evaluate.evaluate`'s (``split``, ``direction``, ``to``,
    ``batch_size``, ``registry``). ``progress`` is called with the number of inputs translated
    so far, over all checkpoints.
    """
    folders = checkpoint.kept(run)
    if not folders:
        raise EvalError(f"'{run}' has no checkpoints/NNNNNN/ folders; --all-checkpoints takes a run folder")
    tools = MetricTools.load(inception_weights, lpips_weights, resolve_device(device), kid_subset_size, kid_subsets)
    results: list[dict[str, Any]] = []
    done = 0
    for folder in folders:
        report = None if progress is None else (lambda n, before=done: progress(before + n))
        results.append(evaluate(folder, data, device=device, tools=tools, progress=report, **options))
        done += results[-1]["inputs"]
    return {"run": str(Path(run)), "checkpoints": results, "best": best(results)}


def best(results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best of ``results`` by :data:`RANKING`: its checkpoint, step, metric and value; ``None`` when no
    metric is shared by all."""
    for metric, pick in RANKING:
        if all(metric in result["metrics"] for result in results):
            chosen = pick(results, key=lambda result: result["metrics"][metric])
            return {"checkpoint": chosen["checkpoint"], "step": chosen["step"], "by": metric,
                    "value": chosen["metrics"][metric]}
    return None
