"""The example model plugin (plugins/translate-gcgan): pip installs it, it is listed and described, it trains,
converts and exports A to B, refuses B to A, and its own tests (translate's model check) pass.

The package is pip-installed into a throw-away folder put on ``PYTHONPATH`` of the subprocesses, so the
shared environment is never modified.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TRANSLATE, assert_example_tests_pass, pip_install_example
from translate.data.sample import SAMPLE_ROOT

EXAMPLE = Path(__file__).resolve().parents[1] / "plugins" / "translate-gcgan"
MODULE = "translate_gcgan"
REFUSED = ("translate: error: model 'gcgan' translates A to B only (one generator), got direction 'BtoA'; "
           "to translate B to A, train a model with trainA and trainB swapped")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """``(site, source)``: the package installed with pip into ``site``; ``source`` a copy of its folder
    without the module, so its tests can only import the installed one."""
    return pip_install_example(EXAMPLE, tmp_path_factory.mktemp("example-model-plugin"), MODULE)


def environment(site: Path) -> dict[str, str]:
    """The subprocesses' environment: the installed example, and this checkout's translate."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(EXAMPLE.parents[1])]), "OMP_NUM_THREADS": "1"}


def test_the_main_distribution_does_not_ship_the_example():
    assert not (EXAMPLE.parent / f"{MODULE}.py").exists()  # not a module of translate_plugins


def test_pip_install_adds_the_model_with_its_distribution(example, tmp_path):
    site, _ = example
    result = subprocess.run([str(TRANSLATE), "plugins", "--json"], capture_output=True, text=True,
                            env=environment(site), cwd=tmp_path, timeout=120)
    listed = {plugin["name"]: plugin for plugin in json.loads(result.stdout)["plugins"]}
    assert listed["gcgan"] == {
        "name": "gcgan", "distribution": "translate-gcgan", "version": "0.1.0", "module": MODULE,
        "objectives": [], "models": ["gcgan"], "loggers": [], "hooks": ["translate_models"],
    }


def test_plugins_show_prints_the_options_and_the_step_order_of_the_docstring(example, tmp_path):
    site, _ = example
    result = subprocess.run([str(TRANSLATE), "plugins", "show", "gcgan"], capture_output=True, text=True,
                            env=environment(site), cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["model gcgan", "  from:          plugin 'gcgan', translate-gcgan 0.1.0, class "
                                        "translate_gcgan.GcGAN"]
    assert '    geometry         str    default "rot"' in lines
    assert "  Step order per iteration (with an objective's critic_steps > 1 the generator steps on the first" in lines
    for part in ("first:", "generator step:", "critic step:", "critic:", "image pool:"):
        assert any(line.strip().startswith(part) for line in lines), part


def test_it_trains_converts_and_exports_a_to_b_and_refuses_b_to_a(example, tmp_path):
    site, _ = example
    run, out = tmp_path / "run", tmp_path / "out"
    commands = [
        ["train", "--model", "gcgan", "--steps", "2", "--image-size", "32", "--sample-every", "1000",
         "--model-opt", "ngf=8", "--model-opt", "ndf=8", "--model-opt", "geometry=vflip", "--out", str(run)],
        ["convert", str(run), str(SAMPLE_ROOT / "testA"), str(out), "--device", "cpu"],
        ["convert", str(run), str(SAMPLE_ROOT / "testA"), str(tmp_path / "refused"), "--direction", "BtoA"],
        ["export", str(run), str(tmp_path / "g.pt"), "--format", "torchscript"],
        ["export", str(run), str(tmp_path / "refused.pt"), "--format", "torchscript", "--direction", "BtoA"],
    ]
    # one process runs every command (importing torch once); each result is (exit status, last stderr line)
    script = ("import contextlib, io, json, sys\nfrom translate.cli import main\nresults = []\n"
              "for args in json.loads(sys.argv[1]):\n"
              "    err = io.StringIO()\n"
              "    with contextlib.redirect_stderr(err):\n"
              "        try:\n            main(args, prog_name='translate')\n"
              "        except SystemExit as exc:\n            code = exc.code or 0\n"
              "    results.append([code, (err.getvalue().strip().splitlines() or [''])[-1]])\n"
              "print(json.dumps(results))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(commands)], capture_output=True, text=True,
                            env=environment(site), cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.splitlines()[-1])  # after what the commands print
    (trained, _), (converted, _), refused_convert, (exported, _), refused_export = outcomes
    assert (trained, converted, exported) == (0, 0, 0)
    assert refused_convert == [2, REFUSED] and refused_export == [2, REFUSED]
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())
    assert saved["model"] == "gcgan" and saved["model_metadata"] == {"input": "A", "output": "B"}
    assert saved["model_options"]["geometry"] == "vflip"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (SAMPLE_ROOT / "testA").iterdir())
    assert (tmp_path / "g.pt").is_file()
    assert not (tmp_path / "refused").exists() and not (tmp_path / "refused.pt").exists()


def test_its_own_tests_pass_against_the_installed_package(example):
    site, source = example
    assert_example_tests_pass(source, environment(site), timeout=600)
