"""Compute precisions (``--precision``) shared by training and conversion."""

from __future__ import annotations

import contextlib

import torch

#: ``--precision`` choices: the autocast dtype of each (fp32 runs without autocast).
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast to ``precision`` on ``device``'s type; a no-op for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
