"""Learning: how close each configuration gets to the known answer, measured side by side.

Trains every configuration for the same steps on a task with known ground truth cut
from real photographs (:mod:`translate.data.photo_tasks`; needs the ``test`` extra) and
scores it on the held-out crops, whose photographs it never saw:

* ``grading`` (CycleGAN, UNIT, CUT): unpaired photo -> colour/tone grading, 64 px;
* ``outlines``, ``flat``, ``cartoon`` (``--task``; CycleGAN, UNIT, CUT): unpaired photo -> a
  structural style, 64 px: dark ink lines along the edges, texture flattened into regions of
  one colour, or both (:data:`translate.data.photo_tasks.UNPAIRED_STYLES`);
* ``restoration`` (pix2pix): blurred grayscale -> colour, 128 px, paired.

Configurations: ``translate`` (the defaults), ``reference`` (``--preset reference``: the
reference implementation's training) and any ``--variant NAME:KEY=VALUE,...`` (the
defaults plus those model options). For each configuration and seed it prints the PSNR
(dB) of the untrained and the trained generator, the identity baseline (the input as
the output; the header also gives the best per-pixel colour map's score,
:func:`~translate.data.photo_tasks.best_colour_map`), and the checkerboard measure of the outputs
(:func:`translate.metrics.checkerboard`: period-2 spectral energy relative to the
truth's; 1 = as much as the photographs), then the means over seeds. ``--grid`` writes
the held-out crops as input | first and last output of each configuration (first seed)
| truth. Everything runs in this process, one configuration after the other.

Run (the README's figures: 5, 10 and 3 minutes on two idle cores)::

    python benchmarks/learning.py --model cyclegan --model-opt ngf=32 --threads 2 --grid docs/learning/cyclegan.png
    python benchmarks/learning.py --model unit --model-opt ngf=32 --model-opt ndf=32 --threads 2 \
        --grid docs/learning/unit.png
    python benchmarks/learning.py --model pix2pix --model-opt ngf=16 --model-opt ndf=16 --seeds 0 1 --threads 2 \
        --grid docs/learning/pix2pix.png

At the models' full widths one configuration and seed takes 9-16 minutes on one core. Screen
cheaply with ``--steps 240``; ``--threads`` (default 1) sets torch's thread count.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from translate.data.photo_tasks import (
    UNPAIRED_STYLES,
    best_colour_map,
    held_out_pairs,
    write_paired_restoration,
    write_unpaired_task,
)
from translate.metrics import checkerboard, psnr
from translate.train.samples import save_sample_grid
from translate.train.trainer import Trainer, TrainConfig

#: task -> (writer, crop size, steps of the issue's budget)
TASKS = {
    **{style: (functools.partial(write_unpaired_task, style=style), 64, 480) for style in UNPAIRED_STYLES},
    "restoration": (write_paired_restoration, 128, 720),
}
#: The task each built-in model learns (anything else: the unpaired grading).
MODEL_TASKS = {"pix2pix": "restoration"}
#: Rows of --grid: this many held-out crops, spread over the test photographs.
GRID_ROWS = 4


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """``"name:key=value,key=value"`` -> (name, options); a value may hold commas (``nce_layers=4,7,10``)."""
    name, _, rest = text.partition(":")
    options = dict(item.split("=", 1) for item in re.split(r",(?=\w+=)", rest) if item)
    return name, options


def translated(model, inputs: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        outputs = model.translate(inputs)
    model.train()
    return outputs


def run(config: TrainConfig, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    """Train one configuration; its scores and the first and last outputs on the held-out crops."""
    trainer = Trainer(config)
    first = translated(trainer.model, inputs)
    started = time.perf_counter()
    trainer.train(progress=False)
    seconds = (time.perf_counter() - started) / trainer.total_steps
    last = translated(trainer.model, inputs)
    return {
        "untrained": psnr(first, targets), "trained": psnr(last, targets),
        "checkerboard_untrained": checkerboard(first, targets), "checkerboard": checkerboard(last, targets),
        "s_per_step": seconds, "first": first, "last": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cyclegan")
    parser.add_argument("--loss", default="lsgan")
    parser.add_argument("--task", choices=sorted(TASKS), default=None, help="default: the model's task")
    parser.add_argument("--steps", type=int, default=None, help="default: the task's budget (480 or 720)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--configs", nargs="*", default=["reference", "translate"],
                        help="built-in configurations to run: reference, translate")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="one more configuration: the defaults plus these model options (repeatable)")
    parser.add_argument("--model-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option for every configuration, e.g. ngf=32 (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the task data and the runs (metrics.jsonl, checkpoints) in this new folder "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--grid", type=Path, default=None, help="write the first/last sample grid here (PNG)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    task = args.task or MODEL_TASKS.get(args.model, "grading")
    write, size, budget = TASKS[task]
    steps = args.steps or budget
    shared = dict(item.split("=", 1) for item in args.model_opt)
    configs: dict[str, tuple[str, dict[str, str]]] = {name: (name, {}) for name in args.configs}
    for text in args.variant:
        name, options = parse_variant(text)
        configs[name] = ("translate", options)

    with contextlib.ExitStack() as stack:
        if args.work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            work = args.work
            work.mkdir(parents=True)
        data = write(work / task, size=size)
        inputs, targets = held_out_pairs(data, size)
        identity = psnr(inputs, targets)
        print(f"{args.model} + {args.loss} on {task} ({len(inputs)} held-out {size} px crops), {steps} steps, "
              f"batch {args.batch_size}, options {shared or 'default'}; identity {identity:.2f} dB, "
              f"best colour map {psnr(best_colour_map(inputs, targets), targets):.2f} dB, "
              f"checkerboard of the inputs {checkerboard(inputs, targets):.2f}; "
              f"{torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}", flush=True)
        print(f"{'configuration':<24}{'seed':>5}{'untrained':>11}{'trained':>9}{'- identity':>12}"
              f"{'checkerboard first -> last':>28}{'s/step':>8}", flush=True)
        results: dict[str, list[dict[str, Any]]] = {}
        for name, (preset, options) in configs.items():
            for seed in args.seeds:
                config = TrainConfig(
                    model=args.model, loss=args.loss, data=str(data), out=str(work / f"{name}-{seed}"),
                    steps=steps, batch_size=args.batch_size, image_size=size, seed=seed, preset=preset,
                    model_options={**shared, **options}, sample_every=10**9, checkpoint_every=10**9,
                    loggers=("jsonl",),
                )
                result = run(config, inputs, targets)
                results.setdefault(name, []).append(result)
                print(f"{name:<24}{seed:>5}{result['untrained']:>11.2f}{result['trained']:>9.2f}"
                      f"{result['trained'] - identity:>+12.2f}{result['checkerboard_untrained']:>16.2f} -> "
                      f"{result['checkerboard']:<8.2f}{result['s_per_step']:>8.2f}", flush=True)

    print(f"\nmeans over seeds {args.seeds} (identity {identity:.2f} dB)")
    print(f"{'configuration':<24}{'untrained':>11}{'trained':>9}{'- identity':>12}{'min - identity':>16}"
          f"{'checkerboard':>14}")
    summary = {}
    for name, runs in results.items():
        mean = {key: statistics.fmean(r[key] for r in runs) for key in ("untrained", "trained", "checkerboard")}
        worst = min(r["trained"] for r in runs) - identity
        summary[name] = {**mean, "identity": identity, "worst_minus_identity": worst,
                         "per_seed": [r["trained"] for r in runs]}
        print(f"{name:<24}{mean['untrained']:>11.2f}{mean['trained']:>9.2f}{mean['trained'] - identity:>+12.2f}"
              f"{worst:>+16.2f}{mean['checkerboard']:>14.2f}")
    if args.grid is not None:
        rows = torch.arange(0, len(inputs), max(1, len(inputs) // GRID_ROWS))[:GRID_ROWS]
        columns = [inputs[rows]]
        for runs in results.values():
            columns += [runs[0]["first"][rows], runs[0]["last"][rows]]
        save_sample_grid(columns + [targets[rows]], args.grid)
        print(f"grid: {args.grid} (input | " + " | ".join(f"{name} first, last" for name in results) + " | truth)")
    if args.json is not None:
        args.json.write_text(json.dumps({"model": args.model, "loss": args.loss, "task": task, "steps": steps,
                                         "options": shared, "seeds": args.seeds, "results": summary}, indent=2))


if __name__ == "__main__":
    main()
