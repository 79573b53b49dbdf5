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

Folders are named by the step with at least six digits and ordered by the number
(``1000000`` comes after ``999500``). ``latest`` only ever points to a complete folder:
a save is written to a hidden ``.NNNNNN.TOKEN.partial/`` folder and renamed, a failed save removes its
partial folder, and retention never deletes the folder ``latest`` points to.
A ``checkpoint.json`` of the wrong shape is a :class:`CheckpointError` naming it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, save_model

from translate.errors import TranslateError
from translate.files import give_plain_modes, partial_path
from translate.options import OptionError, check_options

if TYPE_CHECKING:
    from translate.models.base import Model
    from translate.plugin_host.manager import PluginRegistry

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
EMA_WEIGHTS = "ema.safetensors"
METADATA = "checkpoint.json"
TRAINING = "training.pt"
LATEST = "latest"

#: What ``checkpoint.json`` holds: key -> (JSON types, required).
_SHAPE: dict[str, tuple[tuple[type, ...], bool]] = {
    "model": ((str,), True),
    "model_options": ((dict,), True),
    "image_size": ((int,), True),
    "model_metadata": ((dict,), False),
    "objective": ((str, type(None)), False),
    "objective_options": ((dict,), False),
    "objective_state": ((dict,), False),
    "step": ((int,), False),
}
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "an integer", float: "a number",
               bool: "a boolean", type(None): "null"}


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

    @property
    def description(self) -> Path:
        """The checkpoint's ``checkpoint.json`` (named by errors about its content)."""
        return self.path / METADATA

    def model_options(self, model_cls: type) -> dict[str, Any]:
        """The model options of ``checkpoint.json``, checked against ``model_cls``.

        Options the checkpoint predates take the values translate trained with before they existed,
        the model's :attr:`~translate.models.base.Model.reference_options`. Options the model has
        retired (``model_cls.retired_options``) are dropped; other options the model does not take
        or values outside its ranges are a :class:`CheckpointError` naming the file.
        """
        retired = getattr(model_cls, "retired_options", frozenset())
        saved = {**getattr(model_cls, "reference_options", {}), **self.metadata["model_options"]}
        options = {key: value for key, value in saved.items() if key not in retired}
        try:
            check_options(model_cls, options, f"model {self.metadata['model']!r}")
            if "image_size" in options:
                raise OptionError("'model_options' holds 'image_size', which belongs at the top level")
        except OptionError as exc:
            raise CheckpointError(f"'{self.description}' does not describe a model that can be built: {exc}") from exc
        return options

    def build_model(self, model_cls: type, make_objective: Any = None) -> Any:
        """``model_cls`` built with the checkpoint's image size and :meth:`model_options`
        (``make_objective=None``: no critics); a model that refuses them is a :class:`CheckpointError`."""
        options = self.model_options(model_cls)
        try:
            return model_cls(make_objective, image_size=self.metadata["image_size"], **options)
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"'{self.description}' does not describe a model that can be built: {exc}") from exc

    def inference_model(self, registry: "PluginRegistry", use_ema: bool = True) -> "Model":
        """The checkpoint's model built for inference (no critics), with its weights loaded.

        With ``use_ema`` the generators' averaged weights (:data:`EMA_WEIGHTS`, from ``--ema``) replace
        the raw ones when the checkpoint has them.
        """
        model_name = self.metadata["model"]
        model = self.build_model(registry.model(model_name))
        weights = self.weights
        if use_ema and (self.path / EMA_WEIGHTS).exists():
            weights = {**weights, **self.extra_weights(EMA_WEIGHTS)}
        missing, _critic_weights = self.load_into(model, model_name, weights)
        if missing:
            raise CheckpointError(f"'{self.path / WEIGHTS}' lacks weights for model {model_name!r}: {missing[:3]}")
        return model

    def load_objective_state(self, model: Any) -> None:
        """Restore every critic's objective state of ``model`` from ``checkpoint.json``.

        State for critics the model does not have, or that its objective refuses, is a
        :class:`CheckpointError` naming the file.
        """
        state = self.metadata.get("objective_state", {})
        foreign = sorted(set(state) - set(model.objectives))
        if foreign:
            raise CheckpointError(
                f"'{self.description}' holds objective state for {', '.join(foreign)}, but model "
                f"{self.metadata['model']!r} has the critics {', '.join(sorted(model.objectives)) or 'none'}"
            )
        try:
            model.load_objective_state(state)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CheckpointError(
                f"'{self.description}': 'objective_state' does not fit objective "
                f"{self.metadata.get('objective')!r}: {exc}"
            ) from exc

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
    if (path / LATEST).is_symlink() and not (path / LATEST).exists():
        raise CheckpointError(f"'{path / LATEST}' points to '{os.readlink(path / LATEST)}', which does not exist")
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
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read '{folder / METADATA}': {exc}") from exc
    _check_shape(metadata, folder / METADATA)
    try:
        weights = load_file(folder / WEIGHTS)
    except Exception as exc:
        raise CheckpointError(f"cannot read '{folder / WEIGHTS}': {exc}") from exc
    return Checkpoint(folder, metadata, weights)


def _check_shape(metadata: Any, path: Path) -> None:
    """Refuse a ``checkpoint.json`` that is valid JSON but not a checkpoint description."""
    if not isinstance(metadata, dict):
        raise CheckpointError(
            f"'{path}' is not a checkpoint description: expected a JSON object, got {_json_name(metadata)}"
        )
    if metadata.get("format") != FORMAT_VERSION:
        raise CheckpointError(
            f"'{path}' has format {metadata.get('format')!r}; this translate reads format {FORMAT_VERSION}"
        )
    for key, (types, required) in _SHAPE.items():
        if key not in metadata:
            if required:
                raise CheckpointError(f"'{path}' lacks the key {key!r}")
            continue
        value = metadata[key]
        if isinstance(value, bool) or not isinstance(value, types):
            expected = " or ".join(_JSON_NAMES[kind] for kind in types)
            raise CheckpointError(f"'{path}': {key!r} must be {expected}, got {_json_name(value)}")
    for name, state in metadata.get("objective_state", {}).items():
        if not isinstance(state, dict):
            raise CheckpointError(
                f"'{path}': the objective state of {name!r} must be an object, got {_json_name(state)}"
            )


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def folder(run_dir: Path, step: int) -> Path:
    """Where the checkpoint of ``step`` lives in ``run_dir``."""
    return run_dir / "checkpoints" / f"{step:06d}"


def save(run_dir: Path, step: int, model: torch.nn.Module, metadata: dict[str, Any],
         training_state: dict[str, Any], keep: int, extra_weights: dict[str, dict[str, torch.Tensor]] | None = None
         ) -> Path:
    """Write ``checkpoints/<step>/`` atomically, point ``latest`` at it, keep the newest ``keep``.

    ``extra_weights`` maps further safetensors file names to their tensors (e.g. EMA weights).
    A write that fails (a full disk) removes the partial folder, leaves ``latest`` as it was
    and raises :class:`CheckpointError`.
    """
    final = folder(run_dir, step)
    checkpoints = final.parent
    partial = partial_path(final)
    try:
        checkpoints.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        save_model(model, str(partial / WEIGHTS))
        for name, tensors in (extra_weights or {}).items():
            save_file(tensors, str(partial / name))
        (partial / METADATA).write_text(json.dumps({"format": FORMAT_VERSION, **metadata}, indent=2))
        torch.save(training_state, partial / TRAINING)
        give_plain_modes(partial)  # safetensors writes 0600 files; a checkpoint is as readable as any file
        _fsync_dir(partial)
        if final.exists():  # left by a run that stopped before pointing latest at it
            shutil.rmtree(final)
        os.replace(partial, final)
        _point_latest(run_dir, final)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, (OSError, RuntimeError, SafetensorError)):
            raise CheckpointError(f"cannot write checkpoint '{final}' (out of disk space? {_reason(exc)}); "
                                  f"the partial folder was removed and {_kept(run_dir)}") from exc
        raise
    prune(run_dir, keep)
    return final


def kept(run_dir: str | os.PathLike) -> list[Path]:
    """The checkpoint folders of ``run_dir`` (``checkpoints/NNNNNN/``), by step; none if it has no such folder."""
    checkpoints = Path(run_dir) / "checkpoints"
    if not checkpoints.is_dir():
        return []
    return sorted((p for p in checkpoints.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` checkpoints of ``run_dir`` with the highest step numbers,
    never the one ``latest`` points to."""
    current = (run_dir / LATEST).resolve()
    by_step = kept(run_dir)
    for old in by_step[: max(0, len(by_step) - keep)]:
        if old.resolve() != current:
            shutil.rmtree(old)


def verify(run_dir: Path, expected: Path) -> None:
    """Check that ``latest`` of ``run_dir`` is ``expected`` and that every file of it loads."""
    saved = load(run_dir)
    if saved.path != expected.resolve():
        raise CheckpointError(f"'{run_dir / LATEST}' points to '{saved.path}', not to the last checkpoint '{expected}'")
    saved.training_state()
    for file in saved.path.glob("*.safetensors"):
        if file.name != WEIGHTS:
            saved.extra_weights(file.name)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _kept(run_dir: Path) -> str:
    link = run_dir / LATEST
    if link.is_symlink() and link.exists():
        return f"'{link}' still points to the last complete checkpoint ({os.readlink(link)})"
    return "no earlier checkpoint exists"


def _point_latest(run_dir: Path, target: Path) -> None:
    link = run_dir / LATEST
    temporary = partial_path(link)
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(target.relative_to(run_dir))
    os.replace(temporary, link)


def _fsync_dir(folder: Path) -> None:
    for file in folder.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
