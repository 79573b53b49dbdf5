"""Conversion through ONNX Runtime (``--backend onnxruntime``): fp32, or int8 behind a fidelity gate.

:class:`OnnxRuntimeBackend` replaces one thing in :class:`translate.convert.Translator`: the function
that maps a float batch ``(N, 3, H, W)`` to its translation. Tiling, batching, decoding and encoding
in worker threads, alpha, EXIF and the "nothing lost" file handling stay the PyTorch path's.

Per condition (direction, target domain) the model's inference network
(:meth:`translate.models.base.Model.inference_network`, as ``translate export`` writes it: any
batch, height and width) is exported once and cached beside the checkpoint; a multimodal model's
graph takes the style code as a second input (``style``, one row per image), so one session serves
every style (the condition's ``style``, a code, is fed to it and is no part of the session's key)
(:mod:`translate.convert.onnx_cache`); int8 is quantized from it (:mod:`translate.convert.quantize`) on calibration
images and gated by its PSNR against fp32. Images are padded to the network's multiple here, as
:class:`translate.nets.PadCrop` does, so any size (even a few pixels) converts.

Sessions run on the CPU with as many intra-op threads as torch uses (``torch.get_num_threads()``:
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` govern both backends alike), one inter-op thread
and sequential execution; while a folder conversion translates :data:`PARALLEL_RUNS` batches at once
(:meth:`OnnxRuntimeBackend.runs_at_once`), each run takes its share of those threads. They load the
graph ONNX Runtime optimised for this CPU (fused operators, the blocked channel layout of its vector
width), cached beside the portable export: optimising at every load kept two more copies of the
weights (ResNet-9: +90 MB, 0.17 s instead of 0.07 s).
Measured side by side (ResNet-9, 256×256 and 1024×768 photos, whole processes): ONNX Runtime's
memory arena keeps the largest image's activations for good (+170 MB at 256²; +1.2 GiB after one
768² tile without the memory pattern), so it is off. Without the memory pattern (one block for a
run's activations, mapped afresh for each run) 256² images fault in half as many pages, but 768²
tiles four times as many and convert 15% slower, so it stays on. Binding inputs and outputs
(``io_binding``) was no faster than passing numpy arrays that share the tensors' memory.

Once the sessions hold their own copy of the weights, the PyTorch model's are dropped when they can be
reloaded (:meth:`OnnxRuntimeBackend.prepare`), and the heap that building sessions, and each session's
first run of a size, left behind is handed back to the system (:func:`translate.convert.allocator.release_free_memory`).
A CycleGAN converting 256² crops from the cache peaked at 0.75 GiB instead of 0.93 GiB (PyTorch: 0.79-0.86 GiB).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import os
import platform
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor

from translate.convert.allocator import release_free_memory
from translate.convert.export import ExportableGenerator, exportable_network, write_onnx
from translate.convert.onnx_cache import CACHE_FOLDER, ModelCache
from translate.convert.quantize import (
    CALIBRATION_IMAGES,
    DEFAULT_MIN_PSNR,
    RECIPE,
    Fidelity,
    calibration_inputs,
    check_fidelity,
    inputs_digest,
    measure_fidelity,
    quantize,
)
from translate.convert.tiling import DEFAULT_OVERLAP, DEFAULT_TILE, generator_multiple
from translate.data.images import list_images
from translate.errors import TranslateError, TranslateWarning
from translate.models.base import Model
from translate.models.styles import random_style
from translate.nets.layers import crop_to, pad_to_multiple
from translate.options import OptionError

#: ``--backend`` choices.
BACKENDS = ("torch", "onnxruntime")
#: ``--precision`` choices of the onnxruntime backend.
ONNX_PRECISIONS = ("fp32", "int8")
INSTALL_HINT = "pip install 'image-translate[onnx]'"
#: Most batches a folder conversion translates at once, each run on its share of the threads. Two
#: one-thread runs at once beat one run on two threads (2-core Xeon, AVX2 kernels, ResNet-9, median
#: of 8 alternated rounds): 256² images 10% (int8) and 12% (fp32) faster, 768² tiles 17% and 4%. Part
#: of a run keeps only one thread busy (operators ONNX Runtime runs on one thread, and the wait for the
#: slowest thread at each operator's end); another run fills those gaps. More runs at once would hold
#: more images' activations; two is what was measured.
PARALLEL_RUNS = 2


def require_onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a one-line error saying what to install.

    onnx and onnxscript (which export and quantization need) are looked for but not imported:
    importing onnxscript costs 60 MB that a conversion from the cache never needs.
    """
    try:
        import onnxruntime
    except ImportError:
        raise TranslateError(f"--backend onnxruntime needs the package onnxruntime: {INSTALL_HINT}") from None
    for name in ("onnx", "onnxscript"):
        if importlib.util.find_spec(name) is None:
            raise TranslateError(f"--backend onnxruntime needs the package {name}: {INSTALL_HINT}")
    return onnxruntime


def versions() -> dict[str, str]:
    """Versions of what builds the cached models (part of every cache key)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("onnx", "onnxscript")} | {
        "onnxruntime": require_onnxruntime().__version__, "torch": torch.__version__}


def weights_digest(network: ExportableGenerator) -> str:
    """SHA-256 of a network's structure, size multiple and smallest size, parameters and buffers (StarGAN's
    bound labels too)."""
    digest = hashlib.sha256(f"{network!r}\nmultiple={network.multiple}\nmin_size={network.min_size}".encode())
    for name, tensor in itertools.chain(network.named_parameters(), network.named_buffers()):
        digest.update(f"\n{name} {tensor.dtype} {tuple(tensor.shape)}\n".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class PaddedSession:
    """An ``InferenceSession`` of an exported generator that takes images of any size.

    Images are padded to the network's multiple and to at least its smallest size
    (:func:`translate.nets.layers.pad_to_multiple`) and the output cropped back, as
    :class:`translate.nets.PadCrop` does in PyTorch.
    """

    def __init__(self, session: Any, network: ExportableGenerator):
        self.session, self.multiple, self.min_size = session, network.multiple, network.min_size
        #: Numbers of the style code the graph takes as its second input (0: no style input).
        self.style_dim = network.style_dim
        self._shapes_run: set[tuple[int, ...]] = set()
        self._first_runs = threading.Lock()

    @property
    def threads(self) -> int:
        """The session's intra-op threads."""
        return self.session.get_session_options().intra_op_num_threads

    def pad(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``images`` padded as the exported graph takes them, and their own size."""
        return pad_to_multiple(images, self.multiple, min_size=self.min_size)

    def __call__(self, images: Tensor, style: Tensor | None = None) -> Tensor:
        """Translate ``images``; a styled graph with ``style`` ``(1, style_dim)`` or one row per image (default:
        the zero code)."""
        padded, size = self.pad(images)
        feed = {"images": padded.float().contiguous().numpy()}
        if self.style_dim:
            feed["style"] = self.style_feed(style, images.shape[0])
        if padded.shape in self._shapes_run:
            (output,) = self.session.run(None, feed)
        else:
            # The first run of a shape allocates each activation on its own (and plans the memory pattern
            # from them); later runs take one block, so the heap the first run left is not reused and goes
            # back. Runs at once wait for it: two first runs at once raised a conversion's peak by 90 MB.
            with self._first_runs:
                (output,) = self.session.run(None, feed)
                if padded.shape not in self._shapes_run:
                    self._shapes_run.add(padded.shape)
                    release_free_memory()
        return crop_to(torch.from_numpy(output), size)

    def style_feed(self, style: Tensor | None, count: int) -> Any:
        """The ``style`` input for ``count`` images: ``style`` repeated to one row per image, or zeros."""
        if style is None:
            return torch.zeros(count, self.style_dim).numpy()
        return style.float().reshape(-1, self.style_dim).expand(count, self.style_dim).contiguous().numpy()


class OnnxRuntimeBackend:
    """Translate batches through ONNX Runtime sessions, one per condition, built once and cached.

    ``calibrate``: a folder whose first ``calibration_images`` images calibrate int8 (default: the
    first images of the folder being converted, see :meth:`prepare`). ``tile`` and ``overlap``: the
    conversion's tiling (calibration images larger than ``tile`` are calibrated on a central window
    the size of the tiles they are converted in). ``report``
    is called with one line about each model built or reused. ``reload`` loads ``model`` again from
    its file: given, :meth:`prepare` drops the PyTorch weights once its sessions hold their own
    copy (``model`` stays, on the meta device), and they are reloaded should another condition need a session.
    """

    def __init__(self, model: Model, cache: ModelCache, precision: str = "fp32", *,
                 calibrate: str | os.PathLike | None = None, calibration_images: int = CALIBRATION_IMAGES,
                 min_psnr: float = DEFAULT_MIN_PSNR, tile: int, overlap: int,
                 report: Callable[[str], None] | None = None, reload: Callable[[], Model] | None = None):
        self.ort = require_onnxruntime()
        if precision not in ONNX_PRECISIONS:
            raise TranslateError(f"--backend onnxruntime computes in {' or '.join(ONNX_PRECISIONS)}, "
                                 f"not --precision {precision}")
        if precision != "int8" and calibrate is not None:
            raise TranslateError("--calibrate is for --precision int8")
        if not math.isfinite(min_psnr) or min_psnr < 0:
            raise TranslateError(f"--min-psnr must be a number of dB, at least 0, got {min_psnr}")
        self.model = model.cpu().eval()
        self.cache, self.precision, self.min_psnr, self.tile, self.overlap = cache, precision, min_psnr, tile, overlap
        self.calibrate, self.calibration_images = calibrate, calibration_images
        self.report = report or (lambda line: None)
        self.reload, self._weights_released = reload, False
        self._calibration: list[Tensor] | None = None
        self._sessions: dict[str, PaddedSession] = {}
        self._building = threading.Lock()  # runs at once in threads look up (and build) sessions
        self._runs_at_once = 1
        #: Seconds the last build took: ``export``; for int8 also ``calibration``, ``quantization`` and ``gate``.
        self.timings: dict[str, float] = {}

    def prepare(self, conditions: list[dict[str, Any]], sources: list[Path]) -> None:
        """Build the session of every condition a conversion needs, before it writes anything.

        Without a ``calibrate`` folder, int8 calibrates on the first readable images of ``sources``.
        Raises :class:`translate.convert.quantize.FidelityError` when int8 fails the gate. Then, with
        ``reload``, the PyTorch weights are dropped (a CycleGAN's two ResNet-9 generators: 91 MB).
        """
        if self.precision == "int8":
            self._calibration_set(sources)
        for condition in conditions:
            self._session(condition)
        if self.reload is not None and not self._weights_released:
            self.model.to("meta")
            self._weights_released = True
        release_free_memory()  # what building the sessions freed (model bytes as parsed, digests' copies)

    def translate(self, images: Tensor, **condition: Any) -> Tensor:
        """Translate ``(N, 3, H, W)`` float32 images in [-1, 1]; same shape out. A ``style`` in ``condition`` is a
        code, fed to the graph's style input. Safe to call from several threads at once."""
        style = condition.pop("style", None)
        return self._session(condition)(images, style)

    def pytorch_model(self) -> Model:
        """The PyTorch model with its weights (reloaded if :meth:`prepare` dropped them), e.g. to encode the style
        of an example image, which the exported graphs do not hold."""
        with self._building:
            if self._weights_released:
                self.model, self._weights_released = self.reload().cpu().eval(), False
            return self.model

    def parallel_runs(self, images: int) -> int:
        """How many batches a conversion of ``images`` images should translate at once: up to
        :data:`PARALLEL_RUNS`, no more than there are threads or images."""
        return max(1, min(PARALLEL_RUNS, torch.get_num_threads(), images))

    @contextmanager
    def runs_at_once(self, runs: int) -> Iterator[None]:
        """Within: ``runs`` translations run at once, so sessions are built (or rebuilt) with
        ``1/runs`` of the threads each; after, whole again."""
        self._runs_at_once = runs
        try:
            yield
        finally:
            self._runs_at_once = 1

    def threads_per_run(self) -> int:
        """Intra-op threads of each session run (see :meth:`runs_at_once`)."""
        return max(1, torch.get_num_threads() // self._runs_at_once)

    # -- building ---------------------------------------------------------------------------------

    def _session(self, condition: dict[str, Any]) -> PaddedSession:
        """The session of ``condition`` with :meth:`threads_per_run` threads, built (again) if needed. A style
        is an input of the session, not part of its condition."""
        condition = {key: value for key, value in condition.items() if key != "style"}
        name = ", ".join(f"{key} {value}" for key, value in sorted(condition.items())) or "the generator"
        threads = self.threads_per_run()
        with self._building:
            session = self._sessions.get(name)
            if session is None or session.threads != threads:
                if self._weights_released:
                    self.model, self._weights_released = self.reload().cpu().eval(), False
                try:
                    network = exportable_network(self.model, **condition)
                except OptionError as exc:
                    raise TranslateError(f"--backend onnxruntime: {exc}") from None
                session = PaddedSession(self._optimized_session(network, name, threads), network)
                self._sessions[name] = session
        return session

    def _optimized_session(self, network: ExportableGenerator, name: str, threads: int) -> Any:
        """A session of ``network`` on ``threads`` threads from its graph as optimised for this CPU, cached or
        built.

        The portable model (exported; int8: quantized and gated) is built or read only when the
        optimised graph is not in the cache. int8's fidelity is recorded with both, and checked
        against ``min_psnr`` whichever is used.
        """
        digest = weights_digest(network)
        entry_name = f"session-{self.precision}-{digest[:16]}"
        portable_key = self._portable_key(digest, styled=bool(network.style_dim))
        key = {**portable_key, "optimized_for": cpu_identity()}
        cached = self.cache.load(entry_name, key)
        fidelity = _recorded_fidelity(cached.info) if cached is not None else None
        if cached is not None and (fidelity is not None or self.precision == "fp32"):
            self.report(f"{self.precision} model of {name} from the cache: {cached.path}"
                        + (f"; {fidelity.describe()}" if fidelity else ""))
            if fidelity is not None:
                check_fidelity(fidelity, self.min_psnr)
            return self._new_session(cached.path, optimized=True, threads=threads)
        if self.precision == "int8":
            model, fidelity = self._int8_model(network, digest, portable_key, name)
        else:
            model = self._fp32_model(network, digest, name)
        optimized = self._optimize(model)
        path = self.cache.store(entry_name, key, optimized, **({"psnr": fidelity.psnr} if fidelity else {}))
        return self._new_session(path or optimized, optimized=True, threads=threads)

    def _portable_key(self, digest: str, precision: str | None = None, styled: bool = False) -> dict[str, Any]:
        """The cache key of the portable model of the network with weights ``digest`` at ``precision``
        (default: this backend's); ``styled``: the graph has a style input (int8 calibrates with styles)."""
        precision = precision or self.precision
        key = {"network": digest, "precision": precision, "versions": versions()}
        if precision == "int8":
            inputs = self._calibration_set()
            key |= {"recipe": RECIPE,
                    "calibration": {"images": len(inputs), "tile": self.tile, "sha256": inputs_digest(inputs),
                                    **({"styles": CALIBRATION_STYLES} if styled else {})}}
        return key

    def _fp32_model(self, network: ExportableGenerator, digest: str, name: str) -> bytes:
        """The exported model of ``network``, from the cache or exported (and cached)."""
        entry_name, key = f"fp32-{digest[:16]}", self._portable_key(digest, "fp32")
        cached = self.cache.load(entry_name, key)
        if cached is not None:
            self.report(f"fp32 model of {name} from the cache: {cached.path}")
            return cached.model
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="translate-export-") as folder:
            write_onnx(network, Path(folder) / "fp32.onnx")
            model = (Path(folder) / "fp32.onnx").read_bytes()
        self.timings["export"] = time.perf_counter() - started
        path = self.cache.store(entry_name, key, model)
        self.report(f"fp32 model of {name} exported in {self.timings['export']:.0f} s"
                    + (f" (cached as {path})" if path else ""))
        return model

    def _int8_model(self, network: ExportableGenerator, digest: str, key: dict[str, Any],
                    name: str) -> tuple[bytes, Fidelity]:
        """The int8 model of ``network`` (cache key ``key``) for the calibration images and its fidelity, from
        the cache or built; refused (:class:`translate.convert.quantize.FidelityError`) below ``min_psnr``."""
        entry_name, inputs = f"int8-{digest[:16]}", self._calibration_set()
        cached = self.cache.load(entry_name, key)
        fidelity = _recorded_fidelity(cached.info) if cached is not None else None
        if cached is not None and fidelity is not None:
            model = cached.model
            self.report(f"int8 model of {name} from the cache: {cached.path}; {fidelity.describe()}")
        else:
            fp32_model = self._fp32_model(network, digest, name)
            fp32 = PaddedSession(self._new_session(fp32_model), network)
            styles = calibration_styles(len(inputs), network.style_dim)
            feeds = [{"images": fp32.pad(x)[0].numpy(), **({"style": fp32.style_feed(style, 1)} if style is not None
                                                            else {})} for x, style in zip(inputs, styles)]
            quantized = quantize(fp32_model, feeds)
            model = quantized.model
            started = time.perf_counter()
            int8 = PaddedSession(self._new_session(model), network)
            fidelity = measure_fidelity(fp32, int8, inputs, styles)
            self.timings.update(calibration=quantized.calibration_seconds,
                                quantization=quantized.quantization_seconds, gate=time.perf_counter() - started)
            path = self.cache.store(entry_name, key, model, psnr=fidelity.psnr)
            self.report(f"int8 model of {name} calibrated in {quantized.calibration_seconds:.0f} s and quantized "
                        f"in {quantized.quantization_seconds:.0f} s" + (f" (cached as {path})" if path else "")
                        + f"; {fidelity.describe()}")
        check_fidelity(fidelity, self.min_psnr)
        return model, fidelity

    def _calibration_set(self, sources: list[Path] | None = None) -> list[Tensor]:
        """The int8 calibration inputs: from ``calibrate``, else from ``sources`` (read once)."""
        if self._calibration is None:
            if self.calibrate is not None:
                paths, where = list_images(self.calibrate), f"the calibration folder '{self.calibrate}'"
            elif sources is not None:
                paths, where = sources, "the input"
            else:
                raise TranslateError("--precision int8 needs calibration images: pass calibrate=DIR "
                                     "(--calibrate) or convert a folder")
            passed_over: list[str] = []
            self._calibration = calibration_inputs(paths, self.calibration_images, self.tile, self.overlap,
                                                   generator_multiple(self.model), passed_over)
            if not self._calibration:
                self._calibration = None
                unusable = f" ({'; '.join(passed_over[:3])}{'; ...' if len(passed_over) > 3 else ''})" \
                    if passed_over else ""
                raise TranslateError(f"--precision int8 needs calibration images like the inputs and {where} has "
                                     f"none that can be read and stand for them{unusable}; pass --calibrate DIR "
                                     "with photos like the ones you convert")
            if passed_over:
                warnings.warn(f"int8 calibration passed over {len(passed_over)} image(s) of {where} that cannot "
                              f"stand for real inputs: {'; '.join(passed_over[:3])}{'; ...' * (len(passed_over) > 3)}",
                              TranslateWarning, stacklevel=3)
        return self._calibration

    def _session_options(self, threads: int | None = None) -> Any:
        """Options of CPU sessions on ``threads`` intra-op threads (default: as many as torch uses)."""
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        options.enable_cpu_mem_arena = False  # it would keep the largest image's activations for good
        return options

    def _new_session(self, model: bytes | Path, optimized: bool = False, threads: int | None = None) -> Any:
        """A CPU session of ``model`` (bytes or a file) on ``threads`` threads (default: all);
        ``optimized``: a graph :meth:`_optimize` wrote."""
        options = self._session_options(threads)
        if optimized:
            options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        source = str(model) if isinstance(model, Path) else model
        return self.ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

    def _optimize(self, model: bytes) -> bytes:
        """``model``'s graph as ONNX Runtime optimises it for this CPU (``ORT_ENABLE_ALL``: fused
        operators and the blocked channel layout of the CPU's vector width)."""
        options = self._session_options()
        with tempfile.TemporaryDirectory(prefix="translate-optimize-") as folder:
            options.optimized_model_filepath = str(Path(folder) / "optimized.onnx")
            self.ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            return Path(options.optimized_model_filepath).read_bytes()


#: The styles int8 calibrates and is gated on, for a graph with a style input (recorded in cache keys).
CALIBRATION_STYLES = "calibration image i with the style of seed i (translate.models.styles.random_style)"


def calibration_styles(count: int, style_dim: int) -> list[Tensor | None]:
    """The style code each of ``count`` calibration images is translated with: the style of seed ``i`` for image
    ``i`` (random styles cover the range the style input takes), or ``None`` for a graph without a style input."""
    return [random_style(index, style_dim)[None] if style_dim else None for index in range(count)]


def cpu_identity() -> dict[str, str]:
    """What a graph optimised by :meth:`OnnxRuntimeBackend._optimize` depends on besides the versions:
    the blocked channel layout follows the CPU's vector width (16 floats with AVX-512, else 8)."""
    return {"machine": platform.machine(), "capability": torch.backends.cpu.get_cpu_capability()}


def _recorded_fidelity(info: dict[str, Any]) -> Fidelity | None:
    """The fidelity recorded with a cached int8 model, or ``None`` when the record is not a list of numbers."""
    values = info.get("psnr")
    if isinstance(values, list) and values and all(isinstance(v, (int, float)) for v in values):
        return Fidelity([float(v) for v in values])
    return None


#: Keyword arguments of :meth:`translate.convert.Translator.load` that belong to this backend.
BACKEND_OPTIONS = ("calibrate", "calibration_images", "min_psnr", "report")


def onnxruntime_translator_options(model: Model, folder: Path, device: str, precision: str,
                                   options: dict[str, Any], reload: Callable[[], Model]) -> dict[str, Any]:
    """``Translator`` keyword arguments for ``model`` (loaded from ``folder``; ``reload`` loads it again)
    on ONNX Runtime.

    The backend's own options are taken out of ``options`` and given to an
    :class:`OnnxRuntimeBackend` caching its models in ``folder/onnxruntime-cache``.
    """
    if device not in ("auto", "cpu"):
        raise TranslateError(f"--backend onnxruntime runs on the CPU; drop --device {device}")
    if options.get("compile"):
        raise TranslateError("--compile is for --backend torch; ONNX Runtime optimises the graph itself")
    rest = {name: value for name, value in options.items() if name not in BACKEND_OPTIONS}
    own = {name: value for name, value in options.items() if name in BACKEND_OPTIONS}
    runtime = OnnxRuntimeBackend(model, ModelCache(Path(folder) / CACHE_FOLDER), precision,
                                 tile=options.get("tile", DEFAULT_TILE),
                                 overlap=options.get("overlap", DEFAULT_OVERLAP), reload=reload, **own)
    return {**rest, "runtime": runtime}
