"""Nearest resize-convolutions train folded: the same outputs and gradients as resizing, then convolving.

:class:`~translate.nets.layers.ResizeConv` computes a nearest ×2 resize and its 3×3 convolution as one
2×2 convolution per output phase at the input's resolution, with kernels summed from the 3×3 weights in
every forward (on inputs of at least ``fold_min_pixels`` pixels). These tests hold it to the unfolded
computation (``F.interpolate`` then the 3×3 convolution with reflect padding) in float64: outputs, the
gradients of the input and of every weight, for the layer and for every model generator built with it,
folded everywhere and with the default threshold.
"""

from __future__ import annotations

import copy
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from translate.models.cut import CUT
from translate.models.cyclegan import CycleGAN
from translate.models.pix2pix import Pix2Pix
from translate.nets.layers import FOLD_MIN_PIXELS, FoldedResizeConv, ResizeConv, fold_resize_kernel, folded_resize_conv

#: float64 tolerances: the folded sums run in another order than the unfolded ones.
TOLERANCE = {"rtol": 1e-9, "atol": 1e-10}


def unfolded_forward(self: ResizeConv, x: torch.Tensor) -> torch.Tensor:
    """What a nearest :class:`ResizeConv` computes, as written: resize, then the reflect-padded 3×3 conv."""
    return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def folding_from(module: nn.Module, pixels: int) -> nn.Module:
    """``module`` with its resize-convolutions folding from inputs of ``pixels`` pixels on (0: always)."""
    for layer in module.modules():
        if isinstance(layer, ResizeConv):
            layer.fold_min_pixels = pixels
    return module


def unfolded(module: nn.Module) -> nn.Module:
    """A copy of ``module`` (same weights) whose nearest resize-convolutions resize, then convolve."""
    module = copy.deepcopy(module)
    changed = 0
    for layer in module.modules():
        if isinstance(layer, ResizeConv) and layer.mode == "nearest":
            layer.forward = types.MethodType(unfolded_forward, layer)
            changed += 1
    assert changed, "no nearest resize-convolution to compare"
    return module


def forward_and_backward(module: nn.Module, images: torch.Tensor, upstream: torch.Tensor, seed: int = 0):
    """Output, input gradient and every parameter's gradient of ``module`` for an upstream gradient."""
    images = images.clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same dropout masks for both forms
    output = module(images)
    output.backward(upstream)
    return output.detach(), images.grad, {name: p.grad for name, p in module.named_parameters()}


def assert_same_computation(folded: nn.Module, images: torch.Tensor) -> None:
    reference = unfolded(folded)
    with torch.no_grad():
        upstream = torch.randn_like(reference(images))  # not all ones: a misplaced phase shows
    out, grad_in, grads = forward_and_backward(folded, images, upstream)
    out_ref, grad_in_ref, grads_ref = forward_and_backward(reference, images, upstream)
    torch.testing.assert_close(out, out_ref, **TOLERANCE)
    torch.testing.assert_close(grad_in, grad_in_ref, **TOLERANCE)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        assert (grad is None) == (grads_ref[name] is None), name
        if grad is not None:
            torch.testing.assert_close(grad, grads_ref[name], **TOLERANCE, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (2, 9), (7, 4), (5, 5), (16, 16), (17, 20)])
def test_a_nearest_resize_conv_computes_and_learns_what_resizing_then_convolving_does(bias, size):
    torch.manual_seed(0)
    layer = folding_from(ResizeConv(5, 6, "nearest", bias).double(), 0)
    nn.init.normal_(layer.conv.weight)
    if bias:
        nn.init.normal_(layer.conv.bias)
    images = torch.randn(2, 5, *size, dtype=torch.float64)
    assert layer(images).shape == (2, 6, 2 * size[0], 2 * size[1])
    assert_same_computation(layer, images)
    assert_same_computation(layer, images.contiguous(memory_format=torch.channels_last))


def test_small_inputs_are_resized_then_convolved_and_large_ones_folded(monkeypatch):
    """Folding costs a pass over the weights, so it is for inputs of at least FOLD_MIN_PIXELS pixels."""
    layer = ResizeConv(4, 3, "nearest", bias=True)
    assert layer.fold_min_pixels == FOLD_MIN_PIXELS > 1
    folds = []
    monkeypatch.setattr("translate.nets.layers.folded_resize_conv",
                        lambda *args: folds.append(args[0].shape[-2:]) or folded_resize_conv(*args))
    side = int(FOLD_MIN_PIXELS ** 0.5)
    for size in [(1, 1), (side - 1, side), (side, side), (side, side + 3)]:
        assert layer(torch.randn(1, 4, *size)).shape == (1, 3, 2 * size[0], 2 * size[1])
    assert folds == [(side, side), (side, side + 3)]


def test_the_3x3_weights_are_what_is_stored_and_what_learns():
    layer = folding_from(ResizeConv(4, 3, "nearest", bias=True), 0)
    assert set(layer.state_dict()) == {"conv.weight", "conv.bias"}
    assert [name for name, _ in layer.named_parameters()] == ["conv.weight", "conv.bias"]
    layer(torch.randn(1, 4, 3, 3)).square().sum().backward()
    assert layer.conv.weight.grad.shape == (3, 4, 3, 3) and layer.conv.weight.grad.abs().sum() > 0


def test_the_folded_kernels_are_sums_of_the_3x3_weights_per_phase():
    kernel = torch.arange(9.0).reshape(1, 1, 3, 3)  # rows 0 1 2 / 3 4 5 / 6 7 8
    folded = fold_resize_kernel(kernel)
    assert folded.shape == (4, 1, 2, 2)
    # phase (0, 0): rows {0}, {1, 2} by columns {0}, {1, 2}; phase (1, 1): rows {0, 1}, {2} by columns {0, 1}, {2}
    assert folded[0, 0].tolist() == [[0.0, 1 + 2], [3 + 6, 4 + 5 + 7 + 8]]
    assert folded[3, 0].tolist() == [[0 + 1 + 3 + 4, 2 + 5], [6 + 7, 8.0]]
    assert folded.sum(dim=(1, 2, 3)).tolist() == [36.0] * 4  # each phase sees every weight once


def test_under_bf16_autocast_the_folded_layer_stays_close_to_the_unfolded_one():
    torch.manual_seed(0)
    layer = folding_from(ResizeConv(16, 8, "nearest", bias=True), 0)
    images = torch.randn(1, 16, 9, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        folded = layer(images).float()
        reference = unfolded_forward(layer, images).float()
    assert folded.shape == reference.shape == (1, 8, 18, 24)
    torch.testing.assert_close(folded, reference, rtol=0.05, atol=0.02)


def test_the_exported_layer_shares_the_fold_and_computes_the_same():
    torch.manual_seed(0)
    layer = ResizeConv(5, 6, "nearest", bias=True).double()
    exported = FoldedResizeConv(layer)
    assert torch.equal(exported.weight, fold_resize_kernel(layer.conv.weight.detach()))
    images = torch.randn(1, 5, 7, 4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(exported(images), unfolded_forward(layer, images), **TOLERANCE)
        torch.testing.assert_close(exported(images), folded_resize_conv(images, exported.weight, exported.bias))
    assert not any(p.requires_grad for p in exported.parameters())


#: The generators of the models that upsample with nearest resize-convolutions by default, tiny.
GENERATORS = {
    "cyclegan (ResNet, residual path)": lambda: CycleGAN(None, image_size=32, ngf=4, ndf=4).G_AB,
    "cut (ResNet, residual path)": lambda: CUT(None, image_size=32, ngf=4, ndf=4).G,
    "cyclegan without residual path, batch norm": lambda: CycleGAN(None, image_size=32, ngf=4, ndf=4, norm="batch",
                                                                  residual=False).G_AB,
    "pix2pix (U-Net, batch norm, dropout)": lambda: Pix2Pix(None, image_size=32, ngf=4, ndf=4).G,
    "pix2pix (U-Net, instance norm, no dropout)": lambda: Pix2Pix(None, image_size=32, ngf=4, ndf=4, norm="instance",
                                                                   dropout=False).G,
}


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("size", [(32, 32), (21, 27)])
@pytest.mark.parametrize("fold_from", [0, FOLD_MIN_PIXELS])
def test_every_model_generator_computes_and_learns_what_it_would_unfolded(name, size, fold_from):
    torch.manual_seed(0)
    generator = folding_from(GENERATORS[name]().double().train(), fold_from)
    for module in generator.modules():  # weights off their init, so nothing starts at zero
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, std=0.3)
            if module.bias is not None:
                nn.init.normal_(module.bias, std=0.1)
    assert any(isinstance(m, ResizeConv) and m.mode == "nearest" for m in generator.modules())
    images = torch.rand(2, 3, *size, dtype=torch.float64) * 2 - 1
    assert_same_computation(generator, images)
