"""What UNIT and MUNIT share: per-domain encoders and decoders between unpaired domains A and B.

Both encode an image into a code ``2**n_down`` times smaller (so inputs are padded to that multiple
and cropped back), translate both ways (:class:`~translate.models.directions.BothWays`), train on
unpaired folders and, as their references, with weight decay on both optimisers.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from translate.data import UnpairedDataset
from translate.models.base import Model
from translate.models.directions import BothWays
from translate.nets import pad_to_multiple
from translate.options import OptionError

DOMAINS = ("A", "B")


class EncoderDecoderModel(BothWays, Model):
    """Base of UNIT and MUNIT; a subclass sets ``n_down``, ``weight_decay`` and ``direction``."""

    n_down: int
    weight_decay: float

    @property
    def size_multiple(self) -> int:
        """Images are reflect-padded to a multiple of this (``2**n_down``) and cropped back."""
        return 2**self.n_down

    def pad(self, images: Tensor) -> Tensor:
        """``images`` reflect-padded to :attr:`size_multiple` (training crops normally are already)."""
        return pad_to_multiple(images, self.size_multiple)[0]

    @staticmethod
    def check_domain(domain: str) -> str:
        """``domain`` itself when it is A or B, else an :class:`~translate.options.OptionError`."""
        if domain not in DOMAINS:
            raise OptionError(f"domain must be A or B, got {domain!r}")
        return domain

    def ends(self, direction: str | None) -> tuple[str, str]:
        """(source domain, target domain) of ``direction`` (default: the model's)."""
        return ("A", "B") if self.way(direction) == "AtoB" else ("B", "A")

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def optimizer_settings(self, group: str) -> dict[str, Any]:
        """Adam with the model's ``lr``, betas and ``weight_decay`` (both groups, as the references)."""
        return {**super().optimizer_settings(group), "weight_decay": self.weight_decay}
