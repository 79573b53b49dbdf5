"""The optional libraries of the ``metrics`` extra (torch-fidelity, lpips), imported only when asked for,
and the local weights files their networks read."""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from translate.errors import TranslateError, first_line

#: What to install for FID, KID and LPIPS.
INSTALL_HINT = 'pip install "image-translate[metrics]" (torch-fidelity, lpips)'


class MissingLibrary(TranslateError):
    """An optional metrics library is not installed."""


class WeightsFileError(TranslateError):
    """A metric's weights file is missing or not the network its option expects."""


def require(module: str, purpose: str) -> ModuleType:
    """Import the optional library ``module``, or raise :class:`MissingLibrary` saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingLibrary(f"{purpose} needs the {distribution(module)} package: {INSTALL_HINT}") from None


def installed(module: str) -> bool:
    """Whether the optional library ``module`` can be imported."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # a module set to None in sys.modules (how tests hide a library)
        return False


def distribution(module: str) -> str:
    """The package name pip knows ``module`` by (``torch_fidelity`` -> ``torch-fidelity``)."""
    return module.replace("_", "-")


def library_version(module: str) -> str:
    """The installed version of the library ``module``."""
    try:
        return version(distribution(module))
    except PackageNotFoundError:
        return "unknown"


def read_state_dict(path: Path, option: str, expected: str) -> dict[str, Tensor]:
    """The state dict in ``path`` (given with ``option``), read with ``weights_only=True`` so that no pickled
    code runs; one-line errors name the file and the ``expected`` one."""
    if not path.is_file():
        raise WeightsFileError(f"{option} file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for files that are not weights
        raise WeightsFileError(f"cannot read {option} '{path}' as a state dict of tensors: {first_line(exc)}") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsFileError(f"{option} '{path}' holds no state dict of tensors (expected {expected})")
    return state
