"""Weights of the PyTorch CycleGAN/pix2pix reference load into translate and give identical outputs.

The reference networks below are compact re-implementations written from the behaviour
described in REFERENCE.md 1.1/1.2 (junyanz ``ResnetGenerator`` / ``UnetGenerator``),
including the in-place LeakyReLU that makes the U-Net skip carry the activated input.
Their state dicts use the reference key names; nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading

import pytest
import torch
from PIL import Image
from torch import nn

from helpers import cli
from translate.cli import main
from translate.convert import Translator
from translate.data.images import to_pil, to_tensor
from translate.nets import build_generator
from translate.convert.reference_weights import read_state_dict

instance_norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
#: Same weights, same operations; the Translator runs channels-last kernels, which sum in another order.
TOLERANCE = 1e-4


class RefResnetBlock(nn.Module):
    def __init__(self, dim, norm_layer, use_bias):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnetGenerator(nn.Module):
    def __init__(self, ngf, n_blocks, norm_layer=instance_norm):
        super().__init__()
        use_bias = norm_layer is instance_norm
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=use_bias), norm_layer(ngf), nn.ReLU(True)]
        for mult in (1, 2):
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        layers += [RefResnetBlock(ngf * 4, norm_layer, use_bias) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=use_bias), norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class RefUnetBlock(nn.Module):
    def __init__(self, outer, inner, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        use_bias = norm_layer is instance_norm
        down = nn.Conv2d(input_nc or outer, inner, 4, stride=2, padding=1, bias=use_bias)
        down_relu, up_relu = nn.LeakyReLU(0.2, True), nn.ReLU(True)  # in place, as the reference
        if outermost:
            layers = [down, submodule, up_relu, nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            layers = [down_relu, down, up_relu, nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=use_bias),
                      norm_layer(outer)]
        else:
            layers = [down_relu, down, norm_layer(inner), submodule, up_relu,
                      nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=use_bias), norm_layer(outer)]
            layers += [nn.Dropout(0.5)] if use_dropout else []
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x was overwritten by the in-place LeakyReLU


class RefUnetGenerator(nn.Module):
    def __init__(self, num_downs, ngf, norm_layer=nn.BatchNorm2d):
        super().__init__()
        block = RefUnetBlock(ngf * 8, ngf * 8, innermost=True, norm_layer=norm_layer)
        for _ in range(num_downs - 5):
            block = RefUnetBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=True)
        for mult in (4, 2, 1):
            block = RefUnetBlock(ngf * mult, ngf * mult * 2, submodule=block, norm_layer=norm_layer)
        self.model = RefUnetBlock(3, ngf, input_nc=3, submodule=block, outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


def randomised(network: nn.Module, seed: int) -> nn.Module:
    """Random weights everywhere, including BatchNorm statistics, so eval mode is a real test."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in network.state_dict().items():
            if tensor.dtype.is_floating_point:
                values = torch.randn(tensor.shape, generator=generator) * 0.1
                tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    return network.eval()


def saved(network: nn.Module, path, stale_instance_norm: bool = False):
    state = network.state_dict()
    if stale_instance_norm:  # what InstanceNorm layers of PyTorch < 0.4 left in checkpoints
        for name, module in network.named_modules():
            if isinstance(module, nn.InstanceNorm2d):
                state[f"{name}.running_mean"] = torch.zeros(module.num_features)
                state[f"{name}.running_var"] = torch.ones(module.num_features)
                state[f"{name}.num_batches_tracked"] = torch.tensor(0)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("arch, n_blocks, size", [("resnet_6blocks", 6, 36), ("resnet_9blocks", 9, 20)])
def test_imported_resnet_reproduces_the_reference_outputs(tmp_path, arch, n_blocks, size):
    reference = randomised(RefResnetGenerator(ngf=8, n_blocks=n_blocks), seed=n_blocks)
    weights = saved(reference, tmp_path / "latest_net_G.pth", stale_instance_norm=True)
    result = cli("import-weights", str(weights), "--arch", arch, str(tmp_path / "imported"))
    assert result.exit_code == 0, result.output
    metadata = json.loads((tmp_path / "imported" / "checkpoint.json").read_text())
    assert metadata["imported_from"]["arch"] == arch and metadata["imported_from"]["norm"] == "instance"
    assert metadata["imported_from"]["dropped_norm_statistics"] == 3 * (3 + 2 * n_blocks + 2)
    translator = Translator.load(tmp_path / "imported", device="cpu")
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        expected = reference(x)
    assert torch.allclose(translator.translate_batch(x), expected, atol=TOLERANCE)


def test_reference_key_names_are_translates_own():
    for arch, reference in [("resnet_9blocks", RefResnetGenerator(ngf=4, n_blocks=9)),
                            ("resnet_6blocks", RefResnetGenerator(ngf=4, n_blocks=6)),
                            ("unet_256", RefUnetGenerator(8, ngf=4)), ("unet_128", RefUnetGenerator(7, ngf=4))]:
        ours = build_generator(arch, ngf=4)
        assert list(ours.state_dict()) == list(reference.state_dict()), arch
    keys = RefResnetGenerator(ngf=4, n_blocks=9).state_dict()
    assert {k.rsplit(".", 1)[0] for k in keys if k.count(".") == 2} == {
        "model.1", "model.4", "model.7", "model.19", "model.22", "model.26"}


@pytest.mark.parametrize("arch, num_downs, size", [("unet_128", 7, 128), ("unet_256", 8, 256)])
def test_imported_unet_reproduces_the_reference_outputs(tmp_path, arch, num_downs, size):
    reference = randomised(RefUnetGenerator(num_downs, ngf=4), seed=num_downs)
    weights = saved(reference, tmp_path / "latest_net_G.pth")
    x = torch.rand(1, 3, size, size) * 2 - 1
    with torch.no_grad():
        expected = reference(x.clone())  # the in-place LeakyReLU would overwrite x
    translator = Translator.load(weights, arch=arch, device="cpu")
    assert translator.metadata["model_options"]["norm"] == "batch"
    assert torch.allclose(translator.translate_batch(x), expected, atol=TOLERANCE)


def test_convert_takes_a_reference_file_with_arch(tmp_path):
    reference = randomised(RefUnetGenerator(7, ngf=4), seed=1)
    weights = saved(reference, tmp_path / "latest_net_G.pth")
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    to_pil(torch.rand(3, 128, 128) * 2 - 1).save(source / "photo.png")
    result = cli("convert", str(weights), "--arch", "unet_128", str(source), str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    with torch.no_grad():
        expected = reference(to_tensor(Image.open(source / "photo.png")).unsqueeze(0))[0]
    converted = to_tensor(Image.open(out / "photo.png").convert("RGB"))
    assert (converted - to_tensor(to_pil(expected))).abs().max() <= 1 / 127.5 + 1e-6  # one 8-bit step at most


def test_mistakes_are_one_line_errors_naming_the_file(tmp_path):
    resnet = saved(randomised(RefResnetGenerator(ngf=4, n_blocks=6), 0), tmp_path / "resnet.pth")
    result = cli("import-weights", str(resnet), "--arch", "unet_256", str(tmp_path / "x"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"'{resnet}' is not a reference U-Net generator" in result.stderr and "try --arch resnet_9blocks" in result.stderr
    result = cli("import-weights", str(resnet), "--arch", "resnet_9blocks", str(tmp_path / "x"))
    assert result.exit_code == 2 and f"'{resnet}' does not fit --arch resnet_9blocks" in result.stderr
    assert not (tmp_path / "x").exists()
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (8, 8)).save(source / "a.png")
    result = cli("convert", str(resnet), str(source), str(tmp_path / "out"))
    assert result.exit_code == 2 and "name its architecture with --arch" in result.stderr
    pickled = tmp_path / "pickled.pth"
    torch.save({"model": functools.partial(print)}, pickled)  # not loadable with weights_only=True
    result = cli("import-weights", str(pickled), "--arch", "resnet_6blocks", str(tmp_path / "x"))
    assert result.exit_code == 2 and result.stderr.startswith(f"translate: error: cannot read '{pickled}'")
    assert result.stderr.count("\n") == 1
    cli("import-weights", str(resnet), "--arch", "resnet_6blocks", str(tmp_path / "ok"))
    result = cli("import-weights", str(resnet), "--arch", "resnet_6blocks", str(tmp_path / "ok"))
    assert result.exit_code == 2 and "exists; pass --overwrite" in result.stderr
    result = cli("convert", str(tmp_path / "ok"), "--arch", "resnet_6blocks", str(source), str(tmp_path / "out"))
    assert result.exit_code == 2 and "--arch is for reference .pth files only" in result.stderr


def test_data_parallel_prefixes_are_removed(tmp_path):
    state = RefResnetGenerator(ngf=4, n_blocks=6).state_dict()
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "dp.pth")
    assert list(read_state_dict(tmp_path / "dp.pth")) == list(state)


def test_weights_recipes_download_and_import_a_checkpoint(tmp_path):
    reference = randomised(RefResnetGenerator(ngf=4, n_blocks=6), seed=7)
    served = tmp_path / "served"
    served.mkdir()
    weights = saved(reference, served / "tiny2zebra.pth")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        recipes = tmp_path / "recipes.toml"
        recipes.write_text(
            f'[weights.tiny2zebra]\nkind = "cyclegan"\nurls = ["http://127.0.0.1:{httpd.server_address[1]}/'
            f'tiny2zebra.pth"]\narchive = "pth"\narch = "resnet_6blocks"\n'
            f'sha256 = "{hashlib.sha256(weights.read_bytes()).hexdigest()}"\n'
        )
        result = cli("weights", "download", "tiny2zebra", "--root", str(tmp_path / "weights"),
                     "--recipes", str(recipes))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == ["tiny2zebra"]
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        expected = reference(x)
    translated = Translator.load(tmp_path / "weights" / "tiny2zebra", device="cpu").translate_batch(x)
    assert torch.allclose(translated, expected, atol=TOLERANCE)


def test_the_command_line_offers_exactly_the_importable_architectures():
    from translate.cli.common import REFERENCE_ARCH_CHOICES
    from translate.convert.reference_weights import REFERENCE_ARCHS

    assert REFERENCE_ARCH_CHOICES == REFERENCE_ARCHS
    for command in ("convert", "import-weights"):
        arch = next(param for param in main.commands[command].params if param.name == "arch")
        assert tuple(arch.type.choices) == REFERENCE_ARCHS


def in_train_mode_from_seed(reference: nn.Module, image: torch.Tensor, seed: int) -> torch.Tensor:
    """What the reference's test.py (no --eval) gives: its generator in train mode, under torch.manual_seed(seed),
    translating one image (test.py's batch size is 1)."""
    reference.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        output = reference(image[None].clone())[0]  # clone: the in-place LeakyReLU would overwrite the input
    reference.eval()
    return output


def test_the_references_test_time_mode_gives_its_outputs_for_the_same_weights_and_seed(tmp_path):
    from translate.convert.generator_mode import GeneratorMode

    reference = randomised(RefUnetGenerator(7, ngf=4), seed=3)
    weights = saved(reference, tmp_path / "latest_net_G.pth")
    images = torch.rand(2, 3, 128, 128) * 2 - 1
    translator = Translator.load(weights, arch="unet_128", device="cpu", mode=GeneratorMode("batch", True, 7))
    translated = translator.translate_batch(images)  # two images in one batch: each alone, each from the seed
    for image, output in zip(images, translated):
        assert torch.allclose(output, in_train_mode_from_seed(reference, image, 7), atol=TOLERANCE)
    running = {key: value for key, value in read_state_dict(weights).items() if ".running_" in key}
    state = {key.split(".", 2)[-1]: value for key, value in translator.model.state_dict().items()}  # G.net.<key>
    assert running and all(torch.equal(state[key], value) for key, value in running.items())  # neither used nor updated
    # the mode matters: another seed drops other units, and eval mode is another output altogether
    assert (translated[0] - in_train_mode_from_seed(reference, images[0], 8)).abs().max() > 0.05
    with torch.no_grad():
        assert (translated[0] - reference(images[:1].clone())[0]).abs().max() > 0.05
    batch_only = Translator.load(weights, arch="unet_128", device="cpu", mode=GeneratorMode("batch"))
    reference.train()
    for module in reference.modules():  # batch statistics without dropout: the reference with its dropout off
        if isinstance(module, nn.Dropout):
            module.eval()
    with torch.no_grad():
        expected = reference(images[1:].clone())
    reference.eval()
    assert torch.allclose(batch_only.translate_batch(images[1:]), expected, atol=TOLERANCE)


def test_convert_runs_the_references_test_time_mode_and_reports_it(tmp_path):
    reference = randomised(RefUnetGenerator(7, ngf=4), seed=4)
    weights = saved(reference, tmp_path / "latest_net_G.pth")
    source = tmp_path / "in"
    source.mkdir()
    to_pil(torch.rand(3, 128, 128) * 2 - 1).save(source / "photo.png")
    image = to_tensor(Image.open(source / "photo.png"))
    result = cli("convert", str(weights), "--arch", "unet_128", str(source), str(tmp_path / "out"), "--device", "cpu",
                 "--norm-stats", "batch", "--dropout", "on", "--seed", "11")
    assert result.exit_code == 0, result.output
    expected = to_tensor(to_pil(in_train_mode_from_seed(reference, image, 11)))
    converted = to_tensor(Image.open(tmp_path / "out" / "photo.png").convert("RGB"))
    assert (converted - expected).abs().max() <= 1 / 127.5 + 1e-6  # one 8-bit step at most
    assert result.stdout.splitlines()[-1] == (
        "generator as in training (the pix2pix reference's test.py without --eval): batch norm with each image's "
        "own statistics, dropout on (seed 11), one image at a time")
    result = cli("convert", str(weights), "--arch", "unet_128", str(source), str(tmp_path / "eval"), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("generator in eval mode: batch norm with running statistics, "
                                                     "dropout off")


def test_the_test_time_options_are_refused_where_they_cannot_apply(tmp_path):
    resnet = saved(randomised(RefResnetGenerator(ngf=4, n_blocks=6), 0), tmp_path / "resnet.pth")
    unet = saved(randomised(RefUnetGenerator(7, ngf=4), 0), tmp_path / "unet.pth")
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (8, 8)).save(source / "a.png")
    for weights, options, message in (
        (resnet, ["--arch", "resnet_6blocks", "--norm-stats", "batch"],
         "--norm-stats batch is for generators with batch norm (the reference's pix2pix U-Nets); this one has none"),
        (resnet, ["--arch", "resnet_6blocks", "--dropout", "on"],
         "--dropout on is for generators with dropout layers (the reference's pix2pix U-Nets); this one has none"),
        (unet, ["--arch", "unet_128", "--seed", "3"], "--seed sets the dropout masks of --dropout on"),
        (unet, ["--arch", "unet_128", "--dropout", "on", "--backend", "onnxruntime"],
         "--norm-stats batch and --dropout on run the generator in PyTorch; drop --backend onnxruntime"),
    ):
        result = cli("convert", str(weights), *options, str(source), str(tmp_path / "out"), "--device", "cpu")
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, (options, result.output)
        assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_command_line_offers_the_generator_modes_there_are():
    from translate.cli.common import DROPOUT_SEED_DEFAULT, NORM_STATS_CHOICES
    from translate.convert.generator_mode import DEFAULT_SEED, NORM_STATS

    assert (NORM_STATS_CHOICES, DROPOUT_SEED_DEFAULT) == (NORM_STATS, DEFAULT_SEED)
