"""Helpers the tests share: the console script, fake plugin distributions, tiny models and runs, the command line.

Imported as ``from helpers import ...``: pytest's default import mode puts tests/ on ``sys.path``.
Fixtures and hooks live in conftest.py (the ``tiny_run`` factory there trains runs through :func:`tiny_config`).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported by what is used, never by importing this module
    from click.testing import Result

    from translate.plugin_host.manager import PluginRegistry
    from translate.train.trainer import TrainConfig

#: The console script pip installed next to this Python.
TRANSLATE = Path(sys.executable).parent / "translate"


# -- fake plugin distributions ----------------------------------------------------------------------------------


def write_distribution(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str],
                       group: str = "translate") -> Path:
    """Make ``dist`` look installed under ``root``: its modules plus a ``.dist-info`` folder.

    ``importlib.metadata`` finds the dist-info on ``sys.path``, exactly as for a
    pip-installed package, so the entry points in ``group`` (``translate``) are seen.
    """
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return root


#: Source of a plugin module with one objective; ``{name}`` is what ``--loss`` selects, ``{cls}`` its class.
OBJECTIVE_PLUGIN = '''
import torch
from translate import hookimpl
from translate.objective import Objective


class {cls}(Objective):
    """Mean-score objective used only by tests."""

    name = "{name}"
    critic = "patch"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def critic_loss(self, real, fake):
        return self.scale * (fake.score.mean() - real.score.mean())

    def generator_loss(self, fake):
        return -self.scale * fake.score.mean()


@hookimpl
def translate_objectives():
    return [{cls}]
'''


def objective_plugin(name: str, cls: str = "TestObjective") -> str:
    """Source of a plugin module providing one objective called ``name``."""
    return OBJECTIVE_PLUGIN.format(name=name, cls=cls)


# -- tiny models --------------------------------------------------------------------------------------------------

#: Crop size of tiny runs: every built-in model (and critic) works at 32 px.
TINY_IMAGE_SIZE = 32


@functools.cache
def _builtin_models() -> "PluginRegistry":
    """translate's own plugins only: what a test installed (a broken plugin, say) is neither loaded nor kept."""
    from translate.plugin_host.manager import PluginRegistry

    return PluginRegistry(autoload=False)


def tiny_options(model: str, registry: "PluginRegistry | None" = None) -> dict[str, Any]:
    """``Model.tiny_options`` of ``model``: the options of its smallest instance that runs every network at 32 px.

    ``registry`` finds a model plugin (default: the built-in models).
    """
    return dict((registry or _builtin_models()).model(model).tiny_options)


def tiny_model_options(model: str, registry: "PluginRegistry | None" = None, **extra: Any) -> dict[str, str]:
    """:func:`tiny_options` plus ``extra``, as strings: what ``TrainConfig.model_options`` and ``--model-opt`` take."""
    return {key: str(value) for key, value in {**tiny_options(model, registry), **extra}.items()}


def tiny_flags(model: str, registry: "PluginRegistry | None" = None, **extra: Any) -> list[str]:
    """``--model-opt key=value`` for each of :func:`tiny_model_options`: a tiny model from the command line."""
    return [arg for key, value in tiny_model_options(model, registry, **extra).items()
            for arg in ("--model-opt", f"{key}={value}")]


def tiny_config(out: Path | str | None, model: str = "cyclegan", loss: str = "lsgan", *,
                model_options: dict[str, str] | None = None, registry: "PluginRegistry | None" = None,
                **settings: Any) -> "TrainConfig":
    """A :class:`~translate.train.trainer.TrainConfig` of a tiny run into ``out``: one step of ``model``'s
    :func:`tiny_options` at :data:`TINY_IMAGE_SIZE`.

    ``model_options`` are added to the tiny options (and override them); ``settings`` are any other
    ``TrainConfig`` fields (``steps``, ``sample_every``, ``preset`` ...).
    """
    from translate.train.trainer import TrainConfig

    values: dict[str, Any] = dict(model=model, loss=loss, out=None if out is None else str(out), steps=1,
                                  image_size=TINY_IMAGE_SIZE)
    values.update(settings)
    values["model_options"] = tiny_model_options(model, registry, **(model_options or {}))
    return TrainConfig(**values)


def train(config: "TrainConfig") -> Path:
    """Train ``config`` to its end (no progress bar); the last checkpoint folder."""
    from translate.train.trainer import Trainer

    return Trainer(config).train(progress=False)


# -- run folders --------------------------------------------------------------------------------------------------


def fresh_copy(run: Path, folder: Path, name: str = "run") -> Path:
    """A copy of ``run`` as ``folder/name`` (its ``latest`` link kept), without the ONNX models other tests
    cached in it: what a test that changes a run works on, never the shared run itself."""
    from translate.convert.onnx_cache import CACHE_FOLDER

    return Path(shutil.copytree(run, folder / name, symlinks=True, ignore=shutil.ignore_patterns(CACHE_FOLDER)))


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """The lines of ``run``'s ``metrics.jsonl``, one dict per logged step."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def logged_steps(run: Path) -> list[int]:
    """The steps ``run``'s ``metrics.jsonl`` logged, in order."""
    return [line["step"] for line in read_metrics(run)]


def run_description(run: Path) -> dict[str, Any]:
    """``checkpoint.json`` of ``run``'s latest checkpoint."""
    return json.loads((run / "latest" / "checkpoint.json").read_text())


# -- the command line ---------------------------------------------------------------------------------------------


def cli(*args: Any) -> "Result":
    """``translate ARGS...`` in this process (click's runner; arguments may be paths or numbers)."""
    from click.testing import CliRunner

    from translate.cli import main

    return CliRunner().invoke(main, [str(arg) for arg in args])


def one_error_line(result: "Result") -> str:
    """The one line ``translate: error: ...`` a usage error (exit status 2) prints; asserts it is alone."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("translate: error: "), result.stderr
    return lines[0]


def pip_install_example(package: Path, root: Path, module: str) -> tuple[Path, Path]:
    """Install the example plugin package folder ``package`` with pip into ``root/site``; return ``(site,
    source)``, ``source`` a copy of the folder without ``module``'s file, so its own tests can only import the
    installed one. Nothing is downloaded and the shared environment is not modified."""
    source, site = root / "source", root / "site"
    shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                   ".pytest_cache"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(site), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )
    (source / f"{module}.py").unlink()
    return site, source


def assert_example_tests_pass(source: Path, env: dict[str, str], timeout: int) -> None:
    """Run an installed example package's own tests (in its ``source`` copy, through translate's pytest plugin
    only) in a subprocess with ``env``, and assert they ran and passed."""
    result = subprocess.run([str(Path(sys.executable).parent / "pytest"), "-q", "-p", "translate.pytest_plugin"],
                            capture_output=True, text=True, env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
                            cwd=source, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
