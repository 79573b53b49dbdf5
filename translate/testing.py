"""Conformance kit for objective plugins: does an Objective keep the contract with every model?

:func:`check_objective` builds every registered model (at its :attr:`~translate.models.base.Model.tiny_options`,
32 px, on the embedded sample set) with the objective, trains it for a few steps and
reports in plain words what breaks the contract:

* **options** — the objective cannot be built with its defaults, an option has no default,
  an option given on the command line (``--loss-opt key=value``) is rejected or reads back
  differently, an unknown option is accepted silently, :meth:`~translate.objective.Objective.options`
  fails or is not JSON;
* **output shape** — ``critic_loss``/``generator_loss`` (and ``penalty`` when not ``None``) must
  return a 0-dim tensor; ``update`` a ``dict`` of numbers;
* **gradient** — the critic loss must give a non-zero gradient to the critic, the generator
  loss to the generator;
* **finite values** — no NaN or infinity in any loss, penalty or logged value;
* **state** — what ``state_dict`` returns must survive a checkpoint (saved and loaded with
  :mod:`translate.train.checkpoint`, i.e. as JSON) and restore the same state, including every
  plain attribute that training changed.

Use it from a test::

    from translate.testing import check_objective

    def test_my_objective_keeps_the_contract():
        check_objective(MyObjective).raise_if_failed()

through the pytest fixture that comes with translate (``def test_it(check_objective):
check_objective(MyObjective)``), or as ``translate plugins check NAME``. Nothing here needs
pytest.
"""

from __future__ import annotations

import inspect
import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

from translate.data.sample import SAMPLE_ROOT
from translate.nets import CRITIC_KINDS
from translate.objective import Objective
from translate.options import option_defaults, parse_options
from translate.plugins import PluginRegistry
from translate.train import checkpoint

if TYPE_CHECKING:
    from torch import Tensor

    from translate.models.base import Model

#: Crop size of the conformance runs (every built-in model works at 32 px).
IMAGE_SIZE = 32
#: Images per batch: two, so per-sample and batch-coupled terms are both exercised.
BATCH_SIZE = 2
#: Extra iterations allowed for models whose generator steps only every n-th iteration.
MAX_EXTRA_STEPS = 8

_UNKNOWN_OPTION = "translate_conformance_unknown_option"


class ConformanceError(AssertionError):
    """An objective breaks the contract; the message lists every problem found."""


@dataclass
class ConformanceReport:
    """What :func:`check_objective` found.

    :ivar objective: the objective's ``name``.
    :ivar checked: the runs made, e.g. ``["pix2pix (patch critic)", ...]``.
    :ivar problems: one plain sentence per problem; empty when the contract is kept.
    """

    objective: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """The verdict in plain words: one line when it passes, a list of problems otherwise."""
        if self.ok:
            return f"objective {self.objective!r} keeps the contract with {', '.join(self.checked)}"
        count = len(self.problems)
        lines = [f"objective {self.objective!r} breaks the contract ({count} problem{'s' * (count != 1)}):"]
        return "\n".join(lines + [f"  - {problem}" for problem in self.problems])

    def raise_if_failed(self) -> None:
        """Raise :class:`ConformanceError` with :meth:`summary` when a problem was found."""
        if not self.ok:
            raise ConformanceError(self.summary())

    def _add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


def check_objective(
    objective: type[Objective],
    models: Sequence[str] | None = None,
    critics: Sequence[str] | None = None,
    steps: int = 2,
    registry: PluginRegistry | None = None,
) -> ConformanceReport:
    """Check that ``objective`` keeps the Objective contract with every model.

    :param objective: the :class:`~translate.objective.Objective` subclass to check.
    :param models: model names to train with; default every model the registry knows.
    :param critics: critic kinds to run, ``"patch"`` and/or ``"energy"``; default the one the
        objective declares. A kind it does not declare is run through a subclass that
        overrides ``critic`` (for objectives meant to work with both).
    :param steps: training iterations per model (more if the model's generator had not
        stepped yet, e.g. StarGAN's 5 critic steps per generator step with a penalty).
    :param registry: where models come from; default a new :class:`~translate.plugins.PluginRegistry`.
    :return: a :class:`ConformanceReport`; call ``raise_if_failed()`` to turn it into an assertion.
    """
    report = ConformanceReport(getattr(objective, "name", "") or getattr(objective, "__name__", repr(objective)))
    if not (isinstance(objective, type) and issubclass(objective, Objective)):
        report._add(f"{objective!r} is not a subclass of translate.objective.Objective")
        return report
    if not isinstance(objective.name, str) or not objective.name:
        report._add("the class has no 'name' (what --loss selects); set name = '...'")
    if objective.critic not in CRITIC_KINDS:
        report._add(f"critic must be one of {', '.join(CRITIC_KINDS)}, got {objective.critic!r}")
        return report
    if not _check_options(objective, report):
        return report
    if registry is None:
        registry = PluginRegistry()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and never fights other processes for cores
    try:
        for kind in critics or (objective.critic,):
            if kind not in CRITIC_KINDS:
                raise ValueError(f"unknown critic kind {kind!r}; valid kinds: {', '.join(CRITIC_KINDS)}")
            cls = objective if kind == objective.critic else type(objective.__name__, (objective,), {"critic": kind})
            for model_name in models or registry.names("model"):
                _check_with_model(cls, registry.model(model_name), steps, report)
                report.checked.append(f"{model_name} ({kind} critic)")
    finally:
        torch.set_num_threads(threads)
    return report


# -- options -------------------------------------------------------------------------------


def _check_options(objective: type[Objective], report: ConformanceReport) -> bool:
    """Option rules; False when the objective cannot even be built, so nothing else can run."""
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
        return True
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


def _check_with_model(objective: type[Objective], model_cls: type["Model"], steps: int,
                      report: ConformanceReport) -> None:
    label = f"{model_cls.name} ({objective.critic} critic)"
    where = f"with {label}"
    torch.manual_seed(0)
    try:
        model, batch = _tiny_model(objective, model_cls)
    except Exception as exc:
        report._add(f"building {label} failed: {_one_line(exc)}")
        return
    calls: dict[str, int] = {"critic_loss": 0, "generator_loss": 0}
    for objective_instance in model.objectives.values():
        _watch(objective_instance, model, calls, where, report)
    initial = {name: _plain_attributes(instance) for name, instance in model.objectives.items()}
    iteration = 0
    try:
        while iteration < steps or (min(calls.values()) == 0 and iteration < steps + MAX_EXTRA_STEPS):
            logged = model.train_step(batch)
            iteration += 1
            bad = {key: value for key, value in logged.items() if not _finite_number(value)}
            if bad:
                report._add(f"the model logged non-finite values {where}: {bad}")
    except Exception as exc:
        report._add(f"training {where} failed at iteration {iteration + 1}: {_one_line(exc)}")
        return
    for method, count in calls.items():
        if count == 0:
            report._add(f"{method} was never called in {iteration} iterations {where}")
    _check_state(model, objective, initial, where, report)


def _tiny_model(objective: type[Objective], model_cls: type["Model"]) -> tuple["Model", dict[str, Any]]:
    """The model at its tiny options with Adam optimisers, and one batch of the embedded sample set."""
    options = model_cls.options_from_data(str(SAMPLE_ROOT), dict(model_cls.tiny_options))
    model = model_cls(objective, image_size=IMAGE_SIZE, **options)
    model.optimizers = {group: torch.optim.Adam(params, **model.optimizer_settings(group))
                        for group, params in model.parameter_groups().items()}
    dataset = model_cls.dataset(str(SAMPLE_ROOT), "train", IMAGE_SIZE, True, model.options())
    batch = torch.utils.data.default_collate([dataset[i] for i in range(BATCH_SIZE)])
    model.train()
    return model, batch


def _watch(objective: Objective, model: "Model", calls: dict[str, int], where: str,
           report: ConformanceReport) -> None:
    """Wrap the objective's methods on this instance so each result is checked as it is produced."""
    critic_loss, generator_loss = objective.critic_loss, objective.generator_loss
    penalty, update = objective.penalty, objective.update

    def checked_critic_loss(real, fake):
        loss = critic_loss(real, fake)
        calls["critic_loss"] += 1
        if _check_scalar(loss, "critic_loss", where, report):
            _check_gradient(loss, model, "critic_loss", "the critic", where, report)
        return loss

    def checked_generator_loss(fake, *real):
        loss = generator_loss(fake, *real)
        calls["generator_loss"] += 1
        if _check_scalar(loss, "generator_loss", where, report):
            _check_gradient(loss, model, "generator_loss", "the generator", where, report)
        return loss

    def checked_penalty(critic, real_input, fake_input):
        value = penalty(critic, real_input, fake_input)
        if value is not None:
            _check_scalar(value, "penalty", where, report)
        return value

    def checked_update(real, fake):
        logged = update(real, fake)
        if not isinstance(logged, dict) or not all(isinstance(k, str) for k in logged):
            report._add(f"update returned {type(logged).__name__} {where}; it must return a dict of name -> number")
        elif not all(_finite_number(v) for v in logged.values()):
            report._add(f"update returned {logged} {where}; every value must be a finite number")
        return logged

    objective.critic_loss = checked_critic_loss
    objective.generator_loss = checked_generator_loss
    objective.penalty = checked_penalty
    objective.update = checked_update


def _check_scalar(value: Any, method: str, where: str, report: ConformanceReport) -> bool:
    """Shape and finiteness of a loss; True when its gradient can be checked."""
    if not isinstance(value, torch.Tensor):
        report._add(f"{method} returned {type(value).__name__} {where}; it must return a 0-dim torch.Tensor")
        return False
    if value.dim() != 0:
        report._add(f"{method} returned a tensor of shape {tuple(value.shape)} {where}; it must return a "
                    "0-dim (scalar) tensor, e.g. reduce with .mean()")
        return False
    if not torch.isfinite(value.detach()).item():
        report._add(f"{method} returned {value.item()} {where}; losses must be finite")
    return True


def _check_gradient(loss: "Tensor", model: "Model", method: str, network: str, where: str,
                    report: ConformanceReport) -> None:
    """The loss must reach ``network``: the parameters that require gradients when it is computed."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, trainable, retain_graph=True, allow_unused=True) if loss.requires_grad else []
    reached = [g for g in grads if g is not None]
    if not any(g.abs().sum().item() > 0 for g in reached):
        report._add(f"{method} gives no gradient to {network} {where} (detached or constant?)")
    elif not all(torch.isfinite(g).all().item() for g in reached):
        report._add(f"{method} gives a non-finite gradient to {network} {where}")


def _check_state(model: "Model", objective: type[Objective], initial: dict[str, dict[str, Any]], where: str,
                 report: ConformanceReport) -> None:
    """Save the objective state in a real checkpoint, load it into fresh objectives, compare."""
    saved = {name: instance.state_dict() for name, instance in model.objectives.items()}
    try:
        json.dumps(saved)
    except (TypeError, ValueError) as exc:
        report._add(f"state_dict() is not JSON-serialisable {where} ({_one_line(exc)}); checkpoints store it as JSON")
        return
    with tempfile.TemporaryDirectory(prefix="translate-conformance-") as folder:
        checkpoint.save(Path(folder), 1, model, {"objective_state": saved}, {}, keep=1)
        restored_state = checkpoint.load(folder).metadata["objective_state"]
    for name, trained in model.objectives.items():
        fresh = objective()
        try:
            fresh.load_state_dict(restored_state[name])
        except Exception as exc:
            report._add(f"load_state_dict(state_dict()) fails after a checkpoint {where}: {_one_line(exc)}")
            continue
        if fresh.state_dict() != saved[name]:
            report._add(f"state does not round-trip through a checkpoint {where}: saved {saved[name]}, "
                        f"restored {fresh.state_dict()}")
            continue
        after, restored = _plain_attributes(trained), _plain_attributes(fresh)
        for attribute, value in after.items():
            if value != initial[name].get(attribute) and restored.get(attribute) != value:
                report._add(f"attribute {attribute!r} changed during training ({initial[name].get(attribute)!r} -> "
                            f"{value!r}) but a restored objective has {restored.get(attribute)!r} {where}: "
                            "return it from state_dict() and set it in load_state_dict()")


def _plain_attributes(objective: Objective) -> dict[str, Any]:
    """The objective's attributes holding plain values (numbers, strings, lists and dicts of them)."""
    return {key: value for key, value in vars(objective).items() if not callable(value) and _is_plain(value)}


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


__all__ = ["ConformanceError", "ConformanceReport", "check_objective"]
