"""Evaluation: PSNR/SSIM/L1 against hand-computed values, BEGAN's M, `translate eval` end to end.

FID, KID and LPIPS against the libraries that define them: tests/test_metrics_parity.py.
"""

from __future__ import annotations

import json
import math
import shutil
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import structural_similarity

from helpers import fresh_copy
from translate import __version__, metrics
from translate.cli import main
from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.sample import SAMPLE_ROOT
from translate.evaluate import evaluate, inception, perceptual
from translate.evaluate.checkpoints import best
from translate.nets import build_generator, init_weights
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint


@pytest.fixture(scope="module")
def began_run(tiny_run, tmp_path_factory):
    """A tiny pix2pix trained three steps of four images with BEGAN (energy critic) on the sample set at 32 px;
    this module's copy, as ``translate eval`` writes its report into the run folder."""
    return fresh_copy(tiny_run("pix2pix", loss="began", steps=3, batch_size=4), tmp_path_factory.mktemp("eval"))


def held_out(folder: str, size: int) -> torch.Tensor:
    return torch.stack([to_tensor(load_rgb(p).resize((size, size), Image.Resampling.BICUBIC))
                        for p in list_images(SAMPLE_ROOT / folder)])


def numpy_psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR of 8-bit-scale images, per image then averaged (independent of translate.metrics)."""
    a, b = (x.numpy().astype(np.float64) + 1) * 127.5, (y.numpy().astype(np.float64) + 1) * 127.5
    return float(np.mean([10 * math.log10(255**2 / np.mean((i - j) ** 2)) for i, j in zip(a, b)]))


def skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    values = [structural_similarity(((i + 1) / 2).permute(1, 2, 0).double().numpy(),
                                    ((j + 1) / 2).permute(1, 2, 0).double().numpy(),
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1.0, channel_axis=2) for i, j in zip(x, y)]
    return float(np.mean(values))


# -- metrics on known images -------------------------------------------------------------------------


def test_psnr_and_l1_match_hand_computed_values():
    target = torch.zeros(2, 3, 16, 16)
    output = torch.full((2, 3, 16, 16), 0.1)
    assert metrics.psnr(output, target) == pytest.approx(10 * math.log10(4 / 0.01))  # 26.0206 dB
    assert metrics.l1(output, target) == pytest.approx(0.1)
    output[1] = 0.2  # per-image PSNR, then the mean
    assert metrics.psnr(output, target) == pytest.approx((10 * math.log10(400) + 10 * math.log10(100)) / 2)


def test_ssim_of_flat_images_is_the_luminance_term_and_identical_images_score_one():
    a, b = (torch.full((1, 3, 16, 16), value, dtype=torch.float64) for value in (0.2, 0.6))
    c1 = 0.01**2  # C1 = (K1 L)^2 with L = 1; the contrast-structure term is C2 / C2 = 1
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert metrics.ssim(a, b, value_range=(0.0, 1.0)) == pytest.approx(expected, rel=1e-12)
    assert metrics.ssim(a * 2 - 1, b * 2 - 1) == pytest.approx(expected, rel=1e-12)  # [-1, 1] maps to [0, 1]
    image = torch.rand(2, 3, 20, 24) * 2 - 1
    assert metrics.ssim(image, image) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_checkerboard_measures_period_two_energy_against_the_target():
    photos = held_out("testB", 64)
    assert metrics.checkerboard(photos, photos) == pytest.approx(1.0)
    pattern = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(32, 32)
    stripes = torch.tensor([1.0, -1.0]).repeat(64, 32)  # period 2 along one axis only
    for period_two in (pattern, stripes):
        assert metrics.checkerboard(photos + 0.05 * period_two, photos) > 2
    # a checkerboard of period 4 is not counted; a blur removes period-2 energy
    coarse = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1).repeat(16, 16)
    assert metrics.checkerboard(photos + 0.05 * coarse, photos) == pytest.approx(1.0, abs=0.2)
    blurred = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(photos, (1, 1, 1, 1), mode="reflect"), 3, 1)
    assert metrics.checkerboard(blurred, photos) < 0.9
    with pytest.raises(ValueError, match="even image sides"):
        metrics.checkerboard(torch.zeros(1, 3, 9, 8), torch.zeros(1, 3, 9, 8))
    with pytest.raises(ValueError, match="one shape"):
        metrics.checkerboard(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 10))


def test_untrained_transposed_convolutions_leave_a_checkerboard_that_resize_convolutions_do_not():
    photos = held_out("testA", 64)
    scores = {}
    for kind in ("transpose", "nearest", "bilinear"):
        torch.manual_seed(0)
        generator = build_generator("resnet_6blocks", ngf=16, upsample=kind)
        init_weights(generator)
        with torch.no_grad():
            scores[kind] = metrics.checkerboard(generator(photos), photos)
    assert scores["transpose"] > 10 * max(scores["nearest"], scores["bilinear"]), scores


# -- translate eval ------------------------------------------------------------------------------------


def test_paired_metrics_match_an_independent_computation(began_run, tmp_path):
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--device", "cpu", "--json",
                                       "--batch-size", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    inputs, targets = held_out("testA", 32), held_out("testB", 32)
    outputs = Translator.load(began_run, device="cpu").translate_batch(inputs)
    assert report["inputs"] == 16 and report["paired"] and report["direction"] == "AtoB"
    assert report["metrics"]["psnr"] == pytest.approx(numpy_psnr(outputs, targets), abs=1e-4)
    assert report["metrics"]["ssim"] == pytest.approx(skimage_ssim(outputs, targets), abs=1e-6)
    assert report["metrics"]["l1"] == pytest.approx((outputs - targets).abs().mean().item(), abs=1e-6)
    assert report["identity"]["psnr"] == pytest.approx(numpy_psnr(inputs, targets), abs=1e-4)
    assert json.loads((began_run / "eval-test.json").read_text()) == report
    assert report["implementations"]["ssim"]["library"] == "translate" and set(report["implementations"]) == {
        "psnr", "ssim", "l1"}
    assert "fid" not in report["metrics"] and "lpips" not in report["metrics"]
    fid_note, lpips_note = report["notes"]  # one line each, saying where the standard file comes from
    assert fid_note.startswith("FID, KID: not computed") and "--inception-weights FILE" in fid_note
    assert inception.STANDARD_SHA256 in fid_note and inception.STANDARD_URL in fid_note
    assert "--lpips-weights FILE" in lpips_note and perceptual.STANDARD_SHA256 in lpips_note


def test_began_convergence_measure_comes_from_the_saved_critic_on_the_test_set(began_run):
    report = evaluate(began_run, SAMPLE_ROOT, device="cpu", batch_size=16)
    assert report["objective_measures_source"] == "test set, through the saved critics"
    registry = PluginRegistry()
    saved = checkpoint.load(began_run)
    began = registry.objective("began")
    model = registry.model("pix2pix")(lambda: began(**saved.metadata["objective_options"]), image_size=32,
                                      **saved.metadata["model_options"])
    model.load_state_dict(saved.weights)
    model.eval()
    inputs, targets = held_out("testA", 32), held_out("testB", 32)
    with torch.no_grad():
        real = model.D(torch.cat([inputs, targets], 1)).score.mean().item()
        fake = model.D(torch.cat([inputs, model.G(inputs)], 1)).score.mean().item()
    gamma = saved.metadata["objective_options"]["gamma"]
    assert report["objective_measures"] == {"D/M": pytest.approx(real + abs(gamma * real - fake), rel=1e-5)}


def test_two_way_models_measure_each_critic_on_its_own_domain(tiny_run):
    out = tiny_run("cyclegan", loss="began", steps=1)
    report = evaluate(out, SAMPLE_ROOT, direction="BtoA", device="cpu", batch_size=16)
    saved = checkpoint.load(out)
    registry = PluginRegistry()
    began = registry.objective("began")
    model = registry.model("cyclegan")(lambda: began(**saved.metadata["objective_options"]), image_size=32,
                                       **saved.metadata["model_options"])
    model.load_state_dict(saved.weights)
    model.eval()
    images_a, images_b = held_out("testA", 32), held_out("testB", 32)
    gamma = saved.metadata["objective_options"]["gamma"]
    expected = {}
    with torch.no_grad():
        for name, critic, real, fake in (("D_A", model.D_A, images_a, model.G_BA(images_b)),
                                         ("D_B", model.D_B, images_b, model.G_AB(images_a))):
            real_energy, fake_energy = critic(real).score.mean().item(), critic(fake).score.mean().item()
            expected[f"{name}/M"] = pytest.approx(real_energy + abs(gamma * real_energy - fake_energy), rel=1e-5)
    assert report["objective_measures"] == expected


def test_without_pairs_the_measure_falls_back_to_the_training_log(began_run, tmp_path):
    data = tmp_path / "unpaired"
    shutil.copytree(SAMPLE_ROOT / "testA", data / "testA")
    (data / "testB").mkdir()
    for path in list_images(SAMPLE_ROOT / "trainB")[:5]:
        shutil.copy(path, data / "testB" / path.name)
    report = evaluate(began_run, data, device="cpu")
    assert not report["paired"] and report["metrics"] == {} and report["real_images"] == 5
    last = json.loads((began_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert report["objective_measures"] == {"D/M": pytest.approx(last["D/M"])}
    assert report["objective_measures_source"] == "last logged training step 3 (metrics.jsonl), not the test set"


def test_eval_reads_the_run_config_for_its_data_and_rejects_wrong_conditions(began_run, tmp_path):
    result = CliRunner().invoke(main, ["eval", str(began_run), "--device", "cpu", "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["data"] == str(SAMPLE_ROOT)
    lines = result.stdout.splitlines()
    assert "computed by:" in lines and f"  PSNR, L1: translate {__version__}" in lines
    assert all(note in lines for note in report["notes"])  # each on a line of its own
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--direction", "BtoA"])
    assert result.exit_code == 2
    assert "translates one way (AtoB); drop --direction BtoA" in result.stderr
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--split", "val"])
    assert result.exit_code == 2 and "cannot evaluate on split 'val'" in result.stderr


def test_without_the_metrics_extra_eval_scores_pairs_and_says_in_one_line_what_to_install(began_run, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # as if not installed: importing it fails
    monkeypatch.setitem(sys.modules, "lpips", None)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--device", "cpu",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == {"psnr", "ssim", "l1"}
    assert report["notes"] == [('FID, KID, LPIPS: not computed; pip install "image-translate[metrics]" '
                                '(torch-fidelity, lpips), then pass --inception-weights FILE and --lpips-weights FILE')]
    assert report["notes"][0] in result.stdout.splitlines()
    weights = tmp_path / "weights.pth"
    torch.save({"w": torch.zeros(1)}, weights)
    for option, package in (("--inception-weights", "torch-fidelity"), ("--lpips-weights", "lpips")):
        result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", option, str(weights)])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert f"needs the {package} package: pip install \"image-translate[metrics]\"" in result.stderr
    result = CliRunner().invoke(main, ["eval", "--fake", str(SAMPLE_ROOT / "testA"), "--real",
                                       str(SAMPLE_ROOT / "testB")])
    assert result.exit_code == 2 and "--fake/--real (FID and KID) needs the torch-fidelity package" in result.stderr


def test_two_folder_mode_takes_two_folders_and_nothing_of_a_run(began_run):
    folders = ["--fake", str(SAMPLE_ROOT / "testA"), "--real", str(SAMPLE_ROOT / "testB")]
    for arguments, message in (
        (folders[:2], "--real DIR is missing: --fake and --real go together"),
        ([str(began_run), *folders], "--fake/--real score two folders; RUN is for evaluating a run"),
        ([*folders, "--to", "x"], "--fake/--real score two folders; --to is for evaluating a run"),
        ([*folders, "--all-checkpoints"], "--all-checkpoints is for evaluating a run"),
        (folders, "FID and KID need the field's Inception weights from a local file: pass --inception-weights FILE"),
        (folders, f"{inception.STANDARD_URL} (SHA-256 {inception.STANDARD_SHA256}); translate never downloads it"),
        ([], "name a RUN to evaluate, or two folders with --fake DIR --real DIR"),
    ):
        result = CliRunner().invoke(main, ["eval", *arguments])
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, (arguments, result.output)
        assert message in result.stderr


@pytest.fixture(scope="module")
def run_of_three_checkpoints(tiny_run, tmp_path_factory):
    """A tiny pix2pix run that kept a checkpoint of each of its three steps; this module's copy, as
    ``translate eval --all-checkpoints`` writes its report into the run folder."""
    run = tiny_run("pix2pix", steps=3, batch_size=4, checkpoint_every=1, keep_checkpoints=3)
    return fresh_copy(run, tmp_path_factory.mktemp("checkpoints"))


def test_all_checkpoints_scores_each_kept_checkpoint_and_names_the_best(run_of_three_checkpoints, tmp_path):
    run = run_of_three_checkpoints
    result = CliRunner().invoke(main, ["eval", str(run), "--all-checkpoints", "--data", "sample", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval-test-checkpoints.json").read_text())
    folders = checkpoint.kept(run)
    assert [entry["checkpoint"] for entry in report["checkpoints"]] == [str(f.resolve()) for f in folders]
    assert [entry["step"] for entry in report["checkpoints"]] == [1, 2, 3]
    for folder, entry in zip(folders, report["checkpoints"]):  # the same numbers as evaluating each on its own
        alone = evaluate(folder, SAMPLE_ROOT, device="cpu")
        assert entry["metrics"] == pytest.approx(alone["metrics"]) and entry["identity"] == alone["identity"]
    highest = max(report["checkpoints"], key=lambda entry: entry["metrics"]["psnr"])
    assert report["best"] == {"checkpoint": highest["checkpoint"], "step": highest["step"], "by": "psnr",
                              "value": highest["metrics"]["psnr"]}
    lines = result.stdout.splitlines()
    assert f"best: {highest['checkpoint']} (step {highest['step']}, highest PSNR {highest['metrics']['psnr']:.4f})" \
        in lines
    for entry in report["checkpoints"]:
        assert any(line.split()[:2] == [str(entry["step"]), f"{entry['metrics']['psnr']:.4f}"] for line in lines)
    result = CliRunner().invoke(main, ["eval", str(folders[0]), "--all-checkpoints", "--data", "sample"])
    assert result.exit_code == 2 and "has no checkpoints/NNNNNN/ folders; --all-checkpoints takes a run folder" \
        in result.stderr


def test_the_best_checkpoint_is_the_lowest_fid_else_the_highest_psnr():
    def scored(step, **values):
        return {"checkpoint": f"checkpoints/{step:06d}", "step": step, "metrics": values}

    results = [scored(1, psnr=20.0, fid=30.0), scored(2, psnr=25.0, fid=40.0), scored(3, psnr=22.0, fid=35.0)]
    assert best(results) == {"checkpoint": "checkpoints/000001", "step": 1, "by": "fid", "value": 30.0}
    without_fid = [{**result, "metrics": {"psnr": result["metrics"]["psnr"]}} for result in results]
    assert best(without_fid) == {"checkpoint": "checkpoints/000002", "step": 2, "by": "psnr", "value": 25.0}
    assert best([scored(1), scored(2)]) is None  # unpaired data without FID: nothing to rank by
