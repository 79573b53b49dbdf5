"""How ``translate eval`` shows its result: a table for people (with what computed each number), a JSON
file beside the run."""

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


def default_checkpoints_output(result: dict[str, Any]) -> Path:
    """Where ``translate eval RUN --all-checkpoints`` writes its JSON: ``eval-<split>-checkpoints.json`` in RUN."""
    return Path(result["run"]) / f"eval-{result['checkpoints'][0]['split']}-checkpoints.json"


def table(result: dict[str, Any]) -> list[str]:
    """Lines of a human-readable table of :func:`~translate.evaluate.evaluate`'s result."""
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
    for key, label in PAIRED_LABELS.items():
        if key in result["metrics"]:
            lines.append(f"{label:<14}{result['metrics'][key]:>10.4f}{result['identity'][key]:>10.4f}")
    if "lpips_diversity" in result["metrics"]:
        lines.append(f"{'diversity':<14}{result['metrics']['lpips_diversity']:>10.4f}  (LPIPS between the outputs of "
                     f"two random styles)")
    lines += distribution_lines(result["metrics"])
    for key, value in result.get("objective_measures", {}).items():
        lines.append(f"{key:<14}{value:>10.4f}")
    if result.get("objective_measures"):
        lines.append(f"  (objective statistics from the {result['objective_measures_source']})")
    return lines + provenance_lines(result)


def checkpoints_table(result: dict[str, Any]) -> list[str]:
    """Lines of a human-readable table of
    :func:`~translate.evaluate.checkpoints.evaluate_checkpoints`'s result: one row per checkpoint, then the best."""
    results = result["checkpoints"]
    first = results[0]
    columns = [key for key in (*PAIRED_LABELS, "fid", "kid") if key in first["metrics"]]
    lines = [
        f"run:  {result['run']} ({first['model']}{', ' + first['objective'] if first.get('objective') else ''}, "
        f"{len(results)} checkpoints)",
        f"data: {first['data']}, split {first['split']}, {first['direction'] or 'to ' + str(first['to'])}, "
        f"{first['inputs']} inputs, {first['real_images']} {'pairs' if first['paired'] else 'real images'}",
        f"{'step':>10}" + "".join(f"{METRIC_NAMES[key]:>10}" for key in columns),
    ]
    for entry in results:
        lines.append(f"{entry['step']:>10}" + "".join(f"{entry['metrics'][key]:>10.4f}" for key in columns))
    chosen = result["best"]
    if chosen is None:
        lines.append("best: none (no FID, and no pairs for PSNR: pass --inception-weights FILE to rank unpaired data)")
    else:
        order = "lowest" if chosen["by"] == "fid" else "highest"
        lines.append(f"best: {chosen['checkpoint']} (step {chosen['step']}, {order} {METRIC_NAMES[chosen['by']]} "
                     f"{chosen['value']:.4f})")
    return lines + provenance_lines(first)


def folders_table(result: dict[str, Any]) -> list[str]:
    """Lines of a human-readable table of :func:`~translate.evaluate.folders.score_folders`'s result."""
    return [
        f"generated: {result['fake']} ({result['fake_images']} images)",
        f"real:      {result['real']} ({result['real_images']} images)",
        *distribution_lines(result["metrics"]),
        *provenance_lines(result),
    ]


#: Table labels of the paired metrics.
PAIRED_LABELS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "l1": "L1", "lpips": "LPIPS"}


def distribution_lines(scores: dict[str, float]) -> list[str]:
    """The FID and KID rows of a table, when computed."""
    if "fid" not in scores:
        return []
    return [f"{'FID':<14}{scores['fid']:>10.4f}", f"{'KID':<14}{scores['kid']:>10.5f}  ± {scores['kid_std']:.5f}"]


def provenance_lines(result: dict[str, Any]) -> list[str]:
    """What computed each number (metrics sharing an implementation on one line), then the notes on the metrics
    not computed."""
    by_description: dict[str, list[str]] = {}
    for key, implementation in result.get("implementations", {}).items():
        by_description.setdefault(describe(implementation), []).append(METRIC_NAMES.get(key, key))
    lines = [f"  {', '.join(names)}: {description}" for description, names in by_description.items()]
    return (["computed by:"] + lines if lines else []) + list(result.get("notes", []))


#: How metrics are named in the lines that say what computed them.
METRIC_NAMES = {"psnr": "PSNR", "ssim": "SSIM", "l1": "L1", "lpips": "LPIPS", "lpips_diversity": "LPIPS diversity",
                "fid": "FID", "kid": "KID"}


def describe(implementation: dict[str, Any]) -> str:
    """One implementation of a metric in words: library and version, then the details that pin its numbers."""
    parts = [f"{implementation['library']} {implementation['version']}"]
    if "equals" in implementation:
        parts.append(f"equal to {implementation['equals']}")
    if "feature_extractor" in implementation:
        parts.append(f"{implementation['feature_extractor']} features {implementation['feature_layer']}")
    if "net" in implementation:
        parts.append(f"{implementation['net']} v{implementation['lpips_version']}")
    weights = implementation.get("weights")
    if weights:
        standard = "the standard file" if weights["standard"] else "not the standard file: not comparable with papers"
        parts.append(f"weights {weights['file']} (SHA-256 {weights['sha256']}, {standard})")
    if "subsets" in implementation:
        parts.append(f"{implementation['subsets']} subsets of {implementation['subset_size']} images")
    return ", ".join(parts)


def write_json(result: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``result`` as JSON atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as partial:
        partial.write_text(json.dumps(result, indent=2) + "\n")
    return path

