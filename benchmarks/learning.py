"""Learning: how close each configuration gets to the known answer, measured side by side.

Trains every configuration for the same steps on a task with known ground truth cut
from real photographs (:mod:`translate.data.photo_tasks`; needs the ``test`` extra) and
scores it on the held-out crops, whose photographs it never saw:

* ``grading`` (CycleGAN, UNIT, CUT): unpaired photo -> colour/tone grading, 64 px;
* ``vignette``, ``graduated``, ``pencil``, ``defocus``, ``outlines``, ``flat``, ``cartoon``
  (``--task``; CycleGAN, UNIT, CUT): unpaired photo -> a structural style, 64 px: a spotlight
  vignette, a graduated filter, pencil shading along the edges, a blur, dark ink lines along the
  edges, texture flattened into regions of one colour, or both
  (:data:`translate.data.photo_tasks.UNPAIRED_STYLES`);
* ``restoration`` (pix2pix): blurred grayscale -> colour, 128 px, paired;
* ``domains`` (StarGAN): photo -> dusk and photo -> sepia with one generator, 64 px
  (:func:`~translate.data.photo_tasks.write_domain_gradings`). Each held-out photo is
  translated to every domain and scored against that domain's truth; translating it to
  its own domain (``photo``) is scored against the photo itself (PSNR of what is kept) and
  against each grading's truth (``photo@dusk``: it should score as the identity does there).

Configurations: ``translate`` (the defaults), ``reference`` (``--preset reference``: the
reference implementation's training) and any ``--variant NAME:KEY=VALUE,...`` (the
defaults plus those model options; ``steps=N`` in it trains that configuration N steps, e.g.
to compare configurations at equal wall-clock time). Multimodal models (MUNIT) are scored with
the style of a training image of domain B (:func:`~translate.data.photo_tasks.style_example`),
and their diversity is printed: the mean pairwise distance (mean |x − y| in [-1, 1]) between the
held-out outputs of the styles of seeds 0-3. For each configuration and seed it prints the PSNR
(dB) of the untrained and the trained generator, the identity baseline (the input as
the output; the header also gives, for the unpaired styles, the score of the colour map learned from
the training photos, :func:`~translate.data.photo_tasks.training_colour_map`, and the best per-pixel
colour map's, fitted on the held-out truth itself, :func:`~translate.data.photo_tasks.best_colour_map`),
and the checkerboard measure of the outputs
(:func:`translate.metrics.checkerboard`: period-2 spectral energy relative to the
truth's; 1 = as much as the photographs), then the means over seeds. ``--grid`` writes
the held-out crops as input | first and last output of each configuration (first seed)
| truth. Everything runs in this process, one configuration after the other.

Run (the figures of docs/learning.md: 5, 10 and 3 minutes on two idle cores)::

    python benchmarks/learning.py --model cyclegan --model-opt ngf=32 --threads 2 --grid docs/learning/cyclegan.png
    python benchmarks/learning.py --model unit --model-opt ngf=32 --model-opt ndf=32 --threads 2 \
        --grid docs/learning/unit.png
    python benchmarks/learning.py --model pix2pix --model-opt ngf=16 --model-opt ndf=16 --seeds 0 1 --threads 2 \
        --grid docs/learning/pix2pix.png
    python benchmarks/learning.py --model stargan --model-opt conv_dim=16 --model-opt critic_dim=16 \
        --seeds 0 1 2 --grid docs/learning/stargan.png

``--matrix`` trains every objective × model cell at equal wall-clock time instead
(:mod:`matrix`, ``benchmarks/matrix.py``; the table of docs/learning.md):

    python benchmarks/learning.py --matrix --seconds 60 --markdown matrix.md

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
    held_out_domains,
    held_out_pairs,
    style_example,
    training_colour_map,
    write_domain_gradings,
    write_paired_restoration,
    write_unpaired_task,
)
from translate.metrics import checkerboard, psnr
from translate.train.samples import save_sample_grid
from translate.train.trainer import Trainer, TrainConfig

import matrix  # benchmarks/matrix.py, beside this script: --matrix

#: task -> (writer, crop size, steps of the issue's budget)
TASKS = {
    **{style: (functools.partial(write_unpaired_task, style=style), 64, 480) for style in UNPAIRED_STYLES},
    "restoration": (write_paired_restoration, 128, 720),
    "domains": (write_domain_gradings, 64, 480),
}
#: The task each built-in model learns (anything else: the unpaired grading).
MODEL_TASKS = {"pix2pix": "restoration", "stargan": "domains"}
#: The domain the held-out inputs of the ``domains`` task come from.
SOURCE_DOMAIN = "photo"
#: Rows of --grid: this many held-out crops, spread over the test photographs.
GRID_ROWS = 4
#: Random styles whose outputs measure a multimodal model's diversity (the styles of these seeds).
DIVERSITY_STYLES = (0, 1, 2, 3)


def parse_variant(text: str) -> tuple[str, dict[str, str], int | None]:
    """``"name:key=value,key=value"`` -> (name, model options, steps or ``None``); ``steps=N`` is the run's length;
    a value may hold commas (``nce_layers=4,7,10``)."""
    name, _, rest = text.partition(":")
    options = dict(item.split("=", 1) for item in re.split(r",(?=\w+=)", rest) if item)
    steps = options.pop("steps", None)
    return name, options, None if steps is None else int(steps)


def held_out(task: str, data: Path, size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The held-out inputs and the truth of each target (``{"": truth}`` for one-output tasks)."""
    if task == "domains":
        return held_out_domains(data, size, source=SOURCE_DOMAIN)
    inputs, truth = held_out_pairs(data, size)
    return inputs, {"": truth}


def translated(model, inputs: torch.Tensor, targets: list[str], style: Any = None) -> dict[str, torch.Tensor]:
    """The model's output for each target (``to=`` the name; ``""``: the model's only translation); a
    multimodal model's with ``style`` (an example image, a seed)."""
    condition = {"style": style} if model.metadata().get("style_dim") else {}
    model.eval()
    with torch.no_grad():
        outputs = {name: model.translate(inputs, to=name, **condition) if name else model.translate(inputs, **condition)
                   for name in targets}
    model.train()
    return outputs


def diversity(model, inputs: torch.Tensor) -> float:
    """Mean pairwise distance (mean |x − y|) between the outputs of :data:`DIVERSITY_STYLES`."""
    outputs = [translated(model, inputs, [""], seed)[""] for seed in DIVERSITY_STYLES]
    pairs = [(a - b).abs().mean().item() for i, a in enumerate(outputs) for b in outputs[i + 1:]]
    return statistics.fmean(pairs)


def run(config: TrainConfig, inputs: torch.Tensor, truths: dict[str, torch.Tensor], style: Any = None
        ) -> dict[str, Any]:
    """Train one configuration; per target its scores and the first and last outputs on the held-out crops."""
    trainer = Trainer(config)
    first = translated(trainer.model, inputs, list(truths), style)
    started = time.perf_counter()
    trainer.train(progress=False)
    seconds = (time.perf_counter() - started) / trainer.total_steps
    last = translated(trainer.model, inputs, list(truths), style)
    spread = diversity(trainer.model, inputs) if trainer.model.metadata().get("style_dim") else None
    return {
        name: {
            "untrained": psnr(first[output], truth), "trained": psnr(last[output], truth),
            "checkerboard_untrained": checkerboard(first[output], truth),
            "checkerboard": checkerboard(last[output], truth),
            "s_per_step": seconds, "steps": trainer.total_steps, "first": first[output], "last": last[output],
            "diversity": spread,
        }
        for name, (output, truth) in scored(truths).items()
    }


def scored(truths: dict[str, torch.Tensor]) -> dict[str, tuple[str, torch.Tensor]]:
    """What each score compares: ``{score name: (target translated to, truth)}``.

    Every target against its truth; with a source domain among the targets, also its
    translation (which should keep the photo) against every other target's truth, named
    ``photo@dusk``: it should score as the identity does there.
    """
    pairs = {name: (name, truth) for name, truth in truths.items()}
    if SOURCE_DOMAIN in truths:
        pairs.update({f"{SOURCE_DOMAIN}@{name}": (SOURCE_DOMAIN, truth)
                      for name, truth in truths.items() if name != SOURCE_DOMAIN})
    return pairs


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
    parser.add_argument("--loss-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="an objective option for every configuration, e.g. critic_steps=1 (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the task data and the runs (metrics.jsonl, checkpoints) in this new folder "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--grid", type=Path, default=None, help="write the first/last sample grid here (PNG)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--matrix", action="store_true",
                        help="instead: every objective x model at equal wall-clock time per cell (benchmarks/matrix.py, "
                             "with --seconds, --models, --losses, --markdown, --matrix-json)")
    matrix.add_arguments(parser)
    args = parser.parse_args()
    if args.matrix:
        matrix.run_matrix(args)
        return
    torch.set_num_threads(args.threads)

    task = args.task or MODEL_TASKS.get(args.model, "grading")
    write, size, budget = TASKS[task]
    steps = args.steps or budget
    shared = dict(item.split("=", 1) for item in args.model_opt)
    loss_options = dict(item.split("=", 1) for item in args.loss_opt)
    configs: dict[str, tuple[str, dict[str, str], int]] = {name: (name, {}, steps) for name in args.configs}
    for text in args.variant:
        name, options, variant_steps = parse_variant(text)
        configs[name] = ("translate", options, variant_steps or steps)

    with contextlib.ExitStack() as stack:
        if args.work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            work = args.work
            work.mkdir(parents=True)
        data = write(work / task, size=size)
        inputs, truths = held_out(task, data, size)
        example = style_example(data, size) if task in UNPAIRED_STYLES else None
        identity = {name: psnr(inputs, truth) for name, (_, truth) in scored(truths).items()}
        print(f"{args.model} + {args.loss} on {task} ({len(inputs)} held-out {size} px crops), {steps} steps, "
              f"batch {args.batch_size}, options {shared or 'default'}, torch threads {args.threads}, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}", flush=True)
        for name, (_, truth) in scored(truths).items():
            learned = (f"colour map learned from the training photos "
                       f"{psnr(training_colour_map(data, task, size)(inputs), truth):.2f} dB, "
                       if task in UNPAIRED_STYLES else "")
            print(f"  score {name or '-'}: identity {identity[name]:.2f} dB, {learned}best colour map "
                  f"{psnr(best_colour_map(inputs, truth), truth):.2f} dB, "
                  f"checkerboard of the inputs {checkerboard(inputs, truth):.2f}", flush=True)
        print(f"{'configuration':<24}{'score':>12}{'seed':>5}{'untrained':>11}{'trained':>9}{'- identity':>12}"
              f"{'checkerboard first -> last':>28}{'s/step':>8}{'steps':>7}{'diversity':>10}", flush=True)
        results: dict[str, list[dict[str, Any]]] = {}
        for name, (preset, options, config_steps) in configs.items():
            for seed in args.seeds:
                config = TrainConfig(
                    model=args.model, loss=args.loss, data=str(data), out=str(work / f"{name}-{seed}"),
                    steps=config_steps, batch_size=args.batch_size, image_size=size, seed=seed, preset=preset,
                    model_options={**shared, **options}, loss_options=loss_options, sample_every=10**9,
                    checkpoint_every=10**9, loggers=("jsonl",),
                )
                result = run(config, inputs, truths, example)
                results.setdefault(name, []).append(result)
                for target, scores in result.items():
                    spread = "" if scores["diversity"] is None else f"{scores['diversity']:>10.3f}"
                    print(f"{name:<24}{target or '-':>12}{seed:>5}{scores['untrained']:>11.2f}"
                          f"{scores['trained']:>9.2f}{scores['trained'] - identity[target]:>+12.2f}"
                          f"{scores['checkerboard_untrained']:>16.2f} -> {scores['checkerboard']:<8.2f}"
                          f"{scores['s_per_step']:>8.2f}{config_steps:>7}{spread}", flush=True)

    print(f"\nmeans over seeds {args.seeds}")
    print(f"{'configuration':<24}{'score':>12}{'untrained':>11}{'trained':>9}{'- identity':>12}{'min - identity':>16}"
          f"{'checkerboard':>14}")
    summary: dict[str, dict[str, Any]] = {}
    for name, runs in results.items():
        for target, baseline in identity.items():
            scores = [r[target] for r in runs]
            mean = {key: statistics.fmean(r[key] for r in scores) for key in ("untrained", "trained", "checkerboard")}
            worst = min(r["trained"] for r in scores) - baseline
            summary.setdefault(name, {})[target or "output"] = {
                **mean, "identity": baseline, "worst_minus_identity": worst,
                "per_seed": [r["trained"] for r in scores], "steps": scores[0]["steps"],
                "s_per_step": statistics.fmean(r["s_per_step"] for r in scores),
                "diversity": [r["diversity"] for r in scores]}
            print(f"{name:<24}{target or '-':>12}{mean['untrained']:>11.2f}{mean['trained']:>9.2f}"
                  f"{mean['trained'] - baseline:>+12.2f}{worst:>+16.2f}{mean['checkerboard']:>14.2f}")
    if args.grid is not None:
        rows = torch.arange(0, len(inputs), max(1, len(inputs) // GRID_ROWS))[:GRID_ROWS]
        columns, names = [inputs[rows]], []
        for name, runs in results.items():
            for target in truths:
                if target == SOURCE_DOMAIN:
                    continue  # the photo kept: nothing to see in a grid
                columns += [runs[0][target]["first"][rows], runs[0][target]["last"][rows]]
                names.append(f"{name}{' ' + target if target else ''} first, last")
        columns += [truths[target][rows] for target in truths if target != SOURCE_DOMAIN]
        save_sample_grid(columns, args.grid)
        truth_names = " | ".join(f"truth {target}" if target else "truth" for target in truths
                                 if target != SOURCE_DOMAIN)
        print(f"grid: {args.grid} (input | " + " | ".join(names) + f" | {truth_names})")
    if args.json is not None:
        args.json.write_text(json.dumps({"model": args.model, "loss": args.loss, "task": task, "steps": steps,
                                         "options": shared, "loss_options": loss_options, "seeds": args.seeds,
                                         "threads": args.threads,
                                         "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                                         "results": summary}, indent=2))


if __name__ == "__main__":
    main()
