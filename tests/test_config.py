"""Configuration files: `translate train --config run.toml`, precedence, errors, --print-config, config.toml."""

from __future__ import annotations

import json
import math

import click
import pytest
from click.testing import CliRunner

from helpers import cli
from translate.cli.common import config_file_options, parse_key_values, user_errors
from translate.cli.config import dumps, tomllib  # the standard tomllib, or tomli on Python 3.10


def printed(*args: str) -> dict:
    result = cli("train", *args, "--print-config")
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.stdout)


@pytest.fixture
def config(tmp_path):
    """``config(text)`` writes ``run.toml`` and returns its path."""

    def write(text: str) -> str:
        path = tmp_path / "run.toml"
        path.write_text(text)
        return str(path)

    return write


def test_file_values_fill_options_and_command_line_flags_override_them(config):
    path = config('model = "pix2pix"\nsteps = 3\nbatch_size = 2\nplugin = ["a_module"]\n'
                  '[model-opt]\nngf = 16\nndf = 8\ndropout = false\n[loss-opt]\nreal_target = 0.9\n')
    resolved = printed("--config", path, "--steps", "5", "--model-opt", "ngf=32")
    assert resolved["model"] == "pix2pix"  # from the file
    assert resolved["steps"] == 5  # the command line wins
    assert resolved["batch-size"] == 2  # batch_size and batch-size are one key
    assert resolved["plugin"] == ["a_module"]
    assert resolved["model-opt"] == {"ngf": "32", "ndf": "8", "dropout": "false"}  # merged key by key
    assert resolved["loss-opt"] == {"real_target": "0.9"}
    assert resolved["loss"] == "lsgan" and resolved["seed"] == 0  # defaults stay
    assert "data" not in resolved  # None (the default) is left out


def test_print_config_without_a_file_shows_the_defaults_and_exits_before_training(tmp_path):
    resolved = printed("--out", str(tmp_path / "run"))
    assert resolved["model"] == "cyclegan" and resolved["batch-size"] == 1
    assert not (tmp_path / "run").exists()


def test_printed_configuration_reads_back_to_itself(config):
    first = cli("train", "--config", config('loss = "began"\nepochs = 2\n[loss-opt]\ngamma = 0.5\n'), "--print-config")
    again = cli("train", "--config", config(first.stdout), "--print-config")
    assert again.exit_code == 0 and again.stdout == first.stdout


@pytest.mark.parametrize("text, message", [
    ("bach-size = 2\n", "unknown key 'bach-size' (valid keys: attrs, batch-size, "),
    ("config = 'other.toml'\n", "unknown key 'config'"),
    ('steps = "ten"\n', "key 'steps' expects an integer, got \"ten\" (a string)"),
    ("steps = 2.5\n", "key 'steps' expects an integer, got 2.5 (a number)"),
    ("batch-size = 0\n", "key 'batch-size': 0 is not in the range x>=1"),
    ('direction = "sideways"\n', "key 'direction': 'sideways' is not one of 'AtoB', 'BtoA'"),
    ('data = "no/such/folder"\n', "key 'data': Directory 'no/such/folder' does not exist"),
    ('resume = "yes"\n', "key 'resume' expects a boolean, got \"yes\" (a string)"),
    ("model-opt = 3\n", "key 'model-opt' expects an array or a table, got 3 (an integer)"),
    ("[plugin]\nx = 1\n", "key 'plugin' expects an array, got a table"),
    ("[model-opt]\nngf = [8]\n", "key 'model-opt', entry 'ngf' expects a string, number or boolean, got an array"),
    ('model-opt = ["ngf"]\n', "key 'model-opt': expected KEY=VALUE, got 'ngf'"),
    ("steps = 2\nsteps = 3\n", "is not valid TOML"),
    ("batch-size = 2\nbatch_size = 3\n", "key 'batch_size' is given twice"),
])
def test_bad_files_are_one_line_errors_naming_the_file_and_key(config, text, message):
    path = config(text)
    result = cli("train", "--config", path, "--print-config")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"translate: error: config file '{path}'")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_a_missing_file_is_named(tmp_path):
    result = cli("train", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2
    assert result.stderr == f"translate: error: config file '{tmp_path / 'nope.toml'}' not found\n"


def test_every_option_a_command_has_is_a_key_including_new_ones(config):
    @click.command()
    @click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", help="x")
    @click.option("--ema", type=click.FloatRange(0, 1), default=None, help="x")
    @click.option("--compile", "use_compile", is_flag=True, help="x")
    @click.option("--opt", "opts", multiple=True, callback=parse_key_values, help="x")
    @user_errors
    @config_file_options
    def command(**params):
        click.echo(json.dumps(params, sort_keys=True))

    path = config('precision = "bf16"\nema = 0.999\ncompile = true\n[opt]\nk = 1\n')
    result = CliRunner().invoke(command, ["--config", path])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"ema": 0.999, "opts": {"k": "1"}, "precision": "bf16", "use_compile": True}


def test_training_from_a_file_saves_the_resolved_configuration_for_resume(config, tmp_path):
    out = tmp_path / "run"
    # a file as a user writes it, the tiny model's widths spelt out (read back below)
    path = config(f'model = "pix2pix"\nsteps = 1\nimage-size = 32\nout = "{out}"\n[model-opt]\nngf = 8\nndf = 8\n')
    result = cli("train", "--config", path, "--sample-every", "7")
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "latest" / "checkpoint.json").read_text())
    assert saved["step"] == 1 and saved["model"] == "pix2pix" and saved["model_options"]["ngf"] == 8
    written = (out / "config.toml").read_text()
    assert written == cli("train", "--config", path, "--sample-every", "7", "--print-config").stdout
    resolved = tomllib.loads(written)
    assert resolved["out"] == str(out) and resolved["sample-every"] == 7
    resumed = cli("train", "--config", str(out / "config.toml"), "--resume", "--steps", "2")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "latest" / "checkpoint.json").read_text())["step"] == 2
    assert (out / "config.toml").read_text() == written  # a resumed run keeps the file of its start


def test_dumps_writes_toml_that_reads_back_exactly():
    values = {
        "text": 'quote " backslash \\ newline \n tab \t unicode é ✓',
        "integer": -3, "number": 0.0002, "big": 1e300, "flag": True, "none": False,
        "array": ["a", "b=c"], "empty": [],
        "table": {"lambda_l1": "50", "key with space": "x"}, "empty-table": {},
    }
    assert tomllib.loads(dumps(values)) == values
    assert math.isinf(tomllib.loads(dumps({"x": float("inf")}))["x"])
    assert dumps({"a": 1, "t": {"k": "v"}, "b": "s"}) == 'a = 1\nb = "s"\n\n[t]\nk = "v"\n'
