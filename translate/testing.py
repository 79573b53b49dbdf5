"""Conformance kit for objective plugins: does an Objective keep the contract with every model?

:func:`check_objective` trains every registered model (at its
:attr:`~translate.models.base.Model.tiny_options`, 32 px, batches of two from the embedded
sample set, on the CPU) with the objective through the real
:class:`~translate.train.trainer.Trainer` and reports in plain words what breaks the contract:

* **wiring** (given a name, as ``translate plugins check NAME``) — the objective must come
  through the installed entry points of the group ``translate``: a missing entry point, one in
  another group or a hook without ``@hookimpl`` leave it unknown, and the message says how
  plugins are found; ``translate_*`` functions of its module without ``@hookimpl`` are named;
* **declarations** — ``critic`` a known kind, ``critic_steps`` an integer >= 1,
  ``generator_needs_real`` matching what ``generator_loss`` takes;
* **options** — the objective cannot be built with its defaults, an option has no default,
  an option given on the command line (``--loss-opt key=value``) is rejected or reads back
  differently, an unknown option is accepted silently, :meth:`~translate.objective.Objective.options`
  fails or is not JSON;
* **output shape** — ``critic_loss``/``generator_loss`` (and ``penalty`` when not ``None``) must
  return a 0-dim tensor; ``update`` a ``dict`` of numbers;
* **gradient** — the critic loss must give a non-zero gradient to the critic, the generator
  loss to the generator, and a penalty to the critic in at least one step (one built with
  ``torch.autograd.grad`` without ``create_graph=True`` gives none: it trains nothing);
* **per-sample critics** — a penalty that runs a critic with batch norm (``per_sample_critic``
  left False) makes each sample's penalty depend on the rest of its batch;
* **finite values** — no NaN or infinity in any loss, penalty or logged value;
* **schedule** — the generator steps on the first of every ``critic_steps`` iterations;
* **state** — ``state_dict()`` must be JSON and, loaded from a real checkpoint, restore every
  plain attribute that training changed; and a run saved after ``steps`` iterations and
  resumed (``--resume``) for one more must end bit for bit where the uninterrupted run does, so
  state kept anywhere else (a tensor attribute, say) is found and named.

Each problem is reported once, naming every model it happened with, and an error that
follows from a problem already reported (a loss of the wrong shape failing the step) is not
repeated.

Use it from a test::

    from translate.testing import check_objective

    def test_my_objective_keeps_the_contract():
        check_objective(MyObjective).raise_if_failed()
        check_objective("my-loss").raise_if_failed()      # by name: through the installed entry point

through the pytest fixture that comes with translate (``def test_it(check_objective):
check_objective(MyObjective)``), or as ``translate plugins check NAME``. Nothing here needs
pytest.
"""

from __future__ import annotations

import inspect
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
from torch import nn

from translate.models.objective_checks import (
    attribute_values,
    finite_problem,
    loss_problem,
    no_penalty_gradient_problem,
    unsaved_attributes,
    unsaved_state_problem,
)
from translate.nets import CRITIC_KINDS
from translate.objective import Objective
from translate.options import option_defaults, parse_options
from translate.plugin_host.manager import PluginError, PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import Trainer, TrainConfig
from translate.plugin_host.wiring import unmarked_hooks

if TYPE_CHECKING:
    from torch import Tensor

    from translate.models.base import Model

#: Crop size of the conformance runs (every built-in model works at 32 px).
IMAGE_SIZE = 32
#: Images per batch: two, so per-sample and batch-coupled terms are both exercised.
BATCH_SIZE = 2

_UNKNOWN_OPTION = "translate_conformance_unknown_option"
#: Stands in a problem for the runs it happened in: "with pix2pix, unit (patch critic)".
_WHERE = "{where}"
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)

Run = tuple[str, str]  # (model name, critic kind)


class ConformanceError(AssertionError):
    """An objective breaks the contract; the message lists every problem found."""


@dataclass
class ConformanceReport:
    """What :func:`check_objective` found.

    :ivar objective: the objective's ``name``.
    :ivar checked: the runs made, e.g. ``["pix2pix (patch critic)", ...]``.
    """

    objective: str
    checked: list[str] = field(default_factory=list)
    _found: dict[str, list[Run]] = field(default_factory=dict, repr=False)

    @property
    def problems(self) -> list[str]:
        """One plain sentence per problem, naming the runs it happened in; empty when the contract is kept."""
        return [_render(problem, runs) for problem, runs in self._found.items()]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self._found

    def summary(self) -> str:
        """The verdict in plain words: one line when it passes, a list of problems otherwise."""
        if self.ok:
            return f"objective {self.objective!r} keeps the contract with {', '.join(self.checked)}"
        problems = self.problems
        count = len(problems)
        lines = [f"objective {self.objective!r} breaks the contract ({count} problem{'s' * (count != 1)}):"]
        return "\n".join(lines + [f"  - {problem}" for problem in problems])

    def raise_if_failed(self) -> None:
        """Raise :class:`ConformanceError` with :meth:`summary` when a problem was found."""
        if not self.ok:
            raise ConformanceError(self.summary())

    def _add(self, problem: str, run: Run | None = None) -> None:
        """Record ``problem``; its ``{where}`` names ``run`` and every other run with the same problem."""
        runs = self._found.setdefault(problem, [])
        if run is not None and run not in runs:
            runs.append(run)

    def _size(self) -> int:
        """How many (problem, run) findings there are: grows when a run finds anything."""
        return sum(len(runs) or 1 for runs in self._found.values())


def _render(problem: str, runs: list[Run]) -> str:
    models_by_kind: dict[str, list[str]] = {}
    for model, kind in runs:
        models_by_kind.setdefault(kind, []).append(model)
    where = " and ".join(f"{', '.join(models)} ({kind} critic)" for kind, models in models_by_kind.items())
    return problem.replace(_WHERE, f"with {where}")


def check_objective(
    objective: type[Objective] | str,
    models: Sequence[str] | None = None,
    critics: Sequence[str] | None = None,
    steps: int = 2,
    registry: PluginRegistry | None = None,
) -> ConformanceReport:
    """Check that ``objective`` keeps the Objective contract with every model.

    :param objective: the :class:`~translate.objective.Objective` subclass to check, or the
        name ``--loss`` selects: then the class is looked up through the installed entry
        points, which checks the plugin's wiring too.
    :param models: model names to train with; default every model the registry knows.
    :param critics: critic kinds to run, ``"patch"`` and/or ``"energy"``; default the one the
        objective declares. A kind it does not declare is run through a subclass that
        overrides ``critic`` (for objectives meant to work with both).
    :param steps: iterations of the checked run per model; a second run is saved after
        ``steps`` iterations and resumed for one more, to compare with the first.
    :param registry: where models (and a named objective) come from; default a new
        :class:`~translate.plugin_host.manager.PluginRegistry`.
    :return: a :class:`ConformanceReport`; call ``raise_if_failed()`` to turn it into an assertion.
    """
    if registry is None:
        registry = PluginRegistry()
    if isinstance(objective, str):
        report = ConformanceReport(objective)
        found = installed("objective", objective, registry, report._add)
        if found is None:
            return report
        objective = found
    else:
        report = ConformanceReport(getattr(objective, "name", "") or getattr(objective, "__name__", repr(objective)))
    if not (isinstance(objective, type) and issubclass(objective, Objective)):
        report._add(f"{objective!r} is not a subclass of translate.objective.Objective")
        return report
    if not isinstance(objective.name, str) or not objective.name:
        report._add("the class has no 'name' (what --loss selects); set name = '...'")
    if objective.critic not in CRITIC_KINDS:
        report._add(f"critic must be one of {', '.join(CRITIC_KINDS)}, got {objective.critic!r}")
        return report
    if not _check_generator_loss_signature(objective, report) or not _check_options(objective, report):
        return report
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and never fights other processes for cores
    try:
        for kind in critics or (objective.critic,):
            if kind not in CRITIC_KINDS:
                raise ValueError(f"unknown critic kind {kind!r}; valid kinds: {', '.join(CRITIC_KINDS)}")
            cls = objective if kind == objective.critic else type(objective.__name__, (objective,), {"critic": kind})
            for model_name in models or registry.names("model"):
                _check_with_model(cls, registry.model(model_name), registry, steps, report)
                report.checked.append(f"{model_name} ({kind} critic)")
    finally:
        torch.set_num_threads(threads)
    return report


# -- declarations ----------------------------------------------------------------------------


def installed(kind: str, name: str, registry: PluginRegistry, problem: Callable[[str], None]) -> type | None:
    """The ``kind`` (``"objective"`` or ``"model"``) the installed plugins provide as ``name``, the road
    ``--loss``/``--model`` take; each wiring problem (no such name, hooks without ``@hookimpl``) goes to
    ``problem``."""
    try:
        found = getattr(registry, kind)(name)
    except PluginError as exc:
        problem(str(exc))
        return None
    for info in registry.plugins.values():
        if name in getattr(info, f"{kind}s"):
            for unmarked in unmarked_hooks(sys.modules.get(info.module), info.name):
                problem(unmarked)
    return found


def _check_generator_loss_signature(objective: type[Objective], report: ConformanceReport) -> bool:
    """``generator_needs_real`` must match whether ``generator_loss`` takes ``real``; False (no run can work) if not."""
    parameters = list(inspect.signature(objective.generator_loss).parameters.values())[1:]  # after self
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    takes_real = len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)
    requires_real = sum(p.default is p.empty for p in positional) >= 2
    if objective.generator_needs_real and not takes_real:
        report._add("generator_needs_real is True but generator_loss takes no second argument; define "
                    "generator_loss(self, fake, real) to receive the critic's output on real images")
        return False
    if not objective.generator_needs_real and requires_real:
        report._add("generator_loss requires a second argument but generator_needs_real is False, so models call "
                    "generator_loss(fake) alone; set generator_needs_real = True to receive the real scores")
        return False
    return True


# -- options -------------------------------------------------------------------------------


def _check_options(objective: type[Objective], report: ConformanceReport) -> bool:
    """Option rules (and ``critic_steps``); False when no training run could work, so none is made."""
    parameters = list(inspect.signature(objective.__init__).parameters.values())[1:]
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        if parameter.default is parameter.empty:
            report._add(f"option {parameter.name!r} has no default; every option needs one so "
                        f"'--loss {objective.name}' works without --loss-opt")
    try:
        instance = objective()
    except Exception as exc:
        report._add(f"cannot be built with its default options: {_one_line(exc)}")
        return False
    critic_steps = instance.critic_steps
    if isinstance(critic_steps, bool) or not isinstance(critic_steps, int) or critic_steps < 1:
        report._add(f"critic_steps must be an integer >= 1 (critic steps per generator step), got {critic_steps!r}")
        return False
    try:
        objective(**{_UNKNOWN_OPTION: 1})
    except Exception:
        pass
    else:
        report._add("an unknown option is accepted silently (**kwargs?), so a misspelt --loss-opt would be "
                    "ignored; take each option as a keyword argument with a default and nothing else")
    try:
        options = instance.options()
        json.dumps(options)
    except Exception as exc:
        report._add(f"options() failed ({_one_line(exc)}); keep each option as an attribute of the same name, "
                    "with a JSON value (checkpoints store it)")
        return False  # the trainer saves options() in every checkpoint: no run can finish
    for name, default in option_defaults(objective).items():
        if default is None:
            continue
        text = str(default).lower() if isinstance(default, bool) else str(default)
        try:
            parsed = parse_options(objective, {name: text}, f"objective {objective.name!r}")
            value = objective(**parsed).options()[name]
        except Exception as exc:
            report._add(f"option {name!r} given on the command line (--loss-opt {name}={text}) is rejected: "
                        f"{_one_line(exc)}")
            continue
        if value != default:
            report._add(f"option {name!r} given on the command line as {text!r} reads back as {value!r}, "
                        f"not its default {default!r}")
    return True


# -- one model -----------------------------------------------------------------------------


@dataclass
class _Record:
    """What the watched objectives saw during one run."""

    calls: dict[str, int] = field(default_factory=lambda: {"critic_loss": 0, "generator_loss": 0})
    generator_iterations: set[int] = field(default_factory=set)
    penalties: int = 0
    penalty_reached_critic: bool = False
    penalty_ran_batch_norm: bool = False


class _OneObjective:
    """The registry of the kit's training runs: ``registry``, with every objective lookup answered by ``objective``."""

    def __init__(self, registry: PluginRegistry, objective: type[Objective]):
        self.registry, self.checked = registry, objective

    def objective(self, name: str) -> type[Objective]:
        return self.checked

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.registry, attribute)


def _trainer(objective: type[Objective], model_cls: type["Model"], registry: PluginRegistry, run_dir: Path,
             steps: int, checkpoint_every: int, resume: bool = False) -> Trainer:
    """A tiny CPU run of ``model_cls`` with ``objective`` on the sample set (constant learning rate)."""
    config = TrainConfig(
        model=model_cls.name, loss=objective.name or objective.__name__, out=str(run_dir), steps=steps,
        batch_size=BATCH_SIZE, image_size=IMAGE_SIZE, device="cpu", lr_decay_from=1.0, loggers=("jsonl",),
        model_options={key: str(value) for key, value in model_cls.tiny_options.items()},
        sample_every=10**9, checkpoint_every=checkpoint_every,
        plugin_checks=False,  # the kit watches every call itself, and goes on to find every problem
    )
    return Trainer(config, resume=resume, registry=_OneObjective(registry, objective))  # type: ignore[arg-type]


def _check_with_model(objective: type[Objective], model_cls: type["Model"], registry: PluginRegistry, steps: int,
                      report: ConformanceReport) -> None:
    """The watched run of ``steps + 1`` iterations (saved after ``steps``), then a copy resumed from that checkpoint."""
    run = (model_cls.name, objective.critic)
    found_before = report._size()
    with tempfile.TemporaryDirectory(prefix="translate-conformance-") as folder:
        watched_dir = Path(folder) / "watched"
        try:
            trainer = _trainer(objective, model_cls, registry, watched_dir, steps + 1, checkpoint_every=steps)
        except Exception as exc:
            report._add(f"building the model failed {_WHERE}: {_one_line(exc)}", run)
            return
        record = _Record()
        for name, instance in trainer.model.objectives.items():
            _watch(instance, name, trainer, record, run, report)
        initial = {name: attribute_values(instance) for name, instance in trainer.model.objectives.items()}
        try:
            trainer.train(progress=False)
        except Exception as exc:
            if report._size() == found_before:  # else it follows from a problem already reported
                report._add(f"training {_WHERE} failed at iteration {trainer.step + 1}: {_one_line(exc)}", run)
            return
        _check_run(trainer, record, run, report)
        saved = checkpoint.load(watched_dir).metadata["objective_state"]
        _check_state(trainer.model, objective, initial, saved, run, report)
        if report._size() > found_before:
            return
        try:
            _check_resume(objective, model_cls, registry, trainer, Path(folder) / "resumed", steps, run, report)
        except Exception as exc:
            report._add(f"resuming a run {_WHERE} failed: {_one_line(exc)}", run)


def _check_run(trainer: Trainer, record: _Record, run: Run, report: ConformanceReport) -> None:
    """After the watched run: every loss called, the penalty trained the critic, the schedule was followed."""
    model = trainer.model
    for method, count in record.calls.items():
        if count == 0:
            report._add(f"{method} was never called in {trainer.step} iterations {_WHERE}", run)
    if record.penalties and not record.penalty_reached_critic:
        report._add(no_penalty_gradient_problem(_WHERE), run)
    objective = next(iter(model.objectives.values()))
    if record.penalty_ran_batch_norm and not objective.per_sample_critic:
        report._add(f"penalty runs the critic, which has batch norm {_WHERE} because per_sample_critic is False: "
                    "each sample's penalty then depends on the rest of its batch; set per_sample_critic = True "
                    "(models then build the critic without batch norm)", run)
    elif record.penalty_ran_batch_norm:
        report._add(f"the model keeps batch norm in its critic {_WHERE} although per_sample_critic is True "
                    "(Model.add_critic replaces it)", run)
    critic_steps = objective.critic_steps
    expected = {i for i in range(1, trainer.step + 1) if (i - 1) % critic_steps == 0}
    if record.calls["generator_loss"] and record.generator_iterations != expected:
        report._add(f"the generator stepped on iterations {sorted(record.generator_iterations)} of {trainer.step} "
                    f"{_WHERE}; with critic_steps = {critic_steps} it must step on {sorted(expected)} (models call "
                    "Model.start_iteration() in train_step)", run)


def _check_resume(objective: type[Objective], model_cls: type["Model"], registry: PluginRegistry,
                  uninterrupted: Trainer, run_dir: Path, steps: int, run: Run, report: ConformanceReport) -> None:
    """Resume a copy of ``uninterrupted``'s run from its checkpoint after ``steps`` iterations, train to its end:
    the weights and objective state must be ``uninterrupted``'s, bit for bit."""
    shutil.copytree(uninterrupted.run_dir, run_dir, symlinks=True)
    latest = run_dir / checkpoint.LATEST
    latest.unlink()
    latest.symlink_to(checkpoint.folder(run_dir, steps).relative_to(run_dir))
    resumed = _trainer(objective, model_cls, registry, run_dir, steps + 1, checkpoint_every=steps, resume=True)
    resumed.train(progress=False)
    expected, finished = checkpoint.load(uninterrupted.run_dir), checkpoint.load(run_dir)
    if expected.metadata["objective_state"] == finished.metadata["objective_state"] and all(
            torch.equal(tensor, finished.weights[key]) for key, tensor in expected.weights.items()):
        return
    problem = (f"a run resumed from its checkpoint after {steps} iteration{'s' * (steps != 1)} does not continue "
               f"as the uninterrupted run {_WHERE}")
    differing = sorted({attribute for name, instance in uninterrupted.model.objectives.items()
                        for attribute in _differing_attributes(instance, resumed.model.objectives[name])})
    if differing:
        report._add(f"{problem}: the objective's {', '.join(differing)} differs, so it is state that state_dict() "
                    "must return and load_state_dict() set (as plain values)", run)
    else:
        report._add(f"{problem}: something a checkpoint does not carry changed the next step (state outside "
                    "the objective's state_dict(), or outside the model's training_state())", run)


def _watch(objective: Objective, critic_name: str, trainer: Trainer, record: _Record, run: Run,
           report: ConformanceReport) -> None:
    """Wrap the objective's methods on this instance so each result is checked as it is produced."""
    model = trainer.model
    critic_loss, generator_loss = objective.critic_loss, objective.generator_loss
    penalty, update = objective.penalty, objective.update
    network = model._modules.get(critic_name)
    batch_norm = network is not None and any(isinstance(m, _BATCH_NORMS) for m in network.modules())
    _check_json_state(objective, run, report)

    def checked_critic_loss(real, fake):
        loss = critic_loss(real, fake)
        record.calls["critic_loss"] += 1
        if _check_scalar(loss, "critic_loss", run, report):
            _check_gradient(loss, model, "critic_loss", "the critic", run, report)
        return loss

    def checked_generator_loss(fake, *real):
        loss = generator_loss(fake, *real)
        record.calls["generator_loss"] += 1
        record.generator_iterations.add(trainer.step + 1)
        if _check_scalar(loss, "generator_loss", run, report):
            _check_gradient(loss, model, "generator_loss", "the generator", run, report)
        return loss

    def checked_penalty(critic, real_input, fake_input):
        def counted_critic(images):
            record.penalty_ran_batch_norm |= batch_norm
            return critic(images)

        value = penalty(counted_critic, real_input, fake_input)
        if value is not None and _check_scalar(value, "penalty", run, report):
            record.penalties += 1
            grads = _gradients(value, model)
            record.penalty_reached_critic |= any(g.abs().sum().item() > 0 for g in grads)
            if not all(torch.isfinite(g).all().item() for g in grads):
                report._add(f"penalty gives a non-finite gradient to the critic {_WHERE}", run)
        return value

    def checked_update(real, fake):
        logged = update(real, fake)
        if not isinstance(logged, dict) or not all(isinstance(k, str) for k in logged):
            report._add(f"update returned {type(logged).__name__} {_WHERE}; it must return a dict of name -> number",
                        run)
        elif not all(_finite_number(v) for v in logged.values()):
            report._add(f"update returned {logged} {_WHERE}; every value must be a finite number", run)
        _check_json_state(objective, run, report)
        return logged

    objective.critic_loss = checked_critic_loss
    objective.generator_loss = checked_generator_loss
    objective.penalty = checked_penalty
    objective.update = checked_update


def _check_json_state(objective: Objective, run: Run, report: ConformanceReport) -> None:
    try:
        json.dumps(objective.state_dict())
    except (TypeError, ValueError) as exc:
        report._add(f"state_dict() is not JSON-serialisable {_WHERE} ({_one_line(exc)}); checkpoints store it as "
                    "JSON", run)


def _check_scalar(value: Any, method: str, run: Run, report: ConformanceReport) -> bool:
    """Shape and finiteness of a loss (the sentences ``translate train`` prints); True when its gradient can be
    checked."""
    problem = loss_problem(value, method, _WHERE)
    if problem is not None:
        report._add(problem, run)
        return False
    problem = finite_problem(value, method, _WHERE)
    if problem is not None:
        report._add(problem, run)
    return True


def _gradients(loss: "Tensor", model: "Model") -> list["Tensor"]:
    """The gradients ``loss`` gives to the parameters that require gradients now (none without a graph)."""
    if not loss.requires_grad:
        return []
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, trainable, retain_graph=True, allow_unused=True)
    return [g for g in grads if g is not None]


def _check_gradient(loss: "Tensor", model: "Model", method: str, network: str, run: Run,
                    report: ConformanceReport) -> None:
    """The loss must reach ``network``: the parameters that require gradients when it is computed."""
    reached = _gradients(loss, model)
    if not any(g.abs().sum().item() > 0 for g in reached):
        report._add(f"{method} gives no gradient to {network} {_WHERE} (detached or constant?)", run)
    elif not all(torch.isfinite(g).all().item() for g in reached):
        report._add(f"{method} gives a non-finite gradient to {network} {_WHERE}", run)


def _check_state(model: "Model", objective: type[Objective], initial: dict[str, dict[str, Any]],
                 saved: dict[str, dict[str, Any]], run: Run, report: ConformanceReport) -> None:
    """Load the objective state a real checkpoint holds into fresh objectives and compare.

    State kept outside ``state_dict()`` is one problem per attribute, naming every run it happened in.
    """
    for name, trained in model.objectives.items():
        fresh = objective()
        try:
            fresh.load_state_dict(saved[name])
        except Exception as exc:
            report._add(f"load_state_dict(state_dict()) fails after a checkpoint {_WHERE}: {_one_line(exc)}", run)
            continue
        if fresh.state_dict() != trained.state_dict():
            report._add(f"state does not round-trip through a checkpoint {_WHERE}: state_dict() returns other "
                        "values after load_state_dict() of what it returned", run)
            continue
        for attribute in unsaved_attributes(initial[name], trained, fresh):
            report._add(unsaved_state_problem(attribute, _WHERE), run)


def _differing_attributes(uninterrupted: Objective, resumed: Objective) -> list[str]:
    """Data attributes (tensors too) in which two objectives differ, e.g. ``attribute 'k' (Tensor)``."""
    differing = []
    for attribute, value in vars(uninterrupted).items():
        if callable(value):
            continue
        other = vars(resumed).get(attribute)
        if isinstance(value, torch.Tensor):
            same = isinstance(other, torch.Tensor) and value.shape == other.shape and torch.equal(value, other)
        else:
            try:
                same = bool(value == other)
            except Exception:
                same = False
        if not same:
            differing.append(f"attribute {attribute!r} ({type(value).__name__})")
    return differing


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


__all__ = ["ConformanceError", "ConformanceReport", "check_objective"]
