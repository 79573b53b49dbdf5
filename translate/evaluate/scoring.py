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
from translate.evaluate.images import EvalImages, Unavailable, evaluation_condition, training_batch
from translate.evaluate.objective_measures import critic_recorder, logged_measures
from translate.evaluate.perceptual import Lpips
from translate.evaluate.tools import MetricTools
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint

#: Paired metrics reported for the model and the identity baseline.
PAIRED_METRICS = ("psnr", "ssim", "l1")
#: The random styles (their seeds) whose outputs LPIPS compares for a multimodal model's ``lpips_diversity``.
DIVERSITY_STYLES = (0, 1)


def evaluate(
    run: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "test",
    direction: str | None = None,
    to: str | None = None,
    inception_weights: str | os.PathLike | None = None,
    lpips_weights: str | os.PathLike | None = None,
    device: str = "auto",
    batch_size: int = 8,
    registry: PluginRegistry | None = None,
    kid_subset_size: int = 1000,
    kid_subsets: int = 100,
    progress: Callable[[int], None] | None = None,
    tools: MetricTools | None = None,
) -> dict[str, Any]:
    """Evaluate the checkpoint ``run`` on ``data``'s ``split``; returns the results as a dict.

    Images are decoded batch by batch, so memory does not grow with the split.
    ``progress`` is called with the number of inputs translated so far. ``tools`` (FID/KID and
    LPIPS networks, see :class:`~translate.evaluate.tools.MetricTools`) replace
    ``inception_weights``, ``lpips_weights`` and the KID options when given, so that several
    checkpoints are scored with networks loaded once.
    """
    registry = registry or PluginRegistry()
    saved = checkpoint.load(run)
    meta = saved.metadata
    translator = Translator.load(saved.path, device=device, registry=registry)
    torch_device = resolve_device(device)
    if tools is None:
        tools = MetricTools.load(inception_weights, lpips_weights, torch_device, kid_subset_size, kid_subsets)
    condition, direction_used = evaluation_condition(meta, direction, to)
    images = EvalImages(Path(data), split, int(meta["image_size"]), direction_used, to)
    paired = _PairedScores(tools.lpips)
    multimodal = bool(translator.model_metadata.get("style_dim"))
    diversity = _StyleDiversity(translator, condition, tools.lpips) if multimodal and tools.lpips else None
    fakes: list[Tensor] = []
    recorder, fall_back = critic_recorder(saved, registry, translator.model.state_dict(), torch_device)
    for start in range(0, len(images), batch_size):
        source, target = images.batch(start, start + batch_size)
        output = translator.translate_batch(source, **condition)
        if target is not None:
            paired.add(output, source, target)
        if tools.fid_kid is not None:
            fakes.append(tools.fid_kid.features(output))
        if diversity is not None:
            diversity.add(source)
        if recorder is not None:
            try:
                recorder.add(training_batch(meta, source, target, images, start, direction_used))
            except Unavailable:
                recorder, fall_back = None, True
        if progress is not None:
            progress(min(start + batch_size, len(images)))

    result = _description(saved, Path(data), split, direction_used, to, images)
    if images.paired:
        result["metrics"], result["identity"] = paired.means()
    if tools.fid_kid is not None:
        real = tools.real_features(images.key, lambda: images.real_batches(batch_size))
        result["metrics"].update(tools.fid_kid.scores(torch.cat(fakes), real))
    if diversity is not None:
        result["metrics"]["lpips_diversity"] = diversity.mean()
    result["implementations"] = tools.implementations(images.paired, len(images), images.real_count, multimodal)
    result["notes"] = tools.notes(images.paired, multimodal)
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


class _StyleDiversity:
    """The running mean LPIPS between a multimodal model's outputs of two random styles
    (:data:`DIVERSITY_STYLES`) for the same input: MUNIT's and BicycleGAN's diversity measure (0: every
    style gives the same output)."""

    def __init__(self, translator: Translator, condition: dict[str, Any], lpips: Lpips) -> None:
        self.translator, self.lpips = translator, lpips
        self.conditions = [{**condition, "style": seed} for seed in DIVERSITY_STYLES]
        self.total, self.count = 0.0, 0

    def add(self, source: Tensor) -> None:
        first, second = (self.translator.translate_batch(source, **condition) for condition in self.conditions)
        self.total += self.lpips.distance(first, second).sum().item()
        self.count += source.shape[0]

    def mean(self) -> float:
        return self.total / self.count


class _PairedScores:
    """Running sums of the paired metrics (:data:`PAIRED_METRICS`, and LPIPS with its network) for the model's
    outputs and for the identity (input as output)."""

    def __init__(self, lpips: Lpips | None) -> None:
        self.lpips = lpips
        names = PAIRED_METRICS + (("lpips",) if lpips is not None else ())
        self.sums = {"model": dict.fromkeys(names, 0.0), "identity": dict.fromkeys(names, 0.0)}
        self.count = 0

    def add(self, output: Tensor, source: Tensor, target: Tensor) -> None:
        count = source.shape[0]
        for name, compared in (("model", output), ("identity", source)):
            sums = self.sums[name]
            sums["psnr"] += metrics.psnr(compared, target) * count
            sums["ssim"] += metrics.ssim(compared, target) * count
            sums["l1"] += metrics.l1(compared, target) * count
            if self.lpips is not None:
                sums["lpips"] += self.lpips.distance(compared, target).sum().item()
        self.count += count

    def means(self) -> tuple[dict[str, float], dict[str, float]]:
        """(model, identity) means per image."""
        model, identity = ({key: value / self.count for key, value in self.sums[name].items()}
                           for name in ("model", "identity"))
        return model, identity
