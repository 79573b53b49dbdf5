"""`translate eval` gives the numbers of the libraries the field computes them with, offline.

- FID and KID equal torch-fidelity's ``calculate_metrics`` on the same two folders, for a run and
  for ``--fake/--real`` (relative difference at most 1e-3). A random-weights network in the FID
  Inception's architecture stands in for ``pt_inception-2015-12-05-6726825d.pth``; its batch norms
  are calibrated on photographs so that features differ from image to image.
- LPIPS equals the ``lpips`` package's, its AlexNet backbone taken from torch's cache as the
  package takes it (random weights in ``TORCH_HOME``, nothing downloaded).
- SSIM and PSNR equal scikit-image's on photographs, to 1e-6.

Nothing here opens a network connection (every test runs with ``socket.connect`` refused).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
import torchvision
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from helpers import fresh_copy
from translate import metrics
from translate.cli import main
from translate.convert import Translator
from translate.data.images import list_images, load_rgb, pixels, to_pil, to_tensor
from translate.data.photo_tasks import TEST_PHOTOS, degrade, load_photo, random_tiles, tone_grading
from translate.data.sample import SAMPLE_ROOT
from translate.evaluate.perceptual import Lpips

#: Largest relative difference allowed between translate's FID/KID and torch-fidelity's.
RELATIVE = 1e-3


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a metric tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory) -> Path:
    """The FID Inception's architecture with random weights, as a state dict file (what torch-fidelity reads)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder = tmp_path_factory.mktemp("inception")
    torch.manual_seed(0)
    architecture = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                                   init_weights=True)  # the FID graph's tensors, names and shapes
    torch.save(architecture.state_dict(), folder / "random.pth")
    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                          feature_extractor_weights_path=str(folder / "random.pth"))
    for module in network.modules():  # batch statistics of photographs, so that activations neither vanish nor explode
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
            module.train()
    with torch.no_grad():
        network(torch.stack([pixels(load_rgb(path)) for path in list_images(SAMPLE_ROOT / "trainB")[:8]]))
    path = folder / "fid_inception.pth"
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory) -> Path:
    """A tiny pix2pix trained two steps of four images; this module's copy, as ``translate eval`` writes its
    report into the run folder."""
    return fresh_copy(tiny_run("pix2pix", batch_size=4), tmp_path_factory.mktemp("parity"))


@pytest.fixture(scope="module")
def small_split(tmp_path_factory) -> Path:
    """Eight test pairs of the sample set (testA/testB), enough for FID and KID and quick to score."""
    data = tmp_path_factory.mktemp("data")
    for side in ("testA", "testB"):
        (data / side).mkdir()
        for path in list_images(SAMPLE_ROOT / side)[:8]:
            shutil.copy(path, data / side / path.name)
    return data


def resized(folder: Path, size: int) -> torch.Tensor:
    """A folder's images as `translate eval` feeds a model trained at ``size``."""
    return torch.stack([to_tensor(load_rgb(p).resize((size, size), Image.Resampling.BICUBIC))
                        for p in list_images(folder)])


def write_images(images: torch.Tensor, folder: Path) -> Path:
    folder.mkdir()
    for index, image in enumerate(images):
        to_pil(image).save(folder / f"{index:03d}.png")
    return folder


def torch_fidelity_scores(fake: Path, real: Path, weights: Path, subset_size: int, batch_size: int = 8
                          ) -> dict[str, float]:
    """torch-fidelity itself on two folders (generated first, as its documentation has it)."""
    return torch_fidelity.calculate_metrics(
        input1=str(fake), input2=str(real), fid=True, kid=True, cuda=False, cache=False, verbose=False,
        save_cpu_ram=True, batch_size=batch_size, feature_extractor_weights_path=str(weights),
        kid_subset_size=subset_size, kid_subsets=20)


def relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


def assert_same_fid_and_kid(report: dict, expected: dict[str, float]) -> None:
    fid, kid = report["metrics"]["fid"], report["metrics"]["kid"]
    their_fid, their_kid = expected["frechet_inception_distance"], expected["kernel_inception_distance_mean"]
    print(f"FID {fid} vs torch-fidelity {their_fid}: relative difference {relative(fid, their_fid):.2e}; "
          f"KID {kid} vs {their_kid}: {relative(kid, their_kid):.2e}")
    assert relative(fid, their_fid) <= RELATIVE and relative(kid, their_kid) <= RELATIVE
    assert their_fid > 1 and their_kid > 1e-3  # features that tell the images apart


def test_a_runs_fid_and_kid_equal_torch_fidelity_on_folders_of_its_outputs_and_targets(run, small_split, fid_weights,
                                                                                         tmp_path):
    result = CliRunner().invoke(main, ["eval", str(run), "--data", str(small_split), "--device", "cpu", "--json",
                                       "--inception-weights", str(fid_weights), "--kid-subsets", "20",
                                       "--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    outputs = Translator.load(run, device="cpu").translate_batch(resized(small_split / "testA", 32))
    fake = write_images(outputs, tmp_path / "fake")
    real = write_images(resized(small_split / "testB", 32), tmp_path / "real")
    assert_same_fid_and_kid(report, torch_fidelity_scores(fake, real, fid_weights, subset_size=8))
    sha256 = hashlib.sha256(fid_weights.read_bytes()).hexdigest()
    for key in ("fid", "kid"):
        implementation = report["implementations"][key]
        assert (implementation["library"], implementation["version"]) == ("torch-fidelity", torch_fidelity.__version__)
        assert implementation["weights"] == {"file": str(fid_weights), "sha256": sha256, "standard": False}
        assert (implementation["feature_extractor"], implementation["feature_layer"]) == ("inception-v3-compat", "2048")
    assert report["implementations"]["kid"]["subset_size"] == 8 and report["implementations"]["kid"]["subsets"] == 20


def test_two_folders_score_as_torch_fidelity_scores_them(small_split, fid_weights, tmp_path):
    fake, real = tmp_path / "fake", small_split / "testB"
    shutil.copytree(small_split / "testA", fake)
    for path in list_images(SAMPLE_ROOT / "trainA")[:3]:  # other sizes: torch-fidelity resizes each to 299 itself
        load_rgb(path).resize((96, 80), Image.Resampling.BICUBIC).save(fake / f"large_{path.name}")
    result = CliRunner().invoke(main, ["eval", "--fake", str(fake), "--real", str(real), "--json",
                                       "--inception-weights", str(fid_weights), "--kid-subsets", "20",
                                       "--device", "cpu", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["fake_images"], report["real_images"]) == (11, 8)
    # torch-fidelity batches whole folders, so images of several sizes go through it one at a time
    expected = torch_fidelity_scores(fake, real, fid_weights, subset_size=8, batch_size=1)
    assert_same_fid_and_kid(report, expected)
    assert report["implementations"]["fid"]["weights"]["sha256"] == hashlib.sha256(fid_weights.read_bytes()).hexdigest()


def test_the_standard_file_is_recognised_by_its_sha256_and_torchvisions_inception_is_refused(tmp_path):
    from translate.evaluate import inception

    torchvision_inception = tmp_path / "inception_v3_google.pth"
    torch.save(torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(),
               torchvision_inception)
    result = CliRunner().invoke(main, ["eval", "--fake", str(SAMPLE_ROOT / "testA"), "--real",
                                       str(SAMPLE_ROOT / "testB"), "--inception-weights", str(torchvision_inception)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "is torchvision's ImageNet Inception-v3, not the FID graph" in result.stderr
    assert inception.STANDARD_URL in result.stderr
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not weights")
    result = CliRunner().invoke(main, ["eval", "--fake", str(SAMPLE_ROOT / "testA"), "--real",
                                       str(SAMPLE_ROOT / "testB"), "--inception-weights", str(garbage)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"cannot read --inception-weights '{garbage}' as a state dict of tensors" in result.stderr


@pytest.fixture
def alexnet_in_torch_cache(tmp_path, monkeypatch) -> Path:
    """Random AlexNet weights where torchvision (and so the lpips package) looks for the ImageNet ones."""
    torch.manual_seed(1)
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    path = cache / "alexnet-owt-7be5be79.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return path


def lpips_package(images: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """The lpips package as its users call it: ``LPIPS(net="alex")``, ImageNet backbone from torch's cache."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        network = lpips.LPIPS(net="alex", verbose=False)
    with torch.no_grad():
        return network(images, others).flatten()


def test_lpips_equals_the_lpips_packages_with_the_same_backbone(alexnet_in_torch_cache, run, tmp_path):
    photos, graded = resized(SAMPLE_ROOT / "testA", 64), resized(SAMPLE_ROOT / "testB", 64)
    expected = lpips_package(photos, graded)
    assert expected.min() > 1e-3  # distances the random backbone still tells apart
    computed = Lpips(alexnet_in_torch_cache).distance(photos, graded)
    assert torch.allclose(computed, expected, rtol=1e-5, atol=1e-6)

    result = CliRunner().invoke(main, ["eval", str(run), "--data", "sample", "--device", "cpu", "--json",
                                       "--lpips-weights", str(alexnet_in_torch_cache),
                                       "--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    inputs, targets = resized(SAMPLE_ROOT / "testA", 32), resized(SAMPLE_ROOT / "testB", 32)
    outputs = Translator.load(run, device="cpu").translate_batch(inputs)
    assert report["metrics"]["lpips"] == pytest.approx(lpips_package(outputs, targets).mean().item(), abs=1e-6)
    assert report["identity"]["lpips"] == pytest.approx(lpips_package(inputs, targets).mean().item(), abs=1e-6)
    implementation = report["implementations"]["lpips"]
    assert (implementation["library"], implementation["net"]) == ("lpips", "alex")
    assert implementation["weights"]["sha256"] == hashlib.sha256(alexnet_in_torch_cache.read_bytes()).hexdigest()
    calibration = Path(implementation["calibration"]["file"])
    assert implementation["calibration"]["sha256"] == hashlib.sha256(calibration.read_bytes()).hexdigest()


def photograph_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of the held-out photographs and the same windows graded or degraded (pairs a model is scored on)."""
    rng = np.random.default_rng(5)
    tiles = [tile for name in TEST_PHOTOS for tile in random_tiles(load_photo(name), 3, 96, rng)]
    originals = torch.stack([to_tensor(tile) for tile in tiles])
    changed = torch.stack([tone_grading(to_tensor(tile)) if index % 2 else to_tensor(degrade(tile))
                           for index, tile in enumerate(tiles)])
    return changed, originals


def test_ssim_and_psnr_equal_scikit_images_on_photographs():
    outputs, targets = photograph_pairs()
    eight_bit = [(image.permute(1, 2, 0).double().numpy() + 1) * 127.5 for image in (*outputs, *targets)]
    unit = [value / 255 for value in eight_bit]
    count = len(outputs)
    ssim = np.mean([structural_similarity(unit[i], unit[count + i], gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=1.0, channel_axis=2)
                    for i in range(count)])
    psnr = np.mean([peak_signal_noise_ratio(eight_bit[count + i], eight_bit[i], data_range=255)
                    for i in range(count)])
    assert 0.2 < ssim < 0.95 and 10 < psnr < 40  # pairs that differ, as a model's outputs do
    assert metrics.ssim(outputs, targets) == pytest.approx(ssim, abs=1e-6)
    assert metrics.psnr(outputs, targets) == pytest.approx(psnr, abs=1e-6)


@pytest.fixture(scope="module")
def munit_run(tiny_run, tmp_path_factory) -> Path:
    """A tiny MUNIT run, this module's copy (``translate eval`` writes its report into the run folder)."""
    return fresh_copy(tiny_run("munit"), tmp_path_factory.mktemp("munit"))


def test_a_multimodal_model_reports_the_lpips_between_two_random_styles(alexnet_in_torch_cache, munit_run, tmp_path):
    run = munit_run
    result = CliRunner().invoke(main, ["eval", str(run), "--data", "sample", "--device", "cpu", "--json",
                                       "--lpips-weights", str(alexnet_in_torch_cache),
                                       "--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    translator = Translator.load(run, device="cpu")
    inputs = resized(SAMPLE_ROOT / "testA", 32)
    first, second = (translator.translate_batch(inputs, style=seed) for seed in (0, 1))
    expected = lpips_package(first, second).mean().item()
    assert expected > 0  # two styles give two outputs (barely, two steps from the identity it starts as)
    assert report["metrics"]["lpips_diversity"] == pytest.approx(expected, rel=1e-4)
    assert report["implementations"]["lpips_diversity"]["net"] == "alex"

    plain = CliRunner().invoke(main, ["eval", str(run), "--data", "sample", "--device", "cpu",
                                      "--out", str(tmp_path / "plain.json")])
    assert plain.exit_code == 0, plain.output
    assert "LPIPS: not computed" in plain.stdout and "diversity" not in plain.stdout
