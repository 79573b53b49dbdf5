"""The conversion wing: translating images and folders with a trained model, and exporting it.

* :mod:`~translate.convert.translator` — :class:`Translator` (load a checkpoint, translate images of
  any size, convert folder trees) and :class:`ConvertReport`;
* :mod:`~translate.convert.tiling` — overlapping tiles for images larger than ``--tile``;
* :mod:`~translate.convert.outputs` — which inputs, which output names, each rank's share;
* :mod:`~translate.convert.conditions` — what ``--direction`` and ``--to`` pass to a model, and what they refuse;
* :mod:`~translate.convert.export` — the generator as TorchScript or ONNX with dynamic sizes;
* :mod:`~translate.convert.onnx_backend`, :mod:`~translate.convert.onnx_cache`,
  :mod:`~translate.convert.quantize` — ``--backend onnxruntime``: cached exports, int8 behind a gate;
* :mod:`~translate.convert.allocator` — the C library's memory settings for conversion processes;
* :mod:`~translate.convert.reference_weights` — generators trained by the PyTorch CycleGAN/pix2pix
  reference (``latest_net_G.pth``).

``from translate.convert import Translator`` is the public face. It is looked up on first use, so that
importing a module of this package imports no torch: ``translate convert`` sets the allocator up
(:mod:`~translate.convert.allocator`) before torch is loaded.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConvertReport", "Translator"]


def __getattr__(name: str) -> Any:
    """:class:`~translate.convert.translator.Translator` and :class:`~translate.convert.translator.ConvertReport`."""
    if name in __all__:
        from translate.convert import translator

        return getattr(translator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
