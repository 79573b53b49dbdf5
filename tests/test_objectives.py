"""The built-in objectives against hand-computed values.

Expected numbers are written out with plain Python arithmetic on the chosen inputs,
never by calling the formula code under test.
"""

from __future__ import annotations

import json
import math

import pluggy
import pytest
import torch

from translate.plugin_host import hookspecs
from translate.objective import CriticOutput, Objective
from translate.options import OptionError, parse_options
from translate_plugins import began, ebgan, hinge, lsgan, r1, r2, ragan, rahinge, ralsgan, vanilla, wgan_gp
from translate_plugins.began import BEGAN
from translate_plugins.ebgan import EBGAN, pulling_away
from translate_plugins.hinge import Hinge
from translate_plugins.lsgan import LSGAN
from translate_plugins.r1 import R1
from translate_plugins.r2 import R2
from translate_plugins.ragan import RaGAN
from translate_plugins.rahinge import RaHinge
from translate_plugins.ralsgan import RaLSGAN
from translate_plugins.vanilla import Vanilla
from translate_plugins.wgan_gp import WGANGP

MODULES = [lsgan, vanilla, hinge, wgan_gp, began, ebgan, ragan, ralsgan, rahinge, r1, r2]
CLASSES = [LSGAN, Vanilla, Hinge, WGANGP, BEGAN, EBGAN, RaGAN, RaLSGAN, RaHinge, R1, R2]

# Two samples, each a 1x2x2 score map. Flattened in sample-major order below.
REAL = [[0.5, 2.0, -1.0, 1.0], [3.0, 0.0, 1.5, -0.5]]
FAKE = [[-2.0, 0.25, 0.0, 1.0], [0.5, -1.5, 2.5, 0.75]]


def scores(values: list[list[float]]) -> CriticOutput:
    return CriticOutput(torch.tensor(values, dtype=torch.float64).view(len(values), 1, 2, 2))


def flat(values: list[list[float]]) -> list[float]:
    return [v for sample in values for v in sample]


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def close(tensor: torch.Tensor, expected: float) -> bool:
    return tensor.dim() == 0 and math.isclose(tensor.item(), expected, rel_tol=1e-9, abs_tol=1e-12)


# ---------------------------------------------------------------------------- LSGAN


def test_lsgan_default_targets():
    objective = LSGAN()
    expected_d = 0.5 * (mean([(v - 1.0) ** 2 for v in flat(REAL)]) + mean([v**2 for v in flat(FAKE)]))
    expected_g = mean([(v - 1.0) ** 2 for v in flat(FAKE)])  # no 1/2 on the generator
    assert close(objective.critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(objective.generator_loss(scores(FAKE)), expected_g)
    # the written-out numbers: sum of squares 0.25+1+4+0 + 4+1+0.25+2.25 = 12.75 over 8
    assert math.isclose(mean([(v - 1.0) ** 2 for v in flat(REAL)]), 12.75 / 8)


def test_lsgan_custom_targets():
    objective = LSGAN(real_target=0.9, fake_target=-1.0, generator_target=0.5)
    expected_d = 0.5 * (mean([(v - 0.9) ** 2 for v in flat(REAL)]) + mean([(v + 1.0) ** 2 for v in flat(FAKE)]))
    expected_g = mean([(v - 0.5) ** 2 for v in flat(FAKE)])
    assert close(objective.critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(objective.generator_loss(scores(FAKE)), expected_g)


# ---------------------------------------------------------------------------- vanilla


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_vanilla_losses():
    objective = Vanilla()
    # BCE(s, 1) = log(1 + e^-s), BCE(s, 0) = log(1 + e^s)
    expected_d = 0.5 * (mean([softplus(-v) for v in flat(REAL)]) + mean([softplus(v) for v in flat(FAKE)]))
    expected_g = mean([softplus(-v) for v in flat(FAKE)])
    assert close(objective.critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(objective.generator_loss(scores(FAKE)), expected_g)


def test_vanilla_is_stable_on_large_logits():
    objective = Vanilla()
    huge = CriticOutput(torch.full((1, 1, 2, 2), 200.0, dtype=torch.float64))
    # real scored 200 (no loss), fake scored 200 (loss ~ 200 on the fake half)
    assert close(objective.critic_loss(huge, huge), 0.5 * 200.0)
    assert torch.isfinite(objective.generator_loss(CriticOutput(-huge.score)))


# ---------------------------------------------------------------------------- hinge


def test_hinge_losses():
    objective = Hinge()
    expected_d = mean([max(0.0, 1.0 - v) for v in flat(REAL)]) + mean([max(0.0, 1.0 + v) for v in flat(FAKE)])
    # by hand: real relu(1-s) = .5,0,2,0, 0,1,0,1.5 -> 5/8; fake relu(1+s) = 0,1.25,1,2, 1.5,0,3.5,1.75 -> 11/8
    assert math.isclose(expected_d, 5 / 8 + 11 / 8)
    assert close(objective.critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(objective.generator_loss(scores(FAKE)), -mean(flat(FAKE)))


# ---------------------------------------------------------------------------- WGAN-GP


def test_wgan_losses():
    objective = WGANGP()
    assert WGANGP.per_sample_critic is True
    assert close(objective.critic_loss(scores(REAL), scores(FAKE)), mean(flat(FAKE)) - mean(flat(REAL)))
    assert close(objective.generator_loss(scores(FAKE)), -mean(flat(FAKE)))


def linear_critic(weight: torch.Tensor):
    """score = sum(w * x) per sample, so the gradient w.r.t. x is w everywhere."""

    def critic(x: torch.Tensor) -> CriticOutput:
        return CriticOutput((x * weight).flatten(1).sum(1).view(-1, 1, 1, 1))

    return critic


def weight_with_norm(norm: float) -> torch.Tensor:
    w = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    w[0, 0, 0, 0] = 0.6 * norm
    w[0, 1, 1, 0] = -0.8 * norm  # sqrt(0.36 + 0.64) = 1
    return w


@pytest.mark.parametrize("norm, expected", [(1.0, 0.0), (2.0, 10.0 * (2.0 - 1.0) ** 2), (0.5, 10.0 * 0.25)])
def test_gradient_penalty_of_linear_critic(norm, expected):
    torch.manual_seed(0)
    real = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    fake = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    penalty = WGANGP().penalty(linear_critic(weight_with_norm(norm)), real, fake)
    assert close(penalty, expected)


def test_gradient_penalty_weight_option_and_zero():
    torch.manual_seed(0)
    x = torch.randn(2, 2, 2, 2, dtype=torch.float64)
    assert close(WGANGP(gp_weight=3.0).penalty(linear_critic(weight_with_norm(3.0)), x, x), 3.0 * 4.0)
    assert WGANGP(gp_weight=0.0).penalty(linear_critic(weight_with_norm(3.0)), x, x) is None


def test_gradient_penalty_trains_the_critic():
    """create_graph=True: the penalty is differentiable w.r.t. the critic's parameters."""
    weight = weight_with_norm(2.0).requires_grad_(True)
    x = torch.randn(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    penalty = WGANGP().penalty(linear_critic(weight), x, x + 1)
    penalty.backward()
    # d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w| = 20 * 1 * w / 2 = 10 w
    assert torch.allclose(weight.grad, 10.0 * weight.detach())
    assert x.grad is None  # inputs are detached: the penalty never trains the generator


def test_gradient_penalty_norm_is_per_sample():
    """Quadratic critic sum(x²)/2 has gradient x; with real == fake, x̂ == x whatever ε is."""
    x = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0  # |x_0| = 1
    x[1, 0, 0, 0] = 3.0  # |x_1| = 3

    def critic(v):
        return CriticOutput((0.5 * v.square()).flatten(1).sum(1).view(-1, 1, 1, 1))

    # per sample: mean((1-1)^2, (3-1)^2) = 2 -> 20 ; one norm over the batch would give (sqrt(10)-1)^2
    assert close(WGANGP().penalty(critic, x, x.clone()), 20.0)


def test_gradient_penalty_takes_the_norm_per_patch_unless_told_otherwise():
    """Four equal patches w·x: the sum's gradient is 4w, ‖4w‖ = 4 for ‖w‖ = 1; per patch 4 / √4 = 2."""
    weight = weight_with_norm(1.0)

    def four_patches(x):
        return CriticOutput((x * weight).flatten(1).sum(1).view(-1, 1, 1, 1).expand(-1, 1, 2, 2))

    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    assert close(WGANGP().penalty(four_patches, x, x), 10.0 * (2.0 - 1.0) ** 2)
    assert close(WGANGP(per_patch=False).penalty(four_patches, x, x), 10.0 * (4.0 - 1.0) ** 2)
    assert parse_options(WGANGP, {"per_patch": "false"}, "objective 'wgan-gp'") == {"per_patch": False}
    with pytest.raises(OptionError, match="'per_patch' must be true or false"):
        WGANGP(per_patch="no")


def test_gradient_penalty_interpolates_with_uniform_eps_per_sample():
    """real = 0, fake = unit vectors: x̂ = (1-ε) u, so GP/λ = mean over samples of ε²."""
    n = 4000
    real = torch.zeros(n, 1, 1, 2, dtype=torch.float64)
    fake = torch.zeros(n, 1, 1, 2, dtype=torch.float64)
    fake[:, 0, 0, 0] = 1.0

    def critic(v):
        return CriticOutput((0.5 * v.square()).flatten(1).sum(1).view(-1, 1, 1, 1))

    torch.manual_seed(1)
    gp = WGANGP(gp_weight=1.0).penalty(critic, real, fake).item()
    # E[ε²] = 1/3 for ε ~ U(0,1) drawn per sample (std of the mean ≈ 0.0047)
    assert abs(gp - 1.0 / 3.0) < 0.02


def test_wgan_gp_takes_five_critic_steps_per_generator_step_unless_told_otherwise():
    assert WGANGP().critic_steps == 5
    assert WGANGP(critic_steps=1).critic_steps == 1
    assert parse_options(WGANGP, {"critic_steps": "3"}, "objective 'wgan-gp'") == {"critic_steps": 3}
    assert Objective.critic_steps == 1 and LSGAN().critic_steps == 1


# ---------------------------------------------------------------------------- relativistic

# D̃(x) = D(x) - mean D(G(z)) and D̃(G(z)) = D(G(z)) - mean D(x), with the means over batch and patches
REAL_MEAN, FAKE_MEAN = 6.5 / 8, 1.5 / 8  # 0.5+2-1+1+3+0+1.5-0.5 = 6.5 ; -2+.25+0+1+.5-1.5+2.5+.75 = 1.5


def relative() -> tuple[list[float], list[float]]:
    return [v - FAKE_MEAN for v in flat(REAL)], [v - REAL_MEAN for v in flat(FAKE)]


def test_the_means_written_out():
    assert math.isclose(mean(flat(REAL)), REAL_MEAN) and math.isclose(mean(flat(FAKE)), FAKE_MEAN)


def test_ragan_losses():
    real, fake = relative()
    # BCE(s, 1) = softplus(-s), BCE(s, 0) = softplus(s)
    expected_d = 0.5 * (mean([softplus(-v) for v in real]) + mean([softplus(v) for v in fake]))
    expected_g = 0.5 * (mean([softplus(-v) for v in fake]) + mean([softplus(v) for v in real]))
    assert close(RaGAN().critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(RaGAN().generator_loss(scores(FAKE), scores(REAL)), expected_g)


def test_ralsgan_losses():
    real, fake = relative()
    expected_d = 0.5 * (mean([(v - 1) ** 2 for v in real]) + mean([(v + 1) ** 2 for v in fake]))
    expected_g = 0.5 * (mean([(v - 1) ** 2 for v in fake]) + mean([(v + 1) ** 2 for v in real]))
    assert close(RaLSGAN().critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(RaLSGAN().generator_loss(scores(FAKE), scores(REAL)), expected_g)


def test_rahinge_losses():
    real, fake = relative()
    expected_d = 0.5 * (mean([max(0.0, 1 - v) for v in real]) + mean([max(0.0, 1 + v) for v in fake]))
    expected_g = 0.5 * (mean([max(0.0, 1 - v) for v in fake]) + mean([max(0.0, 1 + v) for v in real]))
    assert close(RaHinge().critic_loss(scores(REAL), scores(FAKE)), expected_d)
    assert close(RaHinge().generator_loss(scores(FAKE), scores(REAL)), expected_g)


@pytest.mark.parametrize("cls, critic, generator", [
    # real scores 1, fake scores -1: D̃(x) = 1 - (-1) = 2, D̃(G) = -1 - 1 = -2
    (RaLSGAN, 0.5 * ((2 - 1) ** 2 + (-2 + 1) ** 2), 0.5 * ((-2 - 1) ** 2 + (2 + 1) ** 2)),  # 1 and 9
    (RaHinge, 0.5 * (0 + 0), 0.5 * (3 + 3)),
    (RaGAN, math.log1p(math.exp(-2)), math.log1p(math.exp(2))),  # 0.1269 and 2.1269
])
def test_relativistic_losses_on_constant_maps(cls, critic, generator):
    real, fake = scores([[1.0] * 4, [1.0] * 4]), scores([[-1.0] * 4, [-1.0] * 4])
    assert close(cls().critic_loss(real, fake), critic)
    assert close(cls().generator_loss(fake, real), generator)


def test_relativistic_generator_gradient_flows_through_the_mean_of_its_own_scores():
    """L_G = ½[mean (f − m_r − 1)² + mean (r − m_f + 1)²]: the second term reaches f through m_f.

    With r = 1 and f = −1 on 8 patches each: dL/df_j = ½[2·(−3)/8 + 8 · 2·3·(−1/8)/8] = −3/8 − 3/8.
    """
    fake = torch.full((2, 1, 2, 2), -1.0, dtype=torch.float64, requires_grad=True)
    RaLSGAN().generator_loss(CriticOutput(fake), scores([[1.0] * 4, [1.0] * 4])).backward()
    assert torch.allclose(fake.grad, torch.full_like(fake, -0.75))


# ---------------------------------------------------------------------------- R1 and R2


def test_r1_and_r2_losses_are_non_saturating_without_the_half():
    for cls in (R1, R2):
        expected_d = mean([softplus(-v) for v in flat(REAL)]) + mean([softplus(v) for v in flat(FAKE)])
        assert close(cls().critic_loss(scores(REAL), scores(FAKE)), expected_d)
        assert close(cls().generator_loss(scores(FAKE)), mean([softplus(-v) for v in flat(FAKE)]))


def test_r1_penalises_the_gradient_on_real_images_and_r2_on_generated_ones():
    """Quadratic critic ½ Σ v² has gradient v: the penalty is γ/2 · mean_i ‖v_i‖²."""
    real = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    real[0, 0, 0, 0], real[1, 0, 1, 1] = 1.0, 3.0  # ‖x_0‖² = 1, ‖x_1‖² = 9
    fake = torch.full((2, 1, 2, 2), 0.5, dtype=torch.float64)  # ‖y_i‖² = 4 · 0.25 = 1

    def critic(v):
        return CriticOutput((0.5 * v.square()).flatten(1).sum(1).view(-1, 1, 1, 1))

    assert close(R1().penalty(critic, real, fake), 0.5 * (1 + 9) / 2)
    assert close(R1(gamma=10.0).penalty(critic, real, fake), 5.0 * (1 + 9) / 2)
    assert close(R2().penalty(critic, real, fake), 0.5 * (1 + 1) / 2)
    assert R1(gamma=0.0).penalty(critic, real, fake) is None and R2(gamma=0.0).penalty(critic, real, fake) is None


def test_r1_takes_the_gradient_of_each_samples_mean_score():
    """Patches w·x and 3w·x: the mean score has gradient 2w, so R1 = γ/2 · ‖2w‖² = ½ · 4 · 4, whatever
    the map's size (the sum's gradient, 4w, would give 4 times that; with P equal patches P² times)."""
    weight = weight_with_norm(2.0)

    def two_patches(x):
        patch = (x * weight).flatten(1).sum(1).view(-1, 1, 1, 1)
        return CriticOutput(torch.cat([patch, 3 * patch], 3))

    def many_patches(x):
        return CriticOutput((x * weight).flatten(1).sum(1).view(-1, 1, 1, 1).expand(-1, 1, 6, 6))

    x = torch.randn(3, 2, 2, 2, dtype=torch.float64)
    assert close(R1().penalty(two_patches, x, x), 0.5 * 4 * 4.0)
    assert close(R2().penalty(many_patches, x, x), 0.5 * 4.0)


def test_r1_trains_the_critic_and_never_the_generator():
    """create_graph=True: d/dw γ/2 ‖w‖² = γ w reaches the critic; the images are detached."""
    weight = weight_with_norm(2.0).requires_grad_(True)
    real = torch.randn(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(2, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    R1(gamma=3.0).penalty(linear_critic(weight), real, fake).backward()
    assert torch.allclose(weight.grad, 3.0 * weight.detach())
    assert real.grad is None and fake.grad is None
    weight.grad = None
    R2(gamma=3.0).penalty(linear_critic(weight), real, fake).backward()
    assert torch.allclose(weight.grad, 3.0 * weight.detach())
    assert real.grad is None and fake.grad is None


# ---------------------------------------------------------------------------- BEGAN


def energies(per_sample: list[list[float]]) -> CriticOutput:
    return scores(per_sample)


def test_began_losses_use_k():
    objective = BEGAN(k=0.25)
    real = [[1.0, 2.0, 3.0, 2.0], [0.5, 0.5, 1.0, 2.0]]  # mean 12/8 = 1.5
    fake = [[2.0, 2.0, 2.0, 2.0], [4.0, 0.0, 1.0, 3.0]]  # mean 16/8 = 2.0
    assert close(objective.critic_loss(energies(real), energies(fake)), 1.5 - 0.25 * 2.0)
    assert close(objective.generator_loss(energies(fake)), 2.0)


def test_began_k_trajectory_with_clamping():
    objective = BEGAN(gamma=0.5, lambda_k=0.25)
    assert objective.k == 0.0
    # (real per-patch energies with the stated mean, fake likewise, expected k after, expected M)
    steps = [
        ([[1.0, 3.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]], [[0.5] * 4, [0.0, 1.0, 0.5, 0.5]], 0.125, 2.5),
        # mean E(x)=2, mean E(G)=0.5: 0 + 0.25*(1 - 0.5) = 0.125 ; M = 2 + |0.5|
        ([[1.0] * 4, [1.0] * 4], [[1.0, 2.0, 1.5, 1.5], [1.5] * 4], 0.0, 2.0),
        # 1, 1.5: 0.125 + 0.25*(0.5 - 1.5) = -0.125 -> clamped to 0 ; M = 1 + 1
        ([[4.0] * 4, [0.0, 8.0, 4.0, 4.0]], [[0.0] * 4, [0.0] * 4], 0.5, 6.0),
        # 4, 0: 0 + 0.25*2 = 0.5 ; M = 4 + 2
        ([[4.0] * 4, [4.0] * 4], [[0.0] * 4, [0.0] * 4], 1.0, 6.0),
        # 0.5 + 0.5 = 1.0
        ([[4.0] * 4, [4.0] * 4], [[0.0] * 4, [0.0] * 4], 1.0, 6.0),
        # 1.0 + 0.5 = 1.5 -> clamped to 1
        ([[2.0] * 4, [2.0] * 4], [[1.5] * 4, [1.5] * 4], 0.875, 2.5),
        # 1 + 0.25*(1 - 1.5) = 0.875 ; M = 2 + 0.5
    ]
    for real, fake, k_after, m in steps:
        logged = objective.update(energies(real), energies(fake))
        assert math.isclose(logged["k"], k_after, abs_tol=1e-12)
        assert math.isclose(logged["M"], m, abs_tol=1e-12)
        assert objective.k == logged["k"]
        assert isinstance(logged["k"], float) and isinstance(logged["M"], float)
    # the loss uses the updated k
    assert close(objective.critic_loss(energies([[2.0] * 4]), energies([[4.0] * 4])), 2.0 - 0.875 * 4.0)


def test_began_update_goes_through_reduce():
    """Under DDP `reduce` averages over ranks; k must follow the reduced means."""
    objective = BEGAN(gamma=0.5, lambda_k=0.25)
    other_rank = torch.tensor([6.0, 1.0], dtype=torch.float64)  # that rank's (mean E(x), mean E(G))
    seen = []

    def reduce(value):
        seen.append(value.clone())
        return (value + other_rank.to(value)) / 2

    objective.reduce = reduce
    logged = objective.update(energies([[2.0] * 4]), energies([[0.0] * 4]))
    # averaged means: E(x) = (2 + 6)/2 = 4, E(G) = (0 + 1)/2 = 0.5 -> k = 0.25*(2 - 0.5) = 0.375
    assert seen, "update() must pass its statistics through Objective.reduce"
    assert math.isclose(logged["k"], 0.375)
    assert math.isclose(logged["M"], 4.0 + 1.5)


def test_began_state_dict_round_trip():
    objective = BEGAN(gamma=0.5, lambda_k=0.25)
    objective.update(energies([[2.0] * 4]), energies([[0.5] * 4]))
    state = json.loads(json.dumps(objective.state_dict()))
    assert state == {"k": 0.125, "gamma": 0.5}
    restored = BEGAN(gamma=0.5, lambda_k=0.25)
    assert restored.k == 0.0
    restored.load_state_dict(state)
    assert restored.k == 0.125
    assert close(restored.critic_loss(energies([[1.0] * 4]), energies([[2.0] * 4])), 1.0 - 0.125 * 2.0)
    with pytest.raises(ValueError, match="'k'"):
        restored.load_state_dict({"gamma": 0.5})
    with pytest.raises(ValueError, match="'k'"):
        restored.load_state_dict({"k": 1.5})


# ---------------------------------------------------------------------------- EBGAN


def test_ebgan_critic_hinge_is_per_patch():
    objective = EBGAN(margin=1.0)
    real = [[0.5, 1.0, 0.0, 0.5], [1.0, 1.0, 0.5, 0.5]]  # mean 5/8
    fake = [[0.5, 2.0, 0.0, 1.5], [3.0, 0.25, 0.75, 0.0]]  # batch mean 1.0, so a batch hinge would be 0
    hinge_per_patch = [0.5, 0.0, 1.0, 0.0, 0.0, 0.75, 0.25, 1.0]
    assert close(objective.critic_loss(energies(real), energies(fake)), 5 / 8 + sum(hinge_per_patch) / 8)
    assert close(EBGAN(margin=2.0).critic_loss(energies(real), energies(fake)),
                 5 / 8 + (1.5 + 0 + 2 + 0.5 + 0 + 1.75 + 1.25 + 2) / 8)


def code(rows: list[list[float]], shape=(1, 1, 2)) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), *shape)


def test_pulling_away_known_codes():
    # orthogonal (any scale) -> 0
    assert close(pulling_away(code([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.5]], (3, 1, 1))), 0.0)
    # identical directions (also opposite sign: cosine -1, squared 1) -> 1
    assert close(pulling_away(code([[1.0, 2.0], [1.0, 2.0], [-2.0, -4.0]])), 1.0)
    # hand case: cos²(z1,z2) = (1/√2)² = 1/2, cos²(z1,z3) = 0, cos²(z2,z3) = (2/(√2·2))² = 1/2
    # off-diagonal sum = 2 * (1/2 + 0 + 1/2) = 2 over N(N-1) = 6 -> 1/3
    three = code([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert close(pulling_away(three), 1.0 / 3.0)
    # the same codes laid out over channels instead of space
    assert close(pulling_away(three.view(3, 2, 1, 1)), 1.0 / 3.0)
    # a single sample has no pairs
    assert close(pulling_away(code([[1.0, 2.0]])), 0.0)


def test_ebgan_generator_loss_with_and_without_pt():
    fake_energy = [[1.0, 2.0, 0.0, 1.0], [0.5, 0.5, 0.5, 2.5]]  # mean 8/8 = 1
    three = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]], dtype=torch.float64).view(3, 2, 1, 1)
    fake3 = CriticOutput(scores(fake_energy + [[1.0] * 4]).score, three)  # mean 12/12 = 1
    assert close(EBGAN().generator_loss(fake3), 1.0 + 0.1 * (1.0 / 3.0))
    assert close(EBGAN(pt_weight=0.5).generator_loss(fake3), 1.0 + 0.5 * (1.0 / 3.0))
    assert close(EBGAN(pt_weight=0.0).generator_loss(fake3), 1.0)
    # N == 1: PT skipped
    one = CriticOutput(scores([[3.0, 1.0, 1.0, 3.0]]).score, three[:1])
    assert close(EBGAN().generator_loss(one), 2.0)


def test_ebgan_pt_gradient_reaches_code_and_missing_code_is_an_error():
    codes = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    fake = CriticOutput(torch.ones(2, 1, 2, 2, dtype=torch.float64), codes.view(2, 2, 1, 1))
    EBGAN().generator_loss(fake).backward()
    assert codes.grad is not None and codes.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="code"):
        EBGAN().generator_loss(CriticOutput(torch.ones(2, 1, 2, 2)))


# ---------------------------------------------------------------------------- options


def test_unknown_option_lists_valid_ones():
    with pytest.raises(OptionError) as info:
        parse_options(LSGAN, {"nope": "1"}, "objective 'lsgan'")
    message = str(info.value)
    assert "nope" in message
    for option in ("real_target", "fake_target", "generator_target"):
        assert option in message


def test_options_are_parsed_to_their_types():
    assert parse_options(BEGAN, {"gamma": "0.5", "lambda_k": "1e-3"}, "objective 'began'") == {
        "gamma": 0.5,
        "lambda_k": 0.001,
    }
    with pytest.raises(OptionError, match="margin"):
        parse_options(EBGAN, {"margin": "wide"}, "objective 'ebgan'")


@pytest.mark.parametrize(
    "cls, options, option",
    [
        (BEGAN, {"gamma": 0.0}, "gamma"),
        (BEGAN, {"gamma": 1.5}, "gamma"),
        (BEGAN, {"lambda_k": -0.1}, "lambda_k"),
        (BEGAN, {"k": 2.0}, "k"),
        (EBGAN, {"margin": 0.0}, "margin"),
        (EBGAN, {"pt_weight": -1.0}, "pt_weight"),
        (WGANGP, {"gp_weight": -1.0}, "gp_weight"),
        (WGANGP, {"critic_steps": 0}, "critic_steps"),
        (WGANGP, {"critic_steps": True}, "critic_steps"),
        (LSGAN, {"real_target": float("nan")}, "real_target"),
        (R1, {"gamma": -1.0}, "gamma"),
        (R2, {"gamma": float("inf")}, "gamma"),
    ],
)
def test_invalid_option_values_name_the_option(cls, options, option):
    with pytest.raises(ValueError, match=f"'{option}'"):
        cls(**options)


CHANGED = {
    LSGAN: {"real_target": 0.9, "fake_target": 0.1, "generator_target": 0.8},
    Vanilla: {},
    Hinge: {},
    WGANGP: {"gp_weight": 5.0, "critic_steps": 2},
    BEGAN: {"gamma": 0.5, "lambda_k": 0.01, "k": 0.3},
    EBGAN: {"margin": 2.0, "pt_weight": 0.2},
    RaGAN: {},
    RaLSGAN: {},
    RaHinge: {},
    R1: {"gamma": 10.0},
    R2: {"gamma": 0.5},
}


@pytest.mark.parametrize("cls", CLASSES)
def test_options_round_trip(cls):
    objective = cls(**CHANGED[cls])
    assert objective.options() == CHANGED[cls] | {k: v for k, v in cls().options().items() if k not in CHANGED[cls]}
    assert cls(**objective.options()).options() == objective.options()
    assert json.loads(json.dumps(objective.options())) == objective.options()


# ---------------------------------------------------------------------------- plugin registration


def test_each_module_provides_its_objective_through_the_hook():
    manager = pluggy.PluginManager("translate")
    manager.add_hookspecs(hookspecs)
    for module in MODULES:
        manager.register(module)
    manager.check_pending()
    provided = [cls for result in manager.hook.translate_objectives() for cls in result]
    assert sorted(provided, key=lambda c: c.name) == sorted(CLASSES, key=lambda c: c.name)
    names = [cls.name for cls in provided]
    assert len(names) == len(set(names))
    assert set(names) == {"lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan", "ragan", "ralsgan", "rahinge",
                          "r1", "r2"}
    for module, cls in zip(MODULES, CLASSES):
        assert module.translate_objectives() == [cls]
        assert module.__doc__ and len(module.__doc__) > 200


def test_critic_kinds_and_energy_distance_options():
    for cls in CLASSES:
        assert issubclass(cls, Objective)
    assert {cls.name: cls.critic for cls in CLASSES} == {
        "lsgan": "patch", "vanilla": "patch", "hinge": "patch", "wgan-gp": "patch",
        "began": "energy", "ebgan": "energy", "ragan": "patch", "ralsgan": "patch", "rahinge": "patch",
        "r1": "patch", "r2": "patch",
    }
    assert BEGAN.critic_options == {"distance": "l1"}
    assert EBGAN.critic_options == {"distance": "l2"}
    assert [cls.name for cls in CLASSES if cls.per_sample_critic] == ["wgan-gp", "r1", "r2"]
    assert [cls.name for cls in CLASSES if cls.generator_needs_real] == ["ragan", "ralsgan", "rahinge"]
    assert {cls.name: cls().critic_steps for cls in CLASSES if cls().critic_steps != 1} == {"wgan-gp": 5}


def test_stateless_objectives_reject_foreign_state():
    for cls in (LSGAN, Vanilla, Hinge, WGANGP, EBGAN, RaGAN, RaLSGAN, RaHinge, R1, R2):
        objective = cls()
        assert objective.state_dict() == {}
        assert objective.update(scores(REAL), scores(FAKE)) == {}
        with pytest.raises(ValueError):
            objective.load_state_dict({"k": 0.5})
