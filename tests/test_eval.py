"""Evaluation: PSNR/SSIM/L1 against hand-computed values, FID/KID, BEGAN's M, `translate eval` end to end."""

from __future__ import annotations

import json
import math
import shutil
import socket
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import structural_similarity

from translate import metrics
from translate.cli import main
from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.sample import SAMPLE_ROOT
from translate.evaluate import evaluate
from translate.evaluate.inception import load_feature_extractor
from translate.nets import build_generator, init_weights
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import Trainer, TrainConfig


@pytest.fixture(scope="module")
def began_run(tmp_path_factory):
    """A pix2pix model trained a few steps with BEGAN (energy critic) on the sample set at 32 px."""
    out = tmp_path_factory.mktemp("eval") / "run"
    Trainer(TrainConfig(model="pix2pix", loss="began", out=str(out), steps=3, batch_size=4, image_size=32,
                        model_options={"ngf": "8", "ndf": "8"}, sample_every=10**6)).train(progress=False)
    return out


@pytest.fixture
def tiny_inception(tmp_path):
    """A TorchScript stand-in for Inception: (N, 3, 299, 299) in [-1, 1] -> (N, 6) features."""

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, kernel_size=7, stride=4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] != 299 or x.shape[-2] != 299:
                raise ValueError("expected 299x299 input")
            return torch.tanh(self.conv(x)).mean(dim=(2, 3))

    torch.manual_seed(3)
    path = tmp_path / "tiny_inception.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated in recent torch, yet users have such files
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(Tiny()).save(str(path))
    return path


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


def scipy_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """The textbook FID formula with scipy's general matrix square root."""
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


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


def test_ssim_agrees_with_scikit_image_on_noise_and_photos():
    generator = torch.Generator().manual_seed(0)
    noisy = torch.rand(3, 3, 23, 31, generator=generator) * 2 - 1
    other = (noisy + 0.3 * torch.randn(3, 3, 23, 31, generator=generator)).clamp(-1, 1)
    assert metrics.ssim(noisy, other) == pytest.approx(skimage_ssim(noisy, other), abs=1e-9)
    photos_a, photos_b = held_out("testA", 64), held_out("testB", 64)
    assert metrics.ssim(photos_a, photos_b) == pytest.approx(skimage_ssim(photos_a, photos_b), abs=1e-9)


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


def test_frechet_distance_closed_form_and_scipy_agree():
    mean1, mean2 = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 2.0])
    cov1, cov2 = torch.diag(torch.tensor([1.0, 4.0])), torch.diag(torch.tensor([4.0, 9.0]))
    # |m1 - m2|^2 + sum (s1 - s2)^2 for diagonal covariances: 5 + (1 - 2)^2 + (2 - 3)^2
    assert metrics.frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(7.0, abs=1e-12)
    generator = torch.Generator().manual_seed(1)
    real = torch.randn(40, 5, generator=generator)
    fake = torch.randn(40, 5, generator=generator) @ torch.randn(5, 5, generator=generator) + 0.5
    assert metrics.fid_from_features(real, fake) == pytest.approx(scipy_fid(real.numpy().astype(np.float64),
                                                                            fake.numpy().astype(np.float64)), rel=1e-7)
    assert metrics.fid_from_features(real, real) == pytest.approx(0.0, abs=1e-9)


def test_kid_matches_the_unbiased_polynomial_mmd_by_hand():
    real, fake = torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [2.0]])
    # k(x, y) = (x y + 1)^3: k_xx off-diagonal 1, k_yy off-diagonal 27, k_xy = 1, 1, 8, 27
    mean, std = metrics.kid_from_features(real, fake, subset_size=2, subsets=3)
    assert mean == pytest.approx(1 + 27 - 2 * 37 / 4) and std == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least two samples"):
        metrics.kid_from_features(real[:1], fake)


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
    assert "fid" not in report["metrics"] and "--inception-weights" in report["fid_note"]


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


def test_two_way_models_measure_each_critic_on_its_own_domain(tmp_path):
    out = tmp_path / "cyclegan"
    Trainer(TrainConfig(model="cyclegan", loss="began", out=str(out), steps=1, image_size=32,
                        model_options={"ngf": "4", "ndf": "4"}, sample_every=10**6)).train(progress=False)
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


def test_fid_and_kid_with_a_tiny_torchscript_inception_run_end_to_end(began_run, tiny_inception, tmp_path,
                                                                      monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("evaluation tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", str(SAMPLE_ROOT), "--device", "cpu",
                                       "--inception-weights", str(tiny_inception), "--kid-subsets", "10",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "FID" in result.stdout and "KID" in result.stdout and f"written: {out}" in result.stdout
    report = json.loads(out.read_text())
    features = load_feature_extractor(tiny_inception)
    inputs, targets = held_out("testA", 32), held_out("testB", 32)
    outputs = Translator.load(began_run, device="cpu").translate_batch(inputs)
    real, fake = features(targets), features(outputs)
    assert real.shape == (16, 6)
    assert report["metrics"]["fid"] == pytest.approx(scipy_fid(real.double().numpy(), fake.double().numpy()),
                                                     rel=1e-5, abs=1e-7)
    kid, _ = metrics.kid_from_features(real, fake, subset_size=16, subsets=10)
    assert report["metrics"]["kid"] == pytest.approx(kid, rel=1e-6)
    assert report["inception"] == {"file": str(tiny_inception), "features": 6, "kid_subset_size": 16}


def test_a_torchvision_inception_state_dict_gives_pool3_features(tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    reference = inception_v3(weights=None, aux_logits=True, init_weights=False).eval()
    path = tmp_path / "inception_v3.pth"
    torch.save(reference.state_dict(), path)
    features = load_feature_extractor(path)
    images = torch.rand(1, 3, 299, 299) * 2 - 1
    reference.fc = torch.nn.Identity()
    with torch.no_grad():
        expected = reference(images)
    computed = features(images)
    assert computed.shape == (1, 2048)
    assert torch.allclose(computed, expected, atol=1e-5)


def test_unusable_inception_files_are_one_line_errors(began_run, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a network")
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--device", "cpu",
                                       "--inception-weights", str(garbage), "--out", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"translate: error: cannot read '{garbage}' as a state dict or TorchScript")
    wrong = tmp_path / "wrong.pth"
    torch.save({"conv.weight": torch.zeros(1)}, wrong)
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--device", "cpu",
                                       "--inception-weights", str(wrong), "--out", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and "does not fit torchvision's inception_v3" in result.stderr
    assert not (tmp_path / "e.json").exists()


def test_eval_reads_the_run_config_for_its_data_and_rejects_wrong_conditions(began_run, tmp_path):
    result = CliRunner().invoke(main, ["eval", str(began_run), "--device", "cpu", "--out", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "a.json").read_text())["data"] == str(SAMPLE_ROOT)
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--direction", "BtoA"])
    assert result.exit_code == 2
    assert "translates one way (AtoB); drop --direction BtoA" in result.stderr
    result = CliRunner().invoke(main, ["eval", str(began_run), "--data", "sample", "--split", "val"])
    assert result.exit_code == 2 and "cannot evaluate on split 'val'" in result.stderr
