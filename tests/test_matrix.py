"""Every built-in objective with every model: trains, reaches every network, resumes its state."""

from __future__ import annotations

import json

import pytest
import torch

from translate.plugins import PluginRegistry
from translate.train.trainer import Trainer, TrainConfig

REGISTRY = PluginRegistry()
OBJECTIVES = ["lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan"]
MODELS = REGISTRY.names("model")
TINY = {"ngf": "8", "ndf": "8"}
#: Small networks for each built-in model (StarGAN names its domains; the trainer would find them in the data).
TINY_MODELS = {
    "pix2pix": {"ngf": 8, "ndf": 8},
    "cyclegan": {"ngf": 8, "ndf": 8},
    "unit": {"ngf": 8, "ndf": 8, "n_res": 1},
    "stargan": {"domains": "a,b", "conv_dim": 8, "critic_dim": 8, "repeat_num": 1, "critic_layers": 3},
}
#: Enough iterations for StarGAN's generator to step once with a penalty objective (5 critic steps).
ITERATIONS = 5


def test_the_matrix_covers_every_registered_builtin():
    assert set(OBJECTIVES) == set(REGISTRY.names("objective"))
    assert set(TINY_MODELS) == set(MODELS)


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("objective_name", OBJECTIVES)
def test_objective_trains_model_with_gradients_everywhere(model_name, objective_name):
    torch.manual_seed(0)
    objective_cls = REGISTRY.objective(objective_name)
    model = REGISTRY.model(model_name)(objective_cls, image_size=32, **TINY_MODELS[model_name])
    model.optimizers = {g: torch.optim.Adam(p, lr=2e-4) for g, p in model.parameter_groups().items()}
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1, "label": torch.eye(2)}
    for _ in range(ITERATIONS):
        logged = model.train_step(batch)
        assert all(torch.isfinite(torch.tensor(v)) for v in logged.values()), logged
    assert "G" in logged  # the generator stepped on the last iteration
    assert all(p.requires_grad for p in model.parameters())  # critics unfrozen after the generator step
    for group, parameters in model.parameter_groups().items():
        grads = [p.grad for p in parameters]
        assert all(g is not None for g in grads), f"{group}: some parameters got no gradient"
        assert sum(g.abs().sum().item() for g in grads) > 0, f"{group}: all gradients are zero"
        assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("objective_name", OBJECTIVES)
def test_resume_restores_the_objective_state_exactly(objective_name, tmp_path):
    config = TrainConfig(model="cyclegan", loss=objective_name, out=str(tmp_path / "run"), steps=2, image_size=32,
                         model_options=dict(TINY), sample_every=10**6)
    trainer = Trainer(config)
    trainer.train(progress=False)
    resumed = Trainer(config, resume=True)
    assert resumed.model.objective_state() == trainer.model.objective_state()
    assert json.loads(json.dumps(trainer.model.objective_state())) == trainer.model.objective_state()


def test_began_logs_k_and_convergence_for_each_critic_every_step(tmp_path):
    # The reference preset's random untrained generators move BEGAN's k in the first steps; translate's
    # residual ones start as the identity, whose outputs a critic scores like real images (k stays 0 at first).
    config = TrainConfig(model="cyclegan", loss="began", out=str(tmp_path / "run"), steps=3, image_size=32,
                         model_options=dict(TINY), sample_every=10**6, preset="reference")
    Trainer(config).train(progress=False)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3]
    for line in lines:
        assert {"D_A/k", "D_A/M", "D_B/k", "D_B/M"} <= set(line)
    assert 0 < lines[-1]["D_A/k"] <= 1
    saved = json.loads((tmp_path / "run" / "latest" / "checkpoint.json").read_text())
    assert saved["objective_state"]["D_A"]["k"] == lines[-1]["D_A/k"]


def test_gradient_penalty_is_logged_with_wgan_gp(tmp_path):
    config = TrainConfig(model="pix2pix", loss="wgan-gp", out=str(tmp_path / "run"), steps=2, image_size=32,
                         model_options=dict(TINY), sample_every=10**6)
    Trainer(config).train(progress=False)
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["D/penalty"] >= 0
