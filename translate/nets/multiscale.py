"""Critics at several scales (pix2pixHD's multi-scale discriminator, for any critic kind).

:class:`MultiScaleCritic` runs one critic on the input, the next on the input downsampled by a
3×3 average pool of stride 2 (padding not counted, so the border is not darkened), and so on:
the first judges fine texture, the last the layout of the whole image. Its output is one
:class:`~translate.objective.CriticOutput` per scale, finest first; models hand each to the
objective separately and average the losses (:meth:`translate.models.base.Model.critic_step`).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from translate.objective import CriticOutput


def downsample(x: Tensor) -> Tensor:
    """``x`` at half the size (rounded up): 3×3 average pooling, stride 2, the zero padding not counted."""
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


class MultiScaleCritic(nn.Module):
    """``critics[i]`` judges the input downsampled ``i`` times (:func:`downsample`).

    :attr:`min_size` is the smallest input every scale can take: a critic needing ``m`` pixels
    at scale ``i`` needs ``(m - 1) · 2^i + 1`` at the input.
    """

    def __init__(self, critics: list[nn.Module]) -> None:
        super().__init__()
        if len(critics) < 2:
            raise ValueError(f"a multi-scale critic needs at least two critics, got {len(critics)}")
        self.critics = nn.ModuleList(critics)
        needs = [(getattr(critic, "min_size", 1) - 1) * 2**scale + 1 for scale, critic in enumerate(critics)]
        self.min_size = max(needs)

    def forward(self, x: Tensor) -> list[CriticOutput]:
        outputs = []
        for scale, critic in enumerate(self.critics):
            if scale:
                x = downsample(x)
            outputs.append(critic(x))
        return outputs


__all__ = ["MultiScaleCritic", "downsample"]
