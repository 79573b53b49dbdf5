"""Image quality metrics of paired images: PSNR, SSIM, L1, and the checkerboard measure.

FID, KID and LPIPS come from the field's libraries (torch-fidelity, lpips), see :mod:`translate.evaluate`.
"""

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


def l1(output: Tensor, target: Tensor) -> float:
    """Mean absolute difference of images in [-1, 1] (the scale of pix2pix's L1 loss), averaged over the batch."""
    return (output.float() - target.float()).abs().flatten(1).mean(1).mean().item()


def checkerboard(output: Tensor, target: Tensor, spread: float = 1 / 16) -> float:
    """Energy of ``output``'s spectrum at the period-2 frequencies, relative to ``target``'s.

    Stride-2 transposed convolutions leave a pattern that repeats every 2 pixels (a
    checkerboard, or stripes), modulated by the image content: its energy sits around the
    three period-2 frequencies (½, 0), (0, ½) and (½, ½) cycles per pixel. This sums the
    power spectrum of each mean-removed image and channel within ``spread`` (a fraction
    of the image side; 4 bins at 64 px) of those frequencies over the whole batch, and
    divides by the same sum for ``target``. 1 means as much period-2 energy as the
    targets (natural images have little there); a visible checkerboard gives several
    times more, a blurry output less.

    :param output: ``(N, C, H, W)`` images; H and W even, ``target`` the same shape.
    """
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError(f"checkerboard expects two (N, C, H, W) tensors of one shape, got {tuple(output.shape)} "
                         f"and {tuple(target.shape)}")
    height, width = output.shape[-2:]
    if height % 2 or width % 2:
        raise ValueError(f"checkerboard needs even image sides (the period-2 frequencies), got {height}x{width}")

    rows, columns = torch.fft.fftfreq(height).abs(), torch.fft.fftfreq(width).abs()  # 0 ... ½ cycles per pixel
    row_half, row_zero = rows >= 0.5 - spread, rows <= spread
    column_half, column_zero = columns >= 0.5 - spread, columns <= spread
    mask = (row_half[:, None] & (column_zero | column_half)[None, :]) | (row_zero[:, None] & column_half[None, :])

    def energy(images: Tensor) -> Tensor:
        images = images.double()
        spectrum = torch.fft.fft2(images - images.mean(dim=(-2, -1), keepdim=True))
        return spectrum.abs().pow(2)[..., mask].sum()

    return float(energy(output) / energy(target).clamp_min(1e-12))


def gaussian_window(size: int = 11, sigma: float = 1.5, dtype: torch.dtype = torch.float64) -> Tensor:
    """The normalised 1-D Gaussian of SSIM (Wang et al. 2004: 11 taps, sigma 1.5)."""
    coords = torch.arange(size, dtype=dtype) - (size - 1) / 2
    weights = torch.exp(-(coords**2) / (2 * sigma**2))
    return weights / weights.sum()


def ssim(
    output: Tensor,
    target: Tensor,
    value_range: tuple[float, float] = (-1.0, 1.0),
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Structural similarity (Wang et al. 2004) of ``(N, C, H, W)`` images, averaged over the batch.

    The standard Gaussian-window form: local means, variances and covariance under an
    ``window``×``window`` Gaussian (sigma 1.5), ``C1 = (k1·L)²``, ``C2 = (k2·L)²``,
    population (not sample) statistics, the SSIM map averaged over the positions
    where the window fits entirely (no padding) and over channels, per image. Images
    are first mapped from ``value_range`` to [0, 1] (so ``L = 1``): SSIM's luminance
    term is not shift invariant, and [0, 1] is the scale the metric is defined on.
    Equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    use_sample_covariance=False, data_range=1, channel_axis=...)``.
    """
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError(f"ssim expects two (N, C, H, W) tensors of one shape, got {tuple(output.shape)} "
                         f"and {tuple(target.shape)}")
    if min(output.shape[-2:]) < window:
        raise ValueError(f"ssim needs images of at least {window}x{window} pixels, got {tuple(output.shape[-2:])}")
    low, high = value_range
    x = (output.double() - low) / (high - low)
    y = (target.double() - low) / (high - low)
    channels = x.shape[1]
    g = gaussian_window(window, sigma).to(x.device)
    kernel_h = g.view(1, 1, window, 1).repeat(channels, 1, 1, 1)
    kernel_w = g.view(1, 1, 1, window).repeat(channels, 1, 1, 1)

    def blur(z: Tensor) -> Tensor:
        z = torch.nn.functional.conv2d(z, kernel_h, groups=channels)
        return torch.nn.functional.conv2d(z, kernel_w, groups=channels)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = k1**2, k2**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1).mean().item()
