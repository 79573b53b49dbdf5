"""Conversion of images and folder trees with a trained checkpoint (the inference side).

:class:`Translator` loads a checkpoint by itself — the checkpoint says which model,
options and direction — and translates PIL images of any size (the generator pads
to its multiple and crops back). :meth:`Translator.convert_folder` walks a tree,
mirrors relative paths, writes each output atomically, and reports files it could
not read instead of stopping.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from PIL import Image

from translate.data.images import ImageReadError, list_images, load_rgb, to_pil, to_tensor
from translate.models.base import Model
from translate.plugins import PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import resolve_device


@dataclass
class ConvertReport:
    """What :meth:`Translator.convert_folder` did."""

    converted: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{len(self.converted)} converted, {len(self.skipped_existing)} skipped (output exists), "
            f"{len(self.failed)} failed"
        )


def model_from_checkpoint(saved: checkpoint.Checkpoint, registry: PluginRegistry) -> Model:
    """Build the checkpoint's model for inference (no critics) and load its weights."""
    meta = saved.metadata
    model_cls = registry.model(meta["model"])
    model = model_cls(None, image_size=meta["image_size"], **meta["model_options"])
    missing, _critic_weights = model.load_state_dict(saved.weights, strict=False)
    if missing:
        raise checkpoint.CheckpointError(
            f"'{saved.path / checkpoint.WEIGHTS}' lacks weights for model {meta['model']!r}: {missing[:3]}"
        )
    return model


class Translator:
    """A trained model ready to translate images: ``Translator.load(run)(image)``."""

    def __init__(self, model: Model, device: torch.device, metadata: dict[str, Any]):
        self.model = model.to(device).eval()
        self.device = device
        self.metadata = metadata

    @classmethod
    def load(cls, checkpoint_or_run: str | os.PathLike, device: str = "auto",
             registry: PluginRegistry | None = None) -> "Translator":
        """Load a checkpoint folder, or a run folder's latest checkpoint."""
        saved = checkpoint.load(checkpoint_or_run)
        model = model_from_checkpoint(saved, registry or PluginRegistry())
        return cls(model, resolve_device(device), saved.metadata)

    @torch.inference_mode()
    def __call__(self, image: Image.Image, **condition: Any) -> Image.Image:
        """Translate one RGB image; the output has the input's size."""
        batch = to_tensor(image.convert("RGB")).unsqueeze(0).to(self.device)
        return to_pil(self.model.translate(batch, **condition)[0].float().cpu())

    def convert_folder(self, src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False,
                       progress: Callable[[Path], None] | None = None, **condition: Any) -> ConvertReport:
        """Translate every image under ``src`` into the same relative path under ``dst``.

        Unreadable files are reported in the result, not raised; existing outputs are
        kept unless ``overwrite``. ``progress`` is called after each input file.
        """
        src, dst = Path(src), Path(dst)
        report = ConvertReport()
        for path in list_images(src):
            target = dst / path.relative_to(src)
            if target.exists() and not overwrite:
                report.skipped_existing.append(target)
            else:
                try:
                    output = self(load_rgb(path), **condition)
                except ImageReadError as exc:
                    report.failed.append((path, exc.reason))
                else:
                    write_atomically(output, target)
                    report.converted.append(target)
            if progress is not None:
                progress(path)
        return report


def write_atomically(image: Image.Image, target: Path) -> None:
    """Save ``image`` to ``target`` through a temporary file and a rename (no partial outputs)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    os.close(handle)
    try:
        image.save(temporary, format=Image.registered_extensions().get(target.suffix.lower(), "PNG"))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
