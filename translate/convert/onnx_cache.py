"""Built ONNX models cached beside the checkpoint they come from, keyed by everything they depend on.

An entry is two files, ``NAME.onnx`` and ``NAME.json``, one entry per network and precision
(``int8-<weights digest>``) for the portable model, and one (``session-int8-<weights digest>``) for
its graph as ONNX Runtime optimised it for the CPU it last ran on, which sessions load. Calibrating
on other images (or running on a CPU of another vector width) replaces an entry, so the cache holds
at most two fp32 and two int8 models per generator. The JSON holds the key (the network's weights
digest, the precision, the onnx/onnxruntime/torch versions, the calibration settings and images;
for an optimised graph also the CPU), the SHA-256 of the ``.onnx`` file and what was measured while
building it (the int8 fidelity). An entry is used only when its JSON parses, its key equals the wanted key and the model
file's SHA-256 matches; anything else (a missing, truncated, corrupted or stale file) is built again
and replaces it. Both files are written to a temporary file and renamed (with the modes a plain
``open()`` gives, see :mod:`translate.files`), the model first and the
JSON last, so a killed run leaves a complete entry or one that is rebuilt, never one that is trusted
half-written; concurrent writers (``torchrun`` ranks) each rename a complete file.

Where: ``onnxruntime-cache/`` in the checkpoint folder (for a reference ``.pth`` file, in the
file's folder). When that folder cannot be written (a read-only checkpoint, another user's folder, a
checkpoint folder training removed meanwhile: it is never created again),
entries go to the user's cache folder, ``$XDG_CACHE_HOME/translate/onnxruntime`` (by default
``~/.cache/translate/onnxruntime``), where lookups also look; the key holds the weights digest,
so checkpoints never share an entry by mistake. When neither can be written, a warning says so
and the model is built again next time.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translate.errors import TranslateWarning
from translate.files import atomic_file

#: The cache folder's name inside a checkpoint folder.
CACHE_FOLDER = "onnxruntime-cache"


class CacheWarning(TranslateWarning):
    """A built model could not be cached; it works for this run and is built again next time."""


def user_cache_folder() -> Path:
    """``$XDG_CACHE_HOME/translate/onnxruntime``, by default ``~/.cache/translate/onnxruntime``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "translate" / "onnxruntime"


@dataclass
class CacheEntry:
    """A verified cached model: its bytes, what was recorded with it, and where it lies."""

    model: bytes
    info: dict[str, Any]
    path: Path


class ModelCache:
    """Built models of one checkpoint: :meth:`load` a verified entry or :meth:`store` a new one."""

    def __init__(self, folder: str | os.PathLike):
        self.folders = [Path(folder), user_cache_folder()]

    def load(self, name: str, key: dict[str, Any]) -> CacheEntry | None:
        """The entry ``name`` if one exists whose key is ``key`` and whose model file is intact, else ``None``."""
        for folder in self.folders:
            try:
                info = json.loads((folder / f"{name}.json").read_text())
                if not isinstance(info, dict) or info.get("key") != key:
                    continue  # another key (stale) or a damaged record: the model is not even read
                model = (folder / f"{name}.onnx").read_bytes()
            except (OSError, ValueError):
                continue
            if info.get("sha256") == hashlib.sha256(model).hexdigest():
                return CacheEntry(model, info, folder / f"{name}.onnx")
        return None

    def store(self, name: str, key: dict[str, Any], model: bytes, **info: Any) -> Path | None:
        """Write an entry (atomically) to the first writable folder; its model path, or ``None`` with a warning."""
        record = json.dumps({"key": key, "sha256": hashlib.sha256(model).hexdigest(), **info}, indent=2) + "\n"
        problems = []
        for folder in self.folders:
            try:
                # the checkpoint folder the first lies in is never created: a conversion must not bring back
                # a checkpoint that training removed meanwhile
                folder.mkdir(parents=folder != self.folders[0], exist_ok=True)
                _write_atomically(folder / f"{name}.onnx", model)
                _write_atomically(folder / f"{name}.json", record.encode())
                return folder / f"{name}.onnx"
            except OSError as exc:
                problems.append(f"'{folder}': {exc.strerror or exc}")
        warnings.warn(f"cannot cache the ONNX model ({'; '.join(problems)}); it is built again next time",
                      CacheWarning, stacklevel=2)
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` by a temporary and a rename, with the mode a plain ``open()`` gives (:mod:`translate.files`)."""
    with atomic_file(path) as partial:
        partial.write_bytes(data)
