"""`translate train` catches what the conformance kit catches: each way authors break objective plugins, as
installed pip packages, ends in one line naming the plugin, and no finished step is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from helpers import TRANSLATE, tiny_flags, write_distribution
from translate.cli import main

#: A tiny CycleGAN on the embedded sample set, one image per step.
TINY = ("--model", "cyclegan", "--image-size", "32", *tiny_flags("cyclegan"), "--sample-every", "1000",
        "--device", "cpu")

#: Plugin module template: one objective ``{name}`` whose methods the cases below replace.
PLUGIN = '''
import torch
from translate import hookimpl
from translate.objective import Objective, per_sample


class {cls}(Objective):
    name = "{name}"
    critic = "patch"
    per_sample_critic = True

    def critic_loss(self, real, fake):
        return (fake.score.mean() - 1) ** 2 + real.score.mean() ** 2

    def generator_loss(self, fake):
        return (fake.score.mean() - 1) ** 2

{extra}

@hookimpl
def translate_objectives():
    return [{cls}]
'''

#: case -> (class name, methods added to or replacing the template's, the one line `translate train` prints)
BROKEN = {
    "penalty-without-graph": ("NoGraphPenalty", '''
    def penalty(self, critic, real_input, fake_input):
        images = real_input.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(images).score.sum(), images)  # no create_graph=True
        return grad.flatten(1).norm(dim=1).sub(1).square().mean()
''', "NoGraphPenalty: penalty gives no gradient to the critic, so it trains nothing"),
    "detached-penalty": ("DetachedPenalty", '''
    def penalty(self, critic, real_input, fake_input):
        return critic(real_input).score.square().mean().detach()
''', "DetachedPenalty: penalty gives no gradient to the critic, so it trains nothing"),
    "per-sample-critic-loss": ("PerSample", '''
    def critic_loss(self, real, fake):
        return per_sample(fake.score) - per_sample(real.score)
''', "PerSample: critic_loss returned a tensor of shape (1,); it must return a 0-dim (scalar) tensor, "
     "e.g. reduce with .mean()"),
    "generator-loss-without-mean": ("NoMean", '''
    def generator_loss(self, fake):
        return (fake.score - 1) ** 2
''', "NoMean: generator_loss returned a tensor of shape (1, 1, 2, 2); it must return a 0-dim (scalar) tensor, "
     "e.g. reduce with .mean()"),
    "graph-kept-between-steps": ("KeptGraph", '''
    previous = None

    def critic_loss(self, real, fake):
        loss = fake.score.mean() - real.score.mean()
        total = loss if self.previous is None else loss + self.previous
        self.previous = loss  # the graph of the last step, freed by its backward
        return total
''', "KeptGraph: critic_loss (with its penalty) could not be backpropagated in a critic step of model 'cyclegan': "
     "Trying to backward through the graph a second time"),
}


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path (and on the PYTHONPATH of commands started from the test) for fake distributions."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    yield folder
    for name in [name for name in sys.modules if name.startswith("broken_")]:
        del sys.modules[name]


def install(site, name: str, cls: str, extra: str, group: str = "translate") -> None:
    module = f"broken_{name.replace('-', '_')}"
    write_distribution(site, f"translate-{name}", {module: PLUGIN.format(name=name, cls=cls, extra=extra)},
                       {name: module}, group)


def train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


@pytest.mark.parametrize("case", BROKEN)
def test_a_plugin_that_breaks_the_contract_is_one_line_naming_it(site, tmp_path, case):
    cls, extra, problem = BROKEN[case]
    install(site, case, cls, extra)
    result = train("--loss", case, "--out", str(tmp_path / "run"), "--steps", "3", *TINY)
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.stderr.splitlines() if line.startswith("translate: error: ")]
    assert line.startswith(f"translate: error: plugin '{case}' (translate-{case} 1.2.3) breaks the objective "
                           "contract in "), result.stderr
    assert problem in line
    assert f"`translate plugins check {case}` lists every problem" in line
    assert "Traceback" not in result.stderr


def test_the_checks_step_aside_for_authors_who_know_better(site, tmp_path):
    cls, extra, _ = BROKEN["detached-penalty"]
    install(site, "detached-penalty", cls, extra)
    result = train("--loss", "detached-penalty", "--out", str(tmp_path / "run"), "--steps", "2", "--no-plugin-checks",
                   *TINY)
    assert result.exit_code == 0, result.output


FORGETFUL = '''
    def __init__(self, decay: float = 0.9):
        self.decay = decay
        self.ema_real = 0.0  # LeCam's moving average, kept in a plain attribute

    def update(self, real, fake):
        self.ema_real = self.decay * self.ema_real + (1 - self.decay) * real.score.mean().item()
        return {"ema_real": self.ema_real}
'''


def test_state_kept_outside_state_dict_is_one_warning_at_the_first_checkpoint(site, tmp_path):
    install(site, "forgetful", "Forgetful", FORGETFUL)
    result = train("--loss", "forgetful", "--out", str(tmp_path / "run"), "--steps", "4", "--checkpoint-every", "2",
                   *TINY)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "outside state_dict()" in line]
    assert warned == ["translate: warning: plugin 'forgetful' (translate-forgetful 1.2.3): objective 'forgetful' "
                      "keeps 'ema_real' outside state_dict(): they changed during training, but a checkpoint does "
                      "not carry them, so --resume starts them afresh; return them from state_dict() and set them "
                      "in load_state_dict()"], result.stderr


FAILS_AT_STEP_6 = '''
    calls = 0  # CycleGAN asks for two generator losses per step: call 11 is the first of step 6

    def generator_loss(self, fake):
        type(self).calls += 1
        if type(self).calls == 11:
            raise RuntimeError("the loss exploded")
        return (fake.score.mean() - 1) ** 2
'''


def test_a_plugin_failing_mid_run_loses_no_finished_step_and_resume_says_what_it_restored(site, tmp_path):
    install(site, "flaky", "Flaky", FAILS_AT_STEP_6)
    run = tmp_path / "run"
    result = train("--loss", "flaky", "--out", str(run), "--steps", "8", "--checkpoint-every", "100", *TINY)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].startswith(
        "translate: error: plugin 'flaky' (translate-flaky 1.2.3) failed in Flaky.generator_loss at ")
    assert f"saved step 5 to '{run / 'checkpoints' / '000005'}'; `translate train --resume` continues" in result.stderr
    assert json.loads((run / "latest" / "checkpoint.json").read_text())["step"] == 5
    resumed = train("--loss", "flaky", "--out", str(run), "--resume", *TINY[:2])  # the fixed plugin: calls go on
    assert resumed.exit_code == 0, resumed.output
    assert (f"resumed at step 5 of 8 from '{(run / 'checkpoints' / '000005').resolve()}'; restored: weights, "
            "optimizers (generator, critic), learning-rate schedules (generator, critic), model state (iteration, "
            "pool_A, pool_B), RNG") in resumed.stderr
    assert json.loads((run / "latest" / "checkpoint.json").read_text())["step"] == 8


def test_resume_names_the_objective_state_it_restored(tmp_path):
    run = tmp_path / "run"
    assert train("--loss", "began", "--out", str(run), "--steps", "2", *TINY).exit_code == 0
    resumed = train("--loss", "began", "--out", str(run), "--steps", "3", "--resume")
    assert "objective state (D_A: gamma, k; D_B: gamma, k)" in resumed.stderr, resumed.output


def test_sigterm_saves_the_last_finished_step_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    command = [str(TRANSLATE), "train", "--loss", "lsgan", "--out", str(run)]
    process = subprocess.Popen([*command, "--steps", "400", "--checkpoint-every", "1000", *TINY],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 1, stderr  # stopped, as Ctrl-C stops it
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())["step"]
    assert 3 <= saved < 400 and f"saved step {saved} to" in stderr
    resumed = subprocess.run([*command, "--steps", str(saved + 2), "--resume"], capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {saved} of {saved + 2}" in resumed.stderr


def test_translate_plugins_lists_an_entry_point_in_a_look_alike_group_as_a_problem(site):
    assert CliRunner().invoke(main, ["plugins"]).exit_code == 0  # a listing cached before the plugin came
    install(site, "misgrouped", "Misgrouped", "", group="translate.objectives")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1, result.output  # as for every problem listed
    assert ("problem: distribution 'translate-misgrouped' declares misgrouped = 'broken_misgrouped' in the "
            "entry-point group 'translate.objectives', which translate does not read; declare it under "
            "[project.entry-points.translate]") in result.stderr.splitlines()
