"""Image quality metrics that need no pretrained weights."""

from __future__ import annotations

import torch
from torch import Tensor


def psnr(output: Tensor, target: Tensor, data_range: float = 2.0) -> float:
    """Peak signal-to-noise ratio in dB of images in [-1, 1] (``data_range`` 2), averaged over the batch.

    Computed per image from its mean squared error, then averaged, as the
    pix2pix/CycleGAN evaluations do.
    """
    error = (output.float() - target.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(data_range**2 / error)).mean().item()
