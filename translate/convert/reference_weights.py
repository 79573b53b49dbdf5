"""Weights trained by the PyTorch CycleGAN/pix2pix reference (``latest_net_G.pth``).

The reference saves a generator as the plain state dict of its module
(``junyanz:models/base_model.py`` ``save_networks``). translate's ResNet and U-Net
generators use the same module layout (:mod:`translate.nets.resnet`,
:mod:`translate.nets.unet`), so the keys load unchanged; this module only

- reads the file safely (``torch.load(weights_only=True)``),
- drops the ``running_mean`` / ``running_var`` / ``num_batches_tracked`` entries that
  InstanceNorm layers of old PyTorch versions saved (the reference drops them too),
- reads the width (``ngf``), norm and dropout off the tensors, and
- wraps the generator in a pix2pix model (a one-way translator), which
  :func:`import_weights` writes as a normal checkpoint folder and :func:`reference_model`
  hands to :class:`translate.convert.Translator` directly.

``arch`` is the reference's ``--netG``: ``resnet_9blocks``, ``resnet_6blocks``,
``unet_256`` or ``unet_128``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from translate import __version__
from translate.errors import TranslateError, first_line
from translate.files import partial_path, publish, remove_stale_partials
from translate.nets import GENERATOR_ARCHS

#: ``--arch`` values: the reference's generator names, which are ours too.
REFERENCE_ARCHS = GENERATOR_ARCHS
#: File suffixes ``convert`` treats as reference weights rather than checkpoint folders.
REFERENCE_SUFFIXES = (".pth", ".pt")
_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


class ReferenceWeightsError(TranslateError):
    """A reference weights file cannot be read or does not fit the named architecture."""


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """The tensors of a ``latest_net_G.pth`` (read with ``weights_only=True``).

    A ``module.`` prefix (a network saved inside ``DataParallel``) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise ReferenceWeightsError(f"weights file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ReferenceWeightsError(f"cannot read '{path}' as PyTorch weights: {first_line(exc)}") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise ReferenceWeightsError(f"'{path}' is not a state dict of tensors (expected a reference latest_net_G.pth)")
    if all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return dict(state)


def generator_settings(state: dict[str, Tensor], arch: str, source: str = "weights") -> dict[str, Any]:
    """``in_channels``, ``out_channels``, ``ngf``, ``norm`` and ``dropout`` of a reference generator.

    Norm: ``batch`` when the norm layers carry affine weights, else ``instance``
    (InstanceNorm without affine parameters has no tensors; the reference's
    ``--norm none`` is indistinguishable from it and gets the same treatment).
    """
    if arch not in REFERENCE_ARCHS:
        raise ReferenceWeightsError(f"unknown --arch {arch!r}; valid: {', '.join(REFERENCE_ARCHS)}")
    looks_like_unet = "model.model.0.weight" in state
    looks_like_resnet = "model.1.weight" in state
    if arch.startswith("resnet") and not looks_like_resnet:
        hint = "; its keys look like a U-Net: try --arch unet_256 or unet_128" if looks_like_unet else ""
        raise ReferenceWeightsError(f"'{source}' is not a reference ResNet generator (no 'model.1.weight'){hint}")
    if arch.startswith("unet") and not looks_like_unet:
        hint = "; its keys look like a ResNet: try --arch resnet_9blocks or resnet_6blocks" if looks_like_resnet else ""
        raise ReferenceWeightsError(f"'{source}' is not a reference U-Net generator (no 'model.model.0.weight'){hint}")
    if arch.startswith("resnet"):
        first = state["model.1.weight"]
        norm = "batch" if "model.2.weight" in state else "instance"
        dropout = "model.10.conv_block.6.weight" in state
        head = max((k for k in state if k.count(".") == 2 and k.endswith(".weight")),
                   key=lambda k: int(k.split(".")[1]))
        out_channels = state[head].shape[0]
    else:
        first = state["model.model.0.weight"]
        norm = "batch" if "model.model.1.model.2.weight" in state else "instance"
        dropout = True  # the reference's pix2pix default; dropout layers hold no weights
        out_channels = state["model.model.3.weight"].shape[1]
    return {"in_channels": int(first.shape[1]), "out_channels": int(out_channels), "ngf": int(first.shape[0]),
            "norm": norm, "dropout": dropout}


def load_into(network: nn.Module, state: dict[str, Tensor], arch: str, source: str = "weights") -> list[str]:
    """Load reference ``state`` into a bare generator; returns the InstanceNorm statistics keys dropped."""
    expected = network.state_dict()
    dropped = [k for k in state if k not in expected and k.rsplit(".", 1)[-1] in _NORM_STATISTICS]
    state = {k: v for k, v in state.items() if k not in dropped}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ReferenceWeightsError(
            f"'{source}' does not fit --arch {arch} ({len(missing)} missing keys, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}); check --arch"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ReferenceWeightsError(
                f"'{source}' does not fit --arch {arch}: '{key}' has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
    network.load_state_dict(state, strict=True)
    return dropped


def reference_generator(path: str | os.PathLike, arch: str) -> nn.Module:
    """The bare translate generator holding the reference weights in ``path`` (eval mode)."""
    from translate.nets import build_generator

    state = read_state_dict(path)
    settings = generator_settings(state, arch, str(path))
    network = build_generator(arch, settings["in_channels"], settings["out_channels"], ngf=settings["ngf"],
                              norm=settings["norm"], dropout=settings["dropout"])
    load_into(network, state, arch, str(path))
    return network.eval()


def reference_model(path: str | os.PathLike, arch: str, direction: str = "AtoB") -> tuple[nn.Module, dict[str, Any]]:
    """A pix2pix model (inference only) carrying the reference generator, and its checkpoint metadata."""
    from translate.data.download import sha256_of
    from translate.models.pix2pix import Pix2Pix

    if direction not in ("AtoB", "BtoA"):
        raise ReferenceWeightsError(f"direction must be AtoB or BtoA, got {direction!r}")
    state = read_state_dict(path)
    settings = generator_settings(state, arch, str(path))
    if settings["in_channels"] != 3 or settings["out_channels"] != 3:
        raise ReferenceWeightsError(
            f"'{path}' maps {settings['in_channels']} to {settings['out_channels']} channels; translate's models "
            "translate RGB to RGB (3 to 3)"
        )
    image_size = int(arch.split("_")[1]) if arch.startswith("unet") else 256
    model = Pix2Pix(None, image_size=image_size, direction=direction, generator=arch, ngf=settings["ngf"],
                    norm=settings["norm"], dropout=settings["dropout"], upsample="transpose")  # the reference's layout
    dropped = load_into(model.G.net, state, arch, str(path))
    metadata = {
        "translate_version": __version__,
        "model": "pix2pix",
        "model_options": model.options(),
        "model_metadata": model.metadata(),
        "image_size": image_size,
        "objective": None,
        "objective_options": {},
        "objective_state": {},
        "step": 0,
        "imported_from": {"file": Path(path).name, "sha256": sha256_of(path), "arch": arch,
                          "norm": settings["norm"], "dropped_norm_statistics": len(dropped)},
    }
    return model.eval(), metadata


def import_weights(path: str | os.PathLike, arch: str, out: str | os.PathLike, direction: str = "AtoB",
                   overwrite: bool = False) -> Path:
    """Write the reference weights in ``path`` as a translate checkpoint folder ``out``.

    The folder (``model.safetensors`` + ``checkpoint.json``) is written to a temporary
    folder and renamed into place (with the modes a plain ``mkdir``/``open`` gives; what an
    interrupted import left is removed first); ``translate convert OUT ...`` and
    :meth:`translate.convert.Translator.load` read it like any checkpoint.
    """
    from safetensors.torch import save_model

    from translate.train import checkpoint

    out = Path(out)
    if out.exists() and not overwrite:
        raise ReferenceWeightsError(f"'{out}' exists; pass --overwrite to replace it")
    model, metadata = reference_model(path, arch, direction)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials([out])
    staging = partial_path(out)
    staging.mkdir()
    try:
        save_model(model, str(staging / checkpoint.WEIGHTS))
        (staging / checkpoint.METADATA).write_text(json.dumps({"format": checkpoint.FORMAT_VERSION, **metadata},
                                                              indent=2))
        if out.exists():
            shutil.rmtree(out)
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
