"""Where a training run reports: metrics every step, sample grids as they are drawn.

Every logger receives the same values — losses, learning rates (``lr/<group>``),
objective state (``D/k``, ``D/M``), ``s_per_iter`` and ``images_per_s`` — so each sink
shows the same picture. Built in:

- ``jsonl``: ``metrics.jsonl``, one JSON object per logged step (always on; ``--resume``
  reads it back, dropping lines past the checkpoint and a line torn by a kill or a full disk);
- ``gallery``: ``index.html``, the sample grids grouped by epoch, newest first, each with
  the metrics of its step — open it in a browser while the run trains;
- ``tensorboard``: event files in ``tensorboard/`` when the ``tensorboard`` package is
  installed (``pip install "image-translate[tensorboard]"``).

Plugins add loggers through the ``translate_loggers`` hook (see :mod:`translate.plugin_host.hookspecs`); the
built-ins are registered the same way (entry point ``loggers``).
"""

from __future__ import annotations

import html
import json
import os
import warnings
from pathlib import Path
from typing import Any

from translate import hookimpl
from translate.errors import TranslateWarning
from translate.files import partial_path
from translate.run_logger import RunLogger


class JsonLinesLogger(RunLogger):
    """``metrics.jsonl``: ``{"step": N, ...values}`` per logged step, flushed each time."""

    name = "jsonl"
    FILE = "metrics.jsonl"

    def __init__(self, run_dir: Path):
        super().__init__(run_dir)
        self.file = (run_dir / self.FILE).open("a")

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        self.file.write(json.dumps({"step": step, **values}) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def truncate_metrics(run_dir: Path, last_step: int) -> None:
    """Drop lines after ``last_step`` from ``metrics.jsonl`` (steps a killed run logged past its checkpoint).

    Lines that are not a JSON object with a step -- the torn last line of a run killed
    mid-write or stopped by a full disk -- are dropped too, with a warning.
    """
    path = run_dir / JsonLinesLogger.FILE
    if not path.exists():
        return
    kept, torn = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (ValueError, TypeError, KeyError):
            torn.append(number)
    if torn:
        warnings.warn(f"'{path}': dropped {len(torn)} unreadable line(s) (line {', '.join(map(str, torn[:3]))}"
                      f"{', ...' if len(torn) > 3 else ''}), left by an interrupted write", TranslateWarning,
                      stacklevel=2)
    _write_atomically(path, "".join(line + "\n" for line in kept))


class GalleryLogger(RunLogger):
    """``index.html``: every sample grid, grouped by epoch, with the metrics of its step."""

    name = "gallery"
    FILE = "index.html"

    def __init__(self, run_dir: Path):
        super().__init__(run_dir)
        self.latest: dict[str, float] = {}
        self.entries: list[dict[str, Any]] = []
        self.state = run_dir / "gallery.json"  # the entries so far, so a resumed run keeps them
        if self.state.exists():
            self.entries = read_entries(self.state)

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        self.latest = {"step": step, **values}

    def log_samples(self, step: int, epoch: int, path: Path) -> None:
        metrics = self.latest if self.latest.get("step") == step else {}
        self.entries = [entry for entry in self.entries if entry["step"] < step]  # a resumed run redraws
        self.entries.append({"step": step, "epoch": epoch, "image": path.relative_to(self.run_dir).as_posix(),
                             "metrics": {k: v for k, v in metrics.items() if k != "step"}})
        _write_atomically(self.state, json.dumps(self.entries))
        _write_atomically(self.run_dir / self.FILE, render_gallery(self.run_dir.name, self.entries))


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The gallery entries saved in ``path``; a torn tail (a kill, a full disk) is dropped with a warning."""
    text = path.read_text(errors="replace")
    try:
        entries = json.loads(text)
    except ValueError:
        entries = _entries_before_tear(text)
        warnings.warn(f"'{path}' ends in a torn entry (an interrupted write); dropped it, {len(entries)} "
                      "entries kept", TranslateWarning, stacklevel=2)
    if not isinstance(entries, list) or not all(isinstance(entry, dict) and isinstance(entry.get("step"), int)
                                                for entry in entries):
        warnings.warn(f"'{path}' does not hold gallery entries; the gallery starts afresh", TranslateWarning,
                      stacklevel=2)
        return []
    return entries


def _entries_before_tear(text: str) -> list[Any]:
    """The complete elements of a JSON array cut off somewhere, read one by one."""
    decoder, entries = json.JSONDecoder(), []
    position = text.find("[") + 1  # 0 when not even the array's start survived
    while 0 < position < len(text):
        while position < len(text) and text[position] in ", \t\r\n":
            position += 1
        try:
            entry, position = decoder.raw_decode(text, position)
        except ValueError:
            break
        entries.append(entry)
    return entries


def render_gallery(title: str, entries: list[dict[str, Any]]) -> str:
    """The gallery page: one section per epoch (newest first), one figure per grid."""
    by_epoch: dict[int, list[dict[str, Any]]] = {}
    for entry in entries:
        by_epoch.setdefault(entry["epoch"], []).append(entry)
    sections = []
    for epoch in sorted(by_epoch, reverse=True):
        figures = []
        for entry in sorted(by_epoch[epoch], key=lambda e: e["step"], reverse=True):
            rows = "".join(
                f"<tr><th>{html.escape(key)}</th><td>{value:.4g}</td></tr>" for key, value in entry["metrics"].items()
            )
            figures.append(
                f'<figure><img src="{html.escape(entry["image"])}" alt="step {entry["step"]}">'
                f"<figcaption>step {entry['step']}<table>{rows}</table></figcaption></figure>"
            )
        sections.append(f"<section><h2>epoch {epoch}</h2>{''.join(figures)}</section>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif}figure{display:inline-block;vertical-align:top;margin:8px}"
        "img{max-width:100%;image-rendering:pixelated}th{text-align:left;font-weight:normal;padding-right:1em}"
        "td{font-family:monospace}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )


class TensorBoardLogger(RunLogger):
    """TensorBoard event files in ``tensorboard/``: every scalar, and the sample grids as images."""

    name = "tensorboard"

    def __init__(self, run_dir: Path):
        super().__init__(run_dir)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    @classmethod
    def available(cls) -> bool:
        import importlib.util

        return importlib.util.find_spec("tensorboard") is not None

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def log_samples(self, step: int, epoch: int, path: Path) -> None:
        """Add the grid's PNG as it is (decoding and encoding it again would cost more than the step's logging)."""
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        with Image.open(path) as grid:  # reads the header only
            width, height = grid.size
            channels = len(grid.getbands())
        image = Summary.Image(height=height, width=width, colorspace=channels, encoded_image_string=path.read_bytes())
        # what SummaryWriter.add_image does with the summary it encodes
        self.writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag="samples", image=image)]), step)

    def close(self) -> None:
        self.writer.close()


@hookimpl
def translate_loggers() -> list[type[RunLogger]]:
    """The loggers that ship with translate, registered through the same hook as a plugin's."""
    return [JsonLinesLogger, GalleryLogger, TensorBoardLogger]


class Loggers:
    """Fans each report out to several loggers."""

    def __init__(self, loggers: list[RunLogger]):
        self.loggers = loggers

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_metrics(step, values)

    def log_samples(self, step: int, epoch: int, path: Path) -> None:
        for logger in self.loggers:
            logger.log_samples(step, epoch, path)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


def _write_atomically(path: Path, text: str) -> None:
    partial = partial_path(path)
    partial.write_text(text)
    os.replace(partial, path)
