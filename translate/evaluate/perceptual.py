"""LPIPS (Zhang et al. 2018) through the ``lpips`` package, its AlexNet backbone from a local file.

The ``lpips`` package ships its linear calibration layers (``weights/v0.1/alex.pth``) but takes
the AlexNet backbone from torchvision, which would download it. translate builds the package's
network with a random backbone (``pnet_rand=True``: nothing is fetched) and loads torchvision's
ImageNet AlexNet weights from ``--lpips-weights FILE`` into it (read with
``torch.load(weights_only=True)``), which gives what ``lpips.LPIPS(net="alex")`` computes with
those weights in torch's cache. Images are in [-1, 1], the range LPIPS takes; distances are per image.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from translate.data.download import sha256_of
from translate.errors import first_line
from translate.evaluate.libraries import WeightsFileError, library_version, read_state_dict, require

#: torchvision's ImageNet AlexNet weights (IMAGENET1K_V1), the backbone ``lpips.LPIPS(net="alex")`` uses.
STANDARD_FILE = "alexnet-owt-7be5be79.pth"
STANDARD_URL = f"https://download.pytorch.org/models/{STANDARD_FILE}"
STANDARD_SHA256 = "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02"
#: What to tell a user whose paired evaluation has no LPIPS backbone.
HOW_TO_GET = (
    f"LPIPS needs torchvision's AlexNet weights from a local file: pass --lpips-weights FILE, {STANDARD_FILE} "
    f"from {STANDARD_URL} (SHA-256 {STANDARD_SHA256}); translate never downloads it"
)


class Lpips:
    """LPIPS distances (AlexNet, v0.1) with the backbone weights of ``weights``."""

    def __init__(self, weights: str | os.PathLike, device: torch.device | str = "cpu"):
        self.library = require("lpips", "--lpips-weights (LPIPS)")
        self.path = Path(weights)
        backbone = _alexnet_features(self.path)
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated pretrained=False
            warnings.simplefilter("ignore", UserWarning)
            network = self.library.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False)
        for piece in network.net.children():  # slices of AlexNet's features, named by their index there
            for index, layer in piece.named_children():
                layer.load_state_dict(backbone[int(index)].state_dict())
        self.network = network.to(device).eval()
        self.device = torch.device(device)
        self.sha256 = sha256_of(self.path)

    @torch.inference_mode()
    def distance(self, images: Tensor, others: Tensor) -> Tensor:
        """LPIPS of each image in ``images`` to the one at its index in ``others``: ``(N,)`` on the CPU."""
        first, second = (x.to(self.device, torch.float32) for x in (images, others))
        return self.network(first, second).flatten().float().cpu()

    def implementation(self) -> dict[str, Any]:
        """What computes ``lpips``: library and version, network, backbone and calibration files with SHA-256."""
        calibration = Path(self.library.__file__).parent / "weights" / "v0.1" / "alex.pth"
        return {
            "library": "lpips",
            "version": library_version("lpips"),
            "net": "alex",
            "lpips_version": "0.1",
            "weights": {"file": str(self.path), "sha256": self.sha256, "standard": self.sha256 == STANDARD_SHA256},
            "calibration": {"file": str(calibration), "sha256": sha256_of(calibration)},
        }


def _alexnet_features(path: Path) -> nn.Sequential:
    """The ``features`` of a torchvision AlexNet holding the weights in ``path`` (one-line errors name it)."""
    from torchvision.models import alexnet

    state = read_state_dict(path, "--lpips-weights", STANDARD_FILE)
    network = alexnet(weights=None)
    try:
        network.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsFileError(f"--lpips-weights '{path}' is not torchvision's AlexNet (expected {STANDARD_FILE}): "
                               f"{first_line(exc)}") from None
    return network.features

