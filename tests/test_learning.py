"""Learning is a behaviour: models trained on photographs with a known answer move towards it.

The tasks come from :mod:`translate.data.photo_tasks` (written once per session): an
unpaired colour/tone grading at 64 px (CycleGAN, UNIT, and any other two-way model) and a
paired restoration, blurred grayscale to colour, at 128 px (pix2pix). Scores are PSNR on
held-out crops of photographs no model trains on. The budgets are the issue's (480 and
720 steps at batch 1); widths are reduced so the whole file stays within minutes, which
``benchmarks/learning.py`` shows costs little at these budgets. The objective x model
matrix trains every registered pair briefly at 32 px and asks that each beats its own
untrained generator.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import TRANSLATE
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.photo_tasks import held_out_pairs, write_paired_restoration, write_unpaired_grading
from translate.metrics import psnr
from translate.plugins import PluginRegistry
from translate.train.trainer import Trainer, TrainConfig

pytestmark = pytest.mark.slow

REGISTRY = PluginRegistry()


@pytest.fixture(scope="session")
def grading(tmp_path_factory) -> Path:
    return write_unpaired_grading(tmp_path_factory.mktemp("grading"))


@pytest.fixture(scope="session")
def restoration(tmp_path_factory) -> Path:
    return write_paired_restoration(tmp_path_factory.mktemp("restoration"))


def scores(trainer: Trainer, data: Path, size: int, **condition) -> tuple[float, float]:
    """(untrained, trained) PSNR on the held-out crops; trains ``trainer`` in between."""
    inputs, targets = held_out_pairs(data, size)

    def score() -> float:
        trainer.model.eval()
        with torch.no_grad():
            value = psnr(trainer.model.translate(inputs, **condition), targets)
        trainer.model.train()
        return value

    untrained = score()
    trainer.train(progress=False)
    return untrained, score()


# -- the budgets ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "options"), [
    ("cyclegan", {"ngf": "16", "ndf": "16"}),
    ("unit", {"ngf": "16", "ndf": "16"}),
])
def test_unpaired_models_beat_the_identity_after_480_steps_at_64_px(tmp_path, grading, model, options):
    trainer = Trainer(TrainConfig(model=model, loss="lsgan", data=str(grading), out=str(tmp_path / "run"),
                                  steps=480, image_size=64, model_options=options, sample_every=10**6,
                                  loggers=("jsonl",)))
    _, trained = scores(trainer, grading, 64)
    identity = psnr(*held_out_pairs(grading, 64))
    assert trained > identity + 1, f"{model}: {trained:.2f} dB, identity {identity:.2f} dB"


def test_pix2pix_from_the_command_line_beats_the_identity_after_720_steps_at_128_px(tmp_path, restoration):
    """The user's path end to end: an aligned folder, `translate train`, `translate convert`."""
    run = tmp_path / "run"
    translate("train", "--model", "pix2pix", "--data", str(restoration), "--out", str(run), "--steps", "720",
              "--image-size", "128", "--sample-every", "360", "--model-opt", "ngf=16", "--model-opt", "ndf=16",
              "--logger", "jsonl")
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000360.png", "step_000720.png"]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for path in list_images(restoration / "test"):  # the A halves, as a user's input folder
        with load_rgb(path) as pair:
            pair.crop((0, 0, pair.width // 2, pair.height)).save(inputs / path.name)
    translate("convert", str(run), str(inputs), str(tmp_path / "out"))
    outputs = torch.stack([to_tensor(load_rgb(p)) for p in list_images(tmp_path / "out")])
    sources, targets = held_out_pairs(restoration, 128)
    trained, identity = psnr(outputs, targets), psnr(sources, targets)
    assert trained > identity + 1.5, f"pix2pix: {trained:.2f} dB, identity {identity:.2f} dB"


def translate(*args: str) -> None:
    result = subprocess.run([str(TRANSLATE), *args], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]


# -- every objective with every model ---------------------------------------------------------------

#: Each model's task in the matrix (any other model: the unpaired grading, as CycleGAN).
MATRIX_TASKS = {"pix2pix": "restoration", "stargan": "domains"}
MATRIX_SIZE = 32


@pytest.fixture(scope="session")
def small_tasks(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("small")
    tasks = {"grading": write_unpaired_grading(root / "grading", size=MATRIX_SIZE),
             "restoration": write_paired_restoration(root / "restoration", size=MATRIX_SIZE)}
    domains = root / "domains"  # StarGAN: one folder per domain, the held-out pairs as testA/testB
    for split, domain in (("train", "A"), ("train", "B")):
        shutil.copytree(tasks["grading"] / f"{split}{domain}", domains / split / domain)
    for folder in ("testA", "testB"):
        shutil.copytree(tasks["grading"] / folder, domains / folder)
    tasks["domains"] = domains
    return tasks


@pytest.mark.parametrize("model", REGISTRY.names("model"))
@pytest.mark.parametrize("objective", REGISTRY.names("objective"))
def test_every_objective_trains_every_model_towards_the_truth(tmp_path, small_tasks, model, objective):
    model_cls = REGISTRY.model(model)
    task = MATRIX_TASKS.get(model, "grading")
    trainer = Trainer(TrainConfig(model=model, loss=objective, data=str(small_tasks[task]),
                                  out=str(tmp_path / "run"), steps=60, batch_size=4, image_size=MATRIX_SIZE,
                                  model_options={k: str(v) for k, v in model_cls.tiny_options.items()},
                                  sample_every=10**6, loggers=("jsonl",)))
    targets = trainer.model.conversion_targets()
    condition = targets.get("B", targets.get("AtoB", {}))
    untrained, trained = scores(trainer, small_tasks[task], MATRIX_SIZE, **condition)
    assert trained > untrained + 0.5, f"{model} + {objective}: {untrained:.2f} -> {trained:.2f} dB"
