"""Data: image decoding, transforms, folder datasets and the embedded sample set.

Flow: folder -> :func:`load_rgb` (decode, EXIF-orient, to RGB) -> transform
(resize/crop/flip) -> ``(3, H, W)`` tensors in ``[-1, 1]``.
"""

from .folders import AlignedDataset, DataError, UnpairedDataset, detect_layout, image_files
from .images import IMAGE_EXTENSIONS, ImageReadError, list_images, load_rgb, to_pil, to_tensor
from .sample import SAMPLE_ROOT, apply_sample_mapping
from .transforms import EvalTransform, TrainTransform

__all__ = [
    "IMAGE_EXTENSIONS",
    "SAMPLE_ROOT",
    "AlignedDataset",
    "DataError",
    "EvalTransform",
    "ImageReadError",
    "TrainTransform",
    "UnpairedDataset",
    "apply_sample_mapping",
    "detect_layout",
    "image_files",
    "list_images",
    "load_rgb",
    "to_pil",
    "to_tensor",
]
