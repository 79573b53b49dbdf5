"""Devices and compute precisions (``--device``, ``--precision``) shared by training and conversion.

bf16 and fp16 are only fast where the hardware computes in them: GPUs, and CPUs with
bf16/fp16 instructions (AVX-512 BF16, AMX, AVX-NE-CONVERT). On other CPUs (AVX2 only)
oneDNN has no reduced-precision convolution and PyTorch falls back to a reference
kernel that is tens to hundreds of times slower than fp32; :func:`warn_if_slow` says so.
"""

from __future__ import annotations

import contextlib
import warnings

import torch

from translate.errors import TranslateError, TranslateWarning

#: ``--precision`` choices: the autocast dtype of each (fp32 runs without autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionWarning(TranslateWarning):
    """The chosen precision runs, but far slower than fp32 on this device."""


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TranslateError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return torch.device(name)


def check_precision(precision: str) -> None:
    """Refuse a precision that is not one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise TranslateError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def cpu_computes_in(precision: str) -> bool:
    """Whether this CPU has oneDNN kernels for ``precision`` (always true for fp32)."""
    probes = {"bf16": "_is_mkldnn_bf16_supported", "fp16": "_is_mkldnn_fp16_supported"}
    if precision not in probes:
        return True
    if not torch.backends.mkldnn.is_available():
        return False
    probe = getattr(torch.ops.mkldnn, probes[precision], None)
    return True if probe is None else bool(probe())  # an unknown build: assume it can


def warn_if_slow(device: torch.device, precision: str) -> None:
    """Warn when ``precision`` on ``device`` would be much slower than fp32 (a CPU without its instructions)."""
    if device.type == "cpu" and not cpu_computes_in(precision):
        warnings.warn(
            f"--precision {precision} is far slower than fp32 on this CPU: it has no {precision} instructions "
            f"(oneDNN reports none), so convolutions fall back to a reference kernel; use --precision fp32 here",
            PrecisionWarning,
            stacklevel=3,
        )


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device``'s type; a no-op for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
