"""Features for FID and KID from a local Inception-v3 file (nothing is ever downloaded).

``translate eval --inception-weights FILE`` accepts either

- a **torchvision Inception-v3 state dict** (``torch.save(model.state_dict(), FILE)``, e.g.
  the IMAGENET1K_V1 weights from :data:`TORCHVISION_URL`), read with
  ``torch.load(weights_only=True)``; features are the 2048-d pool3 activations
  (the classifier is dropped), input resized to 299×299 (bilinear) and given in
  [-1, 1], the range those Google-trained weights expect; or
- a **TorchScript module** (``torch.jit.save``) mapping ``(N, 3, 299, 299)`` images in
  **[-1, 1]** to ``(N, D)`` features: any Inception-shaped network, e.g. an exported
  FID Inception or, in tests, a tiny stand-in.

FID values depend on the exact network and resizing: numbers are comparable between
runs evaluated with the same file, not with papers that used another implementation.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.errors import TranslateError

#: Input side of Inception-v3.
INCEPTION_SIZE = 299
#: torchvision's ImageNet weights for ``inception_v3`` (IMAGENET1K_V1).
TORCHVISION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
#: What to tell a user who asked for FID/KID without weights.
HOW_TO_GET = (
    "FID and KID need Inception-v3 weights from a local file: pass --inception-weights FILE, e.g. after "
    f"`curl -LO {TORCHVISION_URL}` (torchvision's state dict) or a TorchScript file mapping (N, 3, 299, 299) "
    "images in [-1, 1] to (N, D) features; translate never downloads them itself"
)


class InceptionWeightsError(TranslateError):
    """The ``--inception-weights`` file is missing or not a usable network."""


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def load_feature_extractor(path: str | os.PathLike, device: torch.device | str = "cpu") -> Callable[[Tensor], Tensor]:
    """A function mapping ``(N, 3, H, W)`` images in [-1, 1] to ``(N, D)`` float features.

    Raises :class:`InceptionWeightsError` naming the file for anything unusable.
    """
    path = Path(path)
    if not path.is_file():
        raise InceptionWeightsError(f"inception weights file '{path}' does not exist")
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated in recent torch, yet still loads
                warnings.simplefilter("ignore", FutureWarning)
                network: nn.Module = torch.jit.load(str(path), map_location=device)
        except Exception as exc:  # torch raises RuntimeError and others for corrupt archives
            raise InceptionWeightsError(f"cannot load TorchScript file '{path}': {exc}".splitlines()[0]) from None
    else:
        network = _torchvision_inception(path)
    network = network.to(device).eval()

    @torch.inference_mode()
    def features(images: Tensor) -> Tensor:
        images = images.to(device, torch.float32)
        if images.shape[-2:] != (INCEPTION_SIZE, INCEPTION_SIZE):
            images = F.interpolate(images, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear",
                                   align_corners=False)
        output = network(images)
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not isinstance(output, Tensor) or output.dim() < 2 or output.shape[0] != images.shape[0]:
            raise InceptionWeightsError(
                f"network in '{path}' must return (N, D) features for N images, got "
                f"{tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__}"
            )
        return output.flatten(1).float().cpu()

    return features


def _torchvision_inception(path: Path) -> nn.Module:
    from torchvision.models import inception_v3

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InceptionWeightsError(
            f"cannot read '{path}' as a state dict or TorchScript file: {exc}".splitlines()[0]
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise InceptionWeightsError(f"'{path}' holds no state dict of tensors (expected torchvision inception_v3)")
    network = inception_v3(weights=None, aux_logits=True, transform_input=False, init_weights=False)
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    network.AuxLogits = None
    missing, unexpected = network.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InceptionWeightsError(
            f"'{path}' does not fit torchvision's inception_v3 (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    network.fc = nn.Identity()  # pool3 features (2048-d); dropout is inactive in eval mode
    return network
