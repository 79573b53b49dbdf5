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

A multimodal model's network (its ``inference_network`` carries ``style_dim``, e.g. MUNIT's
:class:`translate.nets.munit.StyledPadCrop`) is exported as :class:`ExportableStyledGenerator`:
the graph takes a second input, ``style`` ``(N, style_dim)`` float32, one style code per image
(random styles are N(0, I) vectors, :mod:`translate.models.styles`).
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

    #: Numbers of the style code the graph takes as a second input (0: none; see :class:`ExportableStyledGenerator`).
    style_dim = 0

    def __init__(self, net: nn.Module, multiple: int, min_size: int = 1):
        super().__init__()
        self.net = net
        self.multiple = multiple
        self.min_size = max(multiple, min_size)

    def pad(self, images: Tensor) -> Tensor:
        """``images`` reflect-padded at the bottom and right to the multiple, without branches."""
        height, width = images.shape[-2], images.shape[-1]
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        return F.pad(images, [0, pad_w, 0, pad_h], mode="reflect")

    def forward(self, images: Tensor) -> Tensor:
        height, width = images.shape[-2], images.shape[-1]
        return self.net(self.pad(images))[:, :, :height, :width]


class ExportableStyledGenerator(ExportableGenerator):
    """:class:`ExportableGenerator` of a network that also takes a style code per image: ``forward(images, style)``
    with ``style`` ``(N, style_dim)``."""

    def __init__(self, net: nn.Module, multiple: int, min_size: int, style_dim: int):
        super().__init__(net, multiple, min_size)
        self.style_dim = style_dim

    def forward(self, images: Tensor, style: Tensor) -> Tensor:  # type: ignore[override]
        height, width = images.shape[-2], images.shape[-1]
        return self.net(self.pad(images), style)[:, :, :height, :width]


def exportable_network(model: Model, **condition: Any) -> ExportableGenerator:
    """``model``'s generator for ``condition`` (:meth:`Model.inference_network`), ready to export, in the
    form exported graphs compute it (:func:`translate.nets.layers.exported_form`, a copy when it differs).
    A network with ``style_dim`` (a multimodal model's) gives an :class:`ExportableStyledGenerator`."""
    generator = model.inference_network(**condition)
    net = exported_form(generator.net)
    style_dim = int(getattr(generator, "style_dim", 0) or 0)
    if style_dim:
        return ExportableStyledGenerator(net, generator.multiple, generator.min_size, style_dim).eval()
    return ExportableGenerator(net, generator.multiple, generator.min_size).eval()


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

    The graph's input ``images`` and output ``translated`` have dynamic batch, height and width; a styled
    generator's second input ``style`` is ``(batch, style_dim)``.
    """
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; the error below says how to get it)
        import onnxscript  # noqa: F401
    except ImportError:
        raise TranslateError("ONNX export needs the packages onnx and onnxscript: "
                             "pip install 'image-translate[export]'") from None
    from torch.export import Dim

    side = max(module.min_size, 8)
    example = torch.zeros(2, 3, side + 3, side + 1)
    batch, height, width = Dim("batch", min=1), Dim("height", min=module.min_size), Dim("width", min=module.min_size)
    inputs: tuple[Tensor, ...] = (example,)
    shapes: dict[str, Any] = {"images": {0: batch, 2: height, 3: width}}
    if module.style_dim:
        inputs += (torch.zeros(2, module.style_dim),)
        shapes["style"] = {0: batch}
    with torch.no_grad():
        torch.onnx.export(module, inputs, str(path), input_names=list(shapes), output_names=["translated"],
                          dynamic_shapes=shapes, dynamo=True, external_data=False, verbose=False)
