"""The loss-sensitive objective: hand-computed values, options, the hook and translate's conformance kit."""

from __future__ import annotations

import math

import pytest
import torch

from translate.objective import CriticOutput
from translate.options import OptionError, parse_options
from translate_loss_sensitive import LossSensitive, translate_objectives

# Two samples of constant images: real x0 = 0.5, x1 = -0.25; generated g0 = 0.0, g1 = 0.75.
REAL = torch.tensor([0.5, -0.25]).view(2, 1, 1, 1).expand(2, 3, 4, 4)
FAKE = torch.tensor([0.0, 0.75]).view(2, 1, 1, 1).expand(2, 3, 4, 4)


def three_times_mean(images: torch.Tensor) -> CriticOutput:
    """A critic scoring each image 3 x its mean, as a 1x1 score map: D(x) = 1.5, -0.75; D(g) = 0.0, 2.25."""
    return CriticOutput(3.0 * images.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1))


def close(value: torch.Tensor, expected: float) -> bool:
    return value.dim() == 0 and math.isclose(value.item(), expected, rel_tol=1e-6, abs_tol=1e-7)


def test_losses_by_hand():
    objective = LossSensitive()
    # critic_loss: mean D(x) = (1.5 - 0.75) / 2; generator_loss: mean D(g) = (0 + 2.25) / 2
    assert close(objective.critic_loss(three_times_mean(REAL), three_times_mean(FAKE)), 0.375)
    assert close(objective.generator_loss(three_times_mean(FAKE)), 1.125)
    # margins |x - g|: 0.5 and 1.0; hinges: relu(0.5 + 1.5 - 0) = 2.0, relu(1.0 - 0.75 - 2.25) = 0
    assert torch.allclose(objective.margin(REAL, FAKE), torch.tensor([0.5, 1.0]))
    assert close(objective.penalty(three_times_mean, REAL, FAKE), 1.0)


def test_options_scale_the_hinge_and_the_margin():
    objective = LossSensitive(hinge_weight=2.0, margin_scale=3.0, distance="l2")
    # squared margins 0.25 and 1.0, times 3: 0.75 and 3.0; hinges relu(0.75 + 1.5) = 2.25, relu(3.0 - 3.0) = 0
    assert torch.allclose(objective.margin(REAL, FAKE), torch.tensor([0.75, 3.0]))
    assert close(objective.penalty(three_times_mean, REAL, FAKE), 2.0 * 2.25 / 2)


def test_patch_map_is_reduced_per_sample_before_the_hinge():
    real, fake = torch.full((1, 3, 2, 2), 0.5), torch.zeros(1, 3, 2, 2)
    maps = {True: torch.tensor([[2.0, -2.0], [0.0, 0.0]]).view(1, 1, 2, 2), False: torch.zeros(1, 1, 2, 2)}

    def critic(images: torch.Tensor) -> CriticOutput:
        return CriticOutput(maps[torch.equal(images, real)])

    # per sample: relu(0.5 + mean(2, -2, 0, 0) - 0) = 0.5; a per-patch hinge would give (2.5 + 0 + 0.5 + 0.5) / 4
    assert close(LossSensitive().penalty(critic, real, fake), 0.5)


def test_the_hinge_trains_the_critic_and_leaves_the_images_alone():
    weight = torch.tensor(3.0, requires_grad=True)
    fake = FAKE.clone().requires_grad_(True)
    penalty = LossSensitive().penalty(lambda v: CriticOutput(weight * v.mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)),
                                      REAL, fake)
    penalty.backward()
    assert weight.grad is not None and weight.grad.item() != 0
    assert fake.grad is None  # the generated images are detached: the critic step never moves the generator


def test_batches_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="pairs real and generated images by index"):
        LossSensitive().margin(REAL, FAKE[:1])


@pytest.mark.parametrize("options, option", [
    ({"hinge_weight": 0}, "hinge_weight"),
    ({"margin_scale": -1.0}, "margin_scale"),
    ({"margin_scale": float("nan")}, "margin_scale"),
    ({"distance": "l3"}, "distance"),
])
def test_bad_option_values_name_the_option(options, option):
    with pytest.raises(OptionError, match=f"'{option}'"):
        LossSensitive(**options)


def test_command_line_options_are_typed():
    parsed = parse_options(LossSensitive, {"hinge_weight": "0.5", "distance": "l2"}, "objective 'loss-sensitive'")
    assert LossSensitive(**parsed).options() == {"hinge_weight": 0.5, "margin_scale": 1.0, "distance": "l2"}


def test_the_hook_provides_the_objective():
    assert translate_objectives() == [LossSensitive]


def test_keeps_the_contract_with_every_model_and_both_critics(check_objective):
    report = check_objective(LossSensitive, critics=("patch", "energy"))
    assert len(report.checked) >= 8  # four built-in models, two critic kinds
