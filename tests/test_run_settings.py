"""Runs say what they do: settings a resumed run cannot take are named, not ignored; misplaced options and
configuration files are one line naming the file; a run killed before its first checkpoint can go on."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpers import fresh_copy
from translate.cli import main
from translate.train.trainer import Trainer, TrainConfig

#: The widths spelt out: the messages below name them ("the run has ngf=8").
TINY = ("--image-size", "32", "--model-opt", "ngf=8", "--model-opt", "ndf=8", "--sample-every", "1000",
        "--device", "cpu")


def train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.stderr.splitlines() if line.startswith("translate: error: ")]
    assert "Traceback" not in result.output
    return line


@pytest.fixture(scope="module")
def finished_run(tiny_run, tmp_path_factory):
    """A finished two-step run as ``translate train --steps 2 TINY...`` leaves it; this module's copy, as the
    tests resume it."""
    run = tiny_run("cyclegan", model_options={"ngf": "8", "ndf": "8"}, sample_every=1000, device="cpu")
    return fresh_copy(run, tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("given, named", [
    (("--model-opt", "ngf=16"), "--model-opt ngf=16 was given (the run has ngf=8)"),
    (("--model-opt", "ngf=0"), "--model-opt ngf=0 was given (the run has ngf=8)"),
    (("--model-opt", "lambda_cycle=5"), "--model-opt lambda_cycle=5 was given (the run has it unset)"),
    (("--preset", "reference"), "--preset reference was given (the run's: translate)"),
    (("--seed", "5"), "--seed 5 was given (the run's: 0)"),
    (("--image-size", "48"), "--image-size 48 was given (the run's: 32)"),
    (("--loss-opt", "real_target=0.9"), "--loss-opt real_target=0.9 was given (the run has it unset)"),
])
def test_resume_names_every_setting_it_would_have_ignored(finished_run, given, named):
    before = (finished_run / "metrics.jsonl").read_text()
    line = error_line(train("--out", str(finished_run), "--steps", "3", "--resume", *given))
    assert f"--resume: run '{finished_run}' keeps the settings it was started with, but {named}" in line
    assert "start a new run with another --out" in line
    assert (finished_run / "metrics.jsonl").read_text() == before  # nothing trained


def test_resume_takes_the_runs_own_settings_given_again(finished_run, tmp_path):
    import shutil

    run = shutil.copytree(finished_run, tmp_path / "run", symlinks=True)
    result = train("--out", str(run), "--steps", "3", "--resume", *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "latest" / "checkpoint.json").read_text())["step"] == 3


def test_the_crop_size_given_as_a_model_option_is_refused_not_dropped(tmp_path):
    line = error_line(train("--out", str(tmp_path / "run"), "--model-opt", "image_size=32", *TINY[2:]))
    assert "--model-opt image_size=32: the training crop size is --image-size" in line
    assert not (tmp_path / "run").exists()
    config = tmp_path / "run.toml"
    config.write_text('image-size = 32\ndevice = "cpu"\n[model-opt]\nimage-size = 48\nngf = 8\nndf = 8\n')
    line = error_line(train("--config", str(config), "--out", str(tmp_path / "run")))
    assert "the training crop size is --image-size" in line
    assert f"(key 'image_size' of the [model-opt] table in config file '{config}')" in line


def test_a_typo_in_a_loss_opt_table_names_the_file_and_the_table(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('loss = "began"\n[loss-opt]\ngama = 0.5\n')
    line = error_line(train("--config", str(config), "--out", str(tmp_path / "run"), *TINY))
    assert "objective 'began' has no option 'gama'" in line
    assert f"(key 'gama' of the [loss-opt] table in config file '{config}')" in line
    on_the_command_line = error_line(train("--out", str(tmp_path / "run"), "--loss", "began", "--loss-opt", "gama=0.5",
                                           *TINY))
    assert "config file" not in on_the_command_line


def test_a_configuration_file_with_a_byte_order_mark_is_read(tmp_path):
    config = tmp_path / "run.toml"
    config.write_bytes("\ufeffsteps = 1\n".encode("utf-8"))
    result = train("--config", str(config), "--out", str(tmp_path / "run"), *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "latest" / "checkpoint.json").read_text())["step"] == 1


@pytest.mark.parametrize("model", ["cyclegan", "pix2pix", "cut", "unit"])
def test_an_unknown_norm_names_the_option_norm(tmp_path, model):
    line = error_line(train("--model", model, "--out", str(tmp_path / "run"), "--model-opt", "norm=bogus", *TINY))
    assert "option 'norm' must be one of batch, instance, none, got 'bogus'" in line


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_zero(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(out=str(run), steps=2, image_size=32, device="cpu", sample_every=1000,
                         model_options={"ngf": "8", "ndf": "8"})
    Trainer(config).release()  # the folder and config.json exist; killed before a step was saved
    (run / "metrics.jsonl").write_text('{"step": 1, "G": 1.0}\n')  # logged by the killed run
    assert "exists; pass --resume" in error_line(train("--out", str(run), "--steps", "2", *TINY))
    resumed = train("--out", str(run), "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"run '{run}' has no checkpoint yet: starting it again from step 0" in resumed.stderr
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((run / "latest" / "checkpoint.json").read_text())["step"] == 2
