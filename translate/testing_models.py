"""Conformance kit for model plugins: does a Model keep the contract?

:func:`check_model` builds the model at its :attr:`~translate.models.base.Model.tiny_options`
(32 px, batches of two from the embedded sample set, on the CPU), trains it through the real
:class:`~translate.train.trainer.Trainer` with built-in objectives (``lsgan``, and ``began`` for an
energy critic), and reports in plain sentences naming the model what breaks the contract:

* **training** — every trainable network is in an optimiser group (:meth:`~Model.parameter_groups`),
  in one only, and every parameter of those groups changed in training (a second generator that no
  loss reaches never does); the objective's losses reach the generator and the critic and the
  critic schedule is kept (the checks :func:`translate.testing.check_objective` makes, here
  blamed on the model);
* **resume** — the model's state after ``steps`` iterations (image pools, counters, anything in
  :meth:`~Model.training_state`, and every other attribute) is what a run resumed from that
  checkpoint restores, while it is in use; and the resumed run continues bit for bit as the
  uninterrupted one (``check_objective``'s comparison, reused);
* **conversion** — the model built from the checkpoint (:meth:`Checkpoint.inference_model
  <translate.train.checkpoint.Checkpoint.inference_model>`) has the same :meth:`~Model.options`
  and translates as the trained one; ``translate()`` keeps an image's shape; for every condition of
  :meth:`~Model.conversion_targets` (or none), ``inference_network(**condition)`` exported (ONNX when
  the onnx extra is installed, else TorchScript) computes what ``translate(**condition)`` does; a multimodal
  model's (``metadata()["style_dim"]``) also with a style seed, its export fed the seed's code;
* **directions** — a direction the model does not declare in ``metadata()["directions"]`` (e.g.
  ``direction="BtoA"`` on a one-way model) is refused with an :class:`~translate.options.OptionError`
  by ``translate()`` and ``inference_network()``, and convert accepts the model's own conversion targets;
* **declarations** — ``options()`` and ``metadata()`` are JSON, the metadata keys convert, export and
  eval read have their meaning, and ``sample_columns()`` gives images of the batch's size.

Use it from a test (``def test_it(check_model): check_model(MyModel)``, the pytest fixture that
comes with translate), from Python (``check_model(MyModel).raise_if_failed()``) or as
``translate plugins check --model NAME``. Nothing here needs pytest.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import io
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.convert.conditions import conversion_condition, one_way
from translate.convert.export import FORMATS, exportable_network, write_onnx
from translate.convert.translator import Translator
from translate.models.base import Model
from translate.models.directions import DIRECTIONS
from translate.models.styles import random_style
from translate.options import OptionError, option_defaults
from translate.plugin_host.manager import PluginError, PluginRegistry
from translate.testing import (
    _WHERE,
    BATCH_SIZE,
    IMAGE_SIZE,
    ConformanceError,
    ConformanceReport,
    _check_resume,
    _check_run,
    _one_line,
    _Record,
    _trainer,
    _watch,
    installed,
)
from translate.train import checkpoint

if TYPE_CHECKING:
    from translate.objective import Objective
    from translate.train.trainer import Trainer

#: The objectives a model is trained with: a patch critic, and an energy critic (the autoencoder).
DEFAULT_OBJECTIVES = ("lsgan", "began")
#: Largest difference (images in [-1, 1]) between an exported or converted translation and ``translate()``.
TOLERANCE = 1e-4
#: The style seed a multimodal model's conversion and export are checked with, besides no style.
_CHECK_STYLE = 1
#: Width of the image conversion and export are checked on: not a multiple of any generator's, so padding runs.
_CHECK_WIDTH = IMAGE_SIZE + 8
#: Model attributes that are not the model's own training state.
_NOT_STATE = frozenset({"training", "make_objective", "objectives", "optimizers", "grad_scalers", "replicas"})


@dataclass
class ModelReport:
    """What :func:`check_model` found.

    :ivar model: the model's ``name``.
    :ivar checked: what was checked, e.g. ``["trained with lsgan (patch critic)", "ONNX export of 1 condition"]``.
    """

    model: str
    checked: list[str] = field(default_factory=list)
    _found: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _whole: set[str] = field(default_factory=set, repr=False)  # sentences that name the model themselves

    @property
    def problems(self) -> list[str]:
        """One plain sentence per problem, naming the model; empty when the contract is kept."""
        return [problem if problem in self._whole else f"model {self.model!r}: {problem}"
                for problem in self._sentences()]

    def _sentences(self) -> list[str]:
        return [problem.replace(_WHERE, self._where(runs)) for problem, runs in self._found.items()]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self._found

    def summary(self) -> str:
        """The verdict in plain words: one line when it passes, a list of problems otherwise."""
        if self.ok:
            return f"model {self.model!r} keeps the contract: {'; '.join(self.checked)}"
        problems = self._sentences()  # under a line naming the model
        count = len(problems)
        lines = [f"model {self.model!r} breaks the contract ({count} problem{'s' * (count != 1)}):"]
        return "\n".join(lines + [f"  - {problem}" for problem in problems])

    def raise_if_failed(self) -> None:
        """Raise :class:`~translate.testing.ConformanceError` with :meth:`summary` when a problem was found."""
        if not self.ok:
            raise ConformanceError(self.summary())

    @staticmethod
    def _where(runs: list[str]) -> str:
        return f"with {' and '.join(runs)}" if runs else ""

    def _add(self, problem: str, run: str | None = None, whole: bool = False) -> None:
        """Record ``problem`` about the model; its ``{where}`` names ``run`` (an objective) and every other run
        with the same problem. ``whole``: the sentence names the model itself (a wiring problem)."""
        runs = self._found.setdefault(problem, [])
        if run is not None and run not in runs:
            runs.append(run)
        if whole:
            self._whole.add(problem)

    def _size(self) -> int:
        return sum(len(runs) or 1 for runs in self._found.values())

    def _take(self, found: ConformanceReport, run: str) -> None:
        """The problems ``check_objective``'s machinery found in one run, blamed on the model."""
        for problem in found._found:
            self._add(problem, run)


class _WithModel:
    """A registry in which ``model_cls`` answers to its name, whether installed or not."""

    def __init__(self, registry: PluginRegistry, model_cls: type[Model]):
        self.registry, self.checked = registry, model_cls

    def model(self, name: str) -> type[Model]:
        return self.checked if name == self.checked.name else self.registry.model(name)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.registry, attribute)


def check_model(
    model: type[Model] | str,
    objectives: Sequence[str] | None = None,
    steps: int = 2,
    export: str | None = None,
    registry: PluginRegistry | None = None,
) -> ModelReport:
    """Check that ``model`` keeps the Model contract.

    :param model: the :class:`~translate.models.base.Model` subclass to check, or the name ``--model``
        selects: then the class is looked up through the installed entry points, which checks the
        plugin's wiring too.
    :param objectives: names of the built-in (or installed) objectives to train with; default
        ``lsgan`` (patch critic) and ``began`` (energy critic). A model that only works with a patch
        critic passes ``["lsgan"]``.
    :param steps: iterations before the checkpoint that is resumed; each run trains ``steps + 1``.
    :param export: ``"onnx"`` or ``"torchscript"``; default ONNX when onnx, onnxscript and onnxruntime
        are installed, else TorchScript.
    :param registry: where the objectives (and a named model) come from; default a new
        :class:`~translate.plugin_host.manager.PluginRegistry`.
    :return: a :class:`ModelReport`; call ``raise_if_failed()`` to turn it into an assertion.
    """
    registry = registry or PluginRegistry()
    if export is None:
        export = "onnx" if all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")) \
            else "torchscript"
    if export not in FORMATS:
        raise ValueError(f"export must be one of {', '.join(FORMATS)}, got {export!r}")
    if isinstance(model, str):
        report = ModelReport(model)
        found = installed("model", model, registry, lambda problem: report._add(problem, whole=True))
        if found is None:
            return report
        model = found
    else:
        report = ModelReport(getattr(model, "name", "") or getattr(model, "__name__", repr(model)))
    if not (isinstance(model, type) and issubclass(model, Model)):
        report._add(f"{model!r} is not a subclass of translate.models.base.Model", whole=True)
        return report
    if not isinstance(model.name, str) or not model.name:
        report._add(f"model class {model.__name__} has no 'name' (what --model selects); set name = '...'",
                    whole=True)
        return report
    with_model = _WithModel(registry, model)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and never fights other processes for cores
    try:
        with tempfile.TemporaryDirectory(prefix="translate-model-check-") as folder:
            trained: Trainer | None = None
            for name in objectives or DEFAULT_OBJECTIVES:
                try:
                    objective = registry.objective(name)
                except PluginError as exc:
                    report._add(f"cannot train it with objective {name!r}: {exc}")
                    continue
                run_trainer = _check_training(model, objective, with_model, steps, Path(folder) / name, report)
                trained = trained or run_trainer
            if trained is not None:
                _check_conversion(trained, with_model, export, report)
    finally:
        torch.set_num_threads(threads)
    return report


# -- training and resuming --------------------------------------------------------------------


def _check_training(model_cls: type[Model], objective: type["Objective"], registry: Any, steps: int,
                    folder: Path, report: ModelReport) -> "Trainer | None":
    """Train ``steps + 1`` iterations (saved after ``steps``), then resume; the trainer when it trained."""
    label = f"{objective.name} ({objective.critic} critic)"
    name = model_cls.name
    try:
        trainer = _trainer(objective, model_cls, registry, folder / "watched", steps + 1, checkpoint_every=steps)
    except Exception as exc:
        hint = (f"; a model that needs a patch critic is checked with objectives=['lsgan'] (translate plugins check "
                f"--model {name} --loss lsgan)" if objective.critic == "energy" else "")
        report._add(f"building it {_WHERE} failed: {_one_line(exc)}{hint}", label)
        return None
    model = trainer.model
    declared, sampled = _check_declarations(model, report), _check_samples(trainer, report, label)
    if not (declared and sampled):  # training would fail on it: checkpoints store options as JSON, and
        trainer.release()           # the last step draws a sample grid
        return None
    groups = _check_groups(model, report, label)
    found_before = report._size()
    scratch = ConformanceReport(objective.name)
    run = (name, objective.critic)
    record = _Record()
    for critic, instance in model.objectives.items():
        _watch(instance, critic, trainer, record, run, scratch)
    before = {key: parameter.detach().clone() for key, parameter in model.named_parameters()}
    at_checkpoint: dict[str, Any] = {}
    save = trainer.save

    def save_and_remember() -> Path:
        if trainer.step == steps:
            at_checkpoint.update(_state_of(model))
        return save()

    trainer.save = save_and_remember  # type: ignore[method-assign]
    try:
        trainer.train(progress=False)
    except Exception as exc:
        report._take(scratch, label)
        if report._size() == found_before:  # else it follows from a problem already reported
            report._add(f"training {_WHERE} failed at iteration {trainer.step + 1}: {_one_line(exc)}", label)
        return None
    _check_run(trainer, record, run, scratch)
    report._take(scratch, label)
    _check_changed(model, before, groups, trainer.step, report, label)
    named = report._size()
    _check_restored(objective, model_cls, registry, trainer, at_checkpoint, folder / "restored", steps, report, label)
    resumed = ConformanceReport(objective.name)
    try:  # check_objective's comparison: the resumed run's last checkpoint must be the uninterrupted run's
        _check_resume(objective, model_cls, registry, trainer, folder / "resumed", steps, run, resumed)
    except Exception as exc:
        report._add(f"resuming a run {_WHERE} failed: {_one_line(exc)}", label)
    else:
        if report._size() == named:  # else the state just named explains why the runs part
            report._take(resumed, label)
    report.checked.append(f"trained and resumed with {label}")
    return trainer


def _check_declarations(model: Model, report: ModelReport) -> bool:
    """``options()`` and ``metadata()`` are JSON, and the metadata keys conversion reads mean what they should.

    False when a checkpoint cannot be written (not JSON).
    """
    for method in ("options", "metadata"):
        try:
            json.dumps(getattr(model, method)())
        except Exception as exc:
            report._add(f"{method}() is not JSON ({_one_line(exc)}); checkpoints store it as JSON")
            return False
    metadata = model.metadata()
    directions = metadata.get("directions")
    if directions is not None and (not isinstance(directions, list) or not directions
                                   or not set(directions) <= set(DIRECTIONS)):
        report._add(f"metadata() has 'directions' {directions!r}; it must list AtoB and/or BtoA, "
                    "the directions convert --direction may choose (leave it out for a one-way model)")
    elif directions and metadata.get("default_direction", directions[0]) not in directions:
        report._add(f"metadata() has 'default_direction' {metadata['default_direction']!r}, "
                    f"which is not one of its 'directions' {directions!r}")
    sides = [metadata.get(key) for key in ("input", "output") if key in metadata]
    if sides and (len(sides) != 2 or not set(sides) <= {"A", "B"} or sides[0] == sides[1]):
        report._add(f"metadata() has 'input' {metadata.get('input')!r} and 'output' "
                    f"{metadata.get('output')!r}; a one-way model declares both, one 'A' and the other 'B'")
    targets = metadata.get("targets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        report._add(f"metadata() has 'targets' {targets!r}; it must list the names convert --to "
                    "takes")
    return True


def _check_samples(trainer: "Trainer", report: ModelReport, label: str) -> bool:
    """``sample_columns()`` of a batch of :data:`BATCH_SIZE` images: columns ``(N, 3, H, W)`` of that batch's size.

    False when they are not (the sample grid at the end of a run would fail or mislead).
    """
    model = trainer.model
    batch = {key: value[:BATCH_SIZE] if torch.is_tensor(value) else value for key, value in trainer.sample_batch.items()}
    images = _images(batch)
    if images is None:
        return True
    count, _, height, width = images.shape
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad(), model.unwrapped():
            columns = model.sample_columns(batch)
    except Exception as exc:
        report._add(f"sample_columns() failed {_WHERE}: {_one_line(exc)}", label)
        return False
    finally:
        model.train()
    expected = (count, 3, height, width)
    if not isinstance(columns, (list, tuple)) or not columns:
        report._add(f"sample_columns() returned {type(columns).__name__}; it must return a "
                    "non-empty list of image batches, one per column of the sample grid")
        return False
    for index, column in enumerate(columns):
        shape = tuple(column.shape) if isinstance(column, Tensor) else type(column).__name__
        if shape != expected:
            report._add(f"sample_columns() returned column {index} as {shape} for a batch of "
                        f"{count} images of {height}x{width} {_WHERE}; every column must be {expected}, one image "
                        "per input at the input's size", label)
            return False
    return True


def _images(batch: dict[str, Any]) -> Tensor | None:
    """The input images of a batch: ``"A"``, else its first ``(N, C, H, W)`` tensor."""
    return batch.get("A", next((v for v in batch.values() if torch.is_tensor(v) and v.dim() == 4), None))


def _network(parameter_name: str) -> str:
    """The model attribute a parameter belongs to: ``G_gc.net.model.1.weight`` -> ``G_gc``."""
    return parameter_name.split(".", 1)[0]


def _check_groups(model: Model, report: ModelReport, label: str) -> dict[str, list[str]]:
    """Every trainable network in exactly one optimiser group; returns ``{group: [parameter names]}``."""
    try:
        groups = model.parameter_groups()
    except Exception as exc:
        report._add(f"parameter_groups() failed {_WHERE}: {_one_line(exc)}", label)
        return {}
    names = {id(parameter): key for key, parameter in model.named_parameters()}
    members: dict[str, list[str]] = {}
    seen: dict[int, str] = {}
    for group, parameters in groups.items():
        members[group] = []
        for parameter in parameters:
            key = names.get(id(parameter))
            if key is None:
                continue
            if id(parameter) in seen and seen[id(parameter)] != group:
                report._add(f"network {_network(key)!r} is in the optimiser groups "
                            f"{seen[id(parameter)]!r} and {group!r}: both optimisers step it; return each parameter "
                            "from one group of parameter_groups()")
            seen.setdefault(id(parameter), group)
            members[group].append(key)
    outside = sorted({_network(key) for key, parameter in model.named_parameters()
                      if parameter.requires_grad and id(parameter) not in seen})
    for network in outside:
        report._add(f"network {network!r} is in no optimiser group, so it never trains: "
                    "return its parameters from parameter_groups() (or freeze it with requires_grad_(False) if it "
                    "must not learn)")
    return members


def _check_changed(model: Model, before: dict[str, Tensor], groups: dict[str, list[str]], iterations: int,
                   report: ModelReport, label: str) -> None:
    """Every parameter of every optimiser group changed in training; unchanged ones are named by network."""
    after = dict(model.named_parameters())
    for group, keys in groups.items():
        by_network: dict[str, list[str]] = {}
        for key in keys:
            by_network.setdefault(_network(key), []).append(key)
        for network, members in by_network.items():
            unchanged = [key for key in members if torch.equal(after[key].detach(), before[key])]
            if len(unchanged) == len(members):
                report._add(f"network {network!r} (optimiser group {group!r}) did not change in "
                            f"{iterations} iterations of training {_WHERE}: none of its parameters gets a gradient; "
                            f"use its output in a loss that self.optimize({group!r}, ...) steps", label)
            elif unchanged:
                report._add(f"{len(unchanged)} of the {len(members)} parameters of network {network!r} "
                            f"(optimiser group {group!r}) did not change in {iterations} iterations "
                            f"of training {_WHERE}, e.g. {unchanged[0]!r}: no loss that steps the group reaches them",
                            label)


def _state_of(model: Model) -> dict[str, Any]:
    """A copy of the model's state besides weights: ``training_state()`` and its other attributes."""
    attributes = {}
    for key, value in vars(model).items():
        if key.startswith("_") or key in _NOT_STATE or callable(value):
            continue
        try:
            attributes[key] = copy.deepcopy(value)
        except Exception:
            continue  # cannot be copied: not compared
    return {"training_state": copy.deepcopy(model.training_state()), "attributes": attributes}


def _check_restored(objective: type["Objective"], model_cls: type[Model], registry: Any, uninterrupted: "Trainer",
                    at_checkpoint: dict[str, Any], run_dir: Path, steps: int, report: ModelReport,
                    label: str) -> None:
    """The model resumed from the checkpoint after ``steps`` iterations must hold the state it had then."""
    if not at_checkpoint:
        return
    shutil.copytree(uninterrupted.run_dir, run_dir, symlinks=True)
    latest = run_dir / checkpoint.LATEST
    latest.unlink()
    latest.symlink_to(checkpoint.folder(run_dir, steps).relative_to(run_dir))
    try:
        restorer = _trainer(objective, model_cls, registry, run_dir, steps + 1, checkpoint_every=steps, resume=True)
    except Exception as exc:
        report._add(f"resuming a run {_WHERE} failed: {_one_line(exc)}", label)
        return
    restorer.release()
    restored = _state_of(restorer.model)
    after = f"after {steps} iteration{'s' * (steps != 1)}"
    saved, loaded = at_checkpoint["training_state"], restored["training_state"]
    keys = set(saved) | set(loaded)
    differing = sorted(key for key in keys if key not in saved or key not in loaded or not _same(saved[key], loaded[key]))
    for key in differing:
        report._add(f"--resume does not restore training_state()[{key!r}] {_WHERE}: {after} it "
                    "differs from what a model resumed from that checkpoint holds; set it in load_training_state()",
                    label)
    options = set(option_defaults(model_cls))  # a resumed model is built from its checkpoint's options: an option
    # that comes back changed is named once, by the round-trip check of _check_conversion
    for key, value in at_checkpoint["attributes"].items():
        if key in differing or key in options or _same(value, restored["attributes"].get(key)):
            continue
        if key in saved:
            fix = "training_state() holds it but load_training_state() does not set it back"
        else:
            fix = ("return it from training_state() and set it in load_training_state() (extend the base class's: "
                   "{**super().training_state(), ...})")
        report._add(f"--resume does not restore the attribute {key!r} ({type(value).__name__}) "
                    f"{_WHERE}: {after} a resumed model holds another value; {fix}", label)


def _same(a: Any, b: Any, depth: int = 0) -> bool:
    """Whether two values of model state are equal: tensors bit for bit, containers and objects by content."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (isinstance(a, Tensor) and isinstance(b, Tensor) and a.shape == b.shape and a.dtype == b.dtype
                and torch.equal(a.cpu(), b.cpu()))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], depth + 1) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, torch.Generator):
        return torch.equal(a.get_state(), b.get_state())
    if isinstance(a, (nn.Module, type)) or callable(a) or depth > 4:
        return True  # networks are compared as weights; deeper structure is not state worth naming
    if hasattr(a, "state_dict") and callable(a.state_dict):
        return _same(a.state_dict(), b.state_dict(), depth + 1)
    if hasattr(a, "__dict__"):
        return _same(vars(a), vars(b), depth + 1)
    try:
        return bool(a == b)
    except Exception:
        return False


# -- conversion, export, directions -------------------------------------------------------------


def _check_conversion(trainer: "Trainer", registry: Any, export: str, report: ModelReport) -> None:
    """The checkpoint's model for conversion: options, translation, directions, every target exported."""
    model, name = trainer.model, trainer.model.name
    try:
        translator = Translator.load(trainer.run_dir, device="cpu", registry=registry)
    except Exception as exc:
        report._add(f"it cannot be built from its checkpoint for conversion: {_one_line(exc)}")
        return
    inference = translator.model
    differing = {key: (value, inference.options().get(key)) for key, value in model.options().items()
                 if inference.options().get(key) != value}
    for key, (value, rebuilt) in differing.items():
        report._add(f"option {key!r} does not round-trip through a checkpoint: trained with {value!r}, "
                    f"the model built from the checkpoint has {rebuilt!r}; keep each option as an attribute of the "
                    "same name holding the value it was given")
    model.eval()
    images = _images(trainer.sample_batch)
    if images is None:
        return
    image = F.interpolate(images[:1].float(), size=(IMAGE_SIZE, _CHECK_WIDTH), mode="bilinear", align_corners=False)
    _check_directions(inference, image, report)
    targets = inference.conversion_targets() or {"": {}}
    exported = 0
    for target, condition, what in _conditions_to_check(targets, inference.metadata()):
        try:
            passed = conversion_condition(name, inference.metadata(), condition)
        except OptionError as exc:
            report._add(f"convert refuses {what}: {exc}; declare it in metadata() "
                        "('directions' or 'targets')")
            continue
        with torch.no_grad():
            try:
                expected = model.translate(image, **passed)
            except Exception as exc:
                report._add(f"translate() failed for {what}: {_one_line(exc)}")
                continue
            if tuple(expected.shape) != tuple(image.shape):
                report._add(f"translate() returned {tuple(expected.shape)} for {what} of a batch of "
                            f"{tuple(image.shape)}; it must return the input's shape (build_translator_net's "
                            "networks pad and crop to any size)")
                continue
            try:
                converted = translator.translate_batch(image, **condition)
            except Exception as exc:
                report._add(f"converting failed for {what}: {_one_line(exc)}")
                continue
        gap = (converted - expected).abs().max().item()
        if not gap <= TOLERANCE:
            report._add(f"the model converted from its checkpoint differs from the trained model by up to {gap:.3g} "
                        f"for {what}: every network translate() runs must be a child module (its weights are in the "
                        "checkpoint) and every option an attribute")
            continue
        exported += _check_export(inference, passed, what, image, expected, export, report)
    report.checked.append(f"converted from its checkpoint ({len(targets)} condition{'s' * (len(targets) != 1)})")
    if type(inference).inference_network is Model.inference_network:
        report.checked.append("not exportable (inference_network() not implemented)")
    elif exported:
        report.checked.append(f"exported as {'ONNX' if export == 'onnx' else 'TorchScript'} "
                              f"({exported} condition{'s' * (exported != 1)})")


def _conditions_to_check(targets: dict[str, dict[str, Any]], metadata: dict[str, Any]
                         ) -> list[tuple[str, dict[str, Any], str]]:
    """(target, condition, what) of every conversion target; a multimodal model's (``style_dim``) also with the
    style of seed :data:`_CHECK_STYLE`."""
    checked = []
    for target, condition in targets.items():
        what = f"conversion target {target!r} ({condition})" if target else "the default conversion (no condition)"
        checked.append((target, condition, what))
        if metadata.get("style_dim"):
            checked.append((target, {**condition, "style": _CHECK_STYLE}, f"{what} with style={_CHECK_STYLE} (a seed)"))
    return checked


def _check_directions(model: Model, image: Tensor, report: ModelReport) -> None:
    """A direction the model does not declare is refused with an OptionError by translate() and inference_network()."""
    metadata = model.metadata()
    declared = metadata.get("directions") or [one_way(metadata)]
    for direction in DIRECTIONS:
        if direction in declared:
            continue
        for call, method, args in (("translate(images, direction={!r})", model.translate, (image,)),
                                   ("inference_network(direction={!r})", model.inference_network, ())):
            try:
                inspect.signature(method).bind(*args, direction=direction)
            except TypeError:
                continue  # refused by its signature: a TypeError names the argument
            shown = call.format(direction)
            fix = (f"refuse it with an OptionError: translate.models.directions.check_direction(direction, "
                   f"model={model.name!r}, ways={tuple(declared)!r})")
            try:
                with torch.no_grad():
                    method(*args, direction=direction)
            except OptionError:
                continue
            except Exception as exc:
                report._add(f"{shown} raises {type(exc).__name__}, not OptionError; {fix}")
                continue
            report._add(f"{shown} runs although the model translates "
                        f"{' and '.join(declared)} only (metadata() lists no such direction); {fix}")


def _check_export(model: Model, condition: dict[str, Any], what: str, image: Tensor, expected: Tensor, fmt: str,
                  report: ModelReport) -> int:
    """``inference_network(**condition)`` exported as ``fmt`` computes ``expected``; 1 when exported, else 0."""
    if type(model).inference_network is Model.inference_network:
        return 0  # a translation of more than one generator: documented as not exportable
    style = condition.get("style")
    try:
        network = exportable_network(model, **{key: value for key, value in condition.items() if key != "style"})
    except Exception as exc:
        report._add(f"inference_network() failed for {what}: {_one_line(exc)}")
        return 0
    side = max(IMAGE_SIZE, network.min_size)
    sized = F.interpolate(image, size=(side, side + 8), mode="bilinear", align_corners=False) \
        if side != IMAGE_SIZE else image
    if sized is not image:
        with torch.no_grad():
            expected = model.translate(sized, **condition)
    codes = None
    if network.style_dim:  # the graph's second input: the code translate() takes for a seed, or the zero code
        code = random_style(style, network.style_dim) if style is not None else torch.zeros(network.style_dim)
        codes = code.expand(sized.shape[0], network.style_dim).contiguous()
    try:
        output = _run_exported(network, sized, fmt, codes)
    except Exception as exc:
        report._add(f"exporting it as {fmt} failed for {what}: {_one_line(exc)}")
        return 0
    gap = (output - expected).abs().max().item()
    if not gap <= TOLERANCE:
        fix = ("inference_network(**condition) must return the network translate(**condition) runs"
               + ("; with style=None it translates with the zero code and with a seed s with "
                  "translate.models.styles.random_style(s, style_dim)" if network.style_dim else ""))
        report._add(f"the {fmt} export differs from translate() by up to {gap:.3g} for {what} on a "
                    f"{sized.shape[-2]}x{sized.shape[-1]} image: {fix}")
    return 1


def _run_exported(network: nn.Module, images: Tensor, fmt: str, style: Tensor | None = None) -> Tensor:
    """``network`` written as ``fmt``, read back and run on ``images`` (and ``style``, a styled network's codes)."""
    inputs = (images,) if style is None else (images, style)
    if fmt == "torchscript":
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notes: translate export's format
            torch.jit.save(torch.jit.script(network), buffer)
            buffer.seek(0)
            return torch.jit.load(buffer)(*inputs)
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="translate-model-check-") as folder:
        path = Path(folder) / "generator.onnx"
        write_onnx(network, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {name: tensor.float().contiguous().numpy() for name, tensor in zip(("images", "style"), inputs)}
        (output,) = session.run(None, feed)
    return torch.from_numpy(output)


__all__ = ["DEFAULT_OBJECTIVES", "ModelReport", "check_model"]
