"""Shared fixtures: fake installed plugin distributions and small run helpers."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest


#: The console script pip installed next to this Python.
TRANSLATE = Path(sys.executable).parent / "translate"


def pytest_configure(config):
    """One thread per pytest-xdist worker (``pytest -n 2`` on two cores), for it and what it starts.

    torch's default of one thread per core, in every worker, would oversubscribe the cores;
    the tests' small networks gain more from two processes than from two threads.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


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


@pytest.fixture(autouse=True)
def plugin_cache(tmp_path_factory, monkeypatch) -> Path:
    """A plugin catalog cache folder of the test's own (``translate plugins`` never reads or writes ~/.cache)."""
    folder = tmp_path_factory.mktemp("plugin-cache")
    monkeypatch.setenv("TRANSLATE_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(dist, modules, entry_points, group="translate")`` makes a fake plugin distribution visible."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created: list[str] = []

    def install(dist: str, modules: dict[str, str], entry_points: dict[str, str], group: str = "translate") -> Path:
        created.extend(modules)
        return write_distribution(site, dist, modules, entry_points, group)

    yield install
    for name in created:
        sys.modules.pop(name, None)


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
