"""Conversion through ONNX Runtime: fp32 and int8 behind the fidelity gate, the model cache, every model."""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from helpers import cli, fresh_copy
from test_convert import corpus, fail_on_odd_widths, plant_bad_files
from translate.convert import onnx_backend
from translate.convert import Translator
from translate.data.images import to_tensor
from translate.data.photo_tasks import TEST_PHOTOS, TRAIN_PHOTOS, load_photo, random_tiles
from translate.errors import TranslateError
from translate.metrics import psnr
from translate.convert.onnx_backend import OnnxRuntimeBackend
from translate.convert.onnx_cache import CACHE_FOLDER, ModelCache
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "pix2pix-sample-grading"


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    """Keep the fallback cache folder inside the test's temporary folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "translate" / "onnxruntime"


@pytest.fixture(scope="module")
def run_dir(tiny_run, tmp_path_factory):
    """A copy of the tiny CycleGAN run for this module's tests, which cache their ONNX models in it
    (built once, then reused, as in a user's checkpoint folder)."""
    return fresh_copy(tiny_run("cyclegan"), tmp_path_factory.mktemp("onnx"))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A copy of the pix2pix checkpoint trained on the sample set (3000 steps), so its cache stays in a tmp folder.

    Shared by the tests that do not count builds (its exported model is then built once).
    """
    return Path(shutil.copytree(SHIPPED, tmp_path_factory.mktemp("shipped") / "shipped"))


@pytest.fixture(scope="module")
def built_int8(tmp_path_factory):
    """A fresh copy of the shipped checkpoint with its int8 model built and cached, its calibration folder,
    an image and that image's int8 translation."""
    root = tmp_path_factory.mktemp("built")
    checkpoint_copy = Path(shutil.copytree(SHIPPED, root / "shipped"))
    calibration = photo_folder(root / "calibration", TEST_PHOTOS[:2], 2, 64, seed=5)
    image = Image.open(next(calibration.iterdir())).convert("RGB")
    output = Translator.load(checkpoint_copy, backend="onnxruntime", precision="int8", calibrate=calibration)(image)
    return checkpoint_copy, calibration, image, output


def photo_folder(folder: Path, photos: tuple[str, ...], per_photo: int, size: int, seed: int) -> Path:
    folder.mkdir(parents=True)
    for index, name in enumerate(photos):
        for number, tile in enumerate(random_tiles(load_photo(name), per_photo, size,
                                                   np.random.default_rng([seed, index]))):
            tile.save(folder / f"{name}_{number}.png")
    return folder


def pixels_of(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image).astype(np.int16))


def pixels(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        return pixels_of(image)


class Builds:
    """Counts exports, quantizations and graph optimisations (to tell a cache hit from a rebuild)."""

    def __init__(self, monkeypatch):
        self.exports = self.quantizations = self.optimizations = 0
        write_onnx, quantize = onnx_backend.write_onnx, onnx_backend.quantize
        optimize = OnnxRuntimeBackend._optimize

        def counted_export(*args, **kwargs):
            self.exports += 1
            return write_onnx(*args, **kwargs)

        def counted_quantize(*args, **kwargs):
            self.quantizations += 1
            return quantize(*args, **kwargs)

        def counted_optimize(*args, **kwargs):
            self.optimizations += 1
            return optimize(*args, **kwargs)

        monkeypatch.setattr(onnx_backend, "write_onnx", counted_export)
        monkeypatch.setattr(onnx_backend, "quantize", counted_quantize)
        monkeypatch.setattr(OnnxRuntimeBackend, "_optimize", counted_optimize)


# -- int8 and the fidelity gate ---------------------------------------------------------------------


def test_int8_of_a_trained_model_passes_the_gate_and_stays_close_to_pytorch_on_held_out_photos(shipped, tmp_path):
    calibration = photo_folder(tmp_path / "calibration", TRAIN_PHOTOS[:4], 2, 64, seed=1)
    held_out = photo_folder(tmp_path / "held-out", TEST_PHOTOS, 2, 96, seed=2)
    lines = []
    int8 = Translator.load(shipped, backend="onnxruntime", precision="int8", calibrate=calibration, report=lines.append)
    report = int8.convert_folder(held_out, tmp_path / "int8")
    assert report.ok and len(report.converted) == 6
    assert any("int8" in line and "dB" in line for line in lines), lines
    pytorch = Translator.load(shipped, device="cpu")
    for source in sorted(held_out.iterdir()):
        with Image.open(source) as image:
            expected = to_tensor(pytorch(image)).unsqueeze(0)
        with Image.open(tmp_path / "int8" / source.name) as output:
            assert psnr(to_tensor(output).unsqueeze(0), expected) > 35, source.name


@pytest.mark.parametrize("model", ["pix2pix U-Net", "CycleGAN ResNet"])
def test_int8_keeps_the_first_and_the_last_convolution_and_what_follows_it_in_fp32(model, built_int8, run_dir,
                                                                                   tmp_path):
    if model == "pix2pix U-Net":
        checkpoint_copy, *_ = built_int8
    else:  # a global residual path and an RGB head by kernel rows: additions after the last convolution
        checkpoint_copy = fresh_copy(run_dir, tmp_path)
        calibration = photo_folder(tmp_path / "calibration", TEST_PHOTOS[:1], 2, 32, seed=3)
        Translator.load(checkpoint_copy, backend="onnxruntime", precision="int8", min_psnr=0,
                        calibrate=calibration)(Image.new("RGB", (32, 32)))
    (path,) = checkpoint_copy.rglob(f"{CACHE_FOLDER}/int8-*.onnx")
    nodes = onnx.load(str(path)).graph.node
    convolutions = [index for index, node in enumerate(nodes) if "Conv" in node.op_type]
    assert nodes[convolutions[0]].op_type == "Conv" and nodes[convolutions[-1]].op_type in ("Conv", "ConvTranspose")
    assert "QLinearConv" in {nodes[index].op_type for index in convolutions[1:-1]}
    assert "Conv" not in {nodes[index].op_type for index in convolutions[1:-1]}
    after = {node.op_type for node in nodes[convolutions[-1]:]}
    assert not any(op.startswith("QLinear") or op.startswith("Quantize") for op in after), after


def test_a_gate_failure_exits_2_and_writes_nothing(shipped, tmp_path):
    source = photo_folder(tmp_path / "in", TEST_PHOTOS[:1], 3, 64, seed=3)
    result = cli("convert", shipped, source, tmp_path / "out", "--backend", "onnxruntime", "--precision", "int8",
                 "--min-psnr", "99")
    assert result.exit_code == 2, result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("translate: error: int8 output is") and "--min-psnr" in error and "fp32" in error
    assert not (tmp_path / "out").exists()
    # The measured model was cached with its PSNR: accepting it with a lower threshold converts at once.
    suggested = error.rsplit("--min-psnr ", 1)[1]
    accepted = cli("convert", shipped, source, tmp_path / "out", "--backend", "onnxruntime", "--precision",
                   "int8", "--min-psnr", suggested)
    assert accepted.exit_code == 0, accepted.output
    assert "int8 model of the generator from the cache" in accepted.stderr
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_calibration_comes_from_the_first_images_being_converted(shipped, tmp_path, monkeypatch):
    source = photo_folder(tmp_path / "in", TEST_PHOTOS, 2, 64, seed=4)
    seen = []
    calibration_inputs = onnx_backend.calibration_inputs
    monkeypatch.setattr(onnx_backend, "calibration_inputs",
                        lambda paths, count, *tiling: seen.append((list(paths), count)) or calibration_inputs(
                            paths, count, *tiling))
    translator = Translator.load(shipped, backend="onnxruntime", precision="int8", calibration_images=4)
    assert translator.convert_folder(source, tmp_path / "out").ok
    (paths, count), = seen
    assert count == 4 and paths == sorted(source.iterdir())


def test_int8_calibrates_large_images_on_central_windows_the_size_of_their_tiles(run_dir, tmp_path, monkeypatch):
    source = tmp_path / "in"
    source.mkdir()
    for index in range(2):
        Image.effect_noise((130, 96), 40).convert("RGB").save(source / f"{index}.png")
    calibrated, tiles = [], []
    calibration_inputs = onnx_backend.calibration_inputs
    monkeypatch.setattr(onnx_backend, "calibration_inputs", lambda *args: [
        calibrated.append(tuple(window.shape[-2:])) or window for window in calibration_inputs(*args)])
    translator = Translator.load(run_dir, backend="onnxruntime", precision="int8", tile=96, overlap=8, min_psnr=0)
    forward = translator._forward
    translator._forward = lambda pieces, **condition: tiles.append(tuple(pieces.shape[-2:])) or forward(pieces,
                                                                                                         **condition)
    assert translator.convert_folder(source, tmp_path / "out").ok
    assert calibrated == [(96, 72)] * 2 and set(tiles) == {(96, 72)}  # two tiles of 96x72 per image
    whole = to_tensor(Image.open(source / "0.png").convert("RGB"))
    window = calibration_inputs([source / "0.png"], 1, 96, 8, 4)[0][0]
    assert torch.equal(window, whole[:, :, 29:101])  # the central window: (130 - 72) / 2 columns in


# -- outputs like the PyTorch path --------------------------------------------------------------------


def test_outputs_keep_sizes_alpha_and_orientation_and_match_pytorch(run_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    sizes = corpus(source)
    textured = {f"noise{index}.png": size for index, size in enumerate([(45, 37), (45, 37), (45, 37), (6, 70)])}
    for index, (name, size) in enumerate(textured.items()):
        Image.effect_noise(size, 30 + 10 * index).convert("RGB").save(source / name)
    onnx = Translator.load(run_dir, backend="onnxruntime").convert_folder(source, tmp_path / "onnx", batch_size=2)
    assert Translator.load(run_dir, device="cpu").convert_folder(source, tmp_path / "torch", batch_size=2).ok
    assert sorted(onnx.converted) == sorted(tmp_path / "onnx" / name for name in {**sizes, **textured})
    for name, size in {**sizes, **textured}.items():
        with Image.open(tmp_path / "onnx" / name) as output, Image.open(tmp_path / "torch" / name) as expected:
            assert output.size == size and output.mode == expected.mode, name
    with Image.open(tmp_path / "onnx" / "sub dir" / "rgba.png") as output, \
            Image.open(source / "sub dir" / "rgba.png") as original:
        assert output.getchannel("A").tobytes() == original.getchannel("A").tobytes()
    # The corpus's flat colours make instance norm divide rounding noise by ~sqrt(eps): compare textured images.
    for name in textured:
        assert (pixels(tmp_path / "onnx" / name) - pixels(tmp_path / "torch" / name)).abs().max() <= 1, name


def test_large_images_go_through_tiles_like_pytorch(run_dir):
    image = Image.effect_noise((150, 90), 50).convert("RGB")
    onnx = Translator.load(run_dir, backend="onnxruntime", tile=64, overlap=16)(image)
    pytorch = Translator.load(run_dir, device="cpu", tile=64, overlap=16)(image)
    assert onnx.size == (150, 90)
    assert (torch.from_numpy(np.asarray(onnx, dtype=np.int16))
            - torch.from_numpy(np.asarray(pytorch, dtype=np.int16))).abs().max() <= 1


def test_bad_files_are_listed_and_skipped_with_exit_status_1(run_dir, tmp_path):
    source = tmp_path / "in"
    (source / "sub dir").mkdir(parents=True)
    for index in range(3):
        Image.effect_noise((40, 32), 30 + index).convert("RGB").save(source / f"good{index}.png")
    bad = plant_bad_files(source)
    for precision_options in (["--precision", "fp32"], ["--precision", "int8", "--min-psnr", "0"]):
        result = cli("convert", run_dir, source, tmp_path / precision_options[1], "--backend", "onnxruntime",
                     *precision_options)
        assert result.exit_code == 1, result.output
        assert "3 converted, 0 skipped (output exists), 3 failed" in result.stdout
        assert sorted(line.split(": ")[1] for line in result.stderr.splitlines() if line.startswith("failed:")) == \
            sorted(str(source / name) for name in bad)


# -- the cache ----------------------------------------------------------------------------------------


def test_the_cache_is_reused_and_rebuilt_when_the_weights_change(run_dir, tmp_path, monkeypatch):
    run = fresh_copy(run_dir, tmp_path)
    source = tmp_path / "in"
    source.mkdir()
    Image.effect_noise((36, 28), 40).convert("RGB").save(source / "x.png")
    builds = Builds(monkeypatch)
    for attempt in range(2):
        Translator.load(run, backend="onnxruntime").convert_folder(source, tmp_path / f"out{attempt}")
    assert builds.exports == 1 and builds.optimizations == 1
    assert pixels(tmp_path / "out0" / "x.png").equal(pixels(tmp_path / "out1" / "x.png"))

    folder = checkpoint.resolve(run)
    weights = load_file(folder / checkpoint.WEIGHTS)
    weights = {name: -tensor if name.startswith("G_AB") and tensor.dim() == 4 else tensor
               for name, tensor in weights.items()}
    save_file(weights, folder / checkpoint.WEIGHTS)
    changed = Translator.load(run, backend="onnxruntime")
    changed.convert_folder(source, tmp_path / "changed")
    assert builds.exports == 2
    expected = Translator.load(run, device="cpu").convert_folder(source, tmp_path / "expected")
    assert expected.ok and (pixels(tmp_path / "changed" / "x.png")
                            - pixels(tmp_path / "expected" / "x.png")).abs().max() <= 1
    assert len(list((folder / CACHE_FOLDER).glob("fp32-*.onnx"))) == 2  # one per generator digest


def damage_entry(model: Path, record: Path, damage: str) -> None:
    """Damage a cache entry (its model file and JSON record) as a crash or a bad disk might."""
    if damage == "flip model bytes":
        data = bytearray(model.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(255 - b for b in data[middle : middle + 64])
        model.write_bytes(bytes(data))
    elif damage == "truncate model":
        model.write_bytes(model.read_bytes()[:1000])
    else:
        record.write_text(record.read_text()[:-20])


@pytest.mark.parametrize("damage", ["flip model bytes", "truncate model", "garble record"])
@pytest.mark.parametrize("damaged", ["session-int8-*", "*int8-*"])
def test_a_corrupted_cache_file_is_rebuilt_not_trusted(built_int8, tmp_path, monkeypatch, damage, damaged):
    """A damaged optimised graph is rebuilt from the intact quantized model; with both damaged, int8 is quantized
    again (from the intact fp32 export). The rebuilt output is the first one, and the rebuilt entry is trusted."""
    built, calibration, image, first = built_int8
    shipped = Path(shutil.copytree(built, tmp_path / "shipped"))
    entries = sorted((shipped / CACHE_FOLDER).glob(damaged))
    assert len(entries) == (2 if damaged.startswith("session") else 4)
    for stem in {path.stem for path in entries}:
        damage_entry(shipped / CACHE_FOLDER / f"{stem}.onnx", shipped / CACHE_FOLDER / f"{stem}.json", damage)
    builds = Builds(monkeypatch)
    again = Translator.load(shipped, backend="onnxruntime", precision="int8", calibrate=calibration)(image)
    assert builds.exports == 0 and builds.quantizations == (0 if damaged.startswith("session") else 1)
    assert builds.optimizations == 1
    assert again.tobytes() == first.tobytes()
    Translator.load(shipped, backend="onnxruntime", precision="int8", calibrate=calibration)(image)
    assert builds.optimizations == 1 and builds.quantizations <= 1  # the rebuilt entries are trusted again


def test_another_cpu_optimises_the_cached_export_again_without_exporting(run_dir, tmp_path, monkeypatch):
    """The optimised graph holds the CPU's blocked channel layout: a checkpoint folder shared with a CPU of
    another vector width (or moved there) gets a graph of its own, and the same outputs."""
    run = fresh_copy(run_dir, tmp_path)
    image = Image.effect_noise((40, 24), 40).convert("RGB")
    builds = Builds(monkeypatch)
    here = Translator.load(run, backend="onnxruntime")(image)
    monkeypatch.setattr(onnx_backend, "cpu_identity", lambda: {"machine": "x86_64", "capability": "another"})
    there = Translator.load(run, backend="onnxruntime")(image)
    assert (builds.exports, builds.optimizations) == (1, 2)
    assert pixels_of(here).equal(pixels_of(there))
    Translator.load(run, backend="onnxruntime")(image)
    assert builds.optimizations == 2


def test_an_unwritable_checkpoint_folder_caches_in_the_users_folder(run_dir, tmp_path, monkeypatch, user_cache):
    run = fresh_copy(run_dir, tmp_path)
    (checkpoint.resolve(run) / CACHE_FOLDER).write_text("not a folder")  # mkdir fails as on a read-only folder
    image = Image.effect_noise((20, 20), 40).convert("RGB")
    builds = Builds(monkeypatch)
    Translator.load(run, backend="onnxruntime")(image)
    assert len(list(user_cache.glob("fp32-*.onnx"))) == 1
    Translator.load(run, backend="onnxruntime")(image)
    assert builds.exports == 1


def test_without_a_writable_folder_a_warning_says_the_model_is_not_cached(run_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a file"))
    (tmp_path / "a file").write_text("")
    cache = ModelCache(tmp_path / "also a file")
    (tmp_path / "also a file").write_text("")
    with pytest.warns(UserWarning, match="cannot cache the ONNX model"):
        assert cache.store("fp32-x", {"k": 1}, b"model") is None


# -- every model, errors, settings --------------------------------------------------------------------


def tiny_model(name: str):
    registry = PluginRegistry()
    model_cls = registry.model(name)
    extra = {"domains": "a,b,c"} if name == "stargan" else {}
    torch.manual_seed(0)
    model = model_cls(None, image_size=32, **model_cls.tiny_options, **extra).eval()
    with torch.no_grad():  # as if trained: untrained residual generators are all the identity mapping
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.02)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pix2pix", "cyclegan", "unit", "stargan"])
def test_every_one_generator_model_converts_every_target_like_pytorch(name, tmp_path):
    model = tiny_model(name)
    runtime = OnnxRuntimeBackend(model, ModelCache(tmp_path / "cache"), tile=768, overlap=64)
    translator = Translator(model, torch.device("cpu"), {"model": name}, runtime=runtime)
    variants = translator.variants(every_target=name != "pix2pix")
    assert len(variants) == {"pix2pix": 1, "cyclegan": 2, "unit": 2, "stargan": 3}[name]
    images = torch.rand(2, 3, 37, 29) * 2 - 1
    outputs = []
    for variant in variants:
        with torch.no_grad():
            expected = model.translate(images, **variant.condition)
        outputs.append(translator.translate_batch(images, **variant.condition))
        assert torch.allclose(outputs[-1], expected, atol=1e-4), variant
    assert all(not torch.allclose(outputs[0], other) for other in outputs[1:])  # each target its own graph


def test_reference_weights_convert_with_arch(tmp_path):
    from translate.models.generators import build_translator_net

    torch.manual_seed(0)
    generator = build_translator_net("resnet_6blocks", ngf=8, norm="instance", dropout=False)
    torch.save(generator.net.state_dict(), tmp_path / "latest_net_G.pth")
    images = torch.rand(1, 3, 21, 30) * 2 - 1
    translator = Translator.load(tmp_path / "latest_net_G.pth", arch="resnet_6blocks", backend="onnxruntime")
    with torch.no_grad():
        assert torch.allclose(translator.translate_batch(images), generator(images), atol=1e-4)
    assert list((tmp_path / CACHE_FOLDER).glob("fp32-*.onnx"))


def test_sessions_use_torchs_thread_count(run_dir, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    translator = Translator.load(run_dir, backend="onnxruntime")
    session = translator.runtime._session({}).session
    assert session.get_session_options().intra_op_num_threads == 3


@pytest.mark.parametrize("args, message", [
    (["--precision", "int8"], "--precision int8 needs --backend onnxruntime"),
    (["--backend", "onnxruntime", "--precision", "bf16"], "computes in fp32 or int8, not --precision bf16"),
    (["--backend", "onnxruntime", "--min-psnr", "30"], "--min-psnr is for --backend onnxruntime --precision int8"),
    (["--backend", "onnxruntime", "--compile"], "--compile is for --backend torch"),
    (["--backend", "onnxruntime", "--device", "cuda"], "runs on the CPU"),
    (["--backend", "onnxruntime", "--precision", "int8", "--min-psnr", "nan"],
     "--min-psnr must be a number of dB, at least 0, got nan"),
])
def test_option_mistakes_are_one_line_errors(run_dir, tmp_path, args, message):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (8, 8)).save(source / "x.png")
    result = cli("convert", run_dir, source, tmp_path / "out", *args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_command_line_spells_the_backends_precisions_and_defaults_like_the_library():
    from translate.cli.common import (
        BACKEND_CHOICES,
        CALIBRATION_IMAGES_DEFAULT,
        MIN_PSNR_DEFAULT,
        ONNX_ONLY_PRECISIONS,
        PRECISION_CHOICES,
    )
    from translate.convert.quantize import CALIBRATION_IMAGES, DEFAULT_MIN_PSNR

    assert BACKEND_CHOICES == onnx_backend.BACKENDS
    assert set(ONNX_ONLY_PRECISIONS) == set(onnx_backend.ONNX_PRECISIONS) - set(PRECISION_CHOICES)
    assert (CALIBRATION_IMAGES_DEFAULT, MIN_PSNR_DEFAULT) == (CALIBRATION_IMAGES, DEFAULT_MIN_PSNR)


def test_without_onnxruntime_the_option_says_what_to_install(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(TranslateError, match=r"needs the package onnxruntime: pip install 'image-translate\[onnx\]'"):
        Translator.load(run_dir, backend="onnxruntime")


def test_int8_without_calibration_images_is_a_clear_error(run_dir, tmp_path):
    translator = Translator.load(run_dir, backend="onnxruntime", precision="int8")
    with pytest.raises(TranslateError, match="calibration images"):
        translator(Image.new("RGB", (16, 16)))
    source = tmp_path / "in"
    source.mkdir()
    (source / "broken.png").write_text("not an image")
    with pytest.raises(TranslateError, match="none that can be read and stand for them; pass --calibrate DIR"):
        translator.convert_folder(source, tmp_path / "out")


@pytest.mark.parametrize("image, why", [
    (Image.new("RGB", (1, 1), "grey"), "only.png': 1×1 pixels, smaller than 16×16"),
    (Image.new("RGB", (64, 48), (128, 128, 128)), "only.png': one flat colour"),
])
def test_int8_refuses_calibration_images_that_cannot_stand_for_real_inputs(run_dir, tmp_path, image, why):
    """A flat or tiny calibration set would pass the gate on outputs nothing like real ones' (a flat grey image
    scored 106 dB where real photos scored 59)."""
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    image.save(calibration / "only.png")
    translator = Translator.load(fresh_copy(run_dir, tmp_path), backend="onnxruntime", precision="int8",
                                 calibrate=calibration)
    with pytest.raises(TranslateError, match=f"has none that can be read and stand for them \\('.*{re.escape(why)}\\)"):
        translator(Image.effect_noise((32, 32), 40).convert("RGB"))


def test_int8_passes_over_unusable_calibration_images_with_a_warning(run_dir, tmp_path):
    calibration = photo_folder(tmp_path / "calibration", TEST_PHOTOS[:1], 1, 32, seed=3)
    Image.new("RGB", (32, 32), "white").save(calibration / "blank.png")
    translator = Translator.load(fresh_copy(run_dir, tmp_path), backend="onnxruntime", precision="int8",
                                 calibrate=calibration, min_psnr=0)
    with pytest.warns(UserWarning, match=r"int8 calibration passed over 1 image\(s\) of the calibration folder .*: "
                                         r"'.*blank\.png': one flat colour"):
        translator(Image.effect_noise((32, 32), 40).convert("RGB"))
    assert len(translator.runtime._calibration_set()) == 1


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_cache_files_get_the_modes_a_plain_open_gives(run_dir, tmp_path, mask):
    import os

    run = fresh_copy(run_dir, tmp_path)
    previous = os.umask(mask)
    try:
        Translator.load(run, backend="onnxruntime")(Image.effect_noise((16, 16), 40).convert("RGB"))
    finally:
        os.umask(previous)
    files = list((checkpoint.resolve(run) / CACHE_FOLDER).iterdir())
    assert files and {oct(path.stat().st_mode & 0o777) for path in files} == {oct(0o666 & ~mask)}


def test_a_checkpoint_folder_removed_meanwhile_is_not_created_again(tmp_path, user_cache):
    """Training prunes old checkpoints while a conversion of one of them may still be caching its model."""
    removed = tmp_path / "run" / "checkpoints" / "000005"
    path = ModelCache(removed / CACHE_FOLDER).store("fp32-x", {"network": "x"}, b"model bytes")
    assert not removed.exists() and not (tmp_path / "run").exists()
    assert path == user_cache / "fp32-x.onnx" and path.read_bytes() == b"model bytes"


# -- runs at once -------------------------------------------------------------------------------------


class Runs:
    """Records the session runs of a backend (start, end, input shape, threads).

    Each run is held ``hold`` seconds longer, so that runs started together do overlap.
    """

    def __init__(self, monkeypatch, hold: float = 0.3):
        self.runs: list[tuple[float, float, tuple[int, ...], int]] = []
        record, build = self.runs.append, OnnxRuntimeBackend._optimized_session

        class Recorded:
            def __init__(self, session):
                self.session = session

            def get_session_options(self):
                return self.session.get_session_options()

            def run(self, names, feed):
                start = time.perf_counter()
                time.sleep(hold)
                try:
                    return self.session.run(names, feed)
                finally:
                    record((start, time.perf_counter(), feed["images"].shape,
                            self.session.get_session_options().intra_op_num_threads))

        monkeypatch.setattr(OnnxRuntimeBackend, "_optimized_session",
                            lambda backend, *args: Recorded(build(backend, *args)))

    @property
    def threads(self) -> list[int]:
        return [threads for *_, threads in self.runs]

    def overlapping(self, run) -> list:
        return [other for other in self.runs if other is not run and other[0] < run[1] and run[0] < other[1]]

    @property
    def most_at_once(self) -> int:
        return max(1 + sum(other[0] <= run[0] < other[1] for other in self.runs if other is not run)
                   for run in self.runs)


def test_a_folder_translates_two_images_at_once_on_half_the_threads_each(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    source = tmp_path / "in"
    source.mkdir()
    images = {f"{index}.png": Image.effect_noise((40, 32), 20 + 10 * index).convert("RGB") for index in range(5)}
    for name, image in images.items():
        image.save(source / name)
    translator = Translator.load(run_dir, backend="onnxruntime")
    runs = Runs(monkeypatch)
    report = translator.convert_folder(source, tmp_path / "out", batch_size=1, direction="AtoB")
    assert report.ok and len(report.converted) == 5
    assert runs.most_at_once == 2 and set(runs.threads) == {1}
    first = min(runs.runs)  # a shape's first run plans its memory: it runs alone
    assert not runs.overlapping(first)
    pytorch = Translator.load(run_dir, device="cpu")
    for name, image in images.items():  # each output is its own image's translation
        assert (pixels(tmp_path / "out" / name) - pixels_of(pytorch(image, direction="AtoB"))).abs().max() <= 1
    runs.runs.clear()
    translator(images["0.png"], direction="AtoB")  # one image alone runs on every thread again
    assert runs.threads == [2]


def test_a_folder_of_one_image_runs_it_on_every_thread(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    source = tmp_path / "in"
    source.mkdir()
    Image.effect_noise((40, 32), 40).convert("RGB").save(source / "a.png")
    runs = Runs(monkeypatch, hold=0)
    assert Translator.load(run_dir, backend="onnxruntime").convert_folder(source, tmp_path / "out").ok
    assert runs.threads == [2]


def test_while_two_run_at_once_a_failing_image_is_listed_and_a_usage_error_stops(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    source = tmp_path / "in"
    source.mkdir()
    for name, size in {"a.png": (16, 16), "b.png": (15, 16), "c.png": (24, 8), "d.png": (20, 20)}.items():
        Image.new("RGB", size, (40, 50, 60)).save(source / name)
    translator = Translator.load(run_dir, backend="onnxruntime")
    fail_on_odd_widths(translator)
    report = translator.convert_folder(source, tmp_path / "out", batch_size=1)
    assert report.failed == [(source / "b.png", "cannot translate: simulated failure")]
    assert sorted(path.name for path in report.converted) == ["a.png", "c.png", "d.png"]

    def needs_an_option(images, **condition):
        raise TranslateError("--to is missing")

    translator._forward = needs_an_option
    with pytest.raises(TranslateError, match="--to is missing"):
        translator.convert_folder(source, tmp_path / "again", batch_size=1)
    assert not any((tmp_path / "again").rglob("*.png"))


# -- memory ------------------------------------------------------------------------------------------


def test_a_folder_conversion_drops_the_pytorch_weights_and_another_condition_reloads_them(run_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    image = Image.effect_noise((40, 32), 40).convert("RGB")
    image.save(source / "a.png")
    translator = Translator.load(run_dir, backend="onnxruntime")
    assert translator.convert_folder(source, tmp_path / "out", direction="AtoB").ok
    assert all(parameter.is_meta for parameter in translator.runtime.model.parameters())
    pytorch = Translator.load(run_dir, device="cpu")
    for direction in ("AtoB", "BtoA"):  # the built session still converts; the other direction reloads
        assert (pixels_of(translator(image, direction=direction))
                - pixels_of(pytorch(image, direction=direction))).abs().max() <= 1, direction
    assert not any(parameter.is_meta for parameter in translator.runtime.model.parameters())


def test_the_heap_a_sessions_first_run_of_a_size_left_is_handed_back(run_dir, monkeypatch):
    """The first run of a size allocates activations one by one; later runs take one block."""
    releases = []
    monkeypatch.setattr(onnx_backend, "release_free_memory", lambda: releases.append(True))
    translator = Translator.load(run_dir, backend="onnxruntime")
    for size in [(1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 32, 32), (1, 3, 48, 32), (1, 3, 48, 32)]:
        translator.translate_batch(torch.rand(size) * 2 - 1)
    assert len(releases) == 3


def test_only_the_pytorch_backend_keeps_freed_memory_for_reuse(run_dir, tmp_path, monkeypatch):
    """ONNX Runtime takes an image's activations in one block per run: kept heap would only raise its peak."""
    from translate.convert import allocator

    kept = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda: kept.append(True) or True)
    (tmp_path / "in").mkdir()
    Image.effect_noise((40, 32), 40).convert("RGB").save(tmp_path / "in" / "a.png")
    for backend in ("onnxruntime", "torch"):
        result = cli("convert", run_dir, tmp_path / "in", tmp_path / backend, "--backend", backend)
        assert result.exit_code == 0, result.output
        assert len(kept) == (backend == "torch"), backend
