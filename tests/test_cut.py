"""CUT and FastCUT: PatchNCE, feature layers, heads, options, one-way conversion, schedule, resume."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from helpers import tiny_config
from translate.cli import main
from translate.convert import Translator
from translate.data.sample import SAMPLE_ROOT
from translate.models.cut import CUT
from translate.nets.contrastive import encoder_features, patch_nce_loss, sample_patches
from translate.nets.resnet import ResnetBlock
from translate.options import OptionError, parse_options
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import Trainer, TrainConfig

TINY = CUT.tiny_options
#: Widths the network tests count channels of (16 = 2·ngf and 32 = 4·ngf after the downsamplings): deliberate.
WIDTHS = {"ngf": 8, "ndf": 8}


def lsgan():
    return PluginRegistry().objective("lsgan")


def with_adam(model: CUT) -> CUT:
    groups = model.parameter_groups()
    model.optimizers = {group: torch.optim.Adam(groups[group], **model.optimizer_settings(group)) for group in groups}
    return model


def images(n=2, size=32, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=generator) * 2 - 1


# -- PatchNCE ---------------------------------------------------------------------------------


def test_patch_nce_of_orthonormal_patches_is_the_softmax_by_hand():
    basis = torch.eye(2).unsqueeze(0)  # one image, two patches: q_i = k_i = e_i
    # logits q_i·k_j / τ are 1/τ on the diagonal and 0 elsewhere: ℓ = log(1 + e^(−1/τ))
    assert patch_nce_loss(basis, basis, temperature=1.0).item() == pytest.approx(math.log(1 + math.exp(-1)))
    assert patch_nce_loss(basis, basis, temperature=0.5).item() == pytest.approx(math.log(1 + math.exp(-2)))
    swapped = basis.flip(1)  # each query meets the other patch's key: ℓ = log(1 + e^(1/τ))
    assert patch_nce_loss(swapped, basis, temperature=1.0).item() == pytest.approx(math.log(1 + math.e))


def test_negatives_come_from_the_same_image_only():
    queries = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # two images of one patch each
    keys = torch.tensor([[[0.6, 0.8]], [[0.6, 0.8]]])
    # one patch per image: no negative at all, whatever the other image holds
    assert torch.equal(patch_nce_loss(queries, keys, 0.07), torch.zeros(2))


def test_only_the_query_side_gets_a_gradient():
    queries = torch.nn.functional.normalize(torch.randn(1, 4, 3), dim=-1).requires_grad_()
    keys = torch.nn.functional.normalize(torch.randn(1, 4, 3), dim=-1).requires_grad_()
    patch_nce_loss(queries, keys, 0.07).sum().backward()
    assert queries.grad is not None and queries.grad.abs().sum() > 0
    assert keys.grad is None


def test_patches_are_sampled_at_the_same_positions_in_every_image_and_both_images():
    first = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    (samples,), (positions,) = sample_patches([first], count=6)
    assert samples.shape == (2, 6, 3)
    rows, cols = positions // 5, positions % 5
    assert torch.equal(samples[1], first[1, :, rows, cols].T)  # the same places in image 1 as in image 0
    (again,), _ = sample_patches([first * 2], count=6, positions=[positions])
    assert torch.equal(again, samples * 2)
    (everything,), _ = sample_patches([first], count=1000)
    assert everything.shape == (2, 20, 3)  # a small map gives all its positions


# -- networks ---------------------------------------------------------------------------------


def test_default_feature_layers_are_the_references_semantic_layers():
    for generator in ("resnet_9blocks", "resnet_6blocks"):
        model = CUT(None, image_size=64, generator=generator, **WIDTHS)
        layers = [model.G.net.model[i] for i in model.layers]
        assert isinstance(layers[0], nn.ReflectionPad2d)  # the (padded) input
        assert [(m.stride, m.out_channels) for m in layers[1:3]] == [((2, 2), 16), ((2, 2), 32)]  # both downsamplings
        blocks = [m for m in model.G.net.model if isinstance(m, ResnetBlock)]
        assert layers[3] is blocks[0] and layers[4] is blocks[4]  # residual blocks 1 and 5


def test_encoder_features_are_the_layer_outputs_of_the_padded_input():
    model = CUT(None, image_size=64, **WIDTHS).eval()
    x = images(size=30)  # padded to 32 as the generator pads it
    with torch.no_grad():
        features = encoder_features(model.G, x, model.layers)
        padded = torch.nn.functional.pad(x, (0, 2, 0, 2), mode="reflect")
        expected = model.G.net.model[:15](padded)
    assert [tuple(f.shape) for f in features] == [(2, 3, 38, 38), (2, 16, 16, 16), (2, 32, 8, 8), (2, 32, 8, 8),
                                                  (2, 32, 8, 8)]
    assert torch.equal(features[-1], expected)


def test_projection_heads_exist_from_construction_with_the_layer_widths():
    model = CUT(lsgan(), image_size=64, **WIDTHS)
    assert [head[0].in_features for head in model.F.heads] == [3, 16, 32, 32, 32]
    assert all(head[2].out_features == 256 for head in model.F.heads)
    assert {name.split(".")[0] for name in model.state_dict()} == {"G", "D", "F"}
    groups = model.parameter_groups()
    assert list(groups) == list(CUT.optimizer_names)
    assert {id(p) for p in groups["projection"]} == {id(p) for p in model.F.parameters()}
    inference = CUT(None, image_size=64, **WIDTHS)
    assert inference.F is None and inference.D is None
    assert {name.split(".")[0] for name in inference.state_dict()} == {"G"}


def test_translate_keeps_any_size_and_sample_columns_follow_the_mode():
    model = CUT(None, image_size=64, **TINY).eval()
    with torch.no_grad():
        assert model.translate(torch.rand(1, 3, 37, 50)).shape == (1, 3, 37, 50)
        batch = {"A": images(), "B": images(seed=2)}
        assert len(model.sample_columns(batch)) == 4  # A, G(A), B, G(B): the identity
        assert len(CUT(None, image_size=64, mode="fastcut", **TINY).sample_columns(batch)) == 3


# -- options ----------------------------------------------------------------------------------


def test_mode_sets_the_references_defaults_and_single_options_override_them():
    cut, fast = CUT(None, image_size=64), CUT(None, image_size=64, mode="FastCUT")
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance) == (1.0, True, False)
    # FastCUT's PatchNCE weight is translate's own (the reference's 10 held it at the identity)
    assert (fast.mode, fast.lambda_nce, fast.nce_idt, fast.flip_equivariance) == ("fastcut", 1.0, False, True)
    assert (cut.default_epochs, cut.lr_decay_from) == (400, 0.5)  # 200 + 200 epochs
    assert (fast.default_epochs, fast.lr_decay_from) == (200, 0.75)  # 150 + 50 epochs
    given = parse_options(CUT, {"mode": "fastcut", "lambda_nce": "4", "nce_idt": "yes"}, "model 'cut'")
    assert given == {"mode": "fastcut", "lambda_nce": 4.0, "nce_idt": True}
    chosen = CUT(None, image_size=64, **given)
    assert (chosen.lambda_nce, chosen.nce_idt, chosen.flip_equivariance) == (4.0, True, True)
    assert chosen.options()["lambda_nce"] == 4.0 and chosen.options()["flip_equivariance"] is True


@pytest.mark.parametrize("options,message", [
    ({"mode": "slowcut"}, "'mode' must be cut or fastcut"),
    ({"nce_layers": "4,0"}, "'nce_layers' must be ascending layer indices"),
    ({"nce_layers": "0,4,99"}, "between 0 and 23"),
    ({"nce_layers": "a,b"}, "'nce_layers'"),
    ({"generator": "unet_256"}, "ResNet generator"),
    ({"num_patches": 0}, "'num_patches' must be an integer >= 1"),
    ({"nce_temperature": 0.0}, "'nce_temperature' must be a number > 0"),
    ({"lambda_nce": -1.0}, "'lambda_nce' must be a number >= 0"),
    ({"direction": "BtoA"}, "translates A to B only"),
    ({"direction": "up"}, "direction must be AtoB or BtoA"),
])
def test_bad_options_are_option_errors(options, message):
    with pytest.raises(OptionError, match=message):
        CUT(None, image_size=64, **options)  # ResNet-6 below 256 px: 25 layers


def test_option_values_of_the_wrong_type_name_the_option():
    with pytest.raises(OptionError, match=r"option 'nce_idt' expects bool, got 'maybe'"):
        parse_options(CUT, {"nce_idt": "maybe"}, "model 'cut'")


# -- training ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_train_step_moves_generator_heads_and_critic(mode):
    torch.manual_seed(0)
    model = with_adam(CUT(lsgan(), image_size=32, mode=mode, **TINY))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    logged = model.train_step({"A": images(), "B": images(seed=2)})
    moved = {name.split(".")[0] for name, p in model.named_parameters() if not torch.equal(before[name], p)}
    assert moved == {"G", "D", "F"}
    assert all(p.requires_grad for p in model.parameters())  # the critic is unfrozen again
    assert {"D", "G", "NCE"} <= set(logged) and all(math.isfinite(v) for v in logged.values())
    assert ("NCE_idt" in logged) == (mode == "cut")


def test_flipped_outputs_are_compared_after_flipping_their_features_back():
    """Reflect padding (layer 0) commutes with flips: flip(x) as the output of flip(x) is a perfect match."""
    model = CUT(lsgan(), image_size=32, nce_layers="0", **TINY)
    x = images()
    torch.manual_seed(3)
    as_flipped = model.patch_nce(x, x.flip(3), flipped=True)
    torch.manual_seed(3)
    unflipped = model.patch_nce(x, x, flipped=False)
    torch.manual_seed(3)
    mismatched = model.patch_nce(x, x.flip(3), flipped=False)
    assert torch.allclose(as_flipped, unflipped)
    assert (mismatched > unflipped + 0.1).all()


def test_fastcut_flips_about_half_of_the_iterations():
    model = with_adam(CUT(lsgan(), image_size=32, mode="fastcut", **TINY))
    flips = []
    original = model.patch_nce
    model.patch_nce = lambda source, output, flipped=False: flips.append(flipped) or original(source, output, flipped)
    torch.manual_seed(0)
    for _ in range(20):
        model.train_step({"A": images(n=1), "B": images(n=1, seed=2)})
    assert 4 <= sum(flips) <= 16


def config(tmp_path, name="run", **overrides) -> TrainConfig:
    """A tiny CUT run of four steps into ``tmp_path/name``; ``model_options`` are added to the tiny options."""
    settings = dict(steps=4, sample_every=10**6, checkpoint_every=10**6, device="cpu")
    return tiny_config(tmp_path / name, "cut", **{**settings, **overrides})


def learning_rates(run) -> list[float]:
    return [json.loads(line)["lr/projection"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_fastcut_decays_the_learning_rate_over_the_last_quarter(tmp_path):
    Trainer(config(tmp_path, steps=8, model_options={"mode": "fastcut"})).train(progress=False)
    assert learning_rates(tmp_path / "run") == pytest.approx([2e-4 * f for f in (1, 1, 1, 1, 1, 1, 1, 0.5)])
    Trainer(config(tmp_path, "cut", steps=8)).train(progress=False)  # CUT: the second half, as the others
    assert learning_rates(tmp_path / "cut") == pytest.approx([2e-4 * f for f in (1, 1, 1, 1, 1, 0.75, 0.5, 0.25)])


def test_runs_on_user_data_default_to_the_references_epochs(tmp_path):
    for mode, epochs in (("cut", 400), ("fastcut", 200)):
        trainer = Trainer(config(tmp_path, mode, steps=None, data=str(SAMPLE_ROOT),
                                 model_options={"mode": mode}))
        assert trainer.total_steps == epochs * trainer.steps_per_epoch


@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_resume_continues_exactly(tmp_path, mode):
    """Weights, the heads, both optimisers, the patch positions and FastCUT's flips (RNG) all come back."""
    common = dict(steps=6, checkpoint_every=3, batch_size=2, lr_decay_from=1.0, model_options={"mode": mode})
    Trainer(config(tmp_path, "straight", **common)).train(progress=False)
    Trainer(config(tmp_path, "split", **{**common, "steps": 3})).train(progress=False)
    resumed = Trainer(config(tmp_path, "split", **common), resume=True)
    assert resumed.step == 3
    resumed.train(progress=False)
    straight, split = (checkpoint.load(tmp_path / run).weights for run in ("straight", "split"))
    assert straight.keys() == split.keys() and any(key.startswith("F.") for key in straight)
    for key in straight:
        assert torch.equal(straight[key], split[key]), key


def first_step(run) -> dict:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[0])


@pytest.mark.filterwarnings("ignore::translate.devices.PrecisionWarning")  # slow on CPUs without bf16
def test_bf16_and_channels_last_compute_the_same_losses(tmp_path):
    Trainer(config(tmp_path, "plain", steps=1, precision="fp32")).train(progress=False)
    Trainer(config(tmp_path, "last", steps=1, channels_last=True, precision="fp32")).train(progress=False)
    Trainer(config(tmp_path, "bf16", steps=1, precision="bf16")).train(progress=False)
    plain, last, bf16 = (first_step(tmp_path / run) for run in ("plain", "last", "bf16"))
    for name in ("D", "G", "NCE", "NCE_idt"):
        assert last[name] == pytest.approx(plain[name], rel=1e-4), name
        assert bf16[name] == pytest.approx(plain[name], rel=0.05), name
    assert bf16["NCE"] != plain["NCE"]  # autocast really ran in bf16


def test_ema_averages_the_generator_and_conversion_uses_it(tmp_path):
    last = Trainer(config(tmp_path, ema=0.5, steps=3)).train(progress=False)
    averaged = load_file(last / "ema.safetensors")
    assert averaged and all(name.startswith("G.") for name in averaged)  # not the critic, not the heads
    translator = Translator.load(tmp_path / "run", device="cpu")
    assert all(torch.equal(translator.model.state_dict()[name], averaged[name]) for name in averaged)


# -- one way ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tiny_run):
    """A tiny CUT run (shared: read-only)."""
    return tiny_run("cut")


def test_direction_b_to_a_is_refused_in_one_line_by_train_convert_and_export(trained_run, tmp_path):
    expected = ("translate: error: model 'cut' translates A to B only (one generator), got direction 'BtoA'; "
                "to translate B to A, train a model with trainA and trainB swapped")
    commands = [
        ["train", "--model", "cut", "--direction", "BtoA", "--out", str(tmp_path / "new")],
        ["convert", str(trained_run), str(SAMPLE_ROOT / "testA"), str(tmp_path / "out"), "--direction", "BtoA"],
        ["export", str(trained_run), str(tmp_path / "g.pt"), "--format", "torchscript", "--direction", "BtoA"],
    ]
    for command in commands:
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, command
        assert result.stderr.strip() == expected, command
    assert not any((tmp_path / name).exists() for name in ("new", "out", "g.pt"))


def test_convert_writes_a_to_b_and_every_target_is_refused(trained_run, tmp_path):
    result = CliRunner().invoke(main, ["convert", str(trained_run), str(SAMPLE_ROOT / "testA"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").iterdir())) == len(list((SAMPLE_ROOT / "testA").iterdir()))
    refused = CliRunner().invoke(main, ["convert", str(trained_run), str(SAMPLE_ROOT / "testA"),
                                        str(tmp_path / "every"), "--every-target"])
    assert refused.exit_code == 2 and "has a single output" in refused.stderr


def test_large_images_are_converted_in_tiles(trained_run):
    translator = Translator.load(trained_run, device="cpu", tile=64, overlap=16)
    seen = []
    forward = translator._forward
    translator._forward = lambda x, **condition: seen.append(tuple(x.shape[-2:])) or forward(x, **condition)
    assert translator(Image.new("RGB", (150, 100), (90, 140, 60))).size == (150, 100)
    assert max(seen) <= (64, 64) and len(seen) == 3 * 2
