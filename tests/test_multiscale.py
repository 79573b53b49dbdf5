"""Multi-scale critics and critic feature matching, for every model (``critic_scales``, ``lambda_fm``)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from translate.cli import main
from translate.models.base import feature_matching
from translate.nets.multiscale import MultiScaleCritic, downsample
from translate.nets.patchgan import PatchDiscriminator
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry

REGISTRY = PluginRegistry()
MODELS = ["pix2pix", "cyclegan", "cut", "unit", "stargan", "munit"]


def tiny(model: str, loss: str = "lsgan", **options):
    model_cls = REGISTRY.model(model)
    extra = {"domains": "a,b"} if model == "stargan" else {}
    objective = REGISTRY.objective(loss)
    return model_cls(objective, image_size=64, **model_cls.tiny_options, **extra, **options)


def test_downsampling_averages_3x3_windows_without_counting_the_padding():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    small = downsample(x)
    assert small.shape == (1, 1, 2, 2)
    assert small[0, 0, 0, 0] == x[0, 0, :2, :2].mean()  # the corner sees 4 pixels, not 9 with zeros
    assert small[0, 0, 1, 1] == x[0, 0, 1:4, 1:4].mean()
    assert downsample(torch.zeros(1, 3, 25, 31)).shape[-2:] == (13, 16)


def test_each_scale_judges_the_input_at_half_the_last_size_and_the_smallest_input_is_what_all_take():
    critic = MultiScaleCritic([PatchDiscriminator(3, ndf=8), PatchDiscriminator(3, ndf=8),
                               PatchDiscriminator(3, ndf=8)])
    outputs = critic(torch.randn(2, 3, 128, 128))
    assert [output.score.shape[-1] for output in outputs] == [14, 6, 2]  # 128, 64, 32 px: h = H / 8 - 2
    assert critic.min_size == 93
    critic(torch.randn(1, 3, 93, 93))
    with pytest.raises(ValueError, match="at least 24x24"):
        critic(torch.randn(1, 3, 92, 92))


@pytest.mark.parametrize("model", MODELS)
def test_every_model_builds_that_many_critics_each_with_its_own_objective(model):
    built = tiny(model, critic_scales=3)
    critics = [module for module in built.modules() if isinstance(module, MultiScaleCritic)]
    assert critics and all(len(critic.critics) == 3 for critic in critics)
    names = sorted(built.objectives)
    assert len(names) == 3 * len(critics) and {name.split("@")[0] for name in names} == {
        name for name in names if "@" not in name}
    assert len({id(objective) for objective in built.objectives.values()}) == len(names)


def test_a_critic_step_averages_the_objectives_losses_over_the_scales():
    model = tiny("cyclegan", critic_scales=2)
    model.optimizers = {group: torch.optim.SGD(params, lr=0.0) for group, params in model.parameter_groups().items()}
    real, fake = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        by_scale = [model.objectives[key].critic_loss(r, f) for key, r, f in
                    zip(("D_B", "D_B@1"), model.D_B(real), model.D_B(fake))]
    logged = model.critic_step([("D_B", model.D_B, real, fake)])
    assert logged["D_B"] == pytest.approx(float(sum(by_scale) / 2), rel=1e-6)


def test_feature_matching_adds_the_l1_of_the_critics_features_to_the_adversarial_loss():
    torch.manual_seed(0)
    plain = tiny("cyclegan", critic_scales=2)
    matched = tiny("cyclegan", critic_scales=2, lambda_fm=10.0)
    matched.load_state_dict(plain.state_dict())
    real, fake = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    adversarial = plain.adversarial_loss("D_B", plain.D_B, fake, real)
    with_features = matched.adversarial_loss("D_B", matched.D_B, fake, real)
    reals, fakes = plain.D_B(real), plain.D_B(fake)
    by_hand = sum(4 / len(f.features) / 2 * (ff - rf).abs().mean()
                  for r, f in zip(reals, fakes) for rf, ff in zip(r.features, f.features))
    assert (with_features - adversarial).item() == pytest.approx(10.0 * by_hand.item(), rel=1e-5)
    assert feature_matching(reals, fakes).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_feature_matching_reaches_the_generated_images_and_not_the_real_ones():
    critic = PatchDiscriminator(3, ndf=8)
    real, fake = torch.rand(1, 3, 32, 32).requires_grad_(), torch.rand(1, 3, 32, 32).requires_grad_()
    real_output, fake_output = critic(real), critic(fake)
    assert len(fake_output.features) == 4  # the 70x70 PatchGAN: n_layers + 1 activations
    feature_matching([real_output], [fake_output]).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None


def test_an_energy_critic_has_no_features_to_match_and_says_so():
    with pytest.raises(OptionError, match="model 'cyclegan' option 'lambda_fm' matches the intermediate features of "
                                          "a patch critic; objective 'began' asks for an energy critic"):
        tiny("cyclegan", "began", lambda_fm=10.0)


def train(*args: str):
    return CliRunner().invoke(main, ["train", *args])


TINY = ("--image-size", "64", "--model-opt", "ngf=8", "--model-opt", "ndf=8", "--sample-every", "1000",
        "--device", "cpu")


@pytest.mark.parametrize("model, loss, options", [
    ("pix2pix", "lsgan", ("critic_scales=2", "lambda_fm=10")),
    ("cyclegan", "began", ("critic_scales=2",)),
    ("unit", "hinge", ("critic_scales=2", "lambda_fm=10")),
])
def test_multi_scale_runs_train_resume_with_each_scales_state_and_convert(tmp_path, model, loss, options):
    run = tmp_path / "run"
    flags = [arg for option in options for arg in ("--model-opt", option)]
    result = train("--model", model, "--loss", loss, "--out", str(run), "--steps", "2", *flags, *TINY)
    assert result.exit_code == 0, result.output
    resumed = train("--model", model, "--loss", loss, "--out", str(run), "--steps", "3", "--resume")
    assert resumed.exit_code == 0, resumed.output
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())
    assert saved["step"] == 3 and saved["model_options"]["critic_scales"] == 2
    assert any("@1" in name for name in saved["objective_state"])
    logged = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    if loss == "began":
        assert {"D_A/k", "D_A@1/k"} <= set(logged)
    (tmp_path / "in").mkdir()
    Image.effect_noise((40, 30), 30).convert("RGB").save(tmp_path / "in" / "x.png")
    converted = CliRunner().invoke(main, ["convert", str(run), str(tmp_path / "in"), str(tmp_path / "out")])
    assert converted.exit_code == 0, converted.output
    with Image.open(tmp_path / "out" / "x.png") as output:
        assert output.size == (40, 30)
