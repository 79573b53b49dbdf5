"""``--preset reference`` trains exactly as translate did before its own defaults; old checkpoints load as trained."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from helpers import read_metrics, tiny_config, tiny_flags
from translate.cli import main
from translate.convert import Translator
from translate.options import option_defaults
from translate.plugin_host.manager import PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import Trainer, TrainConfig, TrainingError

REGISTRY = PluginRegistry()
#: The options translate trained with before issue #17 gave it its own defaults (the reference
#: implementations' choices; CycleGAN's cycle and UNIT's reconstruction weight until issue #31),
#: spelled out: the reference preset must reproduce exactly these.
BEFORE = {
    "cyclegan": {"upsample": "transpose", "residual": "false", "lambda_cycle": "10", "lambda_identity": "0.5"},
    "pix2pix": {"upsample": "transpose", "norm": "batch", "lr": "0.0002"},
    "cut": {"upsample": "transpose", "residual": "false"},
    "unit": {"residual": "false", "lambda_gan": "10", "lambda_recon": "100"},
    # and StarGAN before issue #31 gave it its own
    "stargan": {"upsample": "transpose", "residual": "false", "condition": "input", "lr": "0.0001",
                "critic_norm": "none", "conditional_critic": "false", "colour_matrix": "false"},
}


def settings(tmp_path, name: str, model: str, **overrides) -> TrainConfig:
    """A tiny run of ``model``, three steps of two images, into ``tmp_path/name``; ``model_options`` are added
    to the tiny options."""
    values = dict(steps=3, batch_size=2, sample_every=10**6, loggers=("jsonl",))
    return tiny_config(tmp_path / name, model, **{**values, **overrides})


def trained(config: TrainConfig) -> tuple[dict[str, torch.Tensor], list[dict]]:
    trainer = Trainer(config)
    trainer.train(progress=False)
    losses = read_metrics(trainer.run_dir)
    for line in losses:
        for key in ("s_per_iter", "images_per_s"):
            line.pop(key)
    return trainer.model.state_dict(), losses


def test_every_option_a_preset_names_exists_and_differs_from_the_default():
    for name in REGISTRY.names("model"):
        model_cls = REGISTRY.model(name)
        defaults = option_defaults(model_cls)
        for key, value in model_cls.reference_options.items():
            assert key in defaults and defaults[key] != value, f"{name}: reference option {key}={value!r}"
    for name, options in BEFORE.items():
        assert set(REGISTRY.model(name).reference_options) == set(options), name
    for name in REGISTRY.names("objective"):
        objective_cls = REGISTRY.objective(name)
        defaults = option_defaults(objective_cls)
        for key, value in objective_cls.reference_options.items():
            assert key in defaults and defaults[key] != value, f"{name}: reference option {key}={value!r}"


@pytest.mark.parametrize("model", sorted(BEFORE))
def test_the_reference_preset_trains_exactly_as_before(tmp_path, model):
    before_weights, before_losses = trained(settings(tmp_path, "before", model,
                                                     model_options=BEFORE[model]))
    preset_weights, preset_losses = trained(settings(tmp_path, "preset", model, preset="reference"))
    assert preset_losses == before_losses
    assert preset_weights.keys() == before_weights.keys()
    assert all(torch.equal(preset_weights[key], before_weights[key]) for key in before_weights)
    _, own_losses = trained(settings(tmp_path, "own", model))
    assert own_losses != before_losses  # translate's defaults train another way


def test_the_reference_preset_builds_the_reference_layout_and_options_still_override_it(tmp_path):
    trainer = Trainer(settings(tmp_path, "run", "cyclegan", preset="reference"))
    generator = trainer.model.G_AB.net
    assert isinstance(generator.model[16], nn.ConvTranspose2d) and isinstance(generator.model[-1], nn.Tanh)
    assert trainer.model.lambda_identity == 0.5
    mixed = Trainer(settings(tmp_path, "mixed", "cyclegan", preset="reference",
                             model_options={"upsample": "bilinear"}))
    assert mixed.model.upsample == "bilinear" and mixed.model.residual is False
    with pytest.raises(TrainingError, match="--preset must be one of translate, reference, got 'paper'"):
        Trainer(settings(tmp_path, "bad", "cyclegan", preset="paper"))


@pytest.mark.parametrize("model", sorted(BEFORE))
def test_a_checkpoint_from_before_the_new_options_converts_as_it_was_trained(tmp_path, model):
    """Checkpoints saved before the options existed lack them: they take the reference values."""
    run = Trainer(settings(tmp_path, "run", model, preset="reference", steps=1)).train(progress=False)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    target = {"to": "B"} if model == "stargan" else {}  # StarGAN on the sample set: domains A and B
    expected = Translator.load(run, device="cpu").model.translate(images, **target)
    meta = json.loads((run / checkpoint.METADATA).read_text())
    for key in REGISTRY.model(model).reference_options:
        del meta["model_options"][key]
    (run / checkpoint.METADATA).write_text(json.dumps(meta))
    assert torch.equal(Translator.load(run, device="cpu").model.translate(images, **target), expected)


def test_a_run_started_before_presets_resumes_with_the_reference_options(tmp_path):
    config = settings(tmp_path, "run", "cyclegan", preset="reference", steps=1)
    Trainer(config).train(progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved.pop("preset") == "reference"
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    resumed = Trainer(settings(tmp_path, "run", "cyclegan", steps=2), resume=True)
    assert resumed.config.preset == "reference" and resumed.model.upsample == "transpose"
    resumed.train(progress=False)


def test_a_run_started_before_a_default_changed_resumes_as_it_was_built(tmp_path):
    """A StarGAN run from before ``conditional_critic`` and ``colour_matrix`` existed: its files name neither
    option, its critic reads 3 channels and its generator has no colour matrix. Resumed, it keeps both
    (built from the checkpoint's options, the missing ones taking the reference values) instead of failing
    on today's defaults, and FastCUT keeps its PatchNCE weight."""
    old = {"conditional_critic": "false", "colour_matrix": "false"}
    Trainer(settings(tmp_path, "star", "stargan", steps=2, model_options=old)).train(progress=False)
    for name in ("config.json", "latest/checkpoint.json"):
        path = tmp_path / "star" / name
        saved = json.loads(path.read_text())
        for option in old:
            saved["model_options"].pop(option)
        path.write_text(json.dumps(saved))
    resumed = Trainer(settings(tmp_path, "star", "stargan", steps=4), resume=True)
    assert resumed.model.conditional_critic is False and resumed.model.colour_matrix is False
    assert "G.colours.weight" not in resumed.model.state_dict() and resumed.step == 2
    resumed.train(progress=False)
    Trainer(settings(tmp_path, "fast", "cut", steps=1, model_options={"mode": "fastcut"})).train(progress=False)
    path = tmp_path / "fast" / "latest" / "checkpoint.json"
    saved = json.loads(path.read_text())
    saved["model_options"]["lambda_nce"] = 10.0  # what a run of the previous default saved
    path.write_text(json.dumps(saved))
    assert Trainer(settings(tmp_path, "fast", "cut", steps=2, model_options={"mode": "fastcut"}),
                   resume=True).model.lambda_nce == 10.0


def test_the_reference_preset_trains_fastcut_with_the_references_patchnce_weight(tmp_path):
    """CUT's reference values depend on its mode: FastCUT's PatchNCE weight is 10 there, 1 in translate."""
    before = {**BEFORE["cut"], "mode": "fastcut", "lambda_nce": "10"}
    before_weights, before_losses = trained(settings(tmp_path, "before", "cut", model_options=before))
    preset_weights, preset_losses = trained(settings(tmp_path, "preset", "cut", preset="reference",
                                                     model_options={"mode": "fastcut"}))
    assert preset_losses == before_losses
    assert all(torch.equal(preset_weights[key], before_weights[key]) for key in before_weights)
    built = {(mode, preset): Trainer(settings(tmp_path, f"{mode}-{preset}", "cut", preset=preset,
                                              model_options={"mode": mode})).model.lambda_nce
             for mode in ("cut", "fastcut") for preset in ("translate", "reference")}
    assert built == {("cut", "translate"): 1.0, ("cut", "reference"): 1.0,
                     ("fastcut", "translate"): 1.0, ("fastcut", "reference"): 10.0}
    given = Trainer(settings(tmp_path, "given", "cut", preset="reference",
                             model_options={"mode": "fastcut", "lambda_nce": "3"}))
    assert given.model.lambda_nce == 3.0


def test_the_reference_preset_sets_the_objectives_reference_options_too(tmp_path):
    """wgan-gp's penalty per patch is translate's; the reference (StarGAN's) takes the sum's norm."""
    def penalty_per_patch(preset, **loss_options):
        trainer = Trainer(settings(tmp_path, f"{preset}-{len(loss_options)}", "cyclegan", loss="wgan-gp",
                                   preset=preset, loss_options=loss_options))
        return trainer.model.objectives["D_A"].per_patch, trainer.objective_options["per_patch"]

    assert penalty_per_patch("translate") == (True, True)
    assert penalty_per_patch("reference") == (False, False)
    assert penalty_per_patch("reference", per_patch="true") == (True, True)


def test_the_command_line_takes_the_preset_and_records_it(tmp_path):
    args = ["train", "--model", "pix2pix", "--steps", "1", "--image-size", "32", *tiny_flags("pix2pix"),
            "--out", str(tmp_path / "run"), "--preset", "reference", "--logger", "jsonl"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert 'preset = "reference"' in (tmp_path / "run" / "config.toml").read_text()
    meta = json.loads((tmp_path / "run" / "latest" / checkpoint.METADATA).read_text())
    assert meta["model_options"]["upsample"] == "transpose"
    refused = CliRunner().invoke(main, ["train", "--preset", "paper"])
    assert refused.exit_code == 2 and "'paper' is not one of 'translate', 'reference'" in refused.output
