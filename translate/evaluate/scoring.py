""":func:`evaluate`: translate a split's inputs with a checkpoint and score the outputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from translate import metrics
from translate.convert import Translator
from translate.devices import resolve_device
from translate.evaluate.images import EvalError, EvalImages, Unavailable, conversion_condition, training_batch
from translate.evaluate.objective_measures import critic_recorder, logged_measures
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint

#: Paired metrics reported for the model and the identity baseline.
PAIRED_METRICS = ("psnr", "ssim", "l1")


def evaluate(
    run: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "test",
    direction: str | None = None,
    to: str | None = None,
    inception_weights: str | os.PathLike | None = None,
    device: str = "auto",
    batch_size: int = 8,
    registry: PluginRegistry | None = None,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the checkpoint ``run`` on ``data``'s ``split``; returns the results as a dict.

    Images are decoded batch by batch, so memory does not grow with the split.
    ``progress`` is called with the number of inputs translated so far.
    """
    registry = registry or PluginRegistry()
    saved = checkpoint.load(run)
    meta = saved.metadata
    translator = Translator.load(saved.path, device=device, registry=registry)
    torch_device = resolve_device(device)
    condition, direction_used = conversion_condition(meta, direction, to)
    images = EvalImages(Path(data), split, int(meta["image_size"]), direction_used, to)
    paired = _PairedScores()
    features = _Features(inception_weights, torch_device) if inception_weights is not None else None
    recorder, fall_back = critic_recorder(saved, registry, translator.model.state_dict(), torch_device)
    for start in range(0, len(images), batch_size):
        source, target = images.batch(start, start + batch_size)
        output = translator.translate_batch(source, **condition)
        if target is not None:
            paired.add(output, source, target)
        if features is not None:
            features.add(output, target)
        if recorder is not None:
            try:
                recorder.add(training_batch(meta, source, target, images, start, direction_used))
            except Unavailable:
                recorder, fall_back = None, True
        if progress is not None:
            progress(min(start + batch_size, len(images)))
    if features is not None and not images.paired:
        features.add_reals(images, batch_size)

    result = _description(saved, Path(data), split, direction_used, to, images)
    if images.paired:
        result["metrics"], result["identity"] = paired.means()
    scores = _distribution_scores(features, inception_weights, split, kid_subset_size, kid_subsets)
    result["metrics"].update(scores.pop("metrics", {}))
    result.update(scores)
    measures, source_note = (recorder.measures(), "test set, through the saved critics") if recorder else (None, None)
    if measures is None and fall_back:
        measures, source_note = logged_measures(saved)
    if measures:
        result["objective_measures"] = measures
        result["objective_measures_source"] = source_note
    return result


def _description(saved: checkpoint.Checkpoint, data: Path, split: str, direction: str | None, to: str | None,
                 images: EvalImages) -> dict[str, Any]:
    """What was evaluated on what: the head of :func:`evaluate`'s result, with empty ``metrics``/``identity``."""
    meta = saved.metadata
    return {
        "checkpoint": str(saved.path),
        "model": meta["model"],
        "objective": meta.get("objective"),
        "step": meta.get("step"),
        "imported_from": meta.get("imported_from"),
        "data": str(data),
        "split": split,
        "direction": direction,
        "to": to,
        "image_size": int(meta["image_size"]),
        "inputs": len(images),
        "real_images": images.real_count,
        "paired": images.paired,
        "metrics": {},
        "identity": {},
    }


class _PairedScores:
    """Running sums of :data:`PAIRED_METRICS` for the model's outputs and for the identity (input as output)."""

    def __init__(self) -> None:
        self.sums = {"model": dict.fromkeys(PAIRED_METRICS, 0.0), "identity": dict.fromkeys(PAIRED_METRICS, 0.0)}
        self.count = 0

    def add(self, output: Tensor, source: Tensor, target: Tensor) -> None:
        count = source.shape[0]
        for name, compared in (("model", output), ("identity", source)):
            self.sums[name]["psnr"] += metrics.psnr(compared, target) * count
            self.sums[name]["ssim"] += metrics.ssim(compared, target) * count
            self.sums[name]["l1"] += metrics.l1(compared, target) * count
        self.count += count

    def means(self) -> tuple[dict[str, float], dict[str, float]]:
        """(model, identity) means per image."""
        model, identity = ({key: value / self.count for key, value in self.sums[name].items()}
                           for name in ("model", "identity"))
        return model, identity


class _Features:
    """Inception features of generated and real target-domain images, for FID and KID."""

    def __init__(self, weights: str | os.PathLike, device: torch.device) -> None:
        from translate.evaluate.inception import load_feature_extractor

        self.extract = load_feature_extractor(weights, device)
        self.real: list[Tensor] = []
        self.fake: list[Tensor] = []

    def add(self, output: Tensor, target: Tensor | None) -> None:
        """A batch of outputs and, for paired data, their targets (the real images)."""
        if target is not None:
            self.real.append(self.extract(target))
        self.fake.append(self.extract(output))

    def add_reals(self, images: EvalImages, batch_size: int) -> None:
        """Every real target-domain image of unpaired data."""
        for start in range(0, images.real_count, batch_size):
            self.real.append(self.extract(images.reals(range(start, min(start + batch_size, images.real_count)))))


def _distribution_scores(features: _Features | None, weights: str | os.PathLike | None, split: str,
                         kid_subset_size: int, kid_subsets: int) -> dict[str, Any]:
    """FID and KID (into ``metrics``) with what computed them, or the note that says how to get them."""
    if features is None:
        from translate.evaluate.inception import HOW_TO_GET

        return {"fid_note": HOW_TO_GET}
    real, fake = torch.cat(features.real), torch.cat(features.fake)
    if min(real.shape[0], fake.shape[0]) < 2:
        raise EvalError(f"FID and KID need at least two real and two generated images; split '{split}' has "
                        f"{real.shape[0]} and {fake.shape[0]}")
    kid, kid_std = metrics.kid_from_features(real, fake, subset_size=kid_subset_size, subsets=kid_subsets)
    return {
        "metrics": {"fid": metrics.fid_from_features(real, fake), "kid": kid, "kid_std": kid_std},
        "inception": {"file": str(weights), "features": int(real.shape[1]),
                      "kid_subset_size": min(kid_subset_size, real.shape[0], fake.shape[0])},
    }
