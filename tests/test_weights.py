"""The weights shipped in weights/ convert right away and beat the identity baseline; their card is complete."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from translate.cli import main
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.sample import SAMPLE_ROOT
from translate.evaluate import evaluate
from translate.metrics import psnr
from translate.train import checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
SHIPPED = sorted(p for p in WEIGHTS.iterdir() if (p / checkpoint.METADATA).is_file())
#: What every model card in weights/README.md states.
CARD_FIELDS = ("Model", "Objective", "Data", "Steps", "Metrics", "Licence")


def test_at_least_one_small_checkpoint_is_shipped_without_training_state():
    assert SHIPPED, "weights/ holds no checkpoint folder"
    for folder in SHIPPED:
        names = {p.name for p in folder.iterdir()}
        assert {checkpoint.METADATA, checkpoint.WEIGHTS} <= names and checkpoint.TRAINING not in names
        assert (folder / checkpoint.WEIGHTS).stat().st_size < 4 * 2**20, f"{folder.name} is over 4 MiB"


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_convert_works_with_the_shipped_weights_and_beats_identity(folder, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(folder), str(SAMPLE_ROOT / "testA"), str(out),
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    load = lambda root: torch.stack([to_tensor(load_rgb(p)) for p in list_images(root)])  # noqa: E731
    inputs, targets, outputs = load(SAMPLE_ROOT / "testA"), load(SAMPLE_ROOT / "testB"), load(out)
    assert [p.name for p in list_images(out)] == [p.name for p in list_images(SAMPLE_ROOT / "testA")]
    assert psnr(outputs, targets) > psnr(inputs, targets) + 2


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda p: p.name)
def test_the_model_card_states_every_field_and_the_metrics_it_measured(folder, tmp_path):
    readme = (WEIGHTS / "README.md").read_text()
    card = readme.split(f"### `{folder.name}`", 1)[1].split("\n### ", 1)[0]
    for field in CARD_FIELDS:
        assert re.search(rf"^\| {field} \| .+ \|$", card, re.MULTILINE), f"card of {folder.name} lacks {field}"
    report = evaluate(folder, SAMPLE_ROOT, device="cpu")
    stated = re.search(r"PSNR ([\d.]+) dB \(identity ([\d.]+)\)", card)
    assert stated, "the card's Metrics row gives PSNR and the identity baseline"
    assert float(stated.group(1)) == pytest.approx(report["metrics"]["psnr"], abs=0.01)
    assert float(stated.group(2)) == pytest.approx(report["identity"]["psnr"], abs=0.01)
    metadata = json.loads((folder / checkpoint.METADATA).read_text())
    assert f"{metadata['step']} steps" in card and metadata["objective"] in card
