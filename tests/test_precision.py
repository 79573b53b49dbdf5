"""--precision on CPUs with and without reduced-precision instructions."""

from __future__ import annotations

import warnings

import pytest
import torch
from PIL import Image

from helpers import cli, tiny_config
from translate.convert import Translator
from translate.errors import TranslateError
from translate.devices import PrecisionWarning, check_precision, cpu_computes_in, warn_if_slow
from translate.train.trainer import Trainer

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

