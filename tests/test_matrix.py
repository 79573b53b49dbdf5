"""Every built-in objective with every model: trains, reaches every network, resumes its state."""

from __future__ import annotations

import json

import pytest
import torch

from helpers import read_metrics, run_description, tiny_config, tiny_options, train
from translate.plugin_host.manager import PluginRegistry
from translate.train.trainer import Trainer

REGISTRY = PluginRegistry()
OBJECTIVES = ["lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan", "ragan", "ralsgan", "rahinge", "r1", "r2"]
MODELS = REGISTRY.names("model")
#: Each built-in model and mode at its tiny_options: name -> (model, options). StarGAN names its domains
#: (the trainer would find them in the data).
TINY_MODELS = {
    "pix2pix": ("pix2pix", tiny_options("pix2pix")),
    "cyclegan": ("cyclegan", tiny_options("cyclegan")),
    "cut": ("cut", tiny_options("cut")),
    "fastcut": ("cut", {**tiny_options("cut"), "mode": "fastcut"}),
    "unit": ("unit", tiny_options("unit")),
    "munit": ("munit", tiny_options("munit")),
    "stargan": ("stargan", {**tiny_options("stargan"), "domains": "a,b"}),
}
#: Iterations per run: the generator steps on the first whatever the objective's critic_steps.
ITERATIONS = 2


def random_batch() -> dict[str, torch.Tensor]:
    return {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1, "label": torch.eye(2)}


def test_the_matrix_covers_every_registered_builtin():
    assert set(OBJECTIVES) == set(REGISTRY.names("objective"))
    assert {model for model, _ in TINY_MODELS.values()} == set(MODELS)


@pytest.mark.parametrize("configuration", TINY_MODELS)
@pytest.mark.parametrize("objective_name", OBJECTIVES)
def test_objective_trains_model_with_gradients_everywhere(configuration, objective_name):
    torch.manual_seed(0)
    objective_cls = REGISTRY.objective(objective_name)
    model_name, options = TINY_MODELS[configuration]
    model = REGISTRY.model(model_name)(objective_cls, image_size=32, **options)
    model.optimizers = {g: torch.optim.Adam(p, lr=2e-4) for g, p in model.parameter_groups().items()}
    batch = random_batch()
    logs = [model.train_step(batch) for _ in range(ITERATIONS)]
    for logged in logs:
        assert all(torch.isfinite(torch.tensor(v)) for v in logged.values()), logged
    assert "G" in logs[0]  # the generator stepped on the first iteration
    assert all(p.requires_grad for p in model.parameters())  # critics unfrozen after the generator step
    for group, parameters in model.parameter_groups().items():
        grads = [p.grad for p in parameters]
        assert all(g is not None for g in grads), f"{group}: some parameters got no gradient"
        assert sum(g.abs().sum().item() for g in grads) > 0, f"{group}: all gradients are zero"
        assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("objective_name", OBJECTIVES)
def test_resume_restores_the_objective_state_exactly(objective_name, tmp_path):
    config = tiny_config(tmp_path / "run", "cyclegan", objective_name, steps=2, sample_every=10**6)
    trainer = Trainer(config)
    trainer.train(progress=False)
    resumed = Trainer(config, resume=True)
    assert resumed.model.objective_state() == trainer.model.objective_state()
    assert json.loads(json.dumps(trainer.model.objective_state())) == trainer.model.objective_state()


def test_began_logs_k_and_convergence_for_each_critic_every_step(tmp_path):
    # The reference preset's random untrained generators move BEGAN's k in the first steps; translate's
    # residual ones start as the identity, whose outputs a critic scores like real images (k stays 0 at first).
    train(tiny_config(tmp_path / "run", "cyclegan", "began", steps=3, sample_every=10**6, preset="reference"))
    lines = read_metrics(tmp_path / "run")
    assert [line["step"] for line in lines] == [1, 2, 3]
    for line in lines:
        assert {"D_A/k", "D_A/M", "D_B/k", "D_B/M"} <= set(line)
    assert 0 < lines[-1]["D_A/k"] <= 1
    saved = run_description(tmp_path / "run")
    assert saved["objective_state"]["D_A"]["k"] == lines[-1]["D_A/k"]


def test_gradient_penalty_is_logged_with_wgan_gp(tmp_path):
    train(tiny_config(tmp_path / "run", "pix2pix", "wgan-gp", steps=2, sample_every=10**6))
    last = read_metrics(tmp_path / "run")[-1]
    assert last["D/penalty"] >= 0


@pytest.mark.parametrize("configuration", TINY_MODELS)
def test_relativistic_objectives_get_the_critics_scores_on_the_real_images_of_the_batch(configuration):
    """Exact, not cached: in the generator step ``real`` is what the critic says about this batch's real images.

    The critics' learning rate is 0, so the critic step's output on real images is what the
    critic still says in the generator step, before (CycleGAN) or after (the others) it.
    """
    seen: dict[tuple[str, int], torch.Tensor] = {}

    class Spy(REGISTRY.objective("ralsgan")):
        def critic_loss(self, real, fake):
            seen["critic", id(self)] = real.score.detach().clone()
            return super().critic_loss(real, fake)

        def generator_loss(self, fake, real):
            assert fake.score.requires_grad and not real.score.requires_grad  # no graph into the critic
            seen["generator", id(self)] = real.score
            return super().generator_loss(fake, real)

    torch.manual_seed(0)
    model_name, options = TINY_MODELS[configuration]
    model = REGISTRY.model(model_name)(Spy, image_size=32, **options)
    model.optimizers = {g: torch.optim.Adam(p, lr=0.0 if g == "critic" else 2e-4)
                        for g, p in model.parameter_groups().items()}
    model.train_step(random_batch())
    assert len(seen) == 2 * len(model.objectives)
    for objective in model.objectives.values():
        assert torch.equal(seen["generator", id(objective)], seen["critic", id(objective)])


@pytest.mark.parametrize("configuration", TINY_MODELS)
def test_every_model_follows_the_objectives_critic_schedule_and_keeps_it_in_its_training_state(configuration):
    wgan_gp = REGISTRY.objective("wgan-gp")
    model_name, options = TINY_MODELS[configuration]
    build = lambda: REGISTRY.model(model_name)(lambda: wgan_gp(critic_steps=3), image_size=32, **options)  # noqa: E731
    torch.manual_seed(0)
    model = build()
    model.optimizers = {g: torch.optim.Adam(p, lr=2e-4) for g, p in model.parameter_groups().items()}
    generator, critics = model.parameter_groups()["generator"], model.parameter_groups()["critic"]
    stepped = []
    for iteration in range(1, 5):
        before = [p.detach().clone() for p in generator + critics]
        logged = model.train_step(random_batch())
        moved = [not torch.equal(a, p) for a, p in zip(before, generator + critics)]
        assert any(moved[len(generator):]), "the critics step on every iteration"
        assert any(moved[: len(generator)]) == ("G" in logged)
        stepped += [iteration] * ("G" in logged)
    assert stepped == [1, 4]
    restored = build()
    restored.load_training_state(model.training_state())
    assert restored.iteration == 4
