"""Fixtures and hooks: one thread per worker, a plugin cache of each test's own, fake installed plugins, tiny runs.

Helpers that are not fixtures (the console script, plugin sources, TrainConfig builders ...) are in helpers.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from helpers import tiny_config, train, write_distribution


def pytest_configure(config):
    """One thread per pytest-xdist worker (``pytest -n 2`` on two cores), for it and what it starts.

    torch's default of one thread per core, in every worker, would oversubscribe the cores;
    the tests' small networks gain more from two processes than from two threads.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)


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


class TinyRuns:
    """Tiny runs trained once and shared: ``runs(model, loss="lsgan", **settings) -> Path`` (see ``tiny_run``)."""

    #: A tiny run's length unless a test asks for another: two steps move every network twice.
    STEPS = 2

    def __init__(self, root: Path):
        self.root = root
        self.fingerprints: dict[Path, dict[str, tuple[int, int]]] = {}

    def __call__(self, model: str, loss: str = "lsgan", **settings: Any) -> Path:
        config = tiny_config(None, model, loss, **{"steps": self.STEPS, "sample_every": 10**6, **settings})
        described = json.dumps({key: value for key, value in asdict(config).items() if key != "out"}, sort_keys=True)
        folder = self.root / f"{model}-{loss}-{hashlib.sha256(described.encode()).hexdigest()[:12]}"
        run = folder / model  # named after its model, as the tests' own run folders were
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(f"{folder}.lock"):  # the first worker to need a run trains it; the others wait, then read it
            if not (folder / "trained").exists():
                shutil.rmtree(folder, ignore_errors=True)  # a run another process left unfinished
                folder.mkdir()
                train(replace(config, out=str(run)))
                (folder / "trained").write_text(described)
        self.fingerprints.setdefault(run, fingerprint(run))
        return run

    def changed(self) -> dict[Path, list[str]]:
        """The shared runs some test changed, with the files added, removed or rewritten in each."""
        changes = {}
        for run, before in self.fingerprints.items():
            after = fingerprint(run)
            differing = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
            if differing:
                changes[run] = differing
        return changes


def fingerprint(run: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under ``run``, by relative path."""
    return {str(path.relative_to(run)): (path.lstat().st_size, path.lstat().st_mtime_ns)
            for path in sorted(run.rglob("*"))}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``tiny_run(model, loss="lsgan", **settings) -> Path``: a run of ``model`` at its ``Model.tiny_options``
    (32 px, two steps unless ``steps`` says otherwise), trained once per distinct configuration.

    ``settings`` are ``TrainConfig`` fields (``model_options`` are added to the tiny options) and
    ``registry``, a ``PluginRegistry`` that finds a model plugin's tiny options. Under
    pytest-xdist the workers share the runs (a file lock in the session's common temporary folder
    lets the first worker that needs one train it). The runs are shared, so they are read-only:
    a test that changes one (damages it, resumes it, caches an ONNX model or writes an evaluation
    into it) works on ``helpers.fresh_copy(run, tmp_path)``; a shared run found changed at the end
    of the session is an error. A module asks for its runs in module-scoped fixtures (or in tests
    that patch nothing), so that a run is trained before, not under, the monkeypatches of the test
    that first needs it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' temporary folders are siblings in the session's
    runs = TinyRuns(root / "tiny-runs")
    yield runs
    changed = runs.changed()
    assert not changed, f"tests changed shared tiny runs (work on helpers.fresh_copy instead): {changed}"
