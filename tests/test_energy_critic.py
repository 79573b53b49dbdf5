"""The energy (autoencoder) critic: shapes at any size, energy definition, gradients, learning."""

from __future__ import annotations

import math

import pytest
import torch

from translate.nets.energy import EnergyCritic
from translate.objective import CriticOutput


def small(in_channels: int = 3, **kwargs) -> EnergyCritic:
    torch.manual_seed(0)
    return EnergyCritic(in_channels, ndf=8, code_channels=16, **kwargs)


@pytest.mark.parametrize(
    "channels, height, width, energy_hw, code_hw",
    [
        (3, 64, 64, (8, 8), (8, 8)),
        (3, 37, 53, (5, 7), (5, 7)),  # padded to 40 x 56 inside, cropped back
        (6, 32, 48, (4, 6), (4, 6)),  # conditional cat(A, B)
        (3, 8, 8, (1, 1), (1, 1)),
        (1, 9, 15, (2, 2), (2, 2)),
    ],
)
def test_shapes_at_any_size(channels, height, width, energy_hw, code_hw):
    critic = small(channels)
    x = torch.rand(2, channels, height, width) * 2 - 1
    out = critic(x)
    assert isinstance(out, CriticOutput)
    assert out.score.shape == (2, 1, *energy_hw)
    assert out.code.shape == (2, 16, *code_hw)
    assert critic.reconstruct(x)[0].shape == x.shape
    assert (out.score >= 0).all()
    assert torch.isfinite(out.score).all()


def test_full_size_defaults():
    critic = EnergyCritic(3)
    out = critic(torch.rand(1, 3, 64, 64) * 2 - 1)
    assert out.score.shape == (1, 1, 8, 8)
    assert out.code.shape == (1, 64, 8, 8)
    assert critic.energy_shape(37, 53) == (5, 7)


def patch_means(error: torch.Tensor, patch: int) -> torch.Tensor:
    """Average a (N, H, W) error over patch windows with plain loops (partial edge windows)."""
    n, height, width = error.shape
    rows = math.ceil(height / patch)
    cols = math.ceil(width / patch)
    out = torch.empty(n, 1, rows, cols, dtype=error.dtype)
    for i in range(rows):
        for j in range(cols):
            window = error[:, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch]
            out[:, 0, i, j] = window.sum(dim=(1, 2)) / (window.shape[1] * window.shape[2])
    return out


@pytest.mark.parametrize("distance", ["l1", "l2"])
@pytest.mark.parametrize("patch", [8, 5])
def test_energy_is_patch_mean_of_pixel_error(distance, patch):
    critic = small(distance=distance, patch=patch).double()
    # give the decoder a visible output so the error is not just |x|
    torch.nn.init.normal_(critic.decoder[-1].bias, 0.0, 0.5)
    x = torch.rand(2, 3, 21, 18, dtype=torch.float64) * 2 - 1
    recon, _ = critic.reconstruct(x)
    diff = recon - x
    per_pixel = diff.abs() if distance == "l1" else diff * diff
    expected = patch_means(per_pixel.mean(dim=1), patch)
    assert torch.allclose(critic(x).score, expected, atol=1e-12)


def test_l1_and_l2_differ_as_expected():
    l1 = small(distance="l1").double()
    l2 = small(distance="l2").double()
    l2.load_state_dict(l1.state_dict())
    for critic in (l1, l2):  # output exactly zero: error is |x| resp. x²
        torch.nn.init.zeros_(critic.decoder[-1].weight)
        torch.nn.init.zeros_(critic.decoder[-1].bias)
    x = torch.full((1, 3, 8, 8), -0.5, dtype=torch.float64)
    assert torch.allclose(l1(x).score, torch.full((1, 1, 1, 1), 0.5, dtype=torch.float64))
    assert torch.allclose(l2(x).score, torch.full((1, 1, 1, 1), 0.25, dtype=torch.float64))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="distance"):
        EnergyCritic(3, distance="l3")
    with pytest.raises(ValueError, match="patch"):
        EnergyCritic(3, patch=0)


def test_gradient_reaches_parameters_and_input():
    critic = small()
    x = (torch.rand(2, 3, 24, 24) * 2 - 1).requires_grad_(True)
    critic(x).score.sum().backward()
    for name, parameter in critic.named_parameters():
        assert parameter.grad is not None, name
        assert parameter.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_target_is_not_detached():
    """With the decoder output forced to 0, E = mean |x|: the gradient comes only through the target."""
    critic = small().double()
    torch.nn.init.zeros_(critic.decoder[-1].weight)
    torch.nn.init.zeros_(critic.decoder[-1].bias)
    x = (torch.rand(1, 3, 16, 16, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    critic(x).score.sum().backward()
    # each pixel sits in one 8x8 patch, averaged over 3 channels: dE/dx = sign(x) / (3 * 64)
    assert torch.allclose(x.grad, torch.sign(x.detach()) / (3 * 64))


def test_learns_to_reconstruct_a_fixed_batch():
    critic = small()
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    batch = torch.stack([
        torch.stack([xs, ys, xs * ys]),
        torch.stack([torch.sin(3 * xs), torch.cos(2 * ys), -xs]),
    ])
    optimizer = torch.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.999))
    before = critic(batch).score.mean().item()
    for _ in range(40):
        optimizer.zero_grad()
        critic(batch).score.mean().backward()
        optimizer.step()
    after = critic(batch).score.mean().item()
    assert after < 0.85 * before, (before, after)


def test_batch_independence():
    critic = small()
    x = torch.rand(3, 3, 20, 28) * 2 - 1
    first = critic(x)
    changed = x.clone()
    changed[1:] = torch.rand(2, 3, 20, 28) * 2 - 1
    second = critic(changed)
    assert torch.allclose(first.score[0], second.score[0], atol=1e-6)
    assert torch.allclose(first.code[0], second.code[0], atol=1e-6)
    assert not torch.allclose(first.score[1], second.score[1])
    # and alone
    alone = critic(x[:1])
    assert torch.allclose(alone.score[0], first.score[0], atol=1e-6)


def test_no_batch_norm_and_init():
    critic = EnergyCritic(3)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    weights = torch.cat([m.weight.flatten() for m in critic.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(weights.std().item() - 0.02) < 0.002
    assert all((m.bias == 0).all() for m in critic.modules() if isinstance(m, torch.nn.Conv2d))
