"""Every objective × every model at equal wall-clock time per cell: PSNR against doing nothing.

Run through ``python benchmarks/learning.py --matrix`` (or this file directly, with the same
options). Each cell trains one model with one objective on a task with known ground truth
(:mod:`translate.data.photo_tasks`): the unpaired colour/tone grading at 64 px for the unpaired
models (StarGAN too, its two domains being A and B), the paired restoration at 128 px for
pix2pix. Every cell gets the same wall-clock budget (``--seconds``), not the same steps: an
objective whose critic steps or penalty cost more time trains fewer steps, as it would for a
user. The steps come from a short calibration run of the cell (``CALIBRATION_STEPS``, the first
two not timed). Each cell prints the steps it could afford, its held-out PSNR, the identity's,
the difference and the checkerboard measure (:func:`translate.metrics.checkerboard`); ``--markdown
FILE`` writes the table as docs/learning.md holds it. Measure on an otherwise idle machine: the
budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from translate.data.photo_tasks import held_out_pairs, write_paired_restoration, write_unpaired_grading
from translate.metrics import checkerboard, psnr
from translate.plugin_host.manager import PluginRegistry
from translate.train.trainer import Trainer, TrainConfig

#: Models of the matrix: row name -> (model, model options besides the widths).
MODELS = {
    "pix2pix": ("pix2pix", {}),
    "cyclegan": ("cyclegan", {}),
    "unit": ("unit", {}),
    "cut": ("cut", {}),
    "fastcut": ("cut", {"mode": "fastcut"}),
    "munit": ("munit", {"mlp_dim": "64"}),
    "stargan": ("stargan", {}),
}
#: Widths of each model's networks in the matrix (reduced, as the learning tests'; other options are the defaults).
WIDTHS = {"stargan": {"conv_dim": "16", "critic_dim": "16"}}
DEFAULT_WIDTHS = {"ngf": "16", "ndf": "16"}
#: Steps of each cell's calibration run, and how many of them are not timed (allocator warm-up, first checks).
CALIBRATION_STEPS, UNTIMED_STEPS = 8, 2
#: task -> (writer, crop size)
TASKS = {"grading": (write_unpaired_grading, 64), "restoration": (write_paired_restoration, 128)}


def task_of(row: str) -> str:
    return "restoration" if MODELS[row][0] == "pix2pix" else "grading"


def config(row: str, loss: str, data: Path, out: Path, steps: int, size: int) -> TrainConfig:
    """The cell's training: the row's model at reduced widths, ``loss``, ``steps`` steps, batch 1, fp32."""
    model, options = MODELS[row]
    return TrainConfig(model=model, loss=loss, data=str(data), out=str(out), steps=steps, image_size=size,
                       model_options={**WIDTHS.get(model, DEFAULT_WIDTHS), **options}, precision="fp32",
                       sample_every=10**9, checkpoint_every=10**9, loggers=("jsonl",))


def seconds_per_step(row: str, loss: str, data: Path, work: Path, size: int) -> float:
    """A cell's s/step from a short calibration run (its first :data:`UNTIMED_STEPS` not timed)."""
    trainer = Trainer(config(row, loss, data, work, CALIBRATION_STEPS, size))
    times, batches = [], trainer.batches()
    for _ in range(CALIBRATION_STEPS):
        batch = next(batches)
        started = time.perf_counter()
        trainer._train_step(batch)
        times.append(time.perf_counter() - started)
    trainer.release()
    timed = times[UNTIMED_STEPS:]
    return sum(timed) / len(timed)


def translated(model: Any, inputs: torch.Tensor) -> torch.Tensor:
    """The held-out outputs of a trained model: A -> B (StarGAN: to domain B; MUNIT: with style 0)."""
    metadata = model.metadata()
    condition: dict[str, Any] = {}
    if metadata.get("targets"):
        condition["to"] = "B"
    if metadata.get("style_dim"):
        condition["style"] = 0
    model.eval()
    with torch.no_grad():
        return model.translate(inputs, **condition)


def cell(row: str, loss: str, budget: float, tasks: dict[str, tuple[Path, torch.Tensor, torch.Tensor]],
         work: Path) -> dict[str, Any]:
    """Train one cell for ``budget`` seconds' worth of steps; its steps, PSNR, identity and checkerboard."""
    task = task_of(row)
    data, inputs, truth = tasks[task]
    size = TASKS[task][1]
    per_step = seconds_per_step(row, loss, data, work / f"{row}-{loss}-calibration", size)
    steps = max(1, int(budget / per_step))
    trainer = Trainer(config(row, loss, data, work / f"{row}-{loss}", steps, size))
    trainer.train(progress=False)
    outputs = translated(trainer.model, inputs)
    trained, identity = psnr(outputs, truth), psnr(inputs, truth)
    return {"model": row, "loss": loss, "steps": steps, "s_per_step": per_step, "psnr": trained,
            "identity": identity, "over_identity": trained - identity, "checkerboard": checkerboard(outputs, truth)}


def markdown(results: list[dict[str, Any]], rows: list[str], losses: list[str], budget: float) -> str:
    """The table of dB over the identity (rows: models, columns: objectives), with the steps each cell afforded."""
    by_cell = {(r["model"], r["loss"]): r for r in results}
    lines = [f"| model ({budget:g} s per cell) | " + " | ".join(f"`{loss}`" for loss in losses) + " |",
             "|---|" + "---:|" * len(losses)]
    for row in rows:
        cells = []
        for loss in losses:
            result = by_cell.get((row, loss))
            cells.append("" if result is None else f"{result['over_identity']:+.2f} ({result['steps']})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The matrix's options (also those of ``benchmarks/learning.py --matrix``)."""
    parser.add_argument("--seconds", type=float, default=60.0, help="wall-clock budget of each cell")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated rows of {', '.join(MODELS)}")
    parser.add_argument("--losses", default=None, help="comma-separated objectives (default: every installed one)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table (dB over the identity) here")
    parser.add_argument("--matrix-json", type=Path, default=None, help="write every cell's results here")


def run_matrix(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train and score every requested cell, printing each as it finishes."""
    torch.set_num_threads(args.threads)
    rows = args.models.split(",")
    unknown = sorted(set(rows) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown rows {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    losses = args.losses.split(",") if args.losses else PluginRegistry().names("objective")
    results = []
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        tasks = {}
        for task in {task_of(row) for row in rows}:
            write, size = TASKS[task]
            data = write(work / task, size=size)
            tasks[task] = (data, *held_out_pairs(data, size))
        print(f"every objective x model at {args.seconds:g} s per cell, torch threads {args.threads}, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}", flush=True)
        print(f"{'model':10}{'objective':>10}{'steps':>7}{'s/step':>8}{'PSNR':>8}{'identity':>10}{'- identity':>12}"
              f"{'checkerboard':>14}", flush=True)
        for row in rows:
            for loss in losses:
                result = cell(row, loss, args.seconds, tasks, work)
                results.append(result)
                print(f"{row:10}{loss:>10}{result['steps']:>7}{result['s_per_step']:>8.3f}{result['psnr']:>8.2f}"
                      f"{result['identity']:>10.2f}{result['over_identity']:>+12.2f}{result['checkerboard']:>14.2f}",
                      flush=True)
    table = markdown(results, rows, losses, args.seconds)
    print("\n" + table)
    if args.markdown is not None:
        args.markdown.write_text(table)
    if args.matrix_json is not None:
        args.matrix_json.write_text(json.dumps({"seconds": args.seconds, "threads": args.threads, "cells": results,
                                                "cpu_capability": torch.backends.cpu.get_cpu_capability()},
                                               indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    run_matrix(parser.parse_args())


if __name__ == "__main__":
    main()
