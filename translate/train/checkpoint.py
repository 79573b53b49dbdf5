"""Checkpoints: a folder per save, written atomically, loaded safely.

Layout of a run folder::

    runs/NAME/
      config.json                 the resolved training configuration
      checkpoints/000200/
        model.safetensors         every network's weights
        ema.safetensors           the generators' averaged weights (with --ema; preferred by convert)
        checkpoint.json           model, options, objective and its state, step (self-describing)
        training.pt               optimiser/scheduler/RNG state and image pools (for --resume)
      latest -> checkpoints/000200
      samples/step_000200.png

``translate convert`` needs only ``model.safetensors`` and ``checkpoint.json``.
``training.pt`` is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file, save_model

from translate.errors import TranslateError

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
METADATA = "checkpoint.json"
TRAINING = "training.pt"
LATEST = "latest"


class CheckpointError(TranslateError):
    """A checkpoint is missing, corrupt or does not fit the model."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: its folder, metadata and weights."""

    path: Path
    metadata: dict[str, Any]
    weights: dict[str, torch.Tensor]

    def extra_weights(self, name: str) -> dict[str, torch.Tensor]:
        """Tensors of another safetensors file of the checkpoint (e.g. :data:`EMA_WEIGHTS`)."""
        path = self.path / name
        if not path.exists():
            raise CheckpointError(f"checkpoint '{self.path}' has no {name}")
        try:
            return load_file(path)
        except Exception as exc:
            raise CheckpointError(f"cannot read '{path}': {exc}") from exc

    def load_into(self, model: torch.nn.Module, model_name: str,
                  weights: dict[str, torch.Tensor] | None = None) -> tuple[list[str], list[str]]:
        """Load ``weights`` (default: :attr:`weights`) into ``model`` non-strictly; return (missing, unexpected).

        A tensor of another shape is a :class:`CheckpointError` naming the file and the tensor.
        """
        try:
            missing, unexpected = model.load_state_dict(self.weights if weights is None else weights, strict=False)
        except RuntimeError as exc:
            raise CheckpointError(
                f"'{self.path / WEIGHTS}' does not fit model {model_name!r}: {str(exc).strip().splitlines()[-1].strip()}"
            ) from exc
        return list(missing), list(unexpected)

    def model_options(self, model_cls: type) -> dict[str, Any]:
        """The saved options of the model, for ``model_cls(..., **options)``.

        Options the checkpoint predates take the values translate trained with before they
        existed, the model's :attr:`~translate.models.base.Model.reference_options`.
        """
        return {**model_cls.reference_options, **self.metadata["model_options"]}

    def training_state(self) -> dict[str, Any]:
        """Optimiser, scheduler, RNG and pool state saved for ``--resume``."""
        path = self.path / TRAINING
        if not path.exists():
            raise CheckpointError(f"checkpoint '{self.path}' has no {TRAINING}; it cannot be resumed")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"cannot read '{path}': {exc}") from exc


def resolve(path: str | os.PathLike) -> Path:
    """The checkpoint folder for a run folder (its ``latest``), a checkpoint folder or a file in one."""
    path = Path(path)
    if path.is_file():
        path = path.parent
    if (path / LATEST).exists():
        path = path / LATEST
    if not (path / METADATA).is_file():
        raise CheckpointError(f"'{path}' is not a checkpoint or run folder (no {METADATA} found)")
    return path.resolve()


def load(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint's metadata and weights, with errors that name the file."""
    folder = resolve(path)
    try:
        metadata = json.loads((folder / METADATA).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read '{folder / METADATA}': {exc}") from exc
    if metadata.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"'{folder / METADATA}' has format {metadata.get('format')!r}; this translate reads format {FORMAT_VERSION}"
        )
    try:
        weights = load_file(folder / WEIGHTS)
    except Exception as exc:
        raise CheckpointError(f"cannot read '{folder / WEIGHTS}': {exc}") from exc
    return Checkpoint(folder, metadata, weights)


def folder(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in ``run_dir``."""
    return run_dir / "checkpoints" / f"{step:06d}"


def save(run_dir: Path, step: int, model: torch.nn.Module, metadata: dict[str, Any],
         training_state: dict[str, Any], keep: int, extra_weights: dict[str, dict[str, torch.Tensor]] | None = None
         ) -> Path:
    """Write ``checkpoints/<step>/`` atomically, point ``latest`` at it, keep the newest ``keep``.

    ``extra_weights`` maps further safetensors file names to their tensors (e.g. EMA weights).
    """
    final = folder(run_dir, step)
    checkpoints = final.parent
    checkpoints.mkdir(parents=True, exist_ok=True)
    partial = checkpoints / f".{final.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    save_model(model, str(partial / WEIGHTS))
    for name, tensors in (extra_weights or {}).items():
        save_file(tensors, str(partial / name))
    (partial / METADATA).write_text(json.dumps({"format": FORMAT_VERSION, **metadata}, indent=2))
    torch.save(training_state, partial / TRAINING)
    _fsync_dir(partial)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    _point_latest(run_dir, final)
    for old in sorted(p for p in checkpoints.iterdir() if p.name.isdigit())[:-keep]:
        shutil.rmtree(old)
    return final


def _point_latest(run_dir: Path, target: Path) -> None:
    link = run_dir / LATEST
    temporary = run_dir / f".{LATEST}.partial"
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(target.relative_to(run_dir))
    os.replace(temporary, link)


def _fsync_dir(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
