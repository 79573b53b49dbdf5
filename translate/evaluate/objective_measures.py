"""The objective's statistics on the test set (BEGAN's convergence measure M, ...), or else from the logs."""

from __future__ import annotations

import copy
import json
import math
from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from translate.errors import TranslateError
from translate.evaluate.images import Unavailable
from translate.evaluate.report import run_folder
from translate.models.base import scale_name, scales_of
from translate.models.pool import ImagePool
from translate.objective import CriticOutput, Objective
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint


def critic_recorder(saved: checkpoint.Checkpoint, registry: PluginRegistry, inference_state: dict[str, Tensor],
                     device: torch.device) -> tuple["CriticRecorder | None", bool]:
    """A recorder for a stateful objective's statistics, and whether to fall back to the logs instead."""
    name = saved.metadata.get("objective")
    if not name:
        return None, False
    try:
        objective_cls = registry.objective(name)
    except TranslateError:
        return None, True  # the plugin is not installed: only the logs can tell
    if objective_cls.update is Objective.update:
        return None, False  # a stateless objective logs no statistics
    try:
        return CriticRecorder(saved, registry, objective_cls, inference_state, device), False
    except Unavailable:
        return None, True


class CriticRecorder:
    """Runs the model's training step with every update disabled, recording what its critics see.

    Every critic update of a model goes through :meth:`Model.critic_step` (the model
    contract), so replacing it on a throwaway copy of the model captures each critic's
    outputs on real and generated images without knowing the model. Nothing is stepped
    (``optimize`` does nothing), image pools are emptied so critics judge the current
    batch, and networks run in evaluation mode without gradients.
    """

    def __init__(self, saved: checkpoint.Checkpoint, registry: PluginRegistry, objective_cls: type,
                 inference_state: dict[str, Tensor], device: torch.device):
        meta = saved.metadata
        if meta.get("imported_from"):
            raise Unavailable
        options = meta.get("objective_options", {})
        model = saved.build_model(registry.model(meta["model"]), lambda: objective_cls(**options))
        missing, _ = saved.load_into(model, meta["model"])
        if missing:
            raise Unavailable
        model.load_state_dict(inference_state, strict=False)  # the generators as translated (EMA, if any)
        saved.load_objective_state(model)
        for attribute, value in list(vars(model).items()):
            if isinstance(value, ImagePool):
                setattr(model, attribute, ImagePool(0))
        self.outputs: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))

        def record(updates, group: str = "critic") -> dict[str, float]:
            for critic_name, critic, real, fake in updates:
                real_outputs, fake_outputs = scales_of(critic(real)), scales_of(critic(fake.detach()))
                for scale, (real_output, fake_output) in enumerate(zip(real_outputs, fake_outputs)):
                    self.outputs[scale_name(critic_name, scale)][0].append(_cpu(real_output))
                    self.outputs[scale_name(critic_name, scale)][1].append(_cpu(fake_output))
            return {}

        model.critic_step = record
        model.optimize = lambda group, loss: None
        self.model = model.to(device).eval()
        self.device = device

    def add(self, batch: dict[str, Tensor]) -> None:
        try:
            with torch.no_grad():
                self.model.train_step({k: v.to(self.device) for k, v in batch.items()})
        except (KeyError, TypeError, ValueError, RuntimeError):
            raise Unavailable from None  # the model's training step needs more than {"A", "B"}

    def measures(self) -> dict[str, float] | None:
        """Each critic's statistics (objective.update on a copy, over the whole split), state keys left out."""
        def joined(outputs: list) -> CriticOutput:
            codes = [o.code for o in outputs]
            code = torch.cat(codes) if all(c is not None for c in codes) else None
            return CriticOutput(torch.cat([o.score for o in outputs]).float(), code)

        measures = {}
        for critic_name, (reals, fakes) in sorted(self.outputs.items()):
            objective = copy.deepcopy(self.model.objectives[critic_name])
            state_keys = set(objective.state_dict())
            for key, value in objective.update(joined(reals), joined(fakes)).items():
                if key not in state_keys:
                    measures[f"{critic_name}/{key}"] = float(value)
        return measures or None


def _cpu(output: Any) -> Any:
    return CriticOutput(output.score.detach().cpu(), None if output.code is None else output.code.detach().cpu())


def logged_measures(saved: checkpoint.Checkpoint) -> tuple[dict[str, float] | None, str | None]:
    """The objective statistics of the last line of the run's metrics.jsonl (up to the checkpoint's step)."""
    path = run_folder(saved.path) / "metrics.jsonl"
    if not path.is_file():
        return None, None
    state_keys = {key for state in saved.metadata.get("objective_state", {}).values() for key in state}
    step = saved.metadata.get("step")
    last: dict[str, Any] | None = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if step is None or record.get("step", 0) <= step:
            last = record
    if last is None:
        return None, None
    measures = {key: float(value) for key, value in last.items()
                if "/" in key and not key.startswith("lr/") and key.rsplit("/", 1)[1] not in state_keys | {"penalty"}
                and isinstance(value, (int, float)) and math.isfinite(value)}
    if not measures:
        return None, None
    return measures, f"last logged training step {last.get('step')} ({path.name}), not the test set"
