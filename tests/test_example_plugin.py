"""The example third-party plugin (plugins/translate-loss-sensitive): pip installs it, it trains with every model.

The package is pip-installed into a throw-away folder put on ``PYTHONPATH`` of the
subprocesses, so the shared environment is never modified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TRANSLATE, assert_example_tests_pass, pip_install_example, tiny_flags
from translate.cli.config import tomllib  # the standard tomllib, or tomli on Python 3.10
from translate.plugin_host.manager import PluginRegistry

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "translate-loss-sensitive"
MODULE = "translate_loss_sensitive"
REGISTRY = PluginRegistry()


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """``(site, source)``: the package installed with pip into ``site``; ``source`` a copy of its folder
    without the module, so its tests can only import the installed one."""
    return pip_install_example(EXAMPLE, tmp_path_factory.mktemp("example-plugin"), MODULE)


def environment(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}


def test_the_main_distribution_does_not_ship_the_example():
    setuptools = tomllib.loads((EXAMPLE.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["translate_plugins"] == "plugins"
    assert "translate_plugins" in setuptools["packages"]
    assert not any(name.startswith("translate_plugins.") for name in setuptools["packages"])  # no subfolder
    assert not (EXAMPLE.parent / f"{MODULE}.py").exists()  # not a module of translate_plugins either


def test_the_main_distribution_ships_every_subpackage():
    """A plain ``pip install .`` installs only the listed packages: a missing one breaks the installed command."""
    root = EXAMPLE.parents[1]
    packages = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    on_disk = {".".join(init.parent.relative_to(root).parts) for init in (root / "translate").rglob("__init__.py")}
    assert on_disk and not on_disk - set(packages)


def test_pip_install_adds_the_objective_with_its_distribution(example, tmp_path):
    site, _ = example
    assert (site / f"{MODULE}.py").is_file()
    result = subprocess.run([str(TRANSLATE), "plugins", "--json"], capture_output=True, text=True,
                            env=environment(site), cwd=tmp_path, timeout=120)
    listed = {plugin["name"]: plugin for plugin in json.loads(result.stdout)["plugins"]}
    assert listed["loss-sensitive"] == {
        "name": "loss-sensitive", "distribution": "translate-loss-sensitive", "version": "0.1.0", "module": MODULE,
        "objectives": ["loss-sensitive"], "models": [], "loggers": [], "hooks": ["translate_objectives"],
    }


def test_it_trains_with_every_model(example, tmp_path):
    site, _ = example
    commands = []
    for model in REGISTRY.names("model"):
        commands.append(["train", "--model", model, "--loss", "loss-sensitive", "--loss-opt", "hinge_weight=0.5",
                         "--steps", "2", "--image-size", "32", "--sample-every", "1000",
                         "--out", str(tmp_path / model), *tiny_flags(model)])
    # one process runs the command line once per model (importing torch once, not four times)
    script = ("import json, sys\nfrom translate.cli import main\n"
              "for args in json.loads(sys.argv[1]):\n    main(args, prog_name='translate', standalone_mode=False)\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True,
                            env=environment(site), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for model in REGISTRY.names("model"):
        saved = json.loads((tmp_path / model / "latest" / "checkpoint.json").read_text())
        assert saved["model"] == model and saved["objective"] == "loss-sensitive"
        assert saved["objective_options"] == {"hinge_weight": 0.5, "margin_scale": 1.0, "distance": "l1"}
        logged = json.loads((tmp_path / model / "metrics.jsonl").read_text().splitlines()[-1])
        assert any(key.endswith("/penalty") for key in logged), f"{model}: the margin hinge is not logged: {logged}"


def test_its_own_tests_pass_against_the_installed_package(example):
    site, source = example
    assert_example_tests_pass(source, environment(site), timeout=300)
