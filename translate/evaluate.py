"""``translate eval``: how good a trained model is on a data set's held-out split.

:func:`evaluate` loads a checkpoint (or a run's latest), translates the split's inputs
at the model's training size (images resized to ``image_size`` squares, as during
training) and reports

- **paired metrics** when the split holds pairs (aligned ``test/`` or ``testA/`` +
  ``testB/`` with matching names): PSNR (dB), SSIM (Gaussian window) and L1 (mean
  absolute error in [-1, 1], the scale of pix2pix's L1 loss) of output vs target,
  and the same for the **identity** baseline (input vs target);
- **FID and KID** between generated and real target-domain images for every model,
  when a local Inception file is given (:mod:`translate.inception`; nothing downloads);
- the **objective's statistics** for stateful objectives (BEGAN's convergence measure
  M): each critic's outputs on real and generated test images, through the saved
  critics, turned into the statistics the objective logs in training
  (:meth:`~translate.objective.Objective.update` on a copy, state keys left out). When the
  data cannot feed the model's training step, the last values in the run's
  ``metrics.jsonl`` are reported instead; ``objective_measures_source`` says which.

Which images are inputs and targets: pix2pix follows its trained direction; two-way
models (CycleGAN, UNIT) take ``direction`` (default: the trained one); multi-domain
models (StarGAN) take ``to=DOMAIN`` with domain folders: inputs are the split's other
domains, real images that domain's.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from translate import metrics
from translate.data.folders import AlignedDataset, DataError, detect_layout, image_files
from translate.data.images import load_rgb
from translate.data.transforms import EvalTransform
from translate.errors import TranslateError
from translate.plugins import PluginRegistry
from translate.train import checkpoint

#: Paired metrics reported for the model and the identity baseline.
PAIRED_METRICS = ("psnr", "ssim", "l1")


class EvalError(TranslateError):
    """The checkpoint and the data do not make an evaluation."""


class _Unavailable(Exception):
    """Objective statistics cannot be measured on the test set (fall back to the logs)."""


def run_folder(checkpoint_folder: str | os.PathLike) -> Path:
    """The run folder a (resolved) checkpoint folder belongs to, or the folder itself when standalone."""
    path = Path(checkpoint_folder)
    return path.parent.parent if path.parent.name == "checkpoints" else path


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
    from translate.convert import Translator
    from translate.train.trainer import resolve_device

    registry = registry or PluginRegistry()
    saved = checkpoint.load(run)
    meta = saved.metadata
    translator = Translator.load(saved.path, device=device, registry=registry)
    torch_device = resolve_device(device)
    image_size = int(meta["image_size"])
    data = Path(data)
    condition, direction_used = _condition(meta, direction, to)
    images = _Split(data, split, image_size, direction_used, to)

    features = None
    if inception_weights is not None:
        from translate.inception import load_feature_extractor

        features = load_feature_extractor(inception_weights, torch_device)
    recorder, fall_back = _critic_recorder(saved, registry, translator.model.state_dict(), torch_device)

    sums = {"model": dict.fromkeys(PAIRED_METRICS, 0.0), "identity": dict.fromkeys(PAIRED_METRICS, 0.0)}
    real_features: list[Tensor] = []
    fake_features: list[Tensor] = []
    for start in range(0, len(images), batch_size):
        source, target = images.batch(start, start + batch_size)
        output = translator.translate_batch(source, **condition)
        if target is not None:
            count = source.shape[0]
            for name, compared in (("model", output), ("identity", source)):
                sums[name]["psnr"] += metrics.psnr(compared, target) * count
                sums[name]["ssim"] += metrics.ssim(compared, target) * count
                sums[name]["l1"] += metrics.l1(compared, target) * count
            if features is not None:
                real_features.append(features(target))
        if features is not None:
            fake_features.append(features(output))
        if recorder is not None:
            try:
                recorder.add(_training_batch(meta, source, target, images, start, direction_used))
            except _Unavailable:
                recorder, fall_back = None, True
        if progress is not None:
            progress(min(start + batch_size, len(images)))
    if features is not None and not images.paired:
        for start in range(0, images.real_count, batch_size):
            real_features.append(features(images.reals(range(start, min(start + batch_size, images.real_count)))))

    result: dict[str, Any] = {
        "checkpoint": str(saved.path),
        "model": meta["model"],
        "objective": meta.get("objective"),
        "step": meta.get("step"),
        "imported_from": meta.get("imported_from"),
        "data": str(data),
        "split": split,
        "direction": direction_used,
        "to": to,
        "image_size": image_size,
        "inputs": len(images),
        "real_images": images.real_count,
        "paired": images.paired,
        "metrics": {},
        "identity": {},
    }
    if images.paired:
        result["metrics"] = {name: value / len(images) for name, value in sums["model"].items()}
        result["identity"] = {name: value / len(images) for name, value in sums["identity"].items()}
    if features is not None:
        real, fake = torch.cat(real_features), torch.cat(fake_features)
        if min(real.shape[0], fake.shape[0]) < 2:
            raise EvalError(f"FID and KID need at least two real and two generated images; split '{split}' has "
                            f"{real.shape[0]} and {fake.shape[0]}")
        result["metrics"]["fid"] = metrics.fid_from_features(real, fake)
        kid, kid_std = metrics.kid_from_features(real, fake, subset_size=kid_subset_size, subsets=kid_subsets)
        result["metrics"]["kid"], result["metrics"]["kid_std"] = kid, kid_std
        result["inception"] = {"file": str(inception_weights), "features": int(real.shape[1]),
                               "kid_subset_size": min(kid_subset_size, real.shape[0], fake.shape[0])}
    else:
        from translate.inception import HOW_TO_GET

        result["fid_note"] = HOW_TO_GET
    measures, source_note = (recorder.measures(), "test set, through the saved critics") if recorder else (None, None)
    if measures is None and fall_back:
        measures, source_note = _logged_measures(saved)
    if measures:
        result["objective_measures"] = measures
        result["objective_measures_source"] = source_note
    return result


# -- what to translate ---------------------------------------------------------------------------------


def _condition(meta: dict[str, Any], direction: str | None, to: str | None) -> tuple[dict[str, Any], str | None]:
    """Conversion keywords and the direction (AtoB/BtoA, or None for multi-domain models)."""
    model_meta = meta.get("model_metadata", {})
    if model_meta.get("directions"):
        if to is not None:
            raise EvalError(f"model {meta['model']!r} translates between two domains; use --direction, not --to")
        chosen = direction or model_meta.get("default_direction", "AtoB")
        return {"direction": chosen}, chosen
    if model_meta.get("targets") or model_meta.get("domains"):
        if direction is not None:
            raise EvalError(f"model {meta['model']!r} is multi-domain; choose the target domain with --to")
        if to is None:
            names = ", ".join(model_meta.get("targets") or model_meta.get("domains"))
            raise EvalError(f"model {meta['model']!r} is multi-domain: name the target domain with --to ({names})")
        return {"to": to}, None
    trained = meta.get("model_options", {}).get("direction", "AtoB")
    if direction is not None and direction != trained:
        raise EvalError(f"this {meta['model']} model translates one way ({trained}); drop --direction {direction}")
    if to is not None:
        raise EvalError(f"model {meta['model']!r} has a single output; drop --to")
    return {}, trained


class _Split:
    """The evaluation images of a split, decoded on demand at the model's training size.

    Paired (aligned ``split/`` or name-matched ``splitA/`` + ``splitB/``): inputs with their
    targets. Otherwise inputs and a separate set of real target-domain images: the
    source side and the other side for two-way models, or the other domains and the
    target domain ``to`` for multi-domain models.
    """

    def __init__(self, data: Path, split: str, image_size: int, direction: str | None, to: str | None):
        self.transform = EvalTransform(image_size)
        self.pairs: AlignedDataset | None = None
        if direction is None:  # multi-domain: one folder per domain
            from translate.data.domains import domain_folders

            folders = domain_folders(data, split)
            if to not in folders:
                raise EvalError(f"data folder '{data / split}' has no folder for domain {to!r} "
                                f"(found: {', '.join(folders)})")
            self.sources = [p for name, folder in folders.items() if name != to for p in image_files(folder)]
            self.real_paths = image_files(folders[to])
            return
        try:
            layout = detect_layout(data, split)
        except DataError as exc:
            raise EvalError(f"cannot evaluate on split '{split}': {exc}") from None
        if layout in ("aligned", "paired_folders"):
            self.pairs = AlignedDataset(data, split=split, image_size=image_size, direction=direction, train=False)
            return
        source_side, real_side = ("A", "B") if direction == "AtoB" else ("B", "A")
        self.sources = image_files(data / f"{split}{source_side}")
        self.real_paths = image_files(data / f"{split}{real_side}")

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.sources)

    @property
    def real_count(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.real_paths)

    def _load(self, path: Path) -> Tensor:
        return self.transform(load_rgb(path))[0]

    def batch(self, start: int, stop: int) -> tuple[Tensor, Tensor | None]:
        """Inputs ``[start, stop)`` and, for paired data, their targets."""
        stop = min(stop, len(self))
        if self.pairs is not None:
            items = [self.pairs[i] for i in range(start, stop)]
            return torch.stack([item["A"] for item in items]), torch.stack([item["B"] for item in items])
        return torch.stack([self._load(p) for p in self.sources[start:stop]]), None

    def reals(self, indices: range | list[int]) -> Tensor:
        """Real target-domain images (unpaired data), by index modulo their number."""
        return torch.stack([self._load(self.real_paths[i % len(self.real_paths)]) for i in indices])


def _training_batch(meta: dict[str, Any], source: Tensor, target: Tensor | None, images: _Split, start: int,
                    direction: str | None) -> dict[str, Tensor]:
    """The batch a model's training step takes, from evaluation images (``{"A", "B"}``).

    Raises :class:`_Unavailable` when the data cannot make one (a conditional one-way
    model needs true pairs).
    """
    one_way = not meta.get("model_metadata", {}).get("directions")
    if target is None:
        if one_way or not images.real_count:
            raise _Unavailable
        target = images.reals(range(start, start + source.shape[0]))
    if one_way or direction == "AtoB":
        return {"A": source, "B": target}  # pix2pix's data set already puts its input in "A"
    return {"A": target, "B": source}


# -- objective statistics --------------------------------------------------------------------------------


def _critic_recorder(saved: checkpoint.Checkpoint, registry: PluginRegistry, inference_state: dict[str, Tensor],
                     device: torch.device) -> tuple["_CriticRecorder | None", bool]:
    """A recorder for a stateful objective's statistics, and whether to fall back to the logs instead."""
    from translate.objective import Objective

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
        return _CriticRecorder(saved, registry, objective_cls, inference_state, device), False
    except _Unavailable:
        return None, True


class _CriticRecorder:
    """Runs the model's training step with every update disabled, recording what its critics see.

    Every critic update of a model goes through :meth:`Model.critic_step` (the model
    contract), so replacing it on a throwaway copy of the model captures each critic's
    outputs on real and generated images without knowing the model. Nothing is stepped
    (``optimize`` does nothing), image pools are emptied so critics judge the current
    batch, and networks run in evaluation mode without gradients.
    """

    def __init__(self, saved: checkpoint.Checkpoint, registry: PluginRegistry, objective_cls: type,
                 inference_state: dict[str, Tensor], device: torch.device):
        from translate.models.pool import ImagePool

        meta = saved.metadata
        if meta.get("imported_from"):
            raise _Unavailable
        options = meta.get("objective_options", {})
        model_cls = registry.model(meta["model"])
        model = model_cls(lambda: objective_cls(**options), image_size=meta["image_size"],
                          **saved.model_options(model_cls))
        missing, _ = saved.load_into(model, meta["model"])
        if missing:
            raise _Unavailable
        model.load_state_dict(inference_state, strict=False)  # the generators as translated (EMA, if any)
        model.load_objective_state(meta.get("objective_state", {}))
        for attribute, value in list(vars(model).items()):
            if isinstance(value, ImagePool):
                setattr(model, attribute, ImagePool(0))
        self.outputs: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))

        def record(updates, group: str = "critic") -> dict[str, float]:
            for critic_name, critic, real, fake in updates:
                self.outputs[critic_name][0].append(_cpu(critic(real)))
                self.outputs[critic_name][1].append(_cpu(critic(fake.detach())))
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
            raise _Unavailable from None  # the model's training step needs more than {"A", "B"}

    def measures(self) -> dict[str, float] | None:
        """Each critic's statistics (objective.update on a copy, over the whole split), state keys left out."""
        from translate.objective import CriticOutput

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
    from translate.objective import CriticOutput

    return CriticOutput(output.score.detach().cpu(), None if output.code is None else output.code.detach().cpu())


def _logged_measures(saved: checkpoint.Checkpoint) -> tuple[dict[str, float] | None, str | None]:
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


# -- presentation --------------------------------------------------------------------------------------------


def default_output(result: dict[str, Any]) -> Path:
    """Where ``translate eval`` writes its JSON: ``eval-<split>.json`` in the run folder."""
    return run_folder(result["checkpoint"]) / f"eval-{result['split']}.json"


def table(result: dict[str, Any]) -> list[str]:
    """Lines of a human-readable table of :func:`evaluate`'s result."""
    what = result["model"] + (f", {result['objective']}" if result.get("objective") else "")
    if result.get("imported_from"):
        what += f", imported from {result['imported_from']['file']}"
    elif result.get("step") is not None:
        what += f", step {result['step']}"
    mapping = result["direction"] or f"to {result['to']}"
    lines = [
        f"checkpoint: {result['checkpoint']} ({what})",
        f"data:       {result['data']}, split {result['split']}, {mapping}, {result['inputs']} inputs, "
        f"{result['real_images']} {'pairs' if result['paired'] else 'real images'}, at {result['image_size']} px",
        f"{'metric':<14}{'model':>10}{'identity':>10}",
    ]
    names = {"psnr": "PSNR (dB)", "ssim": "SSIM", "l1": "L1"}
    for key, label in names.items():
        if key in result["metrics"]:
            lines.append(f"{label:<14}{result['metrics'][key]:>10.4f}{result['identity'][key]:>10.4f}")
    if "fid" in result["metrics"]:
        lines.append(f"{'FID':<14}{result['metrics']['fid']:>10.4f}")
        lines.append(f"{'KID':<14}{result['metrics']['kid']:>10.5f}  ± {result['metrics']['kid_std']:.5f}")
        inception = result["inception"]
        lines.append(f"  (features: {inception['features']}-d from {inception['file']}; KID subsets of "
                     f"{inception['kid_subset_size']})")
    else:
        lines.append(f"FID, KID: not computed. {result['fid_note']}")
    for key, value in result.get("objective_measures", {}).items():
        lines.append(f"{key:<14}{value:>10.4f}")
    if result.get("objective_measures"):
        lines.append(f"  (objective statistics from the {result['objective_measures_source']})")
    return lines


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(temporary, path)
    return path

