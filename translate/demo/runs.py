"""The runs a demo page serves: each one's translator, what a user may choose, and its card.

A run is loaded with :meth:`translate.convert.Translator.load`, the loader of ``translate convert``,
so the page translates exactly as ``convert`` does on the same backend. What the page offers comes
from the checkpoint's ``model_metadata`` (:meth:`translate.models.base.Model.metadata`): the
directions of a two-way model, the target domains of a multi-domain one, nothing for a one-way model.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from translate.convert.conditions import one_way
from translate.errors import TranslateError
from translate.evaluate.report import checkpoints_table, folders_table, run_folder, table

if TYPE_CHECKING:
    from translate.convert.translator import Translator
    from translate.plugin_host.manager import PluginRegistry

#: ``--backend`` choices of ``translate demo``: ``auto`` is ONNX Runtime when it is installed, else torch.
DEMO_BACKENDS = ("auto", "torch", "onnxruntime")


@dataclass(frozen=True)
class Choices:
    """What the page lets a user choose for a run, from its checkpoint's ``model_metadata``."""

    #: Directions of a two-way model (``AtoB``, ``BtoA``); empty for other models.
    directions: tuple[str, ...] = ()
    #: The direction chosen at first: the one trained, or a one-way model's only one.
    default_direction: str | None = None
    #: Target domains (or attributes) of a multi-domain model; empty for other models.
    targets: tuple[str, ...] = ()
    #: Whether several targets go together (attribute models such as StarGAN on CelebA attributes).
    several_targets: bool = False

    @classmethod
    def of(cls, model_metadata: dict[str, Any]) -> "Choices":
        """The choices a model's ``metadata()`` declares."""
        if model_metadata.get("directions"):
            directions = tuple(model_metadata["directions"])
            return cls(directions, model_metadata.get("default_direction") or directions[0])
        if model_metadata.get("targets"):
            return cls(targets=tuple(model_metadata["targets"]), several_targets=bool(model_metadata.get("attrs")))
        return cls(default_direction=one_way(model_metadata))

    def condition(self, direction: str | None, targets: str | list[str] | None) -> dict[str, Any]:
        """The conversion condition of a user's choice (``translate convert``'s ``--direction``/``--to``)."""
        if self.directions:
            return {"direction": direction or self.default_direction}
        if self.targets:
            names = [targets] if isinstance(targets, str) else list(targets or [])
            if not names:
                wanted = "one or more target attributes" if self.several_targets else "a target domain"
                raise TranslateError(f"choose {wanted} above")
            return {"to": ",".join(names)}
        return {}

    def input_side(self, direction: str | None) -> str | None:
        """The data side (``A`` or ``B``) a model reads for ``direction``; ``None`` for multi-domain models."""
        if self.targets:
            return None
        return (direction or self.default_direction or "AtoB")[0]


def resolve_backend(backend: str) -> str:
    """``torch`` or ``onnxruntime`` for a ``--backend`` choice: ``auto`` is ONNX Runtime when onnxruntime, onnx
    and onnxscript are installed (the ``onnx`` extra), else torch."""
    if backend not in DEMO_BACKENDS:
        raise TranslateError(f"--backend must be one of {', '.join(DEMO_BACKENDS)}, got {backend!r}")
    if backend != "auto":
        return backend
    return "onnxruntime" if all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx", "onnxscript")) \
        else "torch"


def exports_as_one_generator(model: Any) -> bool:
    """Whether ``model`` implements ``inference_network``, which ONNX Runtime conversion needs."""
    from translate.models.base import Model

    return type(model).inference_network is not Model.inference_network


@dataclass
class DemoRun:
    """One run the page serves."""

    #: The name in the page's run menu (the folder's name, made unique).
    name: str
    #: The checkpoint folder served (a run's latest checkpoint).
    checkpoint: Path
    translator: "Translator"
    #: ``torch`` or ``onnxruntime``.
    backend: str
    #: The run's ``config.json`` (its training options), empty when it has none.
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata(self) -> dict[str, Any]:
        """The checkpoint's ``checkpoint.json``."""
        return self.translator.metadata

    @property
    def folder(self) -> Path:
        """The run folder (the checkpoint folder itself when it stands alone)."""
        return run_folder(self.checkpoint)

    @cached_property
    def choices(self) -> Choices:
        """What the page lets a user choose for this run."""
        return Choices.of(self.metadata.get("model_metadata") or self.translator.model_metadata)

    @property
    def data(self) -> Path | None:
        """The data folder the run was trained on (``None`` in ``config.json``: the embedded sample set), if known."""
        from translate.data.sample import SAMPLE_ROOT

        if not self.config:
            return None
        return Path(self.config["data"]) if self.config.get("data") else SAMPLE_ROOT

    def data_description(self) -> str:
        """The run's data folder in words."""
        from translate.data.sample import SAMPLE_ROOT

        if self.data is None:
            return "its data (unknown: the run has no config.json)"
        return "the embedded sample set" if self.data == SAMPLE_ROOT else f"'{self.data}'"

    def default_condition(self) -> dict[str, Any]:
        """The condition the page starts with: the trained direction, or the first target."""
        choices = self.choices
        return choices.condition(choices.default_direction, list(choices.targets[:1]))

    def warm_up(self) -> None:
        """Translate a small image under :meth:`default_condition`, so that the first upload does not wait for
        ONNX Runtime's session (exported and optimised once, then cached beside the checkpoint)."""
        import torch

        self.translator.translate_batch(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), **self.default_condition())

    def backend_description(self) -> str:
        """How this run's generator runs, in words."""
        if self.backend == "onnxruntime":
            return f"ONNX Runtime on the CPU ({self.translator.runtime.precision})"
        return f"PyTorch on {self.translator.device} ({self.translator.precision})"


def load_runs(paths: list[str | os.PathLike], backend: str = "auto", device: str = "auto",
              registry: "PluginRegistry | None" = None, report: Callable[[str], None] | None = None,
              warm_up: bool = True) -> list[DemoRun]:
    """Load each run or checkpoint folder of ``paths`` for the page, as ``translate convert`` loads it, and
    (``warm_up``) translate a small image with each (:meth:`DemoRun.warm_up`).

    ``report`` receives a line for each checkpoint being loaded and ONNX Runtime's lines (a model built or
    taken from the cache). ``backend`` is one of :data:`DEMO_BACKENDS`; with ``auto``, a model that cannot be
    exported as one generator runs in PyTorch. A folder that is not a run, or a model that is not installed, is a
    :class:`~translate.errors.TranslateError` naming it.
    """
    from translate.convert.translator import Translator
    from translate.plugin_host.manager import PluginRegistry
    from translate.train import checkpoint

    registry = registry or PluginRegistry()
    chosen = resolve_backend(backend)
    runs: list[DemoRun] = []
    for path in paths:
        folder = checkpoint.resolve(path)
        if report:
            report(f"loading {folder}")
        options: dict[str, Any] = {}
        if chosen == "onnxruntime" and report:
            options["report"] = lambda line: report(f"onnxruntime: {line}")
        translator = Translator.load(folder, device=device, registry=registry, backend=chosen, **options)
        served = chosen
        if chosen == "onnxruntime" and backend == "auto" and not exports_as_one_generator(translator.model):
            translator, served = Translator.load(folder, device=device, registry=registry), "torch"
        run = DemoRun(_unique_name(folder, runs), folder, translator, served, read_config(run_folder(folder)))
        if warm_up:
            run.warm_up()
        runs.append(run)
    return runs


def _unique_name(checkpoint_folder: Path, runs: list[DemoRun]) -> str:
    """A menu name for a checkpoint: its run folder's name, with the step or a number when taken."""
    name = run_folder(checkpoint_folder).name
    taken = {run.name for run in runs}
    if name in taken:
        name = f"{name} ({checkpoint_folder.name})"
    number = 2
    while name in taken:
        name, number = f"{name} {number}", number + 1
    return name


def read_config(folder: Path) -> dict[str, Any]:
    """A run folder's ``config.json``, or ``{}`` when it has none or it is not a JSON object."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def evaluations(folder: Path) -> list[tuple[str, list[str]]]:
    """The ``eval-*.json`` results of ``translate eval`` in a run folder: (file name, the lines of its table)."""
    found = []
    for path in sorted(folder.glob("eval-*.json")):
        try:
            found.append((path.name, _eval_table(json.loads(path.read_text()))))
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as exc:
            found.append((path.name, [f"not a translate eval result ({type(exc).__name__}: {exc})"]))
    return found


def _eval_table(result: Any) -> list[str]:
    """The table ``translate eval`` printed for ``result``."""
    if not isinstance(result, dict):
        raise TypeError("not a JSON object")
    if "checkpoints" in result:
        return checkpoints_table(result)
    if "fake" in result:
        return folders_table(result)
    return table(result)


def card(run: DemoRun) -> str:
    """The run's card as Markdown: checkpoint and steps, model and options, objective, training, backend and
    the evaluation numbers of its ``eval-*.json`` files."""
    meta = run.metadata
    lines = [f"### {run.name}: {meta.get('model', '?')}" + (f" with {meta['objective']}" if meta.get("objective")
                                                           else ""),
             f"- **Checkpoint**: `{run.checkpoint}`, {_steps(meta)}",
             f"- **Model**: {meta.get('model', '?')}, {_mapping(run.choices)}; {_options(meta.get('model_options'))}"]
    if meta.get("objective"):
        lines.append(f"- **Objective**: {meta['objective']}; {_options(meta.get('objective_options'))}")
    if run.config:
        lines.append(f"- **Training**: {_training(run)}")
    mode = run.translator.mode_description  # how batch norm and dropout run, as translate convert reports it
    lines.append(f"- **Runs on**: {run.backend_description()}" + (f"; {mode}" if mode else ""))
    results = evaluations(run.folder)
    if not results:
        lines.append("- **Evaluation**: none yet (`translate eval` writes `eval-*.json` into the run folder)")
    for name, table_lines in results:
        lines += ["", f"**Evaluation** (`{name}`):", "", "```text", *table_lines, "```"]
    return "\n".join(lines)


def _steps(meta: dict[str, Any]) -> str:
    step, total = meta.get("step"), meta.get("total_steps")
    if step is None:
        return "imported weights" if meta.get("imported_from") else "step unknown"
    size = f", trained at {meta['image_size']} px" if meta.get("image_size") else ""
    return (f"step {step:,} of {total:,}" if total else f"step {step:,}") + size


def _mapping(choices: Choices) -> str:
    """What the model translates, in words."""
    if choices.directions:
        ways = " and ".join(_arrow(way) for way in choices.directions)
        return f"translates {ways} (trained {_arrow(choices.default_direction)})"
    if choices.targets:
        kind = "attributes" if choices.several_targets else "target domains"
        return f"{kind} {', '.join(choices.targets)}"
    return f"translates {_arrow(choices.default_direction)}"


def _arrow(direction: str | None) -> str:
    """``AtoB`` -> ``A → B``."""
    source, _, target = (direction or "AtoB").partition("to")
    return f"{source} → {target}"


def _options(options: Any) -> str:
    """Options as ``key=value`` code spans."""
    if not options:
        return "default options"
    return ", ".join(f"`{key}={value}`" for key, value in options.items())


def _training(run: DemoRun) -> str:
    config = run.config
    parts = [f"data {run.data_description()}"]
    for key, label in (("batch_size", "batch"), ("image_size", "size"), ("preset", "preset"),
                       ("precision", "precision"), ("ema", "EMA"), ("seed", "seed")):
        if config.get(key) is not None:
            parts.append(f"{label} {config[key]}")
    return ", ".join(parts)
