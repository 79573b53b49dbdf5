"""int8 quantization of an exported generator, and the fidelity gate that guards it.

The recipe (ONNX Runtime static quantization), chosen by measuring the PSNR of int8 against fp32
output on held-out photographs (the test extra's) with a ResNet-9 CycleGAN generator trained on
real photographs, and its speed against ONNX Runtime fp32 side by side (one thread, 256×256; on an
AVX-512 VNNI CPU under load from other jobs, so speeds are rough ratios):

* **QOperator format** (``QLinearConv`` in the graph): 40.5 dB. The QDQ format (Quantize/
  DequantizeLinear around fp32 operators, which ONNX Runtime fuses at load time) measured 29-33 dB
  with the same settings, whichever operators stayed fp32 — too far off to pass the gate — and no
  faster. QOperator leaves fp32 what has no integer kernel: instance normalisation (its statistics
  are computed in fp32 on the dequantized convolution output; eval-mode batch norm is folded into
  the convolution before quantizing) and transposed convolutions (the ResNets' upsampling layers,
  U-Net decoders).
* **Per-channel int8 weights in a 7-bit range, uint8 activations** (asymmetric, min/max of the
  calibration images). Per-tensor weights measured the same on that generator; per channel is
  the safer default for weights whose scale varies by channel. The 7-bit range (``reduce_range``)
  cost nothing measurable and keeps CPUs without VNNI (AVX2 only), which multiply uint8 by int8 in
  16-bit pairs that saturate on full-range weights, exact; so one cached model is right everywhere.
* **The first and the last convolution stay fp32**: they read and write the image itself, hold
  little of the arithmetic and measured 5 dB of the error (35.1 dB when quantized). So does
  everything after the last convolution (the sums of a head computed by kernel rows, the global
  residual path's addition and tanh), which would otherwise be added in 8 bits.
* Not chosen: dynamic quantization (``ConvInteger``, ranges measured per image) kept 45 dB but ran
  slower than fp32.

Calibration images are the first :data:`CALIBRATION_IMAGES` readable images of the folder being
converted (or of ``--calibrate DIR``) at the size they are converted at: whole, or a central
window the size of their tiles when they are converted by tiling. After quantizing, the
calibration images are translated by the fp32 and the int8 model and the PSNR of int8 against
fp32 measured; :func:`check_fidelity` refuses the int8 model when the worst image is below
``min_psnr``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from torch import Tensor

from translate.convert.tiling import tile_layout
from translate.data.images import ImageReadError, load_rgb, to_tensor
from translate.errors import TranslateError
from translate.metrics import psnr

#: Calibration images taken by default (``--calibration-images``).
CALIBRATION_IMAGES = 16
#: Lowest PSNR (dB) of int8 against fp32 output that is accepted by default (``--min-psnr``).
DEFAULT_MIN_PSNR = 35.0
#: The recipe, recorded in cache keys: a cached model built with another recipe is built again.
RECIPE = {"version": 2, "format": "QOperator", "weights": "int8 per channel, 7-bit range", "activations": "uint8",
          "calibration": "minmax", "fp32": "first convolution, last convolution and what follows it"}


class FidelityError(TranslateError):
    """The int8 model's output is too far from the fp32 model's."""


@dataclass
class Fidelity:
    """PSNR (dB) of int8 against fp32 output, one value per calibration image."""

    psnr: list[float]

    @property
    def worst(self) -> float:
        return min(self.psnr)

    @property
    def mean(self) -> float:
        return sum(self.psnr) / len(self.psnr)

    def describe(self) -> str:
        return (f"int8 output is {self.mean:.1f} dB PSNR from fp32 on {len(self.psnr)} calibration images "
                f"(worst {self.worst:.1f} dB)")


def calibration_inputs(paths: Iterable[Path], count: int, tile: int, overlap: int, multiple: int,
                       passed_over: list[str] | None = None) -> list[Tensor]:
    """The first ``count`` readable images of ``paths`` that can stand for real inputs, as ``(1, 3, H, W)``
    tensors in [-1, 1].

    Each is whole, or, where a side is larger than ``tile``, its central window of the size of the
    tiles conversion translates it in (:func:`translate.convert.tiling.tile_layout` with ``overlap`` and the
    generator's ``multiple``). Unreadable files are passed over, and so are images that cannot stand for
    the inputs (:func:`unrepresentative`: too small, or one flat colour), which would pass the gate on
    outputs nothing like real ones'; each of those is added to ``passed_over`` as ``'path': why``.
    """
    inputs = []
    for path in paths:
        if len(inputs) == count:
            break
        try:
            image = to_tensor(load_rgb(path)).unsqueeze(0)
        except ImageReadError:
            continue
        why = unrepresentative(image)
        if why is not None:
            if passed_over is not None:
                passed_over.append(f"'{path}': {why}")
            continue
        height, width = image.shape[-2:]
        # the size of the tiles it is converted in: its own along a side no larger than ``tile``
        window_height = tile_layout(height, tile, overlap, multiple)[1]
        window_width = tile_layout(width, tile, overlap, multiple)[1]
        top, left = (height - window_height) // 2, (width - window_width) // 2
        inputs.append(image[..., top : top + window_height, left : left + window_width].contiguous())
    return inputs


#: Smallest side of a calibration image: smaller ones have too few pixels to calibrate activation ranges.
MIN_CALIBRATION_SIDE = 16
#: Least standard deviation of a calibration image's values in [-1, 1] (2/255 in 8-bit levels): below, one flat
#: colour, on which int8 and fp32 agree whatever the quantization (a flat grey image scored 106 dB, real photos 59).
MIN_CALIBRATION_SPREAD = 2 * 2 / 255


def unrepresentative(image: Tensor) -> str | None:
    """Why ``image`` ``(1, 3, H, W)`` in [-1, 1] cannot stand for real inputs in calibration, or ``None``."""
    height, width = image.shape[-2:]
    if min(height, width) < MIN_CALIBRATION_SIDE:
        return f"{width}×{height} pixels, smaller than {MIN_CALIBRATION_SIDE}×{MIN_CALIBRATION_SIDE}"
    if image.std().item() < MIN_CALIBRATION_SPREAD:
        return "one flat colour"
    return None


def inputs_digest(inputs: list[Tensor]) -> str:
    """SHA-256 of the calibration inputs (their sizes and pixels), for cache keys."""
    digest = hashlib.sha256()
    for tensor in inputs:
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Quantized:
    """An int8 model and how long building it took (seconds): calibration, then quantization proper."""

    model: bytes
    calibration_seconds: float
    quantization_seconds: float


def quantize(fp32_model: bytes, inputs: list[np.ndarray | dict[str, np.ndarray]]) -> Quantized:
    """The int8 model (:data:`RECIPE`) of ``fp32_model`` calibrated on ``inputs``: arrays its input ``images``
    takes, or feeds of every input by name (a graph with a style input)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        """Feeds ``inputs`` and times the calibration runs (from the first input to the end)."""

        def __init__(self) -> None:
            self.remaining = iter(inputs)
            self.started = self.finished = 0.0

        def get_next(self) -> dict[str, np.ndarray] | None:
            array = next(self.remaining, None)
            if not self.started:
                self.started = time.perf_counter()
            if array is None and not self.finished:
                self.finished = time.perf_counter()
            return array if array is None or isinstance(array, dict) else {"images": array}

    started = time.perf_counter()
    reader = Reader()
    with tempfile.TemporaryDirectory(prefix="translate-quantize-") as folder, _quiet("root"):
        work = Path(folder)
        (work / "fp32.onnx").write_bytes(fp32_model)
        # Symbolic shape inference cannot follow the graph's pad-to-multiple arithmetic; ONNX's can.
        quant_pre_process(str(work / "fp32.onnx"), str(work / "prepared.onnx"), skip_symbolic_shape=True)
        nodes = onnx.load(str(work / "prepared.onnx")).graph.node  # in topological order
        convolutions = [index for index, node in enumerate(nodes) if node.op_type in ("Conv", "ConvTranspose")]
        fp32_nodes = [nodes[convolutions[0]].name] + [node.name for node in nodes[convolutions[-1]:]]
        quantize_static(str(work / "prepared.onnx"), str(work / "int8.onnx"), reader,
                        quant_format=QuantFormat.QOperator, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=fp32_nodes)
        model = (work / "int8.onnx").read_bytes()
    calibration = reader.finished - reader.started
    return Quantized(model, calibration, time.perf_counter() - started - calibration)


def measure_fidelity(fp32: Callable[..., Tensor], int8: Callable[..., Tensor], inputs: list[Tensor],
                     styles: list[Tensor | None] | None = None) -> Fidelity:
    """Translate ``inputs`` with both models (each with its style from ``styles``, for a graph with a style
    input); PSNR of int8 against fp32 per image, outputs clamped to [-1, 1]."""
    styles = styles or [None] * len(inputs)
    return Fidelity([psnr(int8(*_args(x, style)).clamp(-1, 1), fp32(*_args(x, style)).clamp(-1, 1))
                     for x, style in zip(inputs, styles)])


def _args(images: Tensor, style: Tensor | None) -> tuple[Tensor, ...]:
    return (images,) if style is None else (images, style)


def check_fidelity(fidelity: Fidelity, min_psnr: float) -> None:
    """Raise :class:`FidelityError` (one line, saying how to override) when the worst image is below ``min_psnr``."""
    if fidelity.worst < min_psnr:
        raise FidelityError(
            f"{fidelity.describe()}, below --min-psnr {min_psnr:g}: nothing was converted; use --precision fp32, "
            f"or accept it with --min-psnr {math.floor(fidelity.worst)}"
        )


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence ONNX Runtime's quantization tool, which logs advice and warnings through the root logger."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
