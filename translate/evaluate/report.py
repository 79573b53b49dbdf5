"""How ``translate eval`` shows its result: a table for people, a JSON file beside the run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from translate.files import atomic_file


def run_folder(checkpoint_folder: str | os.PathLike) -> Path:
    """The run folder a (resolved) checkpoint folder belongs to, or the folder itself when standalone."""
    path = Path(checkpoint_folder)
    return path.parent.parent if path.parent.name == "checkpoints" else path


def default_output(result: dict[str, Any]) -> Path:
    """Where ``translate eval`` writes its JSON: ``eval-<split>.json`` in the run folder."""
    return run_folder(result["checkpoint"]) / f"eval-{result['split']}.json"


def table(result: dict[str, Any]) -> list[str]:
    """Lines of a human-readable table of :func:`evaluate`'s result."""
    what = result["model"] + (f", {result['objective']}" if result.get("objective") else "")
    if result.get("imported_from"):
        what += f", imported from {result['imported_from']['file']}"
    elif result.get("step") is not None:
        what += f", step {result['step']}"
    mapping = result["direction"] or f"to {result['to']}"
    lines = [
        f"checkpoint: {result['checkpoint']} ({what})",
        f"data:       {result['data']}, split {result['split']}, {mapping}, {result['inputs']} inputs, "
        f"{result['real_images']} {'pairs' if result['paired'] else 'real images'}, at {result['image_size']} px",
        f"{'metric':<14}{'model':>10}{'identity':>10}",
    ]
    names = {"psnr": "PSNR (dB)", "ssim": "SSIM", "l1": "L1"}
    for key, label in names.items():
        if key in result["metrics"]:
            lines.append(f"{label:<14}{result['metrics'][key]:>10.4f}{result['identity'][key]:>10.4f}")
    if "fid" in result["metrics"]:
        lines.append(f"{'FID':<14}{result['metrics']['fid']:>10.4f}")
        lines.append(f"{'KID':<14}{result['metrics']['kid']:>10.5f}  ± {result['metrics']['kid_std']:.5f}")
        inception = result["inception"]
        lines.append(f"  (features: {inception['features']}-d from {inception['file']}; KID subsets of "
                     f"{inception['kid_subset_size']})")
    else:
        lines.append(f"FID, KID: not computed. {result['fid_note']}")
    for key, value in result.get("objective_measures", {}).items():
        lines.append(f"{key:<14}{value:>10.4f}")
    if result.get("objective_measures"):
        lines.append(f"  (objective statistics from the {result['objective_measures_source']})")
    return lines


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as partial:
        partial.write_text(json.dumps(result, indent=2) + "\n")
    return path

