"""One uploaded file translated as ``translate convert --format png`` translates it, or the reason why not.

The file is read by translate's own reader (:func:`~translate.data.images.load_rgb_and_alpha`: EXIF
orientation applied, every mode to RGB, the alpha channel kept, the pixel count checked against
``--max-pixels`` from the header before anything is decoded), translated at its own size by the
run's :class:`~translate.convert.Translator` (padding, tiles above ``--tile``) and written as PNG with
its alpha channel: the pixels ``translate convert RUN FILE DST --format png`` writes. What a user
can get wrong (a file that is not an image, one too large) is a :class:`DemoInputError` with a
sentence for the page; the server goes on serving.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from translate.convert.conditions import one_way
from translate.data.images import ImageReadError, load_rgb_and_alpha, pillow_limit_off, pixels, save_atomically, to_pil
from translate.demo.runs import DemoRun
from translate.errors import TranslateError, first_line

#: ``translate demo --max-pixels`` default: 4096×4096. Larger uploads are refused on the page before decoding
#: (``translate convert`` allows up to Pillow's limit, but a page should answer within seconds on a CPU).
DEMO_MAX_PIXELS = 4096 * 4096


class DemoInputError(TranslateError):
    """An upload the page cannot translate; the message is shown on the page as it is."""


@dataclass(frozen=True)
class Translation:
    """A translated upload."""

    output: Path
    width: int
    height: int
    seconds: float

    def status(self, name: str, run: DemoRun, condition: dict[str, Any]) -> str:
        """One line for the page: what was translated, how, and how long it took."""
        return (f"**{name}**: {self.width}×{self.height} px, {describe_condition(run, condition)} by "
                f"{run.name} on {run.backend_description()} in {_duration(self.seconds)}")


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def describe_condition(run: DemoRun, condition: dict[str, Any]) -> str:
    """``A → B``, ``to Blond_Hair``: what a condition asks of the run's model, in words."""
    if "to" in condition:
        return f"to {condition['to']}"
    source, _, target = (condition.get("direction") or run.choices.default_direction
                         or one_way(run.translator.model_metadata)).partition("to")
    return f"{source} → {target}"


def translate_upload(run: DemoRun, upload: str | Path, condition: dict[str, Any], max_pixels: int | None,
                     out_folder: Path) -> Translation:
    """Translate the file ``upload`` under ``condition`` into a PNG in ``out_folder``, named after the upload
    and the condition.

    Raises:
        DemoInputError: the file is not an image translate can read, has more than ``max_pixels`` pixels, or the
            model fails on it (e.g. out of memory).
    """
    upload = Path(upload)
    try:
        with pillow_limit_off():  # max_pixels replaces Pillow's check, as in translate convert
            rgb, alpha = load_rgb_and_alpha(upload, max_pixels)
    except ImageReadError as exc:
        raise DemoInputError(f"cannot read {upload.name}: {exc.reason}") from None
    except MemoryError:
        raise DemoInputError(f"not enough memory to decode {upload.name} (a lower --max-pixels refuses such "
                             "images)") from None
    started = time.perf_counter()
    try:
        translated = run.translator.translate_batch(pixels(rgb)[None], **condition)[0]
    except TranslateError:
        raise
    except (RuntimeError, ValueError, MemoryError) as exc:
        raise DemoInputError(f"cannot translate {upload.name}: {first_line(exc) or type(exc).__name__}") from None
    seconds = time.perf_counter() - started
    target = out_folder / f"{_safe(upload.stem)}-{_safe(describe_condition(run, condition))}.png"
    save_atomically(to_pil(translated), target, alpha)
    return Translation(target, rgb.width, rgb.height, seconds)


def _safe(text: str) -> str:
    """``text`` as part of a file name: letters, digits, ``-``, ``_`` and ``.`` only."""
    return re.sub(r"[^\w.-]+", "_", text.replace("→", "to")).strip("_") or "image"
