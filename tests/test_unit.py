"""UNIT: any size both ways, shared blocks owned once, the Gaussian latent, every objective, checkpoints, learning."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from helpers import tiny_flags, tiny_model_options
from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_pil, to_tensor
from translate.data.sample import SAMPLE_ROOT
from translate.models.unit import UNIT
from translate.nets.layers import RESIDUAL_MARGIN
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry
from translate.train.trainer import Trainer, TrainConfig

#: Loads the model module as a plugin; a no-op once the ``unit`` entry point is installed.
PLUGINS = ("translate.models.unit",)
REGISTRY = PluginRegistry(extra_modules=PLUGINS)
TINY = UNIT.tiny_options


def objective(name: str):
    cls = REGISTRY.objective(name)
    return lambda: cls()


def images(n=2, height=32, width=32, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, height, width, generator=generator) * 2 - 1


def with_adam(model, lr=2e-4):
    model.optimizers = {g: torch.optim.Adam(p, lr=lr) for g, p in model.parameter_groups().items()}
    return model


def test_unit_is_a_builtin_model():
    """Needs ``unit = "translate.models.unit"`` under ``[project.entry-points.translate]``."""
    registry = PluginRegistry()
    assert registry.model("unit") is UNIT
    assert registry.plugins["unit"].distribution == "image-translate"


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("height,width", [(37, 53), (64, 64), (100, 60)])
def test_translate_keeps_any_input_size_both_ways(direction, height, width):
    model = UNIT(None, image_size=64, **TINY).eval()
    with torch.no_grad():
        out = model.translate(images(1, height, width), direction=direction)
    assert out.shape == (1, 3, height, width)
    assert out.abs().max() <= 1


def test_direction_selects_encoder_and_decoder():
    model = UNIT(None, image_size=64, direction="BtoA", **TINY).eval()
    x = images(1)
    with torch.no_grad():
        assert torch.equal(model.translate(x), model.decode(model.G_A, model.E_B(x), x))
        assert torch.equal(model.translate(x, direction="AtoB"), model.decode(model.G_B, model.E_A(x), x))
    assert model.metadata() == {"directions": ["AtoB", "BtoA"], "default_direction": "BtoA"}
    with pytest.raises(OptionError):
        model.translate(x, direction="sideways")
    with pytest.raises(OptionError, match="direction"):
        UNIT(None, direction="up")


def test_shared_blocks_are_one_module_each_and_once_in_the_optimiser():
    model = UNIT(objective("lsgan"), image_size=32, n_shared=2, **TINY)
    assert model.E_A.shared is model.E_B.shared is model.shared_encoder
    assert model.G_A.shared is model.G_B.shared is model.shared_decoder
    assert model.shared_encoder is not model.shared_decoder and len(model.shared_encoder) == 2
    x = images(1)
    with torch.no_grad():  # applied last in the encoders, first in the decoders
        assert torch.equal(model.E_B(x), model.shared_encoder(model.E_B.private(x)))
        z = model.E_A(x)
        assert torch.equal(model.G_B(z), model.G_B.private(model.shared_decoder(z)))

    with_adam(model)
    generator = [p for group in model.optimizers["generator"].param_groups for p in group["params"]]
    critic = [p for group in model.optimizers["critic"].param_groups for p in group["params"]]
    assert len(generator) == len({id(p) for p in generator})
    shared = [p for m in (model.shared_encoder, model.shared_decoder) for p in m.parameters()]
    assert shared and all(sum(p is q for q in generator) == 1 for p in shared)
    everything = {id(p) for p in model.parameters()}
    assert {id(p) for p in generator} | {id(p) for p in critic} == everything
    assert len(generator) + len(critic) == len(everything)
    # the state dict (hence a checkpoint) names every shared weight once
    keys = [k for k in model.state_dict() if "shared" in k]
    assert keys and all(k.startswith(("shared_encoder.", "shared_decoder.")) for k in keys)


def test_no_sharing_leaves_the_domains_independent():
    model = UNIT(None, image_size=32, n_shared=0, **TINY)
    assert len(model.shared_encoder) == 0 and not list(model.shared_encoder.parameters())


def test_latent_is_noisy_with_unit_variance_in_training_and_the_mean_at_inference():
    torch.manual_seed(0)
    model = UNIT(None, image_size=32, residual=False, **TINY).train()  # residual decoders start at zero
    x = images(2)
    with torch.no_grad():
        mu = model.E_A(x)
        first, second = model.latent(mu), model.latent(mu)
        assert not torch.equal(first, second)
        assert not torch.equal(model.G_B(first), model.G_B(second))
        noise = first - mu
        assert abs(noise.mean().item()) < 0.05 and abs(noise.std().item() - 1) < 0.05
        assert torch.equal(model.E_A(x), mu)  # the encoder itself is deterministic: it outputs μ
        in_training = model.translate(x)
        model.eval()
        assert model.latent(mu) is mu
        assert torch.equal(model.translate(x), model.translate(x))
        assert torch.equal(model.translate(x), model.decode(model.G_B, mu, x))
        assert torch.equal(model.translate(x), in_training)  # translate decodes μ in either mode


def test_logged_kl_is_the_mean_squared_code_of_both_domains():
    torch.manual_seed(0)
    model = with_adam(UNIT(objective("lsgan"), image_size=32, **TINY))
    batch = {"A": images(2, seed=1), "B": images(2, seed=2)}
    with torch.no_grad():
        expected = model.E_A(batch["A"]).pow(2).mean() + model.E_B(batch["B"]).pow(2).mean()
    logged = model.train_step(batch)
    assert logged["kl"] == pytest.approx(expected.item(), rel=1e-5)
    assert {"G", "recon", "kl", "cycle", "cycle_kl", "D_A", "D_B"} <= set(logged)


def test_the_reference_preset_is_the_paper_era_configuration():
    model = UNIT(None, **UNIT.reference_options)
    assert (model.lambda_gan, model.lambda_recon, model.lambda_kl) == (10.0, 100.0, 0.1)
    assert (model.lambda_cycle, model.lambda_cycle_kl) == (100.0, 0.1)
    assert model.optimizer_settings("generator") == {"lr": 1e-4, "betas": (0.5, 0.999), "weight_decay": 1e-4}
    assert (model.ngf, model.n_down, model.n_res, model.n_shared) == (64, 2, 3, 1)
    assert not model.residual and isinstance(model.G_A.private[-1], torch.nn.Tanh)
    defaults = UNIT(None)  # translate's
    assert (defaults.lambda_gan, defaults.lambda_recon, defaults.residual) == (100.0, 10.0, True)


def test_residual_decoders_translate_to_the_input_untrained_and_learn_a_change():
    torch.manual_seed(0)
    model = with_adam(UNIT(objective("lsgan"), image_size=32, **TINY))
    x = images(2)
    model.eval()
    with torch.no_grad():
        for direction in ("AtoB", "BtoA"):
            assert (model.translate(x, direction=direction) - x).abs().max() <= RESIDUAL_MARGIN
            exported = model.inference_network(direction)
            assert torch.equal(exported(x), model.translate(x, direction=direction))
    model.train()
    for _ in range(3):
        logged = model.train_step({"A": x, "B": images(2, seed=2)})
    assert logged["recon"] > 0 and torch.count_nonzero(model.G_B.private[-1].weight) > 0
    model.eval()
    with torch.no_grad():
        assert (model.translate(x) - x).abs().max() > 10 * RESIDUAL_MARGIN


def test_weight_decay_and_learning_rate_reach_the_optimisers(tmp_path):
    trainer = Trainer(TrainConfig(model="unit", out=str(tmp_path / "run"), steps=1, image_size=32, plugins=PLUGINS,
                                  model_options=tiny_model_options("unit", weight_decay="0.003", lr="0.0005")))
    for optimizer in trainer.model.optimizers.values():
        assert optimizer.param_groups[0]["weight_decay"] == 0.003
        assert optimizer.param_groups[0]["lr"] == 0.0005


def test_conversion_through_a_checkpoint_in_both_directions(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(TrainConfig(model="unit", loss="vanilla", out=str(run), steps=2, image_size=32,
                                  plugins=PLUGINS, sample_every=10**6,
                                  model_options=tiny_model_options("unit", direction="BtoA")))
    trainer.train(progress=False)
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())
    assert saved["model_metadata"] == {"directions": ["AtoB", "BtoA"], "default_direction": "BtoA"}
    weights = load_file(run / "latest" / "model.safetensors")
    assert any(k.startswith("shared_encoder.") for k in weights) and not any(".shared." in k for k in weights)

    translator = Translator.load(run, device="cpu", registry=PluginRegistry(extra_modules=PLUGINS))
    assert not translator.model.trains and translator.model.direction == "BtoA"
    trained = trainer.model.eval()
    image = to_pil(images(1, 37, 53)[0])
    x = to_tensor(image).unsqueeze(0)
    for direction in ("AtoB", "BtoA"):
        assert translator(image, direction=direction).size == (53, 37)
        with torch.no_grad():
            loaded, expected = translator.model.translate(x, direction=direction), trained.translate(x, direction=direction)
        assert (loaded - expected).abs().max() < 1e-4, direction
    assert torch.equal(to_tensor(translator(image)), to_tensor(translator(image, direction="BtoA")))


def test_cli_trains_converts_either_direction_and_exports(tmp_path):
    from click.testing import CliRunner

    from translate.cli import main

    run = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train", "--model", "unit", "--loss", "lsgan", "--data", str(SAMPLE_ROOT),
                                        "--steps", "2", "--image-size", "32", "--out", str(run), *tiny_flags("unit")])
    assert trained.exit_code == 0, trained.output
    translator = Translator.load(run, device="cpu")
    photo = load_rgb(list_images(SAMPLE_ROOT / "testB")[0]).resize((41, 29))
    (tmp_path / "in").mkdir()
    photo.save(tmp_path / "in" / "b.png")
    converted = CliRunner().invoke(main, ["convert", str(run), str(tmp_path / "in"), str(tmp_path / "out"),
                                          "--direction", "BtoA"])
    assert converted.exit_code == 0, converted.output
    written = to_tensor(load_rgb(tmp_path / "out" / "b.png"))
    assert written.shape == (3, 29, 41)
    assert (written - to_tensor(translator(photo, direction="BtoA"))).abs().max() <= 2 / 255
    assert (written - to_tensor(translator(photo, direction="AtoB"))).abs().max() > 2 / 255
    every = CliRunner().invoke(main, ["convert", str(run), str(tmp_path / "in"), str(tmp_path / "both"),
                                      "--every-target"])
    assert every.exit_code == 0 and sorted(p.parent.name for p in (tmp_path / "both").rglob("*.png")) == ["AtoB", "BtoA"]

    exported = CliRunner().invoke(main, ["export", str(run), str(tmp_path / "ba.pt"), "--format", "torchscript",
                                         "--direction", "BtoA"])
    assert exported.exit_code == 0, exported.output
    x = images(1, 37, 50)
    with torch.no_grad():
        reference = translator.model.translate(x, direction="BtoA")
    assert torch.allclose(torch.jit.load(str(tmp_path / "ba.pt"))(x), reference, atol=1e-5)
