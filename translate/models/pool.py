"""Image pool (Shrivastava et al. 2017): critics see a history of generated images."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """Keeps up to ``size`` generated images and mixes them into the critic's batches.

    Per image: until the pool is full, store it and return it; afterwards, with
    probability ½ return a random stored image and store the new one in its place,
    otherwise return the new image. ``size=0`` disables the pool. Randomness comes
    from torch's global generator, so ``--seed`` makes it reproducible.
    """

    def __init__(self, size: int):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Images for the critic, in place of the freshly generated ``images``."""
        if self.size == 0:
            return images
        chosen = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                chosen.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(len(self.images), ()))
                chosen.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                chosen.append(image)
        return torch.cat(chosen, 0)

    def state_dict(self) -> dict[str, Tensor]:
        """The stored images as one tensor (empty when nothing is stored)."""
        if not self.images:
            return {"images": torch.empty(0)}
        return {"images": torch.cat(self.images, 0).cpu()}

    def load_state_dict(self, state: dict[str, Tensor], device: torch.device | str = "cpu") -> None:
        """Restore what :meth:`state_dict` returned."""
        stored = state["images"]
        self.images = [image.unsqueeze(0).to(device) for image in stored] if stored.numel() else []
