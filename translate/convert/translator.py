"""Conversion of images and folder trees with a trained checkpoint (the inference side).

:class:`Translator` loads a checkpoint by itself — the checkpoint says which model,
options and direction — and translates images of any size: the generator pads to
its multiple and crops back, and images larger than ``tile`` pixels go through in
overlapping tiles (:mod:`translate.convert.tiling`), so memory stays bounded. Images smaller
than the generator can take (a 1×1 or 40×3 file) are padded up and cropped back.

:meth:`Translator.convert_folder` decodes and encodes in worker threads while the
model runs, batches consecutive images of one size, carries them as 8-bit pixels
(normalised tile by tile), writes every output atomically with the mode ``open()``
gives, skips outputs that exist, and reports files it could not read or translate
(and outputs it could not write) instead of stopping.

A multimodal model (one whose ``metadata()`` declares ``style_dim``, e.g. MUNIT) takes a style:
``style=`` a seed, a code or an example image (a PIL image, a path or a tensor), resolved to a code
once per conversion (:meth:`Translator.style_code`), so the tiles of an image share it and ONNX
Runtime gets the code as its graph's second input; ``convert_folder(styles=N, style_seed=S)``
writes N outputs per input, ``name_s0.png`` ... ``name_s{N-1}.png``, with the styles of seeds
``S`` ... ``S+N-1`` (:func:`translate.models.styles.random_style`), under the same rules as any output.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, NamedTuple

import torch
from PIL import Image

from translate.convert.conditions import conversion_condition
from translate.convert.generator_mode import GeneratorMode
from translate.convert.outputs import Job, plan_jobs, shard
from translate.convert.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    check_tiling,
    generator_multiple,
    needs_tiles,
    translate_tiled,
)
from translate.data.images import (
    DEFAULT_MAX_PIXELS,
    ImageReadError,
    alpha_of,
    list_images,
    load_rgb_and_alpha,
    normalize,
    pixels,
    quantize,
    load_rgb,
    save_atomically,
    to_pil,
    to_tensor,
)
from translate.devices import autocast, check_precision, resolve_device, warn_if_slow
from translate.errors import TranslateError, first_line
from translate.files import remove_stale_partials
from translate.models.base import Model
from translate.models.styles import random_style
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint

if TYPE_CHECKING:
    from translate.convert.onnx_backend import OnnxRuntimeBackend

@dataclass
class ConvertReport:
    """What :meth:`Translator.convert_folder` did."""

    converted: list[Path] = field(default_factory=list)
    skipped_existing: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    #: How the generator's batch-norm and dropout layers ran (:meth:`GeneratorMode.describe`), if it has any.
    generator_mode: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """The counts, then (on a line of its own) how the generator ran, when that matters."""
        counts = (f"{len(self.converted)} converted, {len(self.skipped_existing)} skipped (output exists), "
                  f"{len(self.failed)} failed")
        return counts if self.generator_mode is None else f"{counts}\n{self.generator_mode}"


#: Most pixels a batch holds on a CPU (256²: one 256×256 image, or four of 128×128). Larger batches
#: are no faster there, and their activations (64 MiB per ResNet layer for four 256² images) exceed
#: glibc's largest mmap threshold (32 MiB, see :mod:`translate.convert.allocator`): every layer then maps
#: fresh memory and faults it in, 4× the system time of batch 1 on 256² images. Small images still
#: batch (64² images convert about 20% faster four at a time).
CPU_BATCH_PIXELS = 256 * 256


class Variant(NamedTuple):
    """One output per input of a conversion: where it goes (a subfolder of DST, a suffix of the file's stem)
    and the condition the model translates under."""

    subfolder: str
    suffix: str
    condition: dict[str, Any]


def style_suffix(index: int) -> str:
    """The stem suffix of the ``index``-th style of ``--styles``: ``photo.png`` -> ``photo_s0.png``."""
    return f"_s{index}"


def distributed_share() -> tuple[int, int]:
    """(rank, world size) from ``torchrun``'s environment; (0, 1) when run alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class Translator:
    """A trained model ready to translate images: ``Translator.load(run)(image)``."""

    def __init__(self, model: Model, device: torch.device, metadata: dict[str, Any], precision: str = "fp32",
                 tile: int = DEFAULT_TILE, overlap: int = DEFAULT_OVERLAP, compile: bool = False,
                 runtime: OnnxRuntimeBackend | None = None, mode: GeneratorMode | None = None):
        check_precision(precision)
        try:
            check_tiling(tile, overlap)
        except ValueError as exc:
            raise TranslateError(str(exc)) from None
        warn_if_slow(device, precision)
        self.device = device
        # Channels-last speeds up convolutions on GPUs; on CPUs (oneDNN) it measured a few percent slower.
        self.memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.model = model.to(device, memory_format=self.memory_format).eval()
        #: Eval mode, or the pix2pix reference's test-time mode (:mod:`translate.convert.generator_mode`).
        self.mode = mode or GeneratorMode()
        self.mode.apply(self.model)
        self.mode_description = self.mode.describe(self.model)
        self.metadata = metadata
        #: What the model declares for conversion (:meth:`Model.metadata`): its directions or targets.
        self.model_metadata = self.model.metadata()
        self.precision = precision
        self.tile, self.overlap = tile, overlap
        self.batch_pixels = CPU_BATCH_PIXELS if device.type == "cpu" else None
        #: The ONNX Runtime backend that translates instead of PyTorch (``backend="onnxruntime"``), if any.
        self.runtime = runtime
        self._forward: Callable[..., torch.Tensor] = self.model.translate if runtime is None else runtime.translate
        if compile:
            # Static shapes first (one size compiles in seconds); a second size recompiles with dynamic shapes.
            self._forward = torch.compile(self.model.translate)

    @classmethod
    def load(cls, checkpoint_or_run: str | os.PathLike, device: str = "auto", precision: str = "fp32",
             registry: PluginRegistry | None = None, arch: str | None = None, backend: str = "torch",
             **options: Any) -> "Translator":
        """Load a checkpoint folder, or a run folder's latest checkpoint.

        A ``.pth``/``.pt`` file is a generator trained by the PyTorch CycleGAN/pix2pix
        reference (``latest_net_G.pth``); ``arch`` names its architecture
        (``resnet_9blocks``, ``resnet_6blocks``, ``unet_256``, ``unet_128``), see
        :mod:`translate.convert.reference_weights`.
        ``options``: ``tile`` (largest side translated whole, default :data:`DEFAULT_TILE`),
        ``overlap`` (tile overlap, default :data:`DEFAULT_OVERLAP`), ``compile`` (``torch.compile``).
        ``mode`` (a :class:`~translate.convert.generator_mode.GeneratorMode`) runs the generator as the
        pix2pix reference's test.py does (batch statistics, dropout) instead of in eval mode.
        ``backend="onnxruntime"`` translates through ONNX Runtime on the CPU at ``precision``
        ``fp32`` or ``int8``, with the options ``calibrate``, ``calibration_images``, ``min_psnr``
        and ``report`` of :class:`translate.convert.onnx_backend.OnnxRuntimeBackend`; its ``model`` holds no
        weights (meta device) once :meth:`convert_folder` has built the sessions.
        """
        from translate.convert.reference_weights import REFERENCE_SUFFIXES, reference_model

        if Path(checkpoint_or_run).is_file() and Path(checkpoint_or_run).suffix.lower() in REFERENCE_SUFFIXES:
            if arch is None:
                raise TranslateError(
                    f"'{checkpoint_or_run}' is a reference weights file: name its architecture with --arch "
                    "(resnet_9blocks, resnet_6blocks, unet_256 or unet_128)"
                )
            model, metadata = reference_model(checkpoint_or_run, arch)
            return cls._on_backend(backend, model, Path(checkpoint_or_run).parent, metadata, device, precision,
                                   options, reload=lambda: reference_model(checkpoint_or_run, arch)[0])
        if arch is not None:
            raise TranslateError(f"--arch is for reference .pth files only; '{checkpoint_or_run}' is a checkpoint")
        registry = registry or PluginRegistry()
        saved = checkpoint.load(checkpoint_or_run)
        model = saved.inference_model(registry)
        folder = saved.path  # not ``saved``: its weights are mapped from the file while it lives
        return cls._on_backend(backend, model, folder, saved.metadata, device, precision, options,
                               reload=lambda: checkpoint.load(folder).inference_model(registry))

    @classmethod
    def _on_backend(cls, backend: str, model: Model, folder: Path, metadata: dict[str, Any], device: str,
                    precision: str, options: dict[str, Any], reload: Callable[[], Model]) -> "Translator":
        """A translator of ``model`` (loaded from ``folder``; ``reload`` loads it again) running on PyTorch
        or ONNX Runtime."""
        if backend == "onnxruntime":
            from translate.convert.onnx_backend import onnxruntime_translator_options

            if not (options.get("mode") or GeneratorMode()).is_eval:
                raise TranslateError("--norm-stats batch and --dropout on run the generator in PyTorch; "
                                     "drop --backend onnxruntime")

            return cls(model, torch.device("cpu"), metadata,
                       **onnxruntime_translator_options(model, folder, device, precision, options, reload))
        if backend != "torch":
            raise TranslateError(f"--backend must be torch or onnxruntime, got {backend!r}")
        return cls(model, resolve_device(device), metadata, precision=precision, **options)

    @torch.inference_mode()
    def translate_batch(self, images: torch.Tensor, **condition: Any) -> torch.Tensor:
        """Translate ``(N, 3, H, W)`` on the CPU; same shape out, on the CPU.

        Floats in [-1, 1] give float32; 8-bit pixels (``uint8``) give 8-bit pixels, rounded
        as :func:`~translate.data.images.to_pil` rounds, and never exist in float beyond a
        tile and a band of tile rows (:func:`~translate.convert.tiling.translate_tiled`). Outside
        eval mode (:attr:`mode`) each image is translated alone, from the mode's seed.
        """
        condition = self.condition(condition)
        if self.mode.is_eval:
            return self._translate_tiled(images, condition)
        outputs = []
        for image in images:  # the reference's test-time mode: each image alone, from the seed
            with self.mode.seeded(self.device):
                outputs.append(self._translate_tiled(image[None], condition))
        return torch.cat(outputs)

    def _translate_tiled(self, images: torch.Tensor, condition: dict[str, Any]) -> torch.Tensor:
        """:meth:`translate_batch` of images that go through the generator together (tile by tile), under the
        model's own ``condition``."""
        finish = quantize if images.dtype == torch.uint8 else None
        tiled = needs_tiles(*images.shape[-2:], self.tile)
        return translate_tiled(lambda piece: self._run(piece, condition), images, self.tile, self.overlap, finish,
                               self.tile_multiple if tiled else 1)

    @functools.cached_property
    def tile_multiple(self) -> int:
        """What tile sizes are rounded up to: the generator's multiple, so tiles need no padding. Looked
        up for the first image that is tiled (a model's ``inference_network`` is not needed otherwise)."""
        return generator_multiple(self.model)

    def _run(self, pieces: torch.Tensor, condition: dict[str, Any]) -> torch.Tensor:
        """The generator on ``pieces`` (CPU, 8-bit or float): float32 in [-1, 1] on the CPU."""
        pieces = normalize(pieces.to(self.device, non_blocking=True)).contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.precision):
            return self._forward(pieces, **condition).float().cpu()

    def __call__(self, image: Image.Image, **condition: Any) -> Image.Image:
        """Translate one image; same size, alpha channel (if any) carried over unchanged."""
        alpha = alpha_of(image)
        output = to_pil(self.translate_batch(pixels(image.convert("RGB")).unsqueeze(0), **condition)[0])
        if alpha is not None:
            output.putalpha(alpha)
        return output

    def condition(self, condition: dict[str, Any]) -> dict[str, Any]:
        """What the model is passed for ``condition`` (:func:`~translate.convert.conditions.conversion_condition`):
        a direction, target or style the model does not declare is an :class:`~translate.options.OptionError`.
        A ``style`` becomes a code (:meth:`style_code`)."""
        passed = conversion_condition(self.metadata["model"], self.model_metadata, condition)
        if passed.get("style") is not None:
            passed["style"] = self.style_code(passed["style"], **{k: v for k, v in passed.items() if k != "style"})
        return passed

    def style_code(self, style: Any, **condition: Any) -> torch.Tensor:
        """``style`` as the code(s) a multimodal model translates with, ``(1, style_dim)`` or one row per image.

        A seed gives :func:`~translate.models.styles.random_style`; a code tensor (1 or 2 dimensions) is
        returned as it is; an example image (a PIL image or an image file, scaled so that its shorter side
        is the model's training crop size, or a tensor ``(3, H, W)``/``(N, 3, H, W)`` in [-1, 1] as it is)
        is encoded by the model's ``style_code(images, **condition)`` (the target domain's style encoder).
        """
        dim = int(self.model_metadata.get("style_dim") or 0)
        if isinstance(style, int) and not isinstance(style, bool):
            return random_style(style, dim)[None]
        if isinstance(style, (str, os.PathLike)):
            style = load_rgb(style)
        if isinstance(style, Image.Image):
            style = to_tensor(_at_training_scale(style.convert("RGB"), self.model.image_size))
        if not isinstance(style, torch.Tensor):
            raise OptionError(f"a style must be a seed, a style code, an image or an image file, got "
                              f"{type(style).__name__}")
        if style.dim() <= 2:
            return style.float().reshape(-1, dim) if dim and style.numel() % dim == 0 else style
        model = self.runtime.pytorch_model() if self.runtime is not None else self.model
        images = style if style.dim() == 4 else style[None]
        with torch.inference_mode():
            return model.style_code(normalize(images.to(self.device)), **condition).float().cpu()

    def variants(self, every_target: bool, styles: int | None = None, style_seed: int = 0,
                 **condition: Any) -> list[Variant]:
        """The outputs of each input: one per target when ``every_target`` (a subfolder each), times one per
        style of seeds ``style_seed`` ... ``style_seed + styles - 1`` when ``styles`` (a suffix each)."""
        if every_target:
            targets = self.model.conversion_targets()
            if not targets:
                raise TranslateError(f"model {self.metadata['model']!r} has a single output; drop --every-target")
            places = [(name, {**condition, **target}) for name, target in targets.items()]
        else:
            places = [("", condition)]
        if styles is None:
            return [Variant(subfolder, "", self.condition(place)) for subfolder, place in places]
        if isinstance(styles, bool) or not isinstance(styles, int) or styles < 1:
            raise OptionError(f"--styles must be a number of styles, at least 1, got {styles!r}")
        if condition.get("style") is not None:
            raise OptionError("--styles writes random styles and --style-from the style of one image; choose one")
        return [Variant(subfolder, style_suffix(index), self.condition({**place, "style": style_seed + index}))
                for subfolder, place in places for index in range(styles)]

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
        styles: int | None = None,
        style_seed: int = 0,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
        progress: Callable[[Path], None] | None = None,
        **condition: Any,
    ) -> ConvertReport:
        """Translate every image under ``src`` (or the given ``sources`` below it) into ``dst``.

        Relative paths are mirrored; under ``torchrun`` each rank takes a disjoint
        share. A batch holds up to ``batch_size`` consecutive images of one size (on a
        CPU, at most :data:`CPU_BATCH_PIXELS` pixels in all). Unreadable files (including
        images of more than ``max_pixels`` pixels and symbolic links that lead nowhere)
        and images the model fails on are reported in the result, not raised; existing
        outputs are kept unless ``overwrite``, and temporaries an interrupted run left for
        them are removed. ``progress`` is called after each input, in order. A multimodal model
        takes ``style=`` (one output per input, see :meth:`style_code`) or ``styles=N`` (N outputs per
        input, ``name_s0`` ... with the styles of seeds ``style_seed`` ...). On ONNX Runtime,
        two batches are translated at once, each on half the threads
        (:meth:`~translate.convert.onnx_backend.OnnxRuntimeBackend.parallel_runs`).
        """
        src, dst = Path(src), Path(dst)
        jobs, clashes = plan_jobs(sources if sources is not None else list_images(src, broken_links=True), src, dst,
                                  fmt)
        report = ConvertReport(clashes=clashes, generator_mode=self.mode_description)
        variants = self.variants(every_target, styles, style_seed, **condition)
        todo = self._outputs_to_write(shard(jobs, *distributed_share()), dst, variants, overwrite, report, progress)
        parallel = self.runtime.parallel_runs(len(todo)) if self.runtime is not None else 1
        with self._runs_at_once(parallel):
            if self.runtime is not None and todo:  # build (int8: calibrate and gate) before anything is written
                self.runtime.prepare([variant.condition for variant in variants], [job.source for job in jobs])
            depth = parallel * batch_size + 2 * workers  # images decoded ahead, and outputs waiting to be written
            with ThreadPoolExecutor(max(1, workers)) as pool:
                writes: deque[tuple[Path, Future]] = deque()
                batches = self._batches(self._decoded(todo, pool, depth, max_pixels), batch_size, self.batch_pixels,
                                        report, progress)
                for batch, translations, error in self._translated(batches, parallel):
                    for variant_index, translated in enumerate(translations):
                        for (job, outputs, _, alpha), image in zip(batch, translated):
                            target = outputs[variant_index][0]
                            writes.append((target, pool.submit(_write, image, target, alpha, quality)))
                    if error is not None:
                        report.failed.extend((job.source, error) for job, *_ in batch)
                    for job, *_ in batch:
                        if progress is not None:
                            progress(job.source)
                    while len(writes) > depth:  # encoding lags: wait, rather than hold every output in memory
                        _collect(*writes.popleft(), report)
                while writes:
                    _collect(*writes.popleft(), report)
        return report

    def _runs_at_once(self, runs: int) -> contextlib.AbstractContextManager:
        """Within: ``runs`` batches are translated at once (the ONNX Runtime backend shares the threads out)."""
        return self.runtime.runs_at_once(runs) if self.runtime is not None else contextlib.nullcontext()

    def _translated(self, batches: Iterator[list], parallel: int
                    ) -> Iterator[tuple[list, list[torch.Tensor], str | None]]:
        """Each batch with :meth:`_translate_variants` of it, in order; up to ``parallel`` batches are translated
        at once, in threads of their own (``parallel`` 1: here)."""
        if parallel == 1:
            for batch in batches:
                yield batch, *self._translate_variants(batch)
            return
        with ThreadPoolExecutor(parallel, thread_name_prefix="translate-run") as runs:
            pending: deque[tuple[list, Future]] = deque()
            for batch in batches:
                pending.append((batch, runs.submit(self._translate_variants, batch)))
                if len(pending) == parallel:
                    batch, run = pending.popleft()
                    yield batch, *run.result()
            while pending:
                batch, run = pending.popleft()
                yield batch, *run.result()

    def _translate_variants(self, batch: list) -> tuple[list[torch.Tensor], str | None]:
        """A batch translated under each of its outputs' conditions in turn, and why the remaining ones failed
        (``None``: none did). An error that is the user's mistake (a missing ``--to``) is raised."""
        images = [image for _, _, image, _ in batch]
        stacked = torch.stack(images) if len(images) > 1 else images[0][None]
        translations = []
        for _, variant in batch[0][1]:
            try:
                translations.append(self.translate_batch(stacked, **variant))
            except TranslateError:  # the user's mistake: one line, not one per image
                raise
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: the other images still convert
                return translations, f"cannot translate: {first_line(exc)}"
        return translations, None

    @staticmethod
    def _outputs_to_write(jobs: list[Job], dst: Path, variants: list[Variant], overwrite: bool,
                          report: ConvertReport, progress: Callable[[Path], None] | None
                          ) -> list[tuple[Job, list[tuple[Path, dict[str, Any]]]]]:
        """Each job with the (output, condition) pairs to write; skipped and blocked outputs go in ``report``.

        An output path taken by a folder is a failure. Temporaries that a killed run left
        for any of these outputs are removed.
        """
        todo, targets = [], []
        for job in jobs:
            outputs = []
            for subfolder, suffix, variant in variants:
                target = dst / subfolder / job.target.relative_to(dst) if subfolder else job.target
                if suffix:
                    target = target.with_name(f"{target.stem}{suffix}{target.suffix}")
                targets.append(target)
                if target.is_dir():
                    report.failed.append((target, "a folder is in the way of this output file"))
                elif target.exists() and not overwrite:
                    report.skipped_existing.append(target)
                else:
                    outputs.append((target, variant))
            if outputs:
                todo.append((job, outputs))
            elif progress is not None:
                progress(job.source)
        remove_stale_partials(targets)
        return todo

    @staticmethod
    def _decoded(todo, pool: ThreadPoolExecutor, depth: int, max_pixels: int | None
                 ) -> Iterator[tuple[Job, list, Future]]:
        """Decode ahead in worker threads, at most ``depth`` images in flight."""
        queue: deque = deque()
        for job, outputs in todo:
            queue.append((job, outputs, pool.submit(_read, job.source, max_pixels)))
            if len(queue) >= depth:
                yield queue.popleft()
        while queue:
            yield queue.popleft()

    @staticmethod
    def _batches(decoded, batch_size: int, batch_pixels: int | None, report: ConvertReport,
                 progress) -> Iterator[list]:
        """Group consecutive decoded images of one size and one set of outputs into batches.

        A batch holds at most ``batch_size`` images and, unless ``None``, ``batch_pixels`` pixels
        (always at least one image).
        """
        batch: list = []
        for job, outputs, future in decoded:
            try:
                image, alpha = future.result()
            except ImageReadError as exc:
                report.failed.append((job.source, exc.reason))
                if progress is not None:
                    progress(job.source)
                continue
            room = len(batch) < batch_size and (batch_pixels is None
                                                or (len(batch) + 1) * image[0].numel() <= batch_pixels)
            alike = batch and batch[0][2].shape == image.shape and _same_conditions(batch[0][1], outputs)
            if batch and not (room and alike):
                yield batch
                batch = []
            batch.append((job, outputs, image, alpha))
        if batch:
            yield batch


def _same_conditions(first: list[tuple[Path, dict[str, Any]]], second: list[tuple[Path, dict[str, Any]]]) -> bool:
    """Whether two inputs' outputs are written under the same conditions (the same variants: the same objects,
    so a style code is never compared as a tensor)."""
    return len(first) == len(second) and all(a is b for (_, a), (_, b) in zip(first, second))


def _at_training_scale(image: Image.Image, size: int) -> Image.Image:
    """``image`` scaled so its shorter side is ``size`` (the crops the model's style encoders trained on)."""
    scale = size / min(image.size)
    if scale == 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                        Image.Resampling.BICUBIC)


def _read(path: Path, max_pixels: int | None) -> tuple[torch.Tensor, Image.Image | None]:
    """An input as 8-bit pixels ``(3, H, W)`` and its alpha channel (a worker thread's half of decoding)."""
    try:
        rgb, alpha = load_rgb_and_alpha(path, max_pixels)
    except MemoryError:
        raise ImageReadError(path, "not enough memory to decode it (lower --max-pixels to skip such images)") from None
    return pixels(rgb), alpha


def _write(image: torch.Tensor, target: Path, alpha: Image.Image | None, quality: int) -> None:
    """Encode an output ``(3, H, W)`` and write it atomically (a worker thread's half of encoding)."""
    save_atomically(to_pil(image), target, alpha, quality)


def _collect(target: Path, write: Future, report: ConvertReport) -> None:
    """Wait for the write of ``target`` and enter its outcome in ``report``."""
    try:
        write.result()
        report.converted.append(target)
    except OSError as exc:
        report.failed.append((target, f"cannot write: {exc}"))
