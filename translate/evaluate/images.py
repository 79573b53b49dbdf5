"""The images an evaluation translates and compares: inputs, their targets, and real target-domain images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import torch
from torch import Tensor

from translate.data.folders import AlignedDataset, DataError, detect_layout, image_files
from translate.data.images import load_rgb
from translate.data.transforms import EvalTransform
from translate.errors import TranslateError


class EvalError(TranslateError):
    """The checkpoint and the data do not make an evaluation."""


class Unavailable(Exception):
    """Objective statistics cannot be measured on the test set (fall back to the logs)."""


def evaluation_condition(meta: dict[str, Any], direction: str | None, to: str | None
                         ) -> tuple[dict[str, Any], str | None]:
    """Conversion keywords and the direction (AtoB/BtoA, or None for multi-domain models)."""
    model_meta = meta.get("model_metadata", {})
    if model_meta.get("directions"):
        if to is not None:
            raise EvalError(f"model {meta['model']!r} translates between two domains; use --direction, not --to")
        chosen = direction or model_meta.get("default_direction", "AtoB")
        return {"direction": chosen}, chosen
    if model_meta.get("targets") or model_meta.get("domains"):
        if direction is not None:
            raise EvalError(f"model {meta['model']!r} is multi-domain; choose the target domain with --to")
        if to is None:
            names = ", ".join(model_meta.get("targets") or model_meta.get("domains"))
            raise EvalError(f"model {meta['model']!r} is multi-domain: name the target domain with --to ({names})")
        return {"to": to}, None
    trained = meta.get("model_options", {}).get("direction", "AtoB")
    if direction is not None and direction != trained:
        raise EvalError(f"this {meta['model']} model translates one way ({trained}); drop --direction {direction}")
    if to is not None:
        raise EvalError(f"model {meta['model']!r} has a single output; drop --to")
    return {}, trained


class EvalImages:
    """The evaluation images of a split, decoded on demand at the model's training size.

    Paired (aligned ``split/`` or name-matched ``splitA/`` + ``splitB/``): inputs with their
    targets. Otherwise inputs and a separate set of real target-domain images: the
    source side and the other side for two-way models, or the other domains and the
    target domain ``to`` for multi-domain models.
    """

    def __init__(self, data: Path, split: str, image_size: int, direction: str | None, to: str | None):
        #: What identifies these images (the same key, the same real images).
        self.key = (str(data.resolve()), split, image_size, direction, to)
        self.transform = EvalTransform(image_size)
        self.pairs: AlignedDataset | None = None
        if direction is None:  # multi-domain: one folder per domain
            from translate.data.domains import domain_folders

            folders = domain_folders(data, split)
            if to not in folders:
                raise EvalError(f"data folder '{data / split}' has no folder for domain {to!r} "
                                f"(found: {', '.join(folders)})")
            self.sources = [p for name, folder in folders.items() if name != to for p in image_files(folder)]
            self.real_paths = image_files(folders[to])
            return
        try:
            layout = detect_layout(data, split)
        except DataError as exc:
            raise EvalError(f"cannot evaluate on split '{split}': {exc}") from None
        if layout in ("aligned", "paired_folders"):
            self.pairs = AlignedDataset(data, split=split, image_size=image_size, direction=direction, train=False)
            return
        source_side, real_side = ("A", "B") if direction == "AtoB" else ("B", "A")
        self.sources = image_files(data / f"{split}{source_side}")
        self.real_paths = image_files(data / f"{split}{real_side}")

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    def __len__(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.sources)

    @property
    def real_count(self) -> int:
        return len(self.pairs) if self.pairs is not None else len(self.real_paths)

    def _load(self, path: Path) -> Tensor:
        return self.transform(load_rgb(path))[0]

    def batch(self, start: int, stop: int) -> tuple[Tensor, Tensor | None]:
        """Inputs ``[start, stop)`` and, for paired data, their targets."""
        stop = min(stop, len(self))
        if self.pairs is not None:
            items = [self.pairs[i] for i in range(start, stop)]
            return torch.stack([item["A"] for item in items]), torch.stack([item["B"] for item in items])
        return torch.stack([self._load(p) for p in self.sources[start:stop]]), None

    def real_batches(self, batch_size: int) -> Iterator[Tensor]:
        """Every real target-domain image in batches: the targets of paired data, else the real images."""
        for start in range(0, self.real_count, batch_size):
            stop = min(start + batch_size, self.real_count)
            yield self.batch(start, stop)[1] if self.pairs is not None else self.reals(range(start, stop))

    def reals(self, indices: range | list[int]) -> Tensor:
        """Real target-domain images (unpaired data), by index modulo their number."""
        return torch.stack([self._load(self.real_paths[i % len(self.real_paths)]) for i in indices])


def training_batch(meta: dict[str, Any], source: Tensor, target: Tensor | None, images: EvalImages, start: int,
                    direction: str | None) -> dict[str, Tensor]:
    """The batch a model's training step takes, from evaluation images (``{"A", "B"}``).

    Raises :class:`Unavailable` when the data cannot make one (a conditional one-way
    model needs true pairs).
    """
    one_way = not meta.get("model_metadata", {}).get("directions")
    if target is None:
        if one_way or not images.real_count:
            raise Unavailable
        target = images.reals(range(start, start + source.shape[0]))
    if one_way or direction == "AtoB":
        return {"A": source, "B": target}  # pix2pix's data set already puts its input in "A"
    return {"A": target, "B": source}
