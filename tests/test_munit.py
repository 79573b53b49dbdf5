"""MUNIT: its networks, the style dimension of conversion and export, sample grids, and the model contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from translate.cli import main
from translate.convert import Translator
from translate.convert.export import exportable_network
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.sample import SAMPLE_ROOT
from translate.models.styles import random_style, style_codes
from translate.nets.layers import LayerNorm2d
from translate.nets.munit import AdaINResnetBlock, StyleDecoder, StyleEncoder, adaptive_instance_norm
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry
from translate.testing_models import check_model

#: Small networks at 32 px (every network runs; one critic scale fits 32 px).
TINY_FLAGS = ("--model-opt", "ngf=8", "--model-opt", "ndf=8", "--model-opt", "n_res=1", "--model-opt", "mlp_dim=16")


def munit_class():
    return PluginRegistry().model("munit")


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``translate train --model munit --loss lsgan`` on the embedded sample set (32 px, a few steps)."""
    folder = tmp_path_factory.mktemp("munit") / "run"
    result = cli("train", "--model", "munit", "--loss", "lsgan", "--steps", "3", "--image-size", "32",
                 "--sample-every", "3", "--device", "cpu", "--out", str(folder), *TINY_FLAGS)
    assert result.exit_code == 0, result.output
    return folder


# -- networks ------------------------------------------------------------------------------------


def test_adain_gives_each_channel_the_mean_and_spread_of_the_style():
    x = torch.randn(2, 3, 8, 8) * 5 + 3
    scale, shift = torch.tensor([[1.0, 2.0, 0.5], [3.0, 1.0, 1.0]]), torch.tensor([[0.0, -1.0, 2.0], [1.0, 0.0, 0.0]])
    out = adaptive_instance_norm(x, scale, shift)
    assert torch.allclose(out.mean((2, 3)), shift, atol=1e-4)
    assert torch.allclose(out.std((2, 3), unbiased=False), scale, atol=1e-3)


def test_layer_norm_keeps_the_differences_between_channels_that_instance_norm_removes():
    x = torch.randn(1, 2, 8, 8) + torch.tensor([0.0, 4.0]).view(1, 2, 1, 1)
    out = LayerNorm2d(2)(x)
    assert abs(out.mean().item()) < 1e-5 and abs(out.std(unbiased=False).item() - 1) < 1e-3
    assert out[0, 1].mean() - out[0, 0].mean() > 1.5  # the channels keep their order and distance


def test_the_style_encoder_takes_any_size_and_the_decoder_listens_to_the_style():
    encoder = StyleEncoder(dim=8, n_down=4, style_dim=5)
    assert encoder(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    assert encoder(torch.randn(1, 3, 37, 70)).shape == (1, 5)
    decoder = StyleDecoder(dim=16, n_up=2, n_res=2, style_dim=5, mlp_dim=16)
    torch.nn.init.normal_(decoder.mlp[-1].weight, std=1.0)
    content = torch.randn(1, 16, 4, 4)
    first, second = decoder(content, torch.randn(1, 5)), decoder(content, torch.randn(1, 5))
    assert first.shape == (1, 3, 16, 16) and (first - second).abs().max() > 1e-3
    block = AdaINResnetBlock(4)
    assert block(torch.randn(1, 4, 6, 6), torch.zeros(1, block.parameter_count)).shape == (1, 4, 6, 6)


def test_style_codes_from_nothing_a_seed_a_code_or_images():
    like = torch.zeros(1)
    encode = lambda images: images.mean((2, 3))  # noqa: E731  (a 3-number style per image)
    assert torch.equal(style_codes(None, 2, 3, encode, like), torch.zeros(2, 3))
    assert torch.equal(style_codes(7, 2, 3, encode, like), random_style(7, 3).expand(2, 3))
    assert torch.equal(random_style(7, 3), random_style(7, 3)) and not torch.equal(random_style(7, 3),
                                                                                    random_style(8, 3))
    images = torch.rand(2, 3, 4, 4)
    assert torch.equal(style_codes(images, 2, 3, encode, like), images.mean((2, 3)))
    with pytest.raises(OptionError, match="a style code must have 3 numbers"):
        style_codes(torch.zeros(4), 2, 3, encode, like)
    with pytest.raises(OptionError, match="style must be a seed"):
        style_codes("blue", 2, 3, encode, like)
    with pytest.raises(OptionError, match="a style seed must be an integer from 0"):
        random_style(-1, 3)


# -- the model -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size, scales", [(32, 1), (46, 1), (47, 2), (64, 2), (92, 2), (93, 3), (256, 3)])
def test_critic_scales_are_the_references_three_where_the_crop_allows(size, scales):
    from translate_plugins.lsgan import LSGAN

    model = munit_class()(LSGAN, image_size=size, ngf=8, ndf=8, n_res=1, mlp_dim=16)
    assert model.critic_scales == scales == model.options()["critic_scales"]
    assert munit_class()(LSGAN, image_size=256, ngf=8, ndf=8, n_res=1, mlp_dim=16, critic_scales=1).critic_scales == 1


def test_the_untrained_translation_is_the_identity_for_every_style():
    model = munit_class()(None, image_size=32, ngf=8, n_res=1, mlp_dim=16).eval()
    images = torch.rand(2, 3, 36, 44) * 1.8 - 0.9
    with torch.no_grad():
        for style in (None, 3, torch.randn(8), images[:1]):
            assert (model.translate(images, style=style) - images).abs().max() < 1e-3


def test_model_check_passes_through_the_entry_point():
    report = check_model("munit")
    report.raise_if_failed()
    assert any("with style=1" in line or "exported" in line for line in report.checked)


def test_sample_grids_show_three_random_styles_and_the_style_of_the_other_domain(run):
    grid = Image.open(run / "samples" / "step_000003.png")
    rows = len(list_images(SAMPLE_ROOT / "testA"))
    assert grid.size == (10 * 32 + 9 * 2, min(4, rows) * 32 + (min(4, rows) - 1) * 2)  # 2 x (input, 3 styles, example)
    model = Translator.load(run, device="cpu").model
    batch = {side: torch.stack([to_tensor(load_rgb(p)) for p in list_images(SAMPLE_ROOT / f"test{side}")[:2]])
             for side in "AB"}
    with torch.no_grad():
        columns = model.sample_columns(batch)
        assert torch.equal(columns[1], model.translate(batch["A"], "AtoB", 0))
        assert torch.equal(columns[4], model.translate(batch["A"], "AtoB", batch["B"]))
        assert torch.equal(columns[6], model.translate(batch["B"], "BtoA", 0))
    assert len(columns) == 10 and not torch.equal(columns[1], columns[2])  # two random styles, two outputs


# -- conversion with styles ----------------------------------------------------------------------


def outputs(folder) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(load_rgb(p), dtype=np.int16) for p in list_images(folder)}


def test_convert_writes_seeded_styles_that_differ_and_repeat(run, tmp_path):
    source = SAMPLE_ROOT / "testA"
    names = [p.stem for p in list_images(source)]
    first = cli("convert", str(run), str(source), str(tmp_path / "four"), "--styles", "4", "--device", "cpu")
    assert first.exit_code == 0, first.output
    written = outputs(tmp_path / "four")
    assert sorted(written) == sorted(f"{name}_s{k}.png" for name in names for k in range(4))
    again = cli("convert", str(run), str(source), str(tmp_path / "again"), "--styles", "2", "--seed", "2",
                "--device", "cpu")
    assert again.exit_code == 0, again.output
    for name in names:  # style k of --seed S is the style of seed S + k, whatever N
        for k in range(2):
            assert np.array_equal(outputs(tmp_path / "again")[f"{name}_s{k}.png"], written[f"{name}_s{k + 2}.png"])
    model = Translator.load(run, device="cpu")
    image = load_rgb(next(iter(list_images(source))))
    assert np.array_equal(np.asarray(model(image, style=1), dtype=np.int16), written[f"{names[0]}_s1.png"])
    skipped = cli("convert", str(run), str(source), str(tmp_path / "four"), "--styles", "4", "--device", "cpu")
    assert skipped.exit_code == 0 and f"0 converted, {4 * len(names)} skipped" in skipped.output


def test_convert_with_the_style_of_an_example_image(run, tmp_path):
    source, example = SAMPLE_ROOT / "testA", list_images(SAMPLE_ROOT / "testB")[0]
    result = cli("convert", str(run), str(source), str(tmp_path / "guided"), "--style-from", str(example),
                 "--device", "cpu")
    assert result.exit_code == 0, result.output
    translator = Translator.load(run, device="cpu")
    model = translator.model
    image = list_images(source)[0]
    code = model.style_code(to_tensor(load_rgb(example).resize((32, 32), Image.Resampling.BICUBIC))[None])  # crop size
    with torch.no_grad():
        expected = translator(load_rgb(image), style=code)
    assert np.array_equal(np.asarray(expected, dtype=np.int16), outputs(tmp_path / "guided")[image.name])


@pytest.mark.parametrize("flags, message", [
    (("--styles", "2", "--style-from", "IMAGE"), "--styles writes random styles and --style-from the style of one "
                                                 "image; choose one"),
])
def test_styles_and_an_example_together_are_one_line(run, tmp_path, flags, message):
    example = str(list_images(SAMPLE_ROOT / "testB")[0])
    result = cli("convert", str(run), str(SAMPLE_ROOT / "testA"), str(tmp_path / "out"),
                 *(example if flag == "IMAGE" else flag for flag in flags))
    assert result.exit_code == 2 and result.stderr.strip() == f"translate: error: {message}"
    assert not (tmp_path / "out").exists()


def test_a_model_without_styles_refuses_them_in_one_line(tmp_path):
    run = tmp_path / "cyclegan"
    trained = cli("train", "--model", "cyclegan", "--steps", "1", "--image-size", "32", "--model-opt", "ngf=8",
                  "--model-opt", "ndf=8", "--device", "cpu", "--out", str(run))
    assert trained.exit_code == 0, trained.output
    example = str(list_images(SAMPLE_ROOT / "testB")[0])
    for flags in (("--styles", "3"), ("--style-from", example)):
        refused = cli("convert", str(run), str(SAMPLE_ROOT / "testA"), str(tmp_path / "out"), *flags)
        assert refused.exit_code == 2
        assert refused.stderr.strip() == ("translate: error: model 'cyclegan' has no styles (its metadata() declares "
                                          "no 'style_dim'): it gives one output per input; drop --styles and "
                                          "--style-from")
        assert not (tmp_path / "out").exists()


def test_onnx_runtime_converts_every_style_as_pytorch_does(run, tmp_path):
    pytest.importorskip("onnxruntime")
    source = SAMPLE_ROOT / "testA"
    for backend in ("torch", "onnxruntime"):
        result = cli("convert", str(run), str(source), str(tmp_path / backend), "--styles", "2", "--backend", backend,
                     "--device", "cpu")
        assert result.exit_code == 0, result.output
    torch_out, onnx_out = outputs(tmp_path / "torch"), outputs(tmp_path / "onnxruntime")
    assert sorted(torch_out) == sorted(onnx_out)
    assert max(np.abs(torch_out[name] - onnx_out[name]).max() for name in torch_out) <= 1  # rounding at most
    names = sorted(torch_out)
    assert any(np.abs(torch_out[a] - torch_out[b]).max() > 0 for a, b in zip(names[::2], names[1::2]))
    int8 = cli("convert", str(run), str(source), str(tmp_path / "int8"), "--styles", "2", "--backend", "onnxruntime",
               "--precision", "int8", "--min-psnr", "0", "--device", "cpu")
    assert int8.exit_code == 0, int8.output
    assert sorted(outputs(tmp_path / "int8")) == names
    cache = json.dumps([json.loads(p.read_text()) for p in (run / "latest").rglob("*.json") if "cache" in str(p)])
    assert "style of seed" in cache  # int8 was calibrated with styles, and its key says so


def test_export_takes_the_style_code_as_a_second_input(run, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "munit.onnx"
    result = cli("export", str(run), str(path), "--format", "onnx", "--direction", "BtoA")
    assert result.exit_code == 0, result.output
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images", "style"]
    model = Translator.load(run, device="cpu").model
    images, codes = torch.rand(2, 3, 40, 36) * 2 - 1, torch.randn(2, 8)
    (exported,) = session.run(None, {"images": images.numpy(), "style": codes.numpy()})
    with torch.no_grad():
        expected = model.translate(images, "BtoA", codes)
    assert np.abs(exported - expected.numpy()).max() < 1e-4
    scripted = tmp_path / "munit.pt"
    assert cli("export", str(run), str(scripted), "--format", "torchscript").exit_code == 0
    with torch.no_grad():
        got = torch.jit.load(str(scripted))(images, codes)
        assert (got - model.translate(images, "AtoB", codes)).abs().max() < 1e-4
    assert exportable_network(model).style_dim == 8
