"""--precision on CPUs with and without reduced-precision instructions, and --precision auto."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
from PIL import Image

from helpers import cli, tiny_config
from translate.convert import Translator
from translate.errors import TranslateError
from translate.cli.common import TRAIN_PRECISION_CHOICES
from translate.devices import (AUTO, PADDING_OPERATORS, PRECISIONS, PrecisionWarning, autocast, check_precision,
                               cpu_computes_in, resolve_precision, warn_if_slow)
from translate.train.trainer import Trainer, TrainConfig

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def run_dir(tiny_run):
    """A tiny CycleGAN run (shared: read-only)."""
    return tiny_run("cyclegan")


@pytest.fixture
def cpu_without_bf16(monkeypatch):
    """This process's CPU as one with AVX2 only: oneDNN has no bf16 or fp16 kernels."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_fp16_supported", lambda: False)


@pytest.fixture
def cpu_with_bf16(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(TranslateError, match="--precision must be one of fp32, bf16, fp16, got 'int8'"):
        check_precision("int8")


def test_fp32_is_always_computed_natively(cpu_without_bf16):
    assert cpu_computes_in("fp32")
    assert not cpu_computes_in("bf16") and not cpu_computes_in("fp16")


def test_bf16_on_a_cpu_without_bf16_instructions_warns_that_it_is_slow(cpu_without_bf16):
    with pytest.warns(PrecisionWarning, match="--precision bf16 is far slower than fp32 on this CPU.*use --precision fp32"):
        warn_if_slow(CPU, "bf16")


def test_no_warning_where_the_precision_is_fast(cpu_with_bf16):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_slow(CPU, "bf16")
        warn_if_slow(CPU, "fp32")
        warn_if_slow(torch.device("cuda"), "fp16")  # only a CPU lacks the kernels


def test_translator_and_trainer_warn_but_still_run(cpu_without_bf16, run_dir, tmp_path):
    with pytest.warns(PrecisionWarning):
        translator = Translator.load(run_dir, device="cpu", precision="bf16")
    assert translator(Image.new("RGB", (20, 12), "red")).size == (20, 12)
    with pytest.warns(PrecisionWarning):
        Trainer(tiny_config(tmp_path / "bf16", precision="bf16", device="cpu"))


def test_cli_shows_the_warning_as_one_line(cpu_without_bf16, run_dir, tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (20, 12), "red").save(tmp_path / "in" / "a.png")
    result = cli("convert", run_dir, tmp_path / "in", tmp_path / "out", "--device", "cpu", "--precision", "bf16")
    assert result.exit_code == 0, result.output
    warning_lines = [line for line in result.stderr.splitlines() if "far slower" in line]
    assert warning_lines == [warning_lines[0]] and warning_lines[0].startswith("translate: warning: --precision bf16")
    assert (tmp_path / "out" / "a.png").exists()



# -- --precision auto ------------------------------------------------------------------------------------

TINY = {"model": "cyclegan", "loss": "lsgan", "image_size": 32, "model_options": {"ngf": "8", "ndf": "8"},
        "sample_every": 10**6, "device": "cpu", "loggers": ("jsonl",)}


def test_train_takes_auto_besides_the_precisions():
    assert TRAIN_PRECISION_CHOICES == (*PRECISIONS, AUTO)
    check_precision("auto", auto=True)
    with pytest.raises(TranslateError, match="--precision must be one of fp32, bf16, fp16, got 'auto'"):
        check_precision("auto")  # conversion has no auto


def test_auto_picks_bf16_where_the_cpu_computes_in_it_and_fp32_elsewhere(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert resolve_precision("auto", CPU) == "bf16"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16" and resolve_precision("fp32", CPU) == "fp32"  # given: kept
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


@pytest.mark.parametrize("has_bf16", [True, False])
def test_auto_picks_bf16_on_gpus_that_have_it(monkeypatch, has_bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: has_bf16)
    assert resolve_precision("auto", torch.device("cuda")) == ("bf16" if has_bf16 else "fp32")


@pytest.mark.parametrize("has_bf16, picked", [(True, "bf16"), (False, "fp32")])
def test_a_new_run_records_the_precision_auto_picked(monkeypatch, tmp_path, has_bf16, picked):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: has_bf16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)  # auto never picks a slow precision
        trainer = Trainer(TrainConfig(out=str(tmp_path / "run"), steps=1, **TINY))
    assert trainer.config.precision == picked
    assert trainer.precision_reason.startswith("auto: ")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == picked
    trainer.release()


def test_a_precision_given_is_kept_and_needs_no_reason(cpu_with_bf16, tmp_path):
    trainer = Trainer(TrainConfig(out=str(tmp_path / "run"), steps=1, precision="fp32", **TINY))
    assert (trainer.config.precision, trainer.precision_reason) == ("fp32", None)
    trainer.release()


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory):
    """A finished run trained in fp32 (as every run was before auto)."""
    out = tmp_path_factory.mktemp("fp32") / "run"
    Trainer(TrainConfig(out=str(out), steps=1, precision="fp32", **TINY)).train(progress=False)
    return out


def resumed(run, tmp_path, monkeypatch, **given) -> Trainer:
    """``run`` copied and resumed for one more step on a CPU with bf16, ``given`` settings given again."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    copy = shutil.copytree(run, tmp_path / "resumed", symlinks=True)
    return Trainer(TrainConfig(out=str(copy), steps=2, **{**TINY, **given}), resume=True)


def test_an_old_run_without_a_recorded_precision_resumes_in_fp32(fp32_run, tmp_path, monkeypatch):
    config = json.loads((fp32_run / "config.json").read_text())
    del config["precision"]
    (tmp_path / "old").mkdir()
    old = shutil.copytree(fp32_run, tmp_path / "old" / "run", symlinks=True)
    (old / "config.json").write_text(json.dumps(config))
    trainer = resumed(old, tmp_path, monkeypatch)
    assert (trainer.config.precision, trainer.precision_reason) == ("fp32", None)
    trainer.train(progress=False)


def test_an_fp32_run_resumes_in_fp32_where_bf16_is_available(fp32_run, tmp_path, monkeypatch):
    trainer = resumed(fp32_run, tmp_path, monkeypatch)
    assert trainer.config.precision == "fp32"
    trainer.release()


def test_a_resumed_run_takes_a_precision_given_again(fp32_run, tmp_path, monkeypatch):
    trainer = resumed(fp32_run, tmp_path, monkeypatch, precision="auto")
    assert (trainer.config.precision, trainer.precision_reason[:5]) == ("bf16", "auto:")
    trainer.train(progress=False)


def test_the_first_line_says_which_precision_the_run_computes_in(cpu_with_bf16, tmp_path):
    result = cli(*["train", "--out", str(tmp_path / "run"), "--steps", "1", "--image-size", "32",
                                       "--model-opt", "ngf=8", "--model-opt", "ndf=8", "--device", "cpu",
                                       "--logger", "jsonl"])
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("training cyclegan with lsgan for 1 steps on cpu in bf16 (auto: this CPU ")
    assert first.endswith(f"-> {tmp_path / 'run'}")
    result = cli(*["train", "--out", str(tmp_path / "run"), "--steps", "2", "--resume"])
    assert result.exit_code == 0, result.output
    assert " on cpu in bf16 -> " in result.stderr  # the run's own: nothing was picked


# -- padding under CPU autocast ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_padding_keeps_its_input_dtype_under_translates_cpu_autocast(mode, dims):
    torch.manual_seed(0)
    images = torch.randn(1, 4, *[6] * dims)
    pad = [2, 1] * dims
    with autocast(CPU, "bf16"):
        padded = torch.nn.functional.pad(images.bfloat16(), pad, mode=mode)
        assert torch.nn.functional.pad(images, pad, mode=mode).dtype == torch.float32  # fp32 stays fp32
    assert padded.dtype == torch.bfloat16
    assert torch.equal(padded.float(), torch.nn.functional.pad(images.bfloat16().float(), pad, mode=mode))
    assert len(PADDING_OPERATORS) == 6


def test_a_padded_convolution_computes_the_same_in_bf16_without_the_fp32_copies():
    """PyTorch's CPU policy pads in fp32 and the convolution casts back: the same bf16 values reach it."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.ReflectionPad2d(3), torch.nn.Conv2d(4, 8, 7),
                              torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode="replicate"))
    images = torch.randn(2, 4, 12, 10).bfloat16()
    with torch.no_grad(), autocast(CPU, "bf16"):
        kept = net(images)
        first = net[1](torch.nn.functional.pad(images.float(), [3] * 4, mode="reflect"))  # padded in fp32
        policy = torch.nn.functional.conv2d(torch.nn.functional.pad(first.float(), [1] * 4, mode="replicate"),
                                            net[2].weight, net[2].bias)
    assert kept.dtype == torch.bfloat16 and torch.equal(kept, policy)
