"""A plugin that fails while a command runs is named in one line; --debug shows the traceback."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from PIL import Image

from helpers import objective_plugin, tiny_flags, write_distribution
from translate.cli import main
from translate.objective import CriticOutput
from translate.plugin_host.manager import PluginRegistry

#: A loss plugin whose generator loss fails inside a helper of its own, in torch.
BAD_LOSS = objective_plugin("badloss", "BadObjective").replace(
    '''    def generator_loss(self, fake):
        return -self.scale * fake.score.mean()''',
    '''    def generator_loss(self, fake):
        return -self.scale * _mismatched(fake.score)''',
) + '''

def _mismatched(score):
    return score.mean() + torch.ones(3) + torch.ones(2)
'''
BAD_LINE = next(number for number, line in enumerate(BAD_LOSS.splitlines(), 1) if "torch.ones(2)" in line)
BAD_MESSAGE = (f"translate: error: plugin 'badloss' (bad-loss 1.2.3) failed in BadObjective.generator_loss at "
               f"bad_loss.py:{BAD_LINE}: RuntimeError: The size of tensor a (3) must match the size of tensor b (2) "
               "at non-singleton dimension 0")
#: A loss plugin that ends the process from its generator loss.
EXITING_LOSS = objective_plugin("exitloss", "ExitObjective").replace(
    "return -self.scale * fake.score.mean()", "raise SystemExit(0)"
)

TINY = ("--steps", "2", "--image-size", "32", *tiny_flags("pix2pix"))


def train(out, loss: str, *options: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, [*options, "train", "--model", "pix2pix", "--loss", loss, *TINY, "--out", str(out)],
                              env=env)


def test_a_plugin_failing_in_training_is_one_line_naming_it_its_call_and_its_error(installed, tmp_path):
    installed("bad-loss", {"bad_loss": BAD_LOSS}, {"badloss": "bad_loss"})
    result = train(tmp_path / "run", "badloss")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == f"{BAD_MESSAGE} (translate --debug shows the traceback)"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("switch", [("--debug",), ()], ids=["--debug", "TRANSLATE_DEBUG"])
def test_debug_shows_the_traceback_of_a_failing_plugin(installed, tmp_path, switch):
    installed("bad-loss", {"bad_loss": BAD_LOSS}, {"badloss": "bad_loss"})
    result = train(tmp_path / "run", "badloss", *switch, env=None if switch else {"TRANSLATE_DEBUG": "1"})
    assert result.exit_code == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert f'bad_loss.py", line {BAD_LINE}, in _mismatched' in result.stderr
    assert result.stderr.splitlines()[-1] == BAD_MESSAGE


def test_a_plugin_calling_sys_exit_in_training_fails_instead_of_exiting_0(installed, tmp_path):
    installed("exit-loss", {"exit_loss": EXITING_LOSS}, {"exitloss": "exit_loss"})
    result = train(tmp_path / "run", "exitloss")
    assert result.exit_code == 2
    assert "plugin 'exitloss' (exit-loss 1.2.3) failed in ExitObjective.generator_loss at exit_loss.py:" in result.stderr
    assert result.stderr.splitlines()[-1].endswith(": SystemExit: 0 (translate --debug shows the traceback)")


def test_an_error_in_translates_own_code_keeps_its_traceback(installed, tmp_path, monkeypatch):
    installed("my-loss", {"my_loss_pkg": objective_plugin("meanscore")}, {"meanscore": "my_loss_pkg"})

    def broken(self, logged):
        raise RuntimeError("a bug of translate")

    monkeypatch.setattr("translate.train.trainer.Trainer._check_finite", broken)
    result = train(tmp_path / "run", "meanscore")
    assert result.exit_code == 1
    assert isinstance(result.exception, RuntimeError) and str(result.exception) == "a bug of translate"
    assert "translate: error" not in result.stderr


def test_blame_names_the_innermost_third_party_plugin_and_the_call_into_it(installed):
    import torch

    installed("bad-loss", {"bad_loss": BAD_LOSS}, {"badloss": "bad_loss"})
    registry = PluginRegistry()
    with pytest.raises(RuntimeError) as raised:
        registry.objective("badloss")().generator_loss(CriticOutput(torch.zeros(1, 1, 2, 2)))
    failure = registry.blame(raised.value)
    assert (failure.plugin.name, failure.plugin.distribution, failure.plugin.version) == ("badloss", "bad-loss", "1.2.3")
    assert (failure.call, failure.location) == ("BadObjective.generator_loss", f"bad_loss.py:{BAD_LINE}")
    assert failure.error is raised.value


def test_blame_leaves_builtin_plugins_and_other_code_alone(installed):
    installed("bad-loss", {"bad_loss": BAD_LOSS}, {"badloss": "bad_loss"})
    registry = PluginRegistry()
    with pytest.raises(AttributeError) as builtin:
        registry.objective("lsgan")().generator_loss(None)  # fails inside translate_plugins.lsgan
    assert registry.blame(builtin.value) is None
    with pytest.raises(ZeroDivisionError) as elsewhere:
        1 / 0
    assert registry.blame(elsewhere.value) is None


def test_blame_names_a_plugin_module_given_with_plugin_option(tmp_path, monkeypatch):
    import torch

    (tmp_path / "loose_bad.py").write_text(BAD_LOSS)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PluginRegistry(extra_modules=("loose_bad",))
    with pytest.raises(RuntimeError) as raised:
        registry.objective("badloss")().generator_loss(CriticOutput(torch.zeros(1, 1, 2, 2)))
    assert str(registry.blame(raised.value)).startswith(
        "plugin 'loose_bad' (module loose_bad) failed in BadObjective.generator_loss at loose_bad.py:"
    )


#: A model plugin that trains but fails in conversion and export.
FLAKY_MODEL = '''
from translate import hookimpl
from translate.models.pix2pix import Pix2Pix


class FlakyPix(Pix2Pix):
    """pix2pix that trains but cannot translate."""

    name = "flakypix"

    def sample_columns(self, batch):
        return [batch["A"], self.G(batch["A"]), batch["B"]]

    def translate(self, images, **condition):
        return self.missing_network(images)

    def inference_network(self, **condition):
        raise KeyError("generator")


@hookimpl
def translate_models():
    return [FlakyPix]
'''


@pytest.fixture(scope="module")
def flaky_run(tiny_run, tmp_path_factory):
    """A folder holding ``run``, a one-step tiny run of the model plugin ``flakypix`` (shared: read-only), and
    ``in``, an image to convert; the plugin is installed for the tests of this module that use it."""
    root = tmp_path_factory.mktemp("flaky")
    (root / "site").mkdir()
    write_distribution(root / "site", "flaky-model", {"flaky_model": FLAKY_MODEL}, {"flakypix": "flaky_model"})
    (root / "in").mkdir()
    Image.new("RGB", (32, 32), (30, 90, 200)).save(root / "in" / "a.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root / "site"))
        run = tiny_run("flakypix", steps=1, registry=PluginRegistry())  # the registry that finds the plugin
        (root / "run").symlink_to(run, target_is_directory=True)
        yield root
    sys.modules.pop("flaky_model", None)


@pytest.mark.parametrize("command, call", [
    (("convert", "{run}", "{root}/in", "{root}/out"), "FlakyPix.translate"),
    (("export", "{run}", "{root}/g.pt", "--format", "torchscript"), "FlakyPix.inference_network"),
    (("eval", "{run}", "--data", "sample"), "FlakyPix.translate"),
], ids=["convert", "export", "eval"])
def test_a_model_plugin_failing_in_convert_export_or_eval_is_one_line(flaky_run, command, call):
    args = [part.format(run=flaky_run / "run", root=flaky_run) for part in command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"translate: error: plugin 'flakypix' (flaky-model 1.2.3) failed in {call} at flaky_model.py:")
    assert "Traceback" not in result.stderr
    assert not (flaky_run / "g.pt").exists()


def test_debug_shows_why_an_installed_plugin_failed_to_load(installed):
    installed("broken-loss", {"broken_loss": "def load():\n    raise RuntimeError('boom')\n\nload()\n"},
              {"broken": "broken_loss"})
    problem = "plugin 'broken' from 'broken-loss' (broken_loss) failed to load: RuntimeError: boom; skipped"
    quiet = CliRunner().invoke(main, ["plugins"])
    assert quiet.stderr == f"problem: {problem}\n"
    result = CliRunner().invoke(main, ["--debug", "plugins"])
    assert result.exit_code == 1
    assert 'broken_loss.py", line 2, in load' in result.stderr and "RuntimeError: boom" in result.stderr
    assert result.stderr.splitlines()[-2:] == [f"translate: warning: {problem}", f"problem: {problem}"]
