"""``translate train``."""

from __future__ import annotations

from typing import Any

import click

from translate.cli.common import (
    CONFIG_META,
    DIRECTION_CHOICES,
    PRESET_CHOICES,
    TRAIN_PRECISION_CHOICES,
    UserError,
    command_registry,
    config_file_options,
    parse_key_values,
    plugin_option,
    user_errors,
    with_options,
)


#: What trains on what, and where the run goes.
WHAT_OPTIONS = (
    click.option("--model", default="cyclegan", show_default=True, help="Model to train (see `translate plugins`)."),
    click.option("--loss", default="lsgan", show_default=True, help="Adversarial objective (see `translate plugins`)."),
    click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
                 help="Data folder (aligned train/ test/, or trainA/ trainB/). Default: the embedded sample set."),
    click.option("--out", type=click.Path(file_okay=False), default=None,
                 help="Run folder. Default: runs/MODEL-LOSS (a new -2, -3 ... folder if it exists)."),
)
#: How long and on what crops.
LENGTH_OPTIONS = (
    click.option("--steps", type=click.IntRange(min=1), default=None,
                 help="Training steps: iterations of one batch, each with one critic step; the generator steps on the "
                      "first of every critic_steps of the objective. Default: 300 on the sample set; on your data the "
                      "model's reference length (200 epochs; CUT 400)."),
    click.option("--epochs", type=click.IntRange(min=1), default=None, help="Training epochs (instead of --steps)."),
    click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True, help="Images per step."),
    click.option("--image-size", type=click.IntRange(min=16), default=None,
                 help="Training crop size in pixels. Default: 256, or 64 on the sample set."),
)
#: The model's and the objective's options.
MODEL_OPTIONS = (
    click.option("--direction", type=click.Choice(DIRECTION_CHOICES), default=None,
                 help="Which side is the input (pix2pix) or the default conversion direction (CycleGAN, UNIT); "
                      "CUT learns AtoB only."),
    click.option("--attrs", default=None, metavar="A,B,...",
                 help="StarGAN on CelebA: the attributes to learn (e.g. Black_Hair,Blond_Hair,Male)."),
    click.option("--preset", type=click.Choice(PRESET_CHOICES), default="translate", show_default=True,
                 help="Model defaults: translate's (learn sooner, no checkerboards; see docs/learning.md) or "
                      "reference (train exactly as the reference implementations). --model-opt overrides either."),
    click.option("--model-opt", "model_options", multiple=True, callback=parse_key_values, metavar="KEY=VALUE",
                 help="Model option, e.g. --model-opt lambda_l1=50 (repeatable; `translate plugins show MODEL` "
                      "lists them)."),
    click.option("--loss-opt", "loss_options", multiple=True, callback=parse_key_values, metavar="KEY=VALUE",
                 help="Objective option, e.g. --loss-opt real_target=0.9 (repeatable; `translate plugins show "
                      "LOSS` lists them)."),
)
#: Where and how the run computes, and whether it continues an earlier one.
RUN_OPTIONS = (
    click.option("--device", default=None,
                 help="auto, cpu, cuda, cuda:N or mps (default: auto; --resume: the run's own)."),
    click.option("--seed", type=click.IntRange(-(2**63), 2**63 - 1), default=0, show_default=True,
                 help="Random seed, a 64-bit integer (CPU runs are reproducible)."),
    click.option("--resume", is_flag=True, help="Continue the run in --out (or the newest runs/MODEL-LOSS*)."),
    click.option("--workers", type=click.IntRange(min=0), default=None,
                 help="Data-loading worker processes (default: 0; --resume: the run's own)."),
    click.option("--precision", type=click.Choice(TRAIN_PRECISION_CHOICES), default=None,
                 help="Autocast precision: fp32, bf16 (faster on GPUs and on CPUs with bf16 instructions such as "
                      "AVX-512 BF16 or AMX; far slower on other CPUs, with a warning), fp16 (CUDA, loss scaling) "
                      "or auto: bf16 where the GPU or CPU computes in it, else fp32, recorded in the run; bf16 learns "
                      "less in the same steps (default: fp32; --resume: the run's own)."),
    click.option("--compile/--no-compile", default=None,
                 help="torch.compile the networks (slow start; pays off on long GPU runs). Default: off; "
                      "--resume: the run's own."),
    click.option("--channels-last/--no-channels-last", default=None,
                 help="Channels-last memory format (faster convolutions on GPUs). Default: off; --resume: the "
                      "run's own."),
    click.option("--plugin-checks/--no-plugin-checks", default=None,
                 help="Check what the objective returns on the first steps and its state at the first checkpoint, "
                      "naming the plugin that breaks the contract. Default: on; --resume: the run's own."),
    click.option("--ema", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, metavar="DECAY",
                 help="Keep an exponential moving average of the generator weights (e.g. 0.999) for samples and "
                      "convert."),
)
#: What the run writes as it goes.
REPORT_OPTIONS = (
    click.option("--sample-every", type=click.IntRange(min=1), default=None,
                 help="Write a sample grid every N steps (default: 100; --resume: the run's own)."),
    click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                 help="Write a checkpoint every N steps, and at the end (default: 500; --resume: the run's own)."),
    click.option("--log-every", type=click.IntRange(min=1), default=None,
                 help="Append losses, learning rates and objective state to metrics.jsonl every N steps "
                      "(default: 1; --resume: the run's own)."),
    click.option("--logger", "loggers", multiple=True, metavar="NAME",
                 help="Where metrics go: jsonl, gallery, tensorboard (repeatable; default: every one installed; "
                      "--resume: the run's own)."),
)


@click.command()
@with_options(*WHAT_OPTIONS, *LENGTH_OPTIONS, *MODEL_OPTIONS, *RUN_OPTIONS, *REPORT_OPTIONS)
@plugin_option
@user_errors
@config_file_options
def train(direction: str | None, attrs: str | None, resume: bool, **options: Any) -> None:
    """Train a model; writes checkpoints and sample grids into the run folder.

    Options can come from a TOML file (--config run.toml; options given here override it);
    a new run folder gets the resolved configuration as config.toml. A resumed run keeps
    the settings it was started with unless they are given again.
    """
    from translate.train import distributed
    from translate.train.trainer import Trainer, TrainConfig

    shortcuts = {"direction": direction, "attrs": attrs}  # flags that are model options
    options["model_options"] = {**options["model_options"],
                                **{key: value for key, value in shortcuts.items() if value is not None}}
    options["plugins"], options["loggers"] = tuple(options["plugins"]), tuple(options["loggers"]) or None
    trainer = Trainer(TrainConfig(**options), resume=resume, registry=command_registry(options["plugins"]))
    if not trainer.distributed.is_main:  # under torchrun rank 0 reports
        trainer.train(progress=False)
        distributed.teardown(trainer.distributed)
        return
    if not resume:
        write_resolved_config(trainer)
    if trainer.resumed:
        click.echo(trainer.resumed, err=True)
    why = f" ({trainer.precision_reason})" if trainer.precision_reason else ""
    click.echo(f"training {trainer.config.model} with {trainer.config.loss} for {trainer.total_steps} steps "
               f"on {trainer.device} in {trainer.config.precision}{why} -> {trainer.run_dir}", err=True)
    saved = trainer.train()
    distributed.teardown(trainer.distributed)
    click.echo(f"checkpoint: {saved}")
    click.echo(f"samples:    {trainer.run_dir / 'samples'}")


def write_resolved_config(trainer: Any) -> None:
    """Write the run's resolved options into its folder as ``config.toml``, with ``out`` the run folder,
    so that ``--config RUN/config.toml --resume`` continues it."""
    from translate.cli.config import dumps

    resolved = {**click.get_current_context().meta[CONFIG_META], "out": str(trainer.run_dir)}
    try:
        (trainer.run_dir / "config.toml").write_text(dumps(resolved), encoding="utf-8")
    except OSError as exc:
        trainer.release()
        raise UserError(f"cannot write '{trainer.run_dir / 'config.toml'}': {exc.strerror or exc}") from exc
