"""Fixtures and hooks: one thread per worker, a plugin cache of each test's own, fake installed plugins.

Helpers that are not fixtures (the console script, plugin sources, TrainConfig builders ...) are in helpers.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from helpers import write_distribution


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
