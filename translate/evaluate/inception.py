"""FID and KID as the field computes them: torch-fidelity's Inception-v3 graph, weights from a local file.

Papers compare FID and KID computed with the TensorFlow Inception graph of 2015-12-05 as
pytorch-fid and torch-fidelity port it (``pt_inception-2015-12-05-6726825d.pth``). translate
hands images to torch-fidelity's feature extractor (``inception-v3-compat``: 8-bit images
resized to 299×299 by its TensorFlow-1.x-compatible bilinear resize, the 2048-d pool3
features) and computes FID and KID from the features with torch-fidelity's own functions
(KID: unbiased MMD² under the cubic polynomial kernel, over random subsets drawn with
torch-fidelity's seed). Nothing is downloaded: ``--inception-weights FILE`` is a local copy of
the standard file, read first with ``torch.load(weights_only=True)`` (so no pickled code runs)
and then by torch-fidelity. torch-fidelity is an optional dependency (the ``metrics`` extra).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from translate.data.download import sha256_of
from translate.data.images import quantize
from translate.errors import TranslateError, first_line
from translate.evaluate.libraries import WeightsFileError, library_version, read_state_dict, require

#: The field's Inception weights (pytorch-fid's port of the 2015-12-05 TensorFlow graph; torch-fidelity
#: publishes the same file as ``weights-inception-2015-12-05-6726825d.pth``).
STANDARD_FILE = "pt_inception-2015-12-05-6726825d.pth"
STANDARD_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{STANDARD_FILE}"
STANDARD_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
#: What to tell a user who asked for FID/KID without weights.
HOW_TO_GET = (
    f"FID and KID need the field's Inception weights from a local file: pass --inception-weights FILE, "
    f"{STANDARD_FILE} from {STANDARD_URL} (SHA-256 {STANDARD_SHA256}); translate never downloads it"
)
#: torch-fidelity's name of the feature extractor, and the layer FID and KID use.
FEATURE_EXTRACTOR = "inception-v3-compat"
FEATURE_LAYER = "2048"


class FidKid:
    """FID and KID of generated against real images, computed by torch-fidelity from the weights in ``weights``.

    :meth:`features` maps a batch of images (8-bit, or floats in [-1, 1], rounded to 8 bits
    as when they are saved) to their 2048-d features; :meth:`scores` turns two feature sets
    into FID and KID, and :meth:`implementations` says what computed them.
    """

    def __init__(self, weights: str | os.PathLike, device: torch.device | str = "cpu",
                 kid_subset_size: int = 1000, kid_subsets: int = 100):
        require("torch_fidelity", "--inception-weights (FID and KID)")
        self.path = Path(weights)
        state = read_state_dict(self.path, "--inception-weights", STANDARD_FILE)
        if any(key.startswith("AuxLogits.") for key in state):
            raise WeightsFileError(f"--inception-weights '{self.path}' is torchvision's ImageNet Inception-v3, not the "
                                   f"FID graph; use {STANDARD_FILE} ({STANDARD_URL})")
        self.sha256 = sha256_of(self.path)
        self.device = torch.device(device)
        self.kid_subset_size, self.kid_subsets = kid_subset_size, kid_subsets
        self.network = self._network()

    def _network(self) -> torch.nn.Module:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        try:  # the file read with weights_only=True above: torch-fidelity's own torch.load runs no code from it
            network = FeatureExtractorInceptionV3(FEATURE_EXTRACTOR, [FEATURE_LAYER],
                                                  feature_extractor_weights_path=str(self.path))
        except RuntimeError as exc:
            raise WeightsFileError(f"--inception-weights '{self.path}' does not fit torch-fidelity's Inception-v3 "
                                   f"(expected {STANDARD_FILE}): {first_line(exc)}") from None
        return network.to(self.device).eval()

    @torch.inference_mode()
    def features(self, images: Tensor) -> Tensor:
        """``(N, 2048)`` float32 features (on the CPU) of ``(N, 3, H, W)`` images of any size."""
        pixels = images if images.dtype == torch.uint8 else quantize(images)
        return self.network(pixels.to(self.device))[0].float().cpu()

    def kid_size(self, fake_count: int, real_count: int) -> int:
        """Images per KID subset: ``kid_subset_size``, or fewer when a set is smaller."""
        return min(self.kid_subset_size, fake_count, real_count)

    def scores(self, fake: Tensor, real: Tensor) -> dict[str, float]:
        """``fid``, ``kid`` and ``kid_std`` (over the subsets) of the feature sets ``fake`` and ``real``.

        The order is torch-fidelity's (``input1`` generated, ``input2`` real): KID's subsets are
        drawn from the first set, then the second, with its default seed.
        """
        from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
        from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

        if min(fake.shape[0], real.shape[0]) < 2:
            raise TranslateError(f"FID and KID need at least two generated and two real images; got {fake.shape[0]} "
                                 f"and {real.shape[0]}")
        fid = fid_statistics_to_metric(fid_features_to_statistics(fake), fid_features_to_statistics(real),
                                       verbose=False)
        kid = kid_features_to_metric(fake, real, kid_subset_size=self.kid_size(fake.shape[0], real.shape[0]),
                                     kid_subsets=self.kid_subsets, verbose=False)
        return {"fid": fid[KEY_METRIC_FID], "kid": kid[KEY_METRIC_KID_MEAN], "kid_std": kid[KEY_METRIC_KID_STD]}

    def implementations(self, fake_count: int, real_count: int) -> dict[str, dict[str, Any]]:
        """What computed ``fid`` and ``kid``: library and version, network, layer, weights file and its SHA-256."""
        common = {
            "library": "torch-fidelity",
            "version": library_version("torch_fidelity"),
            "feature_extractor": FEATURE_EXTRACTOR,
            "feature_layer": FEATURE_LAYER,
            "weights": {"file": str(self.path), "sha256": self.sha256, "standard": self.sha256 == STANDARD_SHA256},
        }
        kid = {**common, "subset_size": self.kid_size(fake_count, real_count), "subsets": self.kid_subsets,
               "kernel": "polynomial, degree 3, gamma 1/2048, coef0 1"}
        return {"fid": common, "kid": kid}
