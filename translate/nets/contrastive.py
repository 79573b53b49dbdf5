"""PatchNCE (Park et al. 2020): the patchwise contrastive loss of CUT and its projection heads.

A translation should keep what is where: the output patch at a position must be more like
the input patch at the *same* position than like the input's other patches. Features of
both images are taken at several layers of the generator's encoder
(:func:`encoder_features`), the same random positions are drawn in both
(:func:`sample_patches`), each layer's samples go through a small MLP and are
L2-normalised (:class:`ProjectionHeads`), and each output patch ``q`` must pick its input
patch ``k⁺`` among the sampled patches of the same image (:func:`patch_nce_loss`)::

    ℓ(q) = −log( exp(q·k⁺/τ) / Σ_j exp(q·k_j/τ) )     j over the sampled positions of that image

The input side (keys) gets no gradient, as in the reference: only the output's features
and the heads applied to them learn from the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.nets.layers import PadCrop, pad_to_multiple


def encoder_features(generator: PadCrop, images: Tensor, layers: list[int]) -> list[Tensor]:
    """Outputs of the layers ``generator.net.model[i]`` for ``i`` in ``layers`` (ascending).

    The images are padded as :class:`PadCrop` pads them, and only the layers up to the
    last one asked for run (the encoder of a ResNet generator, not its decoder).
    """
    features = []
    x = pad_to_multiple(images, generator.multiple)[0]
    for index, layer in enumerate(generator.net.model[: layers[-1] + 1]):
        x = layer(x)
        if index in layers:
            features.append(x)
    return features


@torch.no_grad()
def feature_channels(generator: PadCrop, layers: list[int], in_channels: int = 3) -> list[int]:
    """Channels of each of :func:`encoder_features`, found by running a small blank image in eval mode."""
    training = generator.training
    generator.eval()  # leaves batch-norm statistics alone
    side = 4 * generator.multiple
    features = encoder_features(generator, torch.zeros(1, in_channels, side, side), layers)
    generator.train(training)
    return [feature.shape[1] for feature in features]


def sample_patches(features: list[Tensor], count: int,
                   positions: list[Tensor] | None = None) -> tuple[list[Tensor], list[Tensor]]:
    """Feature vectors at ``count`` random positions of each map, the same positions for every image.

    :param features: maps ``(N, C, H, W)``; a map with fewer than ``count`` positions gives all of them.
    :param positions: indices into ``H·W`` per map, to sample another image's features at the
        same places; drawn with ``torch.randperm`` when ``None``.
    :return: samples ``(N, P, C)`` per map, and the positions used.
    """
    samples, used = [], []
    for index, feature in enumerate(features):
        flat = feature.flatten(2).transpose(1, 2)  # (N, H·W, C)
        chosen = positions[index] if positions is not None else \
            torch.randperm(flat.shape[1], device=feature.device)[:count]
        samples.append(flat[:, chosen])
        used.append(chosen)
    return samples, used


class ProjectionHeads(nn.Module):
    """One two-layer MLP per feature layer (``Linear(C, width)``, ReLU, ``Linear(width, width)``).

    Takes :func:`sample_patches`' samples ``(N, P, C)`` and returns their L2-normalised
    projections ``(N, P, width)``. Built with the channels of every layer up front, so the
    heads are parameters like any other from the start (optimiser, DDP, checkpoints).
    """

    def __init__(self, channels: list[int], width: int = 256) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(count, width), nn.ReLU(), nn.Linear(width, width)) for count in channels
        )

    def forward(self, samples: list[Tensor]) -> list[Tensor]:
        return [F.normalize(head(sample), dim=-1) for head, sample in zip(self.heads, samples)]


def patch_nce_loss(queries: Tensor, keys: Tensor, temperature: float) -> Tensor:
    """PatchNCE per image: the mean over its patches of ℓ(q) (see the module docstring).

    :param queries: projections of the output's patches, ``(N, P, D)``, L2-normalised.
    :param keys: projections of the input's patches at the same positions, ``(N, P, D)``;
        detached here (no gradient to the input side). Negatives of a patch are the other
        ``P − 1`` patches of its own image.
    :return: ``(N,)`` losses.
    """
    logits = torch.bmm(queries, keys.detach().transpose(1, 2)) / temperature  # (N, P, P); positives on the diagonal
    count, patches = logits.shape[:2]
    targets = torch.arange(patches, device=logits.device).repeat(count)
    losses = F.cross_entropy(logits.flatten(0, 1), targets, reduction="none")
    return losses.view(count, patches).mean(1)


__all__ = ["ProjectionHeads", "encoder_features", "feature_channels", "patch_nce_loss", "sample_patches"]
