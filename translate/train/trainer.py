"""The training loop: data, device, optimisers, schedules, samples, checkpoints.

The trainer knows no particular model or loss: it builds the model the registry
names, hands it optimisers, feeds it batches and saves what it reports.

What a step is: one iteration, i.e. one batch and one ``Model.train_step``. Every
iteration makes one critic step; the generator steps on the first iteration of every
``critic_steps`` (the objective's schedule: 1 for most objectives, 5 for ``wgan-gp``).
So ``--steps``, ``--epochs``, ``--checkpoint-every``, ``--sample-every``, the progress
bar and the learning-rate schedule all count batches, every batch is used once per
epoch whatever the schedule (as the StarGAN reference counts its iterations), and any
run of at least one step updates the generator (the reference's generator steps on the
last iteration of a group, so a short run could end without one).

Speed settings (none changes fp32 eager results): ``precision`` (bf16/fp16 autocast,
fp16 with one gradient scaler per optimiser, CUDA only; ``auto`` picks bf16 where the device
computes in it and fp32 elsewhere, and config.json records what it picked; the default is fp32,
as bf16 learns worse: see docs/learning.md), ``compile`` (``torch.compile``
of the networks), ``channels_last``; on CUDA also cuDNN autotuning and pinned memory. Adam is
fused on CUDA and the CPU. Under ``torchrun`` every network trains in DDP
(:mod:`translate.train.distributed`); rank 0 logs, draws samples and saves.

Exact resume: a checkpoint holds the weights, optimiser and scheduler states, the
step (hence the position in the data order), the model's training state (image
pools, the critic schedule's iteration counter), the objective state, the EMA weights and every rank's RNG
state. Data augmentation draws from an RNG seeded by (seed, epoch, sample index),
so it does not depend on the number of ranks or workers or on where a run resumed.
A resumed run keeps the settings it was started with (:data:`RESUME_MAY_CHANGE`)
unless they are given again.

The run folder: every setting is checked before the folder is created; the trainer
holds its lock (:mod:`translate.train.run_folder`) while it works, removes what a
killed run left half-written, and returns only after the last checkpoint loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from translate import __version__
from translate.devices import (AUTO, autocast, bf16_instructions, check_precision, resolve_device, resolve_precision,
                               warn_if_slow)
from translate.errors import TranslateError, TranslateWarning
from translate.models.base import Model
from translate.models.objective_checks import attribute_values, state_warning, unsaved_attributes
from translate.objective import ObjectiveError
from translate.options import COUNT, WIDTH, Limit, OptionError, check_limits, parse_options
from translate.plugin_host.manager import PluginError, PluginRegistry
from translate.run_logger import RunLogger
from translate.train import checkpoint, distributed
from translate.train.ema import ExponentialMovingAverage
from translate.train.loggers import JsonLinesLogger, Loggers, truncate_metrics
from translate.train.run_folder import LOCK, RunLock, remove_leftovers
from translate.train.samples import save_sample_grid

#: Steps of the default run on the embedded sample set (a few minutes on 2 CPU cores).
SAMPLE_SET_STEPS = 300
#: Crop size on the embedded sample set; user data defaults to 256 as the references.
SAMPLE_SET_IMAGE_SIZE = 64


#: ``--preset`` values: translate's defaults, or the reference implementations' training
#: (each model's :meth:`~translate.models.base.Model.reference_preset`).
PRESETS = ("translate", "reference")

#: Settings that do not change what a run learns, with their defaults. ``None`` in a :class:`TrainConfig`
#: means "not given": a new run takes the default, a resumed run keeps the value it was started with.
RESUME_MAY_CHANGE: dict[str, Any] = {
    "device": "auto", "precision": "fp32", "compile": False, "channels_last": False, "workers": 0,
    "log_every": 1, "sample_every": 100, "checkpoint_every": 500, "loggers": (), "plugin_checks": True,
}
#: Settings a resumed run may be given anew besides :data:`RESUME_MAY_CHANGE`: its length, where it is, and the
#: ``--plugin`` modules to load. Every other setting a resumed run keeps; giving another value is an error.
RESUME_MAY_GIVE = ("out", "steps", "epochs", "plugins")
#: Valid values of the numeric settings (the command line checks the same ranges).
SETTING_LIMITS = {
    "steps": WIDTH, "epochs": WIDTH, "batch_size": WIDTH, "image_size": WIDTH, "sample_every": WIDTH,
    "checkpoint_every": WIDTH, "keep_checkpoints": WIDTH, "log_every": WIDTH, "workers": COUNT,
    "seed": Limit(-(2**63), high=2**63, integer=True),
}


class TrainingError(TranslateError):
    """Training cannot start or cannot go on (bad configuration, diverged loss)."""


@dataclass
class TrainConfig:
    """Everything ``translate train`` takes; saved as ``config.json`` in the run folder.

    Settings of :data:`RESUME_MAY_CHANGE` left ``None`` take their default in a new run and
    the run's own value on resume. ``loggers`` empty means every available logger (``jsonl``
    is always on). ``lr_decay_from`` ``None`` means the model's
    :attr:`~translate.models.base.Model.lr_decay_from`. ``preset``
    ``"reference"`` starts the model options from the model's
    :meth:`~translate.models.base.Model.reference_preset` and the objective options from the
    objective's :attr:`~translate.objective.Objective.reference_options`; ``model_options`` and
    ``loss_options`` override them. ``plugin_checks`` checks what the objective returns on the first
    steps (:mod:`translate.models.objective_checks`) and its state at the first checkpoint. ``precision``
    ``"auto"`` becomes the precision it picks (:func:`translate.devices.resolve_precision`)
    before the run starts, so ``config.json`` holds fp32, bf16 or fp16: a resumed run computes in what it
    was trained in unless ``--precision`` is given again.
    """

    model: str = "cyclegan"
    loss: str = "lsgan"
    preset: str = "translate"
    data: str | None = None
    out: str | None = None
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 1
    image_size: int | None = None
    device: str | None = None
    seed: int = 0
    model_options: dict[str, str] = field(default_factory=dict)
    loss_options: dict[str, str] = field(default_factory=dict)
    plugins: tuple[str, ...] = ()
    sample_every: int | None = None
    checkpoint_every: int | None = None
    keep_checkpoints: int = 3
    lr_decay_from: float | None = None
    workers: int | None = None
    log_every: int | None = None
    precision: str | None = None
    compile: bool | None = None
    channels_last: bool | None = None
    ema: float | None = None
    loggers: tuple[str, ...] | None = None
    plugin_checks: bool | None = None

    def resolved_image_size(self) -> int:
        if self.image_size is not None:
            return self.image_size
        return SAMPLE_SET_IMAGE_SIZE if self.data is None else 256

    def with_defaults(self) -> "TrainConfig":
        """This configuration with the settings not given set to their defaults."""
        return replace(self, **{key: value for key, value in RESUME_MAY_CHANGE.items() if getattr(self, key) is None})

    def check(self) -> None:
        """Refuse numeric settings out of range (:data:`SETTING_LIMITS`) with a :class:`TrainingError`."""
        values = {key: getattr(self, key) for key in SETTING_LIMITS if getattr(self, key) is not None}
        try:
            check_limits("training setting", values, SETTING_LIMITS)
        except OptionError as exc:
            raise TrainingError(str(exc)) from None


def new_run_dir(base: Path) -> Path:
    """``base`` if it is free, else ``base-2``, ``base-3``, ... (never reuses a run folder)."""
    if not base.exists():
        return base
    index = 2
    while base.with_name(f"{base.name}-{index}").exists():
        index += 1
    return base.with_name(f"{base.name}-{index}")


def last_run_dir(base: Path) -> Path:
    """The newest of ``base``, ``base-2``, ... (what ``--resume`` continues without ``--out``)."""
    pattern = re.compile(re.escape(base.name) + r"(?:-(\d+))?$")
    found = [(int(m.group(1) or 1), p) for p in base.parent.glob(base.name + "*") if (m := pattern.match(p.name))]
    if not found:
        raise TrainingError(f"--resume: no run folder '{base}' to continue")
    return max(found)[1]


class SeededSamples(Dataset):
    """``dataset[i]`` with torch's RNG seeded from (seed, epoch, i) while it loads.

    Random crops and flips then depend on the sample only: the same with any number of
    ranks or workers, and after ``--resume``.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with torch.random.fork_rng(devices=[]):
            key = hashlib.blake2b(f"{self.seed}/{self.epoch}/{index}".encode(), digest_size=8).digest()
            torch.manual_seed(int.from_bytes(key, "little") >> 1)  # well-spread seeds for neighbouring samples
            return self.dataset[index]


class Trainer:
    """Runs one training run; see :class:`TrainConfig`."""

    def __init__(self, config: TrainConfig, resume: bool = False, registry: PluginRegistry | None = None):
        self.registry = registry or PluginRegistry(extra_modules=config.plugins)
        config.check()
        self.lock: RunLock | None = None
        if resume:
            self.run_dir = self._run_dir(config, resume)  # every rank finds the same folder
            config = self._saved_config(config)
        config = config.with_defaults()
        requested_device = resolve_device(config.device)
        check_precision(config.precision, auto=True)
        picked = resolve_precision(config.precision, requested_device)
        #: Why the run computes in its precision, when ``auto`` picked it (``None``: it was given or resumed).
        self.precision_reason = _precision_reason(config.precision, picked, requested_device)
        config = replace(config, precision=picked)
        self._check_speed_settings(config.precision, requested_device)
        self.distributed = distributed.setup(requested_device)
        if not resume:
            self.run_dir = self.distributed.broadcast(self._run_dir(config, resume))
        elif self.distributed.is_main:
            self.lock = RunLock(self.run_dir)
            remove_leftovers(self.run_dir)
        try:
            self._set_up(config, requested_device, resume)
        except BaseException:
            self.release()
            raise

    def _set_up(self, config: TrainConfig, requested_device: torch.device, resume: bool) -> None:
        """Build the model, data, optimisers and schedules; restore a resumed run or create the new run folder."""
        self.config = config
        self.device = self.distributed.device(requested_device)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        model_cls = self.registry.model(config.model)
        objective_cls = self.registry.objective(config.loss)
        loss_options = parse_options(objective_cls, config.loss_options, f"objective {config.loss!r}")
        model_options = parse_options(model_cls, config.model_options, f"model {config.model!r}")
        if "image_size" in model_options:
            raise OptionError(f"model {config.model!r}: --model-opt image_size={config.model_options['image_size']}: "
                              "the training crop size is --image-size (image_size at the top of a configuration "
                              "file), not a model option", "image_size")
        if config.preset not in PRESETS:
            raise TrainingError(f"--preset must be one of {', '.join(PRESETS)}, got {config.preset!r}")
        if config.preset == "reference":
            model_options = model_cls.reference_preset(model_options)
            loss_options = {**objective_cls.reference_options, **loss_options}
        saved = checkpoint.load(self.run_dir) if resume and self._has_checkpoint() else None
        if saved is not None and saved.metadata["model"] == config.model:
            # the options the run was built with, the defaults of its day included: a default changed
            # since (a new version of translate) must not change, or break, a run that continues
            model_options = {**saved.model_options(model_cls), **model_options}
        filled = model_cls.options_from_data(self._data_root(), dict(model_options))
        added = {key: str(value) for key, value in filled.items() if key not in model_options}
        if added:  # what the data decided goes into config.json, so --resume rebuilds the same model
            self.config = config = replace(config, model_options={**config.model_options, **added})
        model_options = filled
        self.image_size = config.resolved_image_size()
        self.objective_options = objective_cls(**loss_options).options()  # bad values fail before any work
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        self.make_objective = lambda: objective_cls(**loss_options)
        self.model: Model = model_cls(self.make_objective, image_size=self.image_size, **model_options)
        self.model.objective_checks = config.plugin_checks
        self._check_image_size()
        self.model.to(self.device, memory_format=torch.channels_last if config.channels_last else torch.preserve_format)
        for objective in self.model.objectives.values():
            objective.reduce = self.distributed.all_reduce_mean  # every rank keeps the same objective state
        if self.distributed.enabled:
            self.model.distribute(lambda network: self.distributed.wrap(network, self.device))
            torch.manual_seed(config.seed + self.distributed.rank)  # own noise and pools per rank
        if config.compile:
            self.model.compile_networks()
        self.dataset = SeededSamples(self._dataset("train", train=True), config.seed)
        self.sampler = DistributedSampler(self.dataset, num_replicas=self.distributed.world_size,
                                          rank=self.distributed.rank, shuffle=True, seed=config.seed)
        self.sample_batch = self._sample_batch()
        self.steps_per_epoch = math.ceil(len(self.sampler) / config.batch_size)
        self.total_steps = self._total_steps()
        self.model.optimizers = {
            group: torch.optim.Adam(params, **self.model.optimizer_settings(group), **self._adam_implementation())
            for group, params in self.model.parameter_groups().items()
        }
        if config.precision == "fp16":
            self.model.grad_scalers = {group: torch.amp.GradScaler(self.device.type) for group in self.model.optimizers}
        self.schedulers = {
            group: torch.optim.lr_scheduler.LambdaLR(optimizer, self._lr_factor)
            for group, optimizer in self.model.optimizers.items()
        }
        self.ema = None
        if config.ema is not None:
            self.ema = ExponentialMovingAverage(self.model, self.model.parameter_groups()["generator"], config.ema)
        self.logger_classes = self._logger_classes(config.loggers)
        self.step = self.saved_step = 0
        self._rng_before_step: tuple[torch.Tensor, Any] | None = None  # while a step runs: for _save_before_stopping
        self._saving = False
        #: What ``--resume`` restored, in one line (``None`` for a new run).
        self.resumed: str | None = None
        if saved is not None:
            self._restore(saved)
            return
        if resume:  # killed before its first checkpoint: it starts again in its own folder
            self.resumed = f"run '{self.run_dir}' has no checkpoint yet: starting it again from step 0"
            if self.distributed.is_main:
                truncate_metrics(self.run_dir, 0)
            return
        if self.distributed.is_main:  # everything was checked: only now does the run folder appear
            self.run_dir = self._create_run_dir()
        self.run_dir = self.distributed.broadcast(self.run_dir)

    def release(self) -> None:
        """Give up the run folder's lock (done by :meth:`train` when it returns or fails)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # -- setup ---------------------------------------------------------------------------

    @staticmethod
    def _check_speed_settings(precision: str, device: torch.device) -> None:
        if precision == "fp16" and device.type != "cuda":
            raise TrainingError(
                "--precision fp16 needs CUDA (it trains with a gradient scaler); use fp32 or bf16 on the CPU"
            )
        warn_if_slow(device, precision)

    def _adam_implementation(self) -> dict[str, bool]:
        """Fused Adam on CUDA and the CPU (one pass over the parameters per step; on the CPU 4× faster than
        ``foreach``, which runs each of its operations over every tensor in turn), ``foreach`` elsewhere."""
        return {"fused": True} if self.device.type in ("cuda", "cpu") else {"foreach": True}

    def _logger_classes(self, names: tuple[str, ...]) -> list[type[RunLogger]]:
        """The loggers of ``--logger`` (default: every available one), always with ``jsonl`` first."""
        if names:
            chosen = [self.registry.logger(name) for name in names]
            unavailable = [cls.name for cls in chosen if not cls.available()]
            if unavailable:
                raise TrainingError(f"--logger {unavailable[0]} cannot run here: its package is not installed "
                                    f"(for tensorboard: pip install \"image-translate[tensorboard]\")")
        else:
            chosen = [cls for cls in map(self.registry.logger, self.registry.names("logger")) if cls.available()]
        return [JsonLinesLogger, *(cls for cls in chosen if cls is not JsonLinesLogger)]

    def _check_image_size(self) -> None:
        """Refuse a training size below what a network of the model needs (``min_size`` of e.g. a PatchGAN)."""
        needs = [(module.min_size, type(module).__name__) for module in self.model.modules()
                 if isinstance(getattr(module, "min_size", None), int)]
        if needs and self.image_size < max(needs)[0]:
            size, network = max(needs)
            raise TrainingError(
                f"--image-size {self.image_size} is too small for model {self.config.model!r} with --loss "
                f"{self.config.loss!r}: its {network} needs inputs of at least {size} px "
                f"(use --image-size {size} or more)"
            )

    def _create_run_dir(self) -> Path:
        """Create, lock and describe (``config.json``) the new run folder; return it.

        A default folder taken meanwhile by another trainer gives way to the next free name;
        an ``--out`` taken meanwhile is an error naming the trainer that holds it.
        """
        run_dir = self.run_dir
        while True:
            try:
                run_dir.mkdir(parents=True)
                break
            except FileExistsError:  # the next free default name; for --out an error naming the folder's holder
                run_dir = self._run_dir(self.config, resume=False)
            except OSError as exc:
                raise TrainingError(f"cannot create run folder '{run_dir}': {exc.strerror or exc}") from exc
        self.lock = RunLock(run_dir)
        try:
            (run_dir / "config.json").write_text(json.dumps(asdict(self.config), indent=2))
        except OSError as exc:
            self.release()
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing of a run that could not start is left
            raise TrainingError(f"cannot write '{run_dir / 'config.json'}': {exc.strerror or exc}") from exc
        return run_dir

    @staticmethod
    def _run_dir(config: TrainConfig, resume: bool) -> Path:
        if config.out is not None:
            run_dir = Path(config.out)
            if resume and not run_dir.exists():
                raise TrainingError(f"--resume: no run folder '{run_dir}' to continue")
            if not resume and run_dir.exists():
                if (run_dir / LOCK).exists():
                    RunLock(run_dir).release()  # names the trainer at work in it, if any
                raise TrainingError(f"run folder '{run_dir}' exists; pass --resume to continue it or choose another --out")
            return run_dir
        base = Path("runs") / f"{config.model}-{config.loss}"
        return last_run_dir(base) if resume else new_run_dir(base)

    def _saved_config(self, requested: TrainConfig) -> TrainConfig:
        path = self.run_dir / "config.json"
        try:
            # runs from before presets existed trained the reference's way
            saved = TrainConfig(**{"preset": "reference", **json.loads(path.read_text())})
            if saved.precision is None:  # runs from before config.json held a precision trained in fp32
                saved.precision = "fp32"
            saved.plugins = tuple(saved.plugins)
            saved.loggers = None if saved.loggers is None else tuple(saved.loggers)
        except (OSError, ValueError, TypeError) as exc:
            raise TrainingError(f"--resume: cannot read '{path}': {exc}") from exc
        for key in ("model", "loss"):
            if getattr(saved, key) != getattr(requested, key):
                raise TrainingError(
                    f"--resume: run '{self.run_dir}' trained --{key} {getattr(saved, key)}, not {getattr(requested, key)}"
                )
        changed = _changed_settings(saved, requested)
        if changed:
            raise TrainingError(f"--resume: run '{self.run_dir}' keeps the settings it was started with, but "
                                f"{'; '.join(changed)}; leave them out, or start a new run with another --out")
        saved.out = str(self.run_dir)
        if requested.steps is not None or requested.epochs is not None:
            saved.steps, saved.epochs = requested.steps, requested.epochs
        for key in RESUME_MAY_CHANGE:  # where and how fast it runs, not what it learns: given again, it changes
            if getattr(requested, key) is not None:
                setattr(saved, key, getattr(requested, key))
        saved.check()
        return saved

    def _has_checkpoint(self) -> bool:
        """Whether the run folder holds a checkpoint to resume (``latest``, even a broken one, counts)."""
        return os.path.lexists(self.run_dir / checkpoint.LATEST)

    def _data_root(self) -> str:
        if self.config.data is not None:
            return self.config.data
        from translate.data.sample import SAMPLE_ROOT

        return str(SAMPLE_ROOT)

    def _dataset(self, split: str, train: bool) -> Dataset:
        return self.model.dataset(
            self._data_root(), split=split, image_size=self.image_size, train=train, options=self.model.options()
        )

    def _sample_batch(self, count: int = 4) -> dict[str, Any]:
        """A fixed batch (test split when there is one) shown in every sample grid."""
        from translate.data import DataError

        try:
            dataset = self._dataset("test", train=False)
        except DataError:
            dataset = self._dataset("train", train=False)
        items = [dataset[i] for i in range(min(count, len(dataset)))]
        return torch.utils.data.default_collate(items)

    def _total_steps(self) -> int:
        if self.config.steps is not None:
            return self.config.steps
        if self.config.epochs is not None:
            return self.config.epochs * self.steps_per_epoch
        if self.config.data is None:
            return SAMPLE_SET_STEPS
        return self.model.default_epochs * self.steps_per_epoch

    def _lr_factor(self, step: int) -> float:
        """Constant, then linear decay to 0 over the last ``1 - lr_decay_from`` of the run.

        ``lr_decay_from`` is the configuration's, else the model's (0.5 for most; FastCUT 0.75).
        """
        decay_from = self.model.lr_decay_from if self.config.lr_decay_from is None else self.config.lr_decay_from
        start = int(self.total_steps * decay_from)
        if step < start:
            return 1.0
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - start))

    # -- the loop ------------------------------------------------------------------------

    def batches(self) -> Iterator[dict[str, Any]]:
        """This rank's batches from the current step on; epoch e's order is fixed by (seed, e)."""
        while True:
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            self.sampler.set_epoch(epoch)
            self.dataset.epoch = epoch
            indices = list(self.sampler)[offset * self.config.batch_size :]
            loader = DataLoader(
                torch.utils.data.Subset(self.dataset, indices),
                batch_size=self.config.batch_size,
                num_workers=self.config.workers,
                pin_memory=self.device.type == "cuda",
                generator=torch.Generator().manual_seed(self.config.seed),  # not from (and shifting) the global RNG
            )
            yield from loader

    @property
    def epoch(self) -> int:
        """The epoch of the last completed step, counted from 1."""
        return (max(self.step, 1) - 1) // self.steps_per_epoch + 1

    def train(self, progress: bool = True) -> Path:
        """Train until the configured number of steps; return the last checkpoint folder.

        Returns only once that checkpoint loads; releases the run folder's lock in any case. When the
        run stops early (a plugin fails, Ctrl-C, SIGTERM), the last finished step is checkpointed first
        (:meth:`_save_before_stopping`). An objective that breaks the contract is a :class:`PluginError`
        naming its plugin.
        """
        from tqdm.auto import tqdm

        main = self.distributed.is_main
        self.model.train()
        with contextlib.ExitStack() as stack:
            stack.callback(self.release)
            with self._writing():
                loggers = Loggers([cls(self.run_dir) for cls in self.logger_classes] if main else [])
            stack.callback(loggers.close)
            bar = stack.enter_context(tqdm(total=self.total_steps, initial=self.step, disable=not (progress and main),
                                           unit="step", dynamic_ncols=True))
            stack.enter_context(_terminate_as_interrupt())
            try:
                last_saved = self._loop(loggers, bar)
            except ObjectiveError as exc:
                self._save_before_stopping(exc)
                raise self._contract_error(exc) from exc
            except BaseException as exc:
                self._save_before_stopping(exc)
                raise
            # a resumed run with nothing left to do ends with the checkpoint it resumed from
            final = last_saved or checkpoint.folder(self.run_dir, self.step)
            if main:
                checkpoint.verify(self.run_dir, final)
            return final

    def _loop(self, loggers: Loggers, bar: Any) -> Path | None:
        """Steps until the end of the run; returns the last checkpoint saved (``None``: none)."""
        main = self.distributed.is_main
        images_per_step = self.config.batch_size * self.distributed.world_size
        last_saved = None
        started, started_step = time.perf_counter(), self.step
        initial_state = {name: attribute_values(objective) for name, objective in self.model.objectives.items()}
        for batch in self.batches():
            if self.step >= self.total_steps:
                break
            self._rng_before_step = _rng_state()
            logged = self._train_step(batch)
            self._rng_before_step = None
            learning_rates = {f"lr/{g}": o.param_groups[0]["lr"] for g, o in self.model.optimizers.items()}
            self._step_schedules()
            self.step += 1
            seconds = (time.perf_counter() - started) / (self.step - started_step)
            speed = {"s_per_iter": seconds, "images_per_s": images_per_step / seconds}
            bar.update(1)
            bar.set_postfix({"s/it": f"{seconds:.3g}", "img/s": f"{speed['images_per_s']:.3g}",
                             **{k: f"{v:.3g}" for k, v in logged.items()}}, refresh=False)
            with self._writing():
                if self.step % self.config.log_every == 0 or self.step == self.total_steps:
                    loggers.log_metrics(self.step, {**learning_rates, **logged, **speed})
                if main and (self.step % self.config.sample_every == 0 or self.step == self.total_steps):
                    loggers.log_samples(self.step, self.epoch, self.save_samples())
                if self.step % self.config.checkpoint_every == 0 or self.step == self.total_steps:
                    last_saved = self.save()
                    if initial_state is not None:  # once per process: state kept outside state_dict()
                        self._warn_unsaved_objective_state(initial_state)
                        initial_state = None
        return last_saved

    def _warn_unsaved_objective_state(self, initial: dict[str, dict[str, Any]]) -> None:
        """Warn (one line, naming the plugin) about objective attributes that changed since ``initial`` but that
        a checkpoint does not carry: a resumed run would start them afresh."""
        if not (self.config.plugin_checks and self.distributed.is_main and self.model.objectives):
            return
        unsaved: set[str] = set()
        for name, objective in self.model.objectives.items():
            restored = self.make_objective()
            try:
                restored.load_state_dict(objective.state_dict())
            except Exception:  # noqa: BLE001 -- a plugin's bug that --resume reports itself, naming the file
                continue
            unsaved.update(unsaved_attributes(initial[name], objective, restored))
        if unsaved:
            objective = next(iter(self.model.objectives.values()))
            warnings.warn(f"{self._plugin_label(type(objective))}: {state_warning(objective.name, unsaved)}",
                          TranslateWarning, stacklevel=2)

    def _contract_error(self, error: ObjectiveError) -> PluginError:
        """The one-line error for an objective that broke the contract, naming its plugin."""
        return PluginError(f"{self._plugin_label(error.objective)} breaks the objective contract in "
                           f"{error.objective.__qualname__}: {error.problem} (`translate plugins check "
                           f"{error.objective.name}` lists every problem; --no-plugin-checks turns these checks off)")

    def _plugin_label(self, cls: type) -> str:
        plugin = self.registry.plugin_of(cls)
        return plugin.label if plugin is not None else f"objective {getattr(cls, 'name', cls.__qualname__)!r}"

    def _save_before_stopping(self, error: BaseException) -> None:
        """Checkpoint the last finished step of a run that stops early, so ``--resume`` loses no finished step.

        The RNG goes back to where the unfinished step began, so the resumed run draws what that step drew;
        networks it had already stepped keep that update. Not for a :class:`TrainingError` (a diverged loss
        or a full disk: nothing worth saving, or nowhere to save it), not for a save that failed itself, and
        not under ``torchrun`` (saving needs every rank, and the others wait in the step that failed).
        """
        if (isinstance(error, TrainingError) or self.distributed.world_size > 1 or not self.distributed.is_main
                or self.step in (0, self.saved_step) or self._saving):
            return
        if self._rng_before_step is not None:
            _set_rng_state(self._rng_before_step)
        try:
            folder = self.save()
        except Exception as exc:  # noqa: BLE001 -- the original error is what the user must see
            warnings.warn(f"training stopped at step {self.step}, which could not be saved ({exc}); the last "
                          f"checkpoint in '{self.run_dir}' is kept", TranslateWarning, stacklevel=2)
            return
        warnings.warn(f"training stopped during step {self.step + 1} of {self.total_steps}: saved step {self.step} "
                      f"to '{folder}'; `translate train --resume` continues from there", TranslateWarning,
                      stacklevel=2)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn a failed write into the run folder (a full disk, a read-only one) into a :class:`TrainingError`."""
        try:
            yield
        except OSError as exc:
            where = f"'{exc.filename}'" if exc.filename else f"into run folder '{self.run_dir}'"
            raise TrainingError(f"cannot write {where}: {exc.strerror or exc}; stopped at step {self.step}, "
                                f"the last checkpoint in '{self.run_dir}' is kept") from exc

    def _to_device(self, value: Any) -> Any:
        if not torch.is_tensor(value):
            return value
        value = value.to(self.device, non_blocking=True)
        if self.config.channels_last and value.dim() == 4:
            return value.contiguous(memory_format=torch.channels_last)
        return value

    def _train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        batch = {key: self._to_device(value) for key, value in batch.items()}
        with autocast(self.device, self.config.precision):
            logged = self.model.train_step(batch)
        logged = self.distributed.mean_of(logged, self.device)  # what all ranks did, not rank 0 alone
        self._check_finite(logged)
        if self.ema is not None:
            self.ema.update()
        return logged

    def _step_schedules(self) -> None:
        with warnings.catch_warnings():
            # with critic_steps > 1 the generator skips iterations; its schedule still follows the step count
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
            for scheduler in self.schedulers.values():
                scheduler.step()

    def _check_finite(self, logged: dict[str, float]) -> None:
        for name, value in logged.items():
            if not math.isfinite(value):
                raise TrainingError(
                    f"loss {name!r} is {value} at step {self.step + 1}; stopped, the last checkpoint in "
                    f"'{self.run_dir}' is kept (try a lower learning rate or another --loss)"
                )

    @torch.no_grad()
    def save_samples(self) -> Path:
        """Write ``samples/step_NNNNNN.png`` for the fixed sample batch (with the EMA weights if kept)."""
        self.model.eval()
        batch = {key: self._to_device(value) for key, value in self.sample_batch.items()}
        averaged = self.ema.applied() if self.ema is not None else contextlib.nullcontext()
        with averaged, self.model.unwrapped(), autocast(self.device, self.config.precision):
            columns = self.model.sample_columns(batch)
        self.model.train()
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        save_sample_grid(columns, path)
        return path

    def save(self) -> Path:
        """Checkpoint the current state (atomically, on rank 0) and return its folder."""
        metadata = {
            "translate_version": __version__,
            "model": self.config.model,
            "model_options": self.model.options(),
            "model_metadata": self.model.metadata(),
            "image_size": self.image_size,
            "objective": self.config.loss,
            "objective_options": self.objective_options,
            "objective_state": self.model.objective_state(),
            "step": self.step,
            "total_steps": self.total_steps,
            "world_size": self.distributed.world_size,
        }
        rng = self.distributed.gather({"torch": torch.get_rng_state(), "python": _python_rng_state()})
        state = {
            "optimizers": {g: o.state_dict() for g, o in self.model.optimizers.items()},
            "grad_scalers": {g: s.state_dict() for g, s in self.model.grad_scalers.items()},
            "schedulers": {g: s.state_dict() for g, s in self.schedulers.items()},
            "model": self.model.training_state(),
            "rng": rng,  # one per rank
        }
        folder = checkpoint.folder(self.run_dir, self.step)
        if self.distributed.is_main:
            extra = {checkpoint.EMA_WEIGHTS: self.ema.state_dict()} if self.ema is not None else {}
            self._saving = True  # a save that fails is not tried again by _save_before_stopping
            checkpoint.save(self.run_dir, self.step, self.model, metadata, state, self.config.keep_checkpoints, extra)
            self._saving = False
        self.distributed.barrier()
        self.saved_step = self.step
        return folder

    def _restore(self, saved: checkpoint.Checkpoint) -> None:
        trained = (saved.metadata["model"], saved.metadata.get("objective"))
        if trained != (self.config.model, self.config.loss) or not isinstance(saved.metadata.get("step"), int):
            raise checkpoint.CheckpointError(
                f"'{saved.description}' is not a training checkpoint of this run (model {trained[0]!r} with "
                f"objective {trained[1]!r} at step {saved.metadata.get('step')!r}; the run trains "
                f"{self.config.model!r} with {self.config.loss!r})"
            )
        missing, unexpected = saved.load_into(self.model, self.config.model)
        if missing or unexpected:
            raise checkpoint.CheckpointError(
                f"'{saved.path / checkpoint.WEIGHTS}' does not fit model {self.config.model!r}: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        saved.load_objective_state(self.model)
        state = saved.training_state()
        try:
            self._restore_training_state(state, saved.metadata["step"])
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
            raise checkpoint.CheckpointError(
                f"'{saved.path / checkpoint.TRAINING}' does not fit this run: {type(exc).__name__}: {exc}"
            ) from exc
        if self.ema is not None:
            self.ema.load_state_dict(saved.extra_weights(checkpoint.EMA_WEIGHTS), str(saved.path / checkpoint.EMA_WEIGHTS))
        self.step = self.saved_step = saved.metadata["step"]
        self.resumed = (f"resumed at step {self.step} of {self.total_steps} from '{saved.path}'; restored: "
                        f"{', '.join(self._restored_parts(state))}")
        if self.distributed.is_main:
            truncate_metrics(self.run_dir, self.step)  # lines a killed run logged after this checkpoint

    def _restored_parts(self, state: dict[str, Any]) -> list[str]:
        """What :meth:`_restore` put back, named for the user: weights, optimisers, schedules, state, RNG."""
        parts = ["weights", f"optimizers ({', '.join(self.model.optimizers)})",
                 f"learning-rate schedules ({', '.join(self.schedulers)})"]
        if self.model.grad_scalers:
            parts.append("gradient scalers")
        objective_state = {name: sorted(objective.state_dict()) for name, objective in self.model.objectives.items()}
        if any(objective_state.values()):
            parts.append("objective state (" + "; ".join(f"{name}: {', '.join(keys)}"
                                                         for name, keys in objective_state.items() if keys) + ")")
        parts.append(f"model state ({', '.join(sorted(state['model']))})")
        if self.ema is not None:
            parts.append("EMA weights")
        parts.append("RNG")
        return parts

    def _restore_training_state(self, state: dict[str, Any], step: int) -> None:
        """Optimisers, gradient scalers, schedules, the model's training state and this rank's RNG."""
        for group, optimizer in self.model.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][group])
        for group, scaler in self.model.grad_scalers.items():
            if group in state.get("grad_scalers", {}):
                scaler.load_state_dict(state["grad_scalers"][group])
        for group, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][group])
            # the saved rate belongs to the saved run length; --steps may have changed it
            for param_group, base_lr in zip(self.model.optimizers[group].param_groups, scheduler.base_lrs):
                param_group["lr"] = base_lr * self._lr_factor(step)
        self.model.load_training_state(state["model"])
        rng = state["rng"]  # per rank; a run resumed on other ranks than it was saved from reuses rank 0's
        own = rng[self.distributed.rank] if len(rng) == self.distributed.world_size else rng[0]
        torch.set_rng_state(own["torch"])
        random.setstate(_python_rng_from(own["python"]))


def _precision_reason(precision: str, picked: str, device: torch.device) -> str | None:
    """Why ``precision`` :data:`~translate.devices.AUTO` picked ``picked`` on ``device``, for the run's first line
    (``None`` for a precision that was given)."""
    if precision != AUTO:
        return None
    if device.type != "cpu":
        return f"auto: {picked} on {device.type}"
    if picked == "bf16":
        flags = bf16_instructions()
        return f"auto: this CPU has {' and '.join(flags)}" if flags else "auto: this CPU computes in bf16"
    return "auto: this CPU has no bf16 instructions"


def _changed_settings(saved: TrainConfig, requested: TrainConfig) -> list[str]:
    """The settings ``requested`` gives (differing from their defaults) that differ from the ``saved`` run's,
    each as ``--seed 5 (the run's: 0)``; settings a resumed run may change are not compared."""
    defaults = TrainConfig()
    changed = []
    for setting in fields(TrainConfig):
        name = setting.name
        if name in RESUME_MAY_CHANGE or name in RESUME_MAY_GIVE or name in ("model", "loss"):
            continue
        wanted, kept = getattr(requested, name), getattr(saved, name)
        if name in ("model_options", "loss_options"):
            flag = "--" + name.replace("_options", "-opt")
            for key, value in wanted.items():
                if str(kept.get(key)) != str(value):
                    theirs = f"{key}={kept[key]}" if key in kept else "it unset"
                    changed.append(f"{flag} {key}={value} was given (the run has {theirs})")
        elif wanted != getattr(defaults, name) and wanted != kept:
            changed.append(f"--{name.replace('_', '-')} {wanted} was given (the run's: {kept})")
    return changed


def _rng_state() -> tuple[torch.Tensor, Any]:
    """This process's torch and Python RNG states."""
    return torch.get_rng_state(), random.getstate()


def _set_rng_state(state: tuple[torch.Tensor, Any]) -> None:
    torch.set_rng_state(state[0])
    random.setstate(state[1])


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM (``kill``, a job scheduler's stop) stops training as Ctrl-C does (the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _python_rng_state() -> list[Any]:
    """Python's RNG state as plain lists (``weights_only`` loading accepts these)."""
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _python_rng_from(state: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
