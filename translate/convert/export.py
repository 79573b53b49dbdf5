"""Export a checkpoint's generator to TorchScript or ONNX with dynamic height and width.

The exported graph holds the generator and its padding: the input is
reflect-padded at the bottom/right to the network's multiple and the output
cropped back, as :class:`translate.nets.PadCrop` does in PyTorch. The padding is
one branch-free reflect step, so exported graphs take images whose sides are at
least the network's smallest size (8 for ResNet generators, 2^depth for U-Nets);
within that range they match the PyTorch output. Nearest resize-convolutions (the default decoders of
CycleGAN, CUT and pix2pix) are exported folded (:class:`translate.nets.layers.FoldedResizeConv`), and
convolutions with few output channels (RGB heads) by kernel rows
(:class:`translate.nets.layers.KernelRowsConv`): the same outputs, computed faster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.convert.conditions import conversion_condition
from translate.errors import TranslateError
from translate.files import atomic_file
from translate.models.base import Model
from translate.nets.layers import exported_form
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint

FORMATS = ("onnx", "torchscript")


class ExportableGenerator(nn.Module):
    """A bare generator with branch-free pad-to-multiple and crop, traceable with dynamic sizes.

    Inputs must be at least ``min_size`` (the net's smallest side, see :class:`translate.nets.PadCrop`).
    """

    def __init__(self, net: nn.Module, multiple: int, min_size: int = 1):
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.min_size = max(multiple, min_size)

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2], images.shape[-1]
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        padded = F.pad(images, [0, pad_w, 0, pad_h], mode="reflect")
        return self.net(padded)[:, :, :height, :width]


def exportable_network(model: Model, **condition: Any) -> ExportableGenerator:
    """``model``'s generator for ``condition`` (:meth:`Model.inference_network`), ready to export, in the
    form exported graphs compute it (:func:`translate.nets.layers.exported_form`, a copy when it differs)."""
    generator = model.inference_network(**condition)
    return ExportableGenerator(exported_form(generator.net), generator.multiple, generator.min_size).eval()


def exportable(checkpoint_or_run: str | os.PathLike, registry: PluginRegistry | None = None,
               **condition: Any) -> ExportableGenerator:
    """The checkpoint's generator for ``condition`` (e.g. a direction), ready to export.

    ``condition`` is checked and passed as ``translate convert`` passes it
    (:func:`~translate.convert.conditions.conversion_condition`).
    """
    saved = checkpoint.load(checkpoint_or_run)
    model = saved.inference_model(registry or PluginRegistry()).eval()
    return exportable_network(model, **conversion_condition(saved.metadata["model"], model.metadata(), condition))


def export(checkpoint_or_run: str | os.PathLike, out: str | os.PathLike, fmt: str,
           registry: PluginRegistry | None = None, **condition: Any) -> Path:
    """Write the generator as ``fmt`` (``onnx`` or ``torchscript``) to ``out``; returns the path."""
    if fmt not in FORMATS:
        raise TranslateError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    module = exportable(checkpoint_or_run, registry, **condition)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as partial:
        if fmt == "torchscript":
            with torch.no_grad():
                torch.jit.script(module).save(str(partial))
        else:
            write_onnx(module, partial)
    return out


def write_onnx(module: ExportableGenerator, path: str | os.PathLike) -> None:
    """Write ``module`` to ``path`` as one self-contained ONNX file (the weights inside, no ``.data`` file).

    The graph's input ``images`` and output ``translated`` have dynamic batch, height and width.
    """
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; the error below says how to get it)
        import onnxscript  # noqa: F401
    except ImportError:
        raise TranslateError("ONNX export needs the packages onnx and onnxscript: "
                             "pip install 'image-translate[export]'") from None
    from torch.export import Dim

    side = max(module.min_size, 8)
    example = torch.zeros(1, 3, side + 3, side + 1)
    batch, height, width = Dim("batch", min=1), Dim("height", min=module.min_size), Dim("width", min=module.min_size)
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(path), input_names=["images"], output_names=["translated"],
                          dynamic_shapes={"images": {0: batch, 2: height, 3: width}}, dynamo=True,
                          external_data=False, verbose=False)
