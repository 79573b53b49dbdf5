"""pix2pix and CycleGAN: shapes at any size, critics chosen by the objective, updates, image pool."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from translate.models.cyclegan import CycleGAN
from translate.models.pix2pix import Pix2Pix
from translate.models.pool import ImagePool
from translate.nets.energy import EnergyCritic
from translate.nets.patchgan import PatchDiscriminator
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry

SMALL = {"ngf": 8, "ndf": 8}
MODELS = [Pix2Pix, CycleGAN]


def objective(name: str):
    cls = PluginRegistry().objective(name)
    return lambda: cls()


def attach_adam(model):
    model.optimizers = {g: torch.optim.Adam(p, lr=2e-4) for g, p in model.parameter_groups().items()}
    return model


def batch(size=64, n=2):
    torch.manual_seed(1)
    return {"A": torch.rand(n, 3, size, size) * 2 - 1, "B": torch.rand(n, 3, size, size) * 2 - 1}


@pytest.mark.parametrize("model_cls", MODELS)
@pytest.mark.parametrize("height,width", [(300, 200), (7, 5), (65, 97)])
def test_translate_keeps_any_input_size(model_cls, height, width):
    model = model_cls(None, image_size=64, **SMALL).eval()
    with torch.no_grad():
        out = model.translate(torch.rand(1, 3, height, width) * 2 - 1)
    assert out.shape == (1, 3, height, width)
    assert out.abs().max() <= 1


def test_default_generators_follow_the_reference_by_training_size():
    assert Pix2Pix(None, image_size=256).generator == "unet_256"
    assert Pix2Pix(None, image_size=128).generator == "unet_128"
    assert CycleGAN(None, image_size=256).generator == "resnet_9blocks"
    assert CycleGAN(None, image_size=128).generator == "resnet_6blocks"


@pytest.mark.parametrize("model_cls", MODELS)
def test_inference_only_model_has_no_critics(model_cls):
    model = model_cls(None, image_size=64, **SMALL)
    assert not model.trains
    assert model.objectives == {}
    assert not any("D" in name.split(".")[0] for name, _ in model.named_parameters())


def test_critic_kind_comes_from_the_objective():
    patch = Pix2Pix(objective("lsgan"), image_size=64, **SMALL)
    energy = Pix2Pix(objective("began"), image_size=64, **SMALL)
    assert isinstance(patch.D, PatchDiscriminator)
    assert isinstance(energy.D, EnergyCritic)
    assert energy.D.distance == "l1"
    assert CycleGAN(objective("ebgan"), image_size=64, **SMALL).D_A.distance == "l2"


def test_per_sample_objective_gets_a_critic_without_batch_norm():
    """pix2pix with the reference's batch norm keeps it in the critic for lsgan; wgan-gp's per-sample penalty
    gets instance norm instead."""
    assert any(isinstance(m, nn.BatchNorm2d) for m in Pix2Pix(objective("lsgan"), image_size=64, norm="batch",
                                                              **SMALL).D.modules())
    wgan = Pix2Pix(objective("wgan-gp"), image_size=64, norm="batch", **SMALL)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in wgan.D.modules())


def test_each_critic_gets_its_own_objective_instance():
    model = CycleGAN(objective("began"), image_size=64, **SMALL)
    assert set(model.objectives) == {"D_A", "D_B"}
    assert model.objectives["D_A"] is not model.objectives["D_B"]


@pytest.mark.parametrize("model_cls", MODELS)
def test_train_step_updates_generators_and_critics(model_cls):
    torch.manual_seed(0)
    model = attach_adam(model_cls(objective("lsgan"), image_size=64, **SMALL))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    logged = model.train_step(batch())
    changed = {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}
    for prefix in ("G", "D"):
        assert any(name.startswith(prefix) for name in changed), f"no {prefix} parameter moved"
    assert all(torch.isfinite(torch.tensor(v)) for v in logged.values())


@pytest.mark.parametrize("loss, critic_passes", [("lsgan", 3), ("ralsgan", 4)])
def test_only_objectives_that_need_real_scores_pay_a_critic_pass_for_them(loss, critic_passes):
    model = attach_adam(Pix2Pix(objective(loss), image_size=64, **SMALL))
    passes = []
    model.D.register_forward_hook(lambda *_: passes.append(1))
    model.train_step(batch())
    assert len(passes) == critic_passes  # critic step: real and fake; generator step: fake (and real)


def test_critics_are_frozen_during_the_generator_step():
    model = attach_adam(CycleGAN(objective("lsgan"), image_size=64, **SMALL))
    model.train_step(batch())
    assert all(p.requires_grad for p in model.parameters())


def test_bad_model_options_are_option_errors():
    with pytest.raises(OptionError, match="direction"):
        Pix2Pix(None, image_size=64, direction="sideways")
    with pytest.raises(OptionError, match="generator"):
        CycleGAN(None, image_size=64, generator="resnet_3blocks")


def test_cyclegan_direction_selects_the_generator():
    model = CycleGAN(None, image_size=64, **SMALL).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.translate(x, direction="BtoA"), model.G_BA(x))
        assert torch.equal(model.translate(x), model.G_AB(x))
    with pytest.raises(OptionError):
        model.translate(x, direction="up")


def test_image_pool_stores_then_swaps_half_the_time():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), 100.0 + i)) for i in range(400)])
    from_history = (returned < 100).sum().item() + sum(
        1 for i, v in enumerate(returned.flatten().tolist()) if v >= 100 and v != 100 + i
    )
    assert 150 < from_history < 250  # about half come from the pool
    restored = ImagePool(4)
    restored.load_state_dict(pool.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(pool.images, restored.images))


def test_image_pool_of_size_zero_passes_images_through():
    images = torch.rand(3, 3, 4, 4)
    assert ImagePool(0).query(images) is images
