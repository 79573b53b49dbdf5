"""Conversion of images and folder trees with a trained checkpoint (the inference side).

:class:`Translator` loads a checkpoint by itself — the checkpoint says which model,
options and direction — and translates images of any size: the generator pads to
its multiple and crops back, and images larger than ``tile`` pixels go through in
overlapping tiles (:mod:`translate.tiling`), so memory stays bounded.

:meth:`Translator.convert_folder` decodes and encodes in worker threads while the
model runs, batches consecutive images of one size, writes every output atomically,
skips outputs that exist, and reports files it could not read instead of stopping.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from PIL import Image

from translate.data.images import ImageReadError, alpha_of, list_images, load_rgb_and_alpha, to_pil, to_tensor
from translate.errors import TranslateError
from translate.models.base import Model
from translate.outputs import Job, plan_jobs, save_atomically, shard
from translate.plugins import PluginRegistry
from translate.precision import autocast, check_precision, warn_if_slow
from translate.tiling import translate_tiled
from translate.train import checkpoint
from translate.train.trainer import resolve_device



@dataclass
class ConvertReport:
    """What :meth:`Translator.convert_folder` did."""

    converted: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (
            f"{len(self.converted)} converted, {len(self.skipped_existing)} skipped (output exists), "
            f"{len(self.failed)} failed"
        )


def model_from_checkpoint(saved: checkpoint.Checkpoint, registry: PluginRegistry, use_ema: bool = True) -> Model:
    """Build the checkpoint's model for inference (no critics) and load its weights.

    With ``use_ema`` the generators' averaged weights (``ema.safetensors``, from ``--ema``) replace
    the raw ones when the checkpoint has them.
    """
    meta = saved.metadata
    model_cls = registry.model(meta["model"])
    model = model_cls(None, image_size=meta["image_size"], **saved.model_options(model_cls))
    weights = saved.weights
    if use_ema and (saved.path / checkpoint.EMA_WEIGHTS).exists():
        weights = {**weights, **saved.extra_weights(checkpoint.EMA_WEIGHTS)}
    missing, _critic_weights = saved.load_into(model, meta["model"], weights)
    if missing:
        raise checkpoint.CheckpointError(
            f"'{saved.path / checkpoint.WEIGHTS}' lacks weights for model {meta['model']!r}: {missing[:3]}"
        )
    return model


#: Largest side translated whole. A 768² ResNet-9 pass needs about 0.4 GiB of activations at fp32
#: (1024²: 0.8 GiB), which keeps a 4096² conversion under 2 GiB of peak memory.
DEFAULT_TILE = 768


def distributed_share() -> tuple[int, int]:
    """(rank, world size) from ``torchrun``'s environment; (0, 1) when run alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class Translator:
    """A trained model ready to translate images: ``Translator.load(run)(image)``."""

    def __init__(self, model: Model, device: torch.device, metadata: dict[str, Any], precision: str = "fp32",
                 tile: int = DEFAULT_TILE, overlap: int = 64, compile: bool = False):
        check_precision(precision)
        warn_if_slow(device, precision)
        self.device = device
        # Channels-last speeds up convolutions on GPUs; on CPUs (oneDNN) it measured a few percent slower.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format).eval()
        self.metadata = metadata
        self.precision = precision
        self.tile, self.overlap = tile, overlap
        self._forward: Callable[..., torch.Tensor] = self.model.translate
        if compile:
            # Static shapes first (one size compiles in seconds); a second size recompiles with dynamic shapes.
            self._forward = torch.compile(self.model.translate)

    @classmethod
    def load(cls, checkpoint_or_run: str | os.PathLike, device: str = "auto", precision: str = "fp32",
             registry: PluginRegistry | None = None, arch: str | None = None, **options: Any) -> "Translator":
        """Load a checkpoint folder, or a run folder's latest checkpoint.

        A ``.pth``/``.pt`` file is a generator trained by the PyTorch CycleGAN/pix2pix
        reference (``latest_net_G.pth``); ``arch`` names its architecture
        (``resnet_9blocks``, ``resnet_6blocks``, ``unet_256``, ``unet_128``), see
        :mod:`translate.reference_weights`.
        ``options``: ``tile`` (largest side translated whole, default :data:`DEFAULT_TILE`),
        ``overlap`` (tile overlap, default 64), ``compile`` (``torch.compile``).
        """
        from translate.reference_weights import REFERENCE_SUFFIXES, reference_model

        if Path(checkpoint_or_run).is_file() and Path(checkpoint_or_run).suffix.lower() in REFERENCE_SUFFIXES:
            if arch is None:
                raise TranslateError(
                    f"'{checkpoint_or_run}' is a reference weights file: name its architecture with --arch "
                    "(resnet_9blocks, resnet_6blocks, unet_256 or unet_128)"
                )
            model, metadata = reference_model(checkpoint_or_run, arch)
            return cls(model, resolve_device(device), metadata, precision=precision, **options)
        if arch is not None:
            raise TranslateError(f"--arch is for reference .pth files only; '{checkpoint_or_run}' is a checkpoint")
        saved = checkpoint.load(checkpoint_or_run)
        model = model_from_checkpoint(saved, registry or PluginRegistry())
        return cls(model, resolve_device(device), saved.metadata, precision=precision, **options)

    @torch.inference_mode()
    def translate_batch(self, images: torch.Tensor, **condition: Any) -> torch.Tensor:
        """Translate ``(N, 3, H, W)`` in [-1, 1]; returns float32 on the CPU, same shape."""
        images = images.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.precision):
            output = translate_tiled(lambda x: self._forward(x, **condition), images, self.tile, self.overlap)
        return output.float().cpu()

    def __call__(self, image: Image.Image, **condition: Any) -> Image.Image:
        """Translate one image; same size, alpha channel (if any) carried over unchanged."""
        alpha = alpha_of(image)
        output = to_pil(self.translate_batch(to_tensor(image.convert("RGB")).unsqueeze(0), **condition)[0])
        if alpha is not None:
            output.putalpha(alpha)
        return output

    def variants(self, every_target: bool, **condition: Any) -> list[tuple[str, dict[str, Any]]]:
        """(output subfolder, condition) pairs: one per target when ``every_target``, else the given one."""
        if not every_target:
            return [("", condition)]
        targets = self.model.conversion_targets()
        if not targets:
            raise TranslateError(f"model {self.metadata['model']!r} has a single output; drop --every-target")
        return [(name, {**condition, **target}) for name, target in targets.items()]

    def convert_folder(
        self,
        src: str | os.PathLike,
        dst: str | os.PathLike,
        *,
        sources: list[Path] | None = None,
        fmt: str = "same",
        quality: int = 95,
        overwrite: bool = False,
        batch_size: int = 4,
        workers: int = 2,
        every_target: bool = False,
        progress: Callable[[Path], None] | None = None,
        **condition: Any,
    ) -> ConvertReport:
        """Translate every image under ``src`` (or the given ``sources`` below it) into ``dst``.

        Relative paths are mirrored; under ``torchrun`` each rank takes a disjoint
        share. Unreadable files are reported in the result, not raised; existing
        outputs are kept unless ``overwrite``. ``progress`` is called after each input.
        """
        src, dst = Path(src), Path(dst)
        jobs, clashes = plan_jobs(sources if sources is not None else list_images(src), src, dst, fmt)
        report = ConvertReport(clashes=clashes)
        variants = self.variants(every_target, **condition)
        todo: list[tuple[Job, list[tuple[Path, dict[str, Any]]]]] = []
        for job in shard(jobs, *distributed_share()):
            outputs = []
            for subfolder, variant in variants:
                target = dst / subfolder / job.target.relative_to(dst) if subfolder else job.target
                if target.exists() and not overwrite:
                    report.skipped_existing.append(target)
                else:
                    outputs.append((target, variant))
            if outputs:
                todo.append((job, outputs))
            elif progress is not None:
                progress(job.source)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            writes: list[tuple[Path, Future]] = []
            for batch in self._batches(self._decoded(todo, pool, depth=batch_size + 2 * workers), batch_size, report,
                                       progress):
                for variant_index in range(len(batch[0][1])):
                    variant = batch[0][1][variant_index][1]
                    stacked = torch.stack([to_tensor(rgb) for _, _, rgb, _ in batch])
                    translated = self.translate_batch(stacked, **variant)
                    for (job, outputs, _, alpha), image in zip(batch, translated):
                        target = outputs[variant_index][0]
                        writes.append((target, pool.submit(save_atomically, to_pil(image), target, alpha, quality)))
                for job, *_ in batch:
                    if progress is not None:
                        progress(job.source)
            for target, future in writes:
                try:
                    future.result()
                    report.converted.append(target)
                except OSError as exc:
                    report.failed.append((target, f"cannot write: {exc}"))
        return report

    @staticmethod
    def _decoded(todo, pool: ThreadPoolExecutor, depth: int) -> Iterator[tuple[Job, list, Future]]:
        """Decode ahead in worker threads, at most ``depth`` images in flight."""
        queue: deque = deque()
        for job, outputs in todo:
            queue.append((job, outputs, pool.submit(load_rgb_and_alpha, job.source)))
            if len(queue) >= depth:
                yield queue.popleft()
        while queue:
            yield queue.popleft()

    @staticmethod
    def _batches(decoded, batch_size: int, report: ConvertReport, progress) -> Iterator[list]:
        """Group consecutive decoded images of one size and one set of outputs into batches."""
        batch: list = []
        for job, outputs, future in decoded:
            try:
                rgb, alpha = future.result()
            except ImageReadError as exc:
                report.failed.append((job.source, exc.reason))
                if progress is not None:
                    progress(job.source)
                continue
            if batch and (len(batch) == batch_size or batch[0][2].size != rgb.size
                          or [v for _, v in batch[0][1]] != [v for _, v in outputs]):
                yield batch
                batch = []
            batch.append((job, outputs, rgb, alpha))
        if batch:
            yield batch
