"""The metric tools an evaluation uses besides translate's own: FID/KID and LPIPS networks, loaded once.

:class:`MetricTools` holds the optional networks (none without their weights file), the real
images' Inception features of each split already scored (so that ``--all-checkpoints`` computes
them once), what computed the paired metrics, and the one-line notes on what was not computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import torch
from torch import Tensor

from translate import __version__
from translate.evaluate import inception, perceptual
from translate.evaluate.libraries import INSTALL_HINT, installed

#: What computes PSNR, SSIM and L1 (translate.metrics; SSIM's equality with scikit-image is tested).
PAIRED_IMPLEMENTATIONS: dict[str, dict[str, Any]] = {
    "psnr": {"library": "translate", "version": __version__, "function": "translate.metrics.psnr"},
    "ssim": {"library": "translate", "version": __version__, "function": "translate.metrics.ssim",
             "equals": "scikit-image's structural_similarity with a Gaussian window (sigma 1.5) and population "
                       "statistics, to 1e-6 (tested on photographs)"},
    "l1": {"library": "translate", "version": __version__, "function": "translate.metrics.l1"},
}


@dataclass
class MetricTools:
    """FID/KID (:class:`~translate.evaluate.inception.FidKid`) and LPIPS
    (:class:`~translate.evaluate.perceptual.Lpips`) when their weights were given, else ``None``."""

    fid_kid: inception.FidKid | None = None
    lpips: perceptual.Lpips | None = None
    _real_features: dict[Hashable, Tensor] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, inception_weights: str | os.PathLike | None = None, lpips_weights: str | os.PathLike | None = None,
             device: torch.device | str = "cpu", kid_subset_size: int = 1000, kid_subsets: int = 100
             ) -> MetricTools:
        """The tools whose weights files are given (one-line errors for unusable files or missing libraries)."""
        fid_kid = None if inception_weights is None else inception.FidKid(inception_weights, device, kid_subset_size,
                                                                            kid_subsets)
        lpips = None if lpips_weights is None else perceptual.Lpips(lpips_weights, device)
        return cls(fid_kid, lpips)

    def real_features(self, key: Hashable, batches: Callable[[], Any]) -> Tensor:
        """Inception features of the real images ``batches()`` yields, computed once per ``key``."""
        if key not in self._real_features:
            assert self.fid_kid is not None
            self._real_features[key] = torch.cat([self.fid_kid.features(batch) for batch in batches()])
        return self._real_features[key]

    def notes(self, paired: bool, multimodal: bool = False) -> list[str]:
        """One line for each metric not computed (LPIPS on pairs, and between styles of a multimodal model),
        saying how to get it."""
        wanted = {}
        if self.fid_kid is None:
            wanted["FID, KID"] = ("torch_fidelity", "--inception-weights FILE", inception.HOW_TO_GET)
        if (paired or multimodal) and self.lpips is None:
            wanted["LPIPS"] = ("lpips", "--lpips-weights FILE", perceptual.HOW_TO_GET)
        if not wanted:
            return []
        if not all(installed(module) for module, _, _ in wanted.values()):
            options = " and ".join(option for _, option, _ in wanted.values())
            return [f"{', '.join(wanted)}: not computed; {INSTALL_HINT}, then pass {options}"]
        return [f"{names}: not computed. {how}" for names, (_, _, how) in wanted.items()]

    def implementations(self, paired: bool, fake_count: int, real_count: int,
                        multimodal: bool = False) -> dict[str, dict[str, Any]]:
        """What computed each metric of an evaluation (paired or not, of a multimodal model or not, with so many
        generated and real images)."""
        found: dict[str, dict[str, Any]] = dict(PAIRED_IMPLEMENTATIONS) if paired else {}
        if paired and self.lpips is not None:
            found["lpips"] = self.lpips.implementation()
        if multimodal and self.lpips is not None:
            found["lpips_diversity"] = self.lpips.implementation()
        if self.fid_kid is not None:
            found.update(self.fid_kid.implementations(fake_count, real_count))
        return found
