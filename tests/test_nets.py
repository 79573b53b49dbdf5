"""Tests of translate.nets: shapes, parameter counts, junyanz key layout, helpers."""

from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

from translate.nets import (
    PadCrop,
    PatchDiscriminator,
    ResnetGenerator,
    UnetGenerator,
    build_critic,
    build_generator,
    crop_to,
    init_weights,
    norm_layer,
    pad_to_multiple,
)
from translate.nets.energy import EnergyCritic
from translate.nets.layers import (
    RESIDUAL_MARGIN,
    FoldedResizeConv,
    KernelRowsConv,
    ResizeConv,
    exported_form,
    residual_output,
    starts_at_zero,
    upsampling,
)
from translate.nets.stargan import DomainClassifier, StarGenerator
from translate.nets.unet import UnetSkipConnectionBlock
from translate.nets.unit import Decoder, Encoder
from translate.objective import CriticOutput
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def on_meta(factory, **kwargs) -> nn.Module:
    """Build a full-size net without allocating or initialising its weights."""
    with torch.device("meta"):
        return factory(**kwargs)


# --- layers -------------------------------------------------------------------------


def test_norm_layer_kinds():
    batch = norm_layer("batch", 8)
    assert isinstance(batch, nn.BatchNorm2d) and batch.affine and batch.track_running_stats
    instance = norm_layer("instance", 8)
    assert isinstance(instance, nn.InstanceNorm2d)
    assert not instance.affine and not instance.track_running_stats
    assert isinstance(norm_layer("none", 8), nn.Identity)


def test_norm_layer_unknown_names_valid_kinds():
    with pytest.raises(ValueError, match=r"'group'.*batch, instance, none"):
        norm_layer("group", 8)


@pytest.mark.parametrize(
    ("height", "width", "multiple"),
    [(7, 5, 256), (1, 3, 8), (2, 1, 16), (300, 200, 256), (65, 97, 4), (30, 17, 16)],
)
def test_pad_to_multiple_round_trip(height, width, multiple):
    x = torch.randn(2, 3, height, width)
    padded, size = pad_to_multiple(x, multiple=multiple)
    assert size == (height, width)
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    assert padded.shape[-2] - height < multiple and padded.shape[-1] - width < multiple
    assert torch.equal(crop_to(padded, size=size), x)


def test_pad_to_multiple_reflects_bottom_and_right():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    padded, _ = pad_to_multiple(x, multiple=6)
    assert torch.equal(padded[..., 4, :4], x[..., 2, :])
    assert torch.equal(padded[..., 5, :4], x[..., 1, :])
    assert torch.equal(padded[..., :4, 4], x[..., :, 2])


def test_pad_to_multiple_one_pixel_side_replicates():
    x = torch.tensor([[[[1.0, 2.0, 3.0]]]])
    padded, _ = pad_to_multiple(x, multiple=4)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[0, 0, 3], torch.tensor([1.0, 2.0, 3.0, 2.0]))


def test_pad_to_multiple_unchanged_when_already_multiple():
    x = torch.randn(1, 3, 8, 16)
    padded, size = pad_to_multiple(x, multiple=8)
    assert padded is x and size == (8, 16)


def test_pad_to_multiple_other_modes_and_errors():
    x = torch.ones(1, 1, 3, 3)
    padded, _ = pad_to_multiple(x, multiple=4, mode="constant")
    assert padded[..., 3, :].abs().sum() == 0 and padded[..., :3, :3].sum() == 9
    with pytest.raises(ValueError, match="padding mode"):
        pad_to_multiple(x, multiple=4, mode="circular")
    with pytest.raises(ValueError, match="positive"):
        pad_to_multiple(x, multiple=0)


def test_crop_to():
    x = torch.randn(3, 10, 12)
    assert torch.equal(crop_to(x, size=(4, 5)), x[:, :4, :5])


def test_init_weights_statistics():
    net = nn.Sequential(
        nn.Conv2d(256, 256, kernel_size=3),
        nn.BatchNorm2d(4096),
        nn.ConvTranspose2d(256, 128, kernel_size=3),
        nn.Linear(512, 512),
    )
    init_weights(net, gain=0.02)
    conv, batch_norm, up, linear = net
    for layer in (conv, up, linear):
        assert layer.weight.std().item() == pytest.approx(0.02, rel=0.02)
        assert abs(layer.weight.mean().item()) < 1e-3
        assert torch.count_nonzero(layer.bias) == 0
    assert batch_norm.weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert batch_norm.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(batch_norm.bias) == 0


def test_init_weights_gain():
    conv = nn.Conv2d(128, 128, kernel_size=3)
    init_weights(conv, gain=0.1)
    assert conv.weight.std().item() == pytest.approx(0.1, rel=0.02)


# --- PadCrop: any input size -----------------------------------------------------------

SIZES = [(300, 200), (7, 5), (65, 97)]


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("arch", ["resnet_6blocks", "unet_128"])
def test_padcrop_any_size(arch, height, width):
    net = build_generator(arch, ngf=8).eval()
    wrapped = PadCrop(net, multiple=net.size_multiple)
    assert wrapped.net is net and wrapped.multiple == net.size_multiple
    with torch.no_grad():
        out = wrapped(torch.randn(2, 3, height, width))
    assert out.shape == (2, 3, height, width)
    assert out.abs().max() <= 1.0


def test_padcrop_output_is_crop_of_net_output():
    net = ResnetGenerator(ngf=8, n_blocks=2).eval()
    x = torch.randn(1, 3, 10, 13)
    with torch.no_grad():
        padded, _ = pad_to_multiple(x, multiple=4)
        expected = net(padded)[..., :10, :13]
        assert torch.equal(PadCrop(net, multiple=4)(x), expected)


def test_padcrop_state_dict_prefix():
    net = ResnetGenerator(ngf=8, n_blocks=1)
    assert set(PadCrop(net, multiple=4).state_dict()) == {f"net.{key}" for key in net.state_dict()}


# --- ResNet generator -----------------------------------------------------------------


@pytest.mark.parametrize(("n_blocks", "expected"), [(9, 11.38e6), (6, 7.84e6)])
def test_resnet_param_count(n_blocks, expected):
    net = on_meta(ResnetGenerator, n_blocks=n_blocks)
    assert n_params(net) == pytest.approx(expected, rel=0.005)


def _junyanz_resnet_keys(n_blocks: int, second_conv: int) -> set[str]:
    """State-dict keys of a junyanz resnet generator with InstanceNorm (no norm keys)."""
    blocks = [f"model.{10 + i}.conv_block.{j}" for i in range(n_blocks) for j in (1, second_conv)]
    up = 10 + n_blocks
    layers = ["model.1", "model.4", "model.7", *blocks, f"model.{up}", f"model.{up + 3}", f"model.{up + 7}"]
    return {f"{layer}.{param}" for layer in layers for param in ("weight", "bias")}


def test_resnet9_junyanz_keys():
    keys = set(on_meta(ResnetGenerator, n_blocks=9).state_dict())
    assert {"model.1.weight", "model.10.conv_block.5.weight", "model.26.weight"} <= keys
    assert keys == _junyanz_resnet_keys(9, second_conv=5)


def test_resnet6_junyanz_keys():
    keys = set(on_meta(ResnetGenerator, n_blocks=6).state_dict())
    assert "model.23.weight" in keys
    assert keys == _junyanz_resnet_keys(6, second_conv=5)


def test_resnet_dropout_shifts_second_conv():
    net = on_meta(ResnetGenerator, n_blocks=6, dropout=True)
    assert set(net.state_dict()) == _junyanz_resnet_keys(6, second_conv=6)
    assert isinstance(net.model[10].conv_block[4], nn.Dropout)


def test_resnet_bias_follows_norm():
    batch = on_meta(ResnetGenerator, n_blocks=1, norm="batch")
    assert batch.model[1].bias is None and batch.model[10].conv_block[5].bias is None
    assert isinstance(batch.model[2], nn.BatchNorm2d)
    assert batch.model[-2].bias is not None  # the head conv always has a bias
    instance = on_meta(ResnetGenerator, n_blocks=1)
    assert instance.model[1].bias is not None and isinstance(instance.model[2], nn.InstanceNorm2d)


def test_resnet_padding_option():
    zero = ResnetGenerator(ngf=8, n_blocks=1, padding="zero")
    assert isinstance(zero.model[10].conv_block[0], nn.ZeroPad2d)
    assert set(zero.state_dict()) == set(ResnetGenerator(ngf=8, n_blocks=1).state_dict())
    with pytest.raises(ValueError, match=r"'circular'.*reflect, zero"):
        ResnetGenerator(ngf=8, n_blocks=1, padding="circular")


def test_resnet_shape_and_multiple():
    net = ResnetGenerator(in_channels=1, out_channels=2, ngf=8, n_blocks=2)
    assert net.size_multiple == ResnetGenerator.size_multiple == 4
    assert net(torch.randn(2, 1, 16, 24)).shape == (2, 2, 16, 24)


def test_resnet_block_is_residual():
    net = ResnetGenerator(ngf=8, n_blocks=1)
    block = net.model[10]
    for conv in (block.conv_block[1], block.conv_block[5]):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    x = torch.randn(1, 32, 6, 6)
    assert torch.equal(block(x), x)


# --- upsampling kinds and the global residual path -------------------------------------------


@pytest.mark.parametrize("kind", ["nearest", "bilinear"])
def test_resize_conv_keeps_the_reference_indices_and_doubles_the_size(kind):
    net = on_meta(ResnetGenerator, n_blocks=6, upsample=kind)
    reference = _junyanz_resnet_keys(6, second_conv=5)
    moved = {key.replace("model.16.", "model.16.conv.").replace("model.19.", "model.19.conv.") for key in reference}
    assert set(net.state_dict()) == moved
    layer = upsampling(kind, 8, 4, kernel_size=3, bias=True)
    assert isinstance(layer, ResizeConv) and layer(torch.randn(1, 8, 5, 7)).shape == (1, 4, 10, 14)
    unet = UnetGenerator(num_downs=5, ngf=4, upsample=kind)
    transposed = [name for name, m in unet.named_modules() if isinstance(m, nn.ConvTranspose2d)]
    assert transposed == ["model.model.1.model.3.model.3.model.3.model.3"]  # the innermost level only
    assert sum(isinstance(m, ResizeConv) for m in unet.modules()) == 4
    assert unet(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_a_resize_conv_u_net_gives_its_innermost_norm_a_map_that_varies():
    """Resizing the innermost 1x1 code would give a constant map: zero variance at batch 1 for its batch norm."""
    unet = UnetGenerator(num_downs=5, ngf=4, upsample="nearest")
    innermost = next(m for m in unet.modules() if isinstance(m, UnetSkipConnectionBlock)
                     and not any(isinstance(c, UnetSkipConnectionBlock) for c in m.model))
    seen = []
    innermost.model[-1].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    unet(torch.randn(1, 3, 32, 32))
    assert seen[0].shape[-2:] == (2, 2) and (seen[0].flatten(2).var(dim=2) > 0).all()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("size", [(1, 1), (2, 9), (7, 4), (16, 16)])
def test_a_folded_resize_conv_computes_what_it_folds(bias, size):
    torch.manual_seed(0)
    layer = ResizeConv(5, 6, "nearest", bias).eval()
    nn.init.normal_(layer.conv.weight)
    if bias:
        nn.init.normal_(layer.conv.bias)
    fold = FoldedResizeConv(layer)
    assert fold.weight.shape == (24, 5, 2, 2)  # a 2x2 kernel for each of the four output phases
    images = torch.randn(2, 5, *size)
    unfolded = layer.conv(torch.nn.functional.interpolate(images, scale_factor=2.0, mode="nearest"))
    assert torch.allclose(fold(images), unfolded, atol=1e-5)
    assert torch.allclose(fold(images.contiguous(memory_format=torch.channels_last)), unfolded, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kernel, padding", [(7, 0), (7, 3), ((3, 5), (1, 2)), (2, 0)])
@pytest.mark.parametrize("size", [(8, 8), (9, 13), (20, 7)])
def test_a_convolution_by_kernel_rows_computes_the_convolution(bias, kernel, padding, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 3, kernel, padding=padding, bias=bias).eval()
    nn.init.normal_(conv.weight)
    by_rows = KernelRowsConv(conv)
    rows, columns = conv.kernel_size
    assert by_rows.weight.shape == (3 * rows, 6, 1, columns)  # one 1xk kernel per kernel row and output
    images = torch.randn(2, 6, *size)
    with torch.no_grad():
        assert torch.allclose(by_rows(images), conv(images), atol=1e-4)
        assert torch.allclose(by_rows(images.contiguous(memory_format=torch.channels_last)), conv(images), atol=1e-4)


@pytest.mark.parametrize("conv", [
    nn.Conv2d(6, 3, 3, stride=2), nn.Conv2d(6, 3, 3, dilation=2), nn.Conv2d(6, 3, 3, groups=3),
    nn.Conv2d(6, 3, 3, padding=1, padding_mode="reflect"), nn.Conv2d(6, 3, 3, padding="same"), nn.Conv2d(6, 8, 3),
])
def test_only_narrow_stride_1_zero_padded_convolutions_go_by_kernel_rows(conv):
    with pytest.raises(ValueError, match="split by kernel rows"):
        KernelRowsConv(conv)
    network = nn.Sequential(conv)
    assert exported_form(network) is network


def test_the_exported_form_copies_a_network_with_layers_to_rewrite_and_leaves_it_as_it_was():
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=8, n_blocks=1, upsample="nearest").eval()
    weights = {name: tensor.clone() for name, tensor in net.state_dict().items()}
    rewritten = exported_form(net)
    assert rewritten is not net
    kinds = [type(m) for m in rewritten.modules() if isinstance(m, (ResizeConv, FoldedResizeConv, KernelRowsConv))]
    assert kinds == [FoldedResizeConv, FoldedResizeConv, KernelRowsConv]  # two decoder layers and the RGB head
    assert sum(isinstance(m, ResizeConv) for m in net.modules()) == 2
    assert all(torch.equal(net.state_dict()[name], tensor) for name, tensor in weights.items())
    images = torch.rand(1, 3, 20, 28) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(rewritten(images), net(images), atol=1e-5)
    unet = UnetGenerator(num_downs=5, ngf=4, upsample="nearest").eval()
    assert sum(isinstance(m, FoldedResizeConv) for m in exported_form(unet).modules()) == 4
    for kind in ("bilinear", "transpose"):  # only the head to rewrite
        other = exported_form(ResnetGenerator(ngf=8, n_blocks=1, upsample=kind))
        assert [type(m) for m in other.modules() if isinstance(m, (FoldedResizeConv, KernelRowsConv))] == [KernelRowsConv]
    plain = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())
    assert exported_form(plain) is plain  # nothing to rewrite: the network itself
    with pytest.raises(ValueError, match="only nearest"):
        FoldedResizeConv(ResizeConv(4, 4, "bilinear", True))


def test_transposed_upsampling_is_the_reference_layer():
    layer = upsampling("transpose", 8, 4, kernel_size=3, bias=False)
    assert isinstance(layer, nn.ConvTranspose2d) and layer.output_padding == (1, 1) and layer.bias is None
    assert upsampling("transpose", 8, 4, kernel_size=4, bias=True).output_padding == (0, 0)
    with pytest.raises(ValueError, match=r"'pixelshuffle'.*transpose, nearest, bilinear"):
        upsampling("pixelshuffle", 8, 4, kernel_size=3, bias=True)


def test_resize_conv_spreads_a_constant_evenly_where_a_transposed_conv_makes_a_checkerboard():
    """A constant input gives a constant output away from the borders only with resize-then-convolve."""
    torch.manual_seed(0)
    constant = torch.ones(1, 4, 8, 8)
    for kind, periodic in (("transpose", True), ("nearest", False), ("bilinear", False)):
        layer = upsampling(kind, 4, 1, kernel_size=3, bias=False)
        nn.init.uniform_(layer.weight if kind == "transpose" else layer.conv.weight, 0.5, 1.0)
        with torch.no_grad():
            inner = layer(constant)[0, 0, 2:-2, 2:-2]
        assert (inner.std() > 0.1) == periodic, kind


def test_a_residual_generator_starts_as_the_identity_and_learns_a_change():
    torch.manual_seed(0)
    net = build_generator("resnet_6blocks", ngf=8, upsample="nearest", residual=True)
    init_weights(net)  # the head stays at zero
    assert torch.count_nonzero(net.model[-1].weight) == 0 and not isinstance(net.model[-1], nn.Tanh)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    x[0, 0, 0, :4] = torch.tensor([-1.0, 1.0, -1.0, 1.0])  # 8-bit black and white
    assert (net(x) - x).abs().max() <= RESIDUAL_MARGIN
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        loss = (net(x) - 0.5).abs().mean()
        loss.backward()
        optimizer.step()
    assert (net(x) - 0.5).abs().mean() < (x - 0.5).abs().mean()
    assert net(x).abs().max() <= 1  # bounded like a tanh head


def test_the_residual_path_is_finite_at_black_and_white_in_every_precision():
    inputs = torch.tensor([-1.0, 1.0, 0.0]).view(1, 3, 1, 1).requires_grad_()
    change = torch.zeros(1, 3, 1, 1, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = residual_output(inputs, change)
    out.sum().backward()
    assert out.dtype == torch.float32 and torch.isfinite(inputs.grad).all() and torch.isfinite(change.grad).all()
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 1.0, 0.0]), atol=RESIDUAL_MARGIN)


def test_a_residual_path_needs_matching_channels_and_a_resnet():
    with pytest.raises(ValueError, match="as many input as output channels, got 1 and 3"):
        ResnetGenerator(in_channels=1, ngf=4, n_blocks=1, residual=True)
    with pytest.raises(ValueError, match="residual path is a ResNet option"):
        build_generator("unet_128", ngf=4, residual=True)


def test_build_generator_defaults_to_the_reference_layout():
    assert isinstance(build_generator("resnet_6blocks", ngf=4).model[16], nn.ConvTranspose2d)
    assert isinstance(build_generator("resnet_6blocks", ngf=4).model[-1], nn.Tanh)
    assert isinstance(build_generator("unet_128", ngf=4).model.model[3], nn.ConvTranspose2d)


def test_init_weights_keeps_layers_that_start_at_zero():
    net = nn.Sequential(nn.Conv2d(4, 4, 3), starts_at_zero(nn.Conv2d(4, 4, 3)))
    nn.init.ones_(net[1].weight)
    init_weights(net)
    assert torch.count_nonzero(net[1].weight) == 0 and torch.count_nonzero(net[1].bias) == 0
    assert net[0].weight.std() > 0


# --- U-Net generator ------------------------------------------------------------------


@pytest.mark.parametrize(("num_downs", "expected"), [(8, 54.41e6), (7, 41.83e6)])
def test_unet_param_count(num_downs, expected):
    net = on_meta(UnetGenerator, num_downs=num_downs)
    assert n_params(net) == pytest.approx(expected, rel=0.005)


def test_unet_junyanz_layout():
    net = on_meta(UnetGenerator, num_downs=8)
    keys = set(net.state_dict())
    outer = net.model.model
    assert isinstance(outer[0], nn.Conv2d) and outer[0].in_channels == 3 and outer[0].out_channels == 64
    assert isinstance(outer[3], nn.ConvTranspose2d) and outer[3].in_channels == 128
    assert isinstance(outer[4], nn.Tanh)
    assert {"model.model.0.weight", "model.model.3.weight", "model.model.3.bias"} <= keys
    assert "model.model.0.bias" not in keys  # BatchNorm: no conv bias
    second = "model.model.1.model"
    assert {f"{second}.1.weight", f"{second}.2.running_mean", f"{second}.5.weight", f"{second}.6.weight"} <= keys
    # innermost block: [LReLU, downconv, ReLU, upconv, upnorm]
    innermost = "model.model.1.model" + ".3.model" * 6
    assert {f"{innermost}.1.weight", f"{innermost}.3.weight", f"{innermost}.4.running_var"} <= keys
    assert not any(key.startswith(f"{innermost}.2.") for key in keys)


def test_unet_channels_and_dropout_blocks():
    net = on_meta(UnetGenerator, num_downs=8)
    down_convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [conv.out_channels for conv in down_convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3
    assert sum(isinstance(m, nn.Dropout) for m in on_meta(UnetGenerator, num_downs=7).modules()) == 2
    assert not any(isinstance(m, nn.Dropout) for m in on_meta(UnetGenerator, dropout=False).modules())


def test_unet_instance_norm_has_bias():
    net = on_meta(UnetGenerator, num_downs=5, norm="instance")
    assert all(m.bias is not None for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_unet_shape_and_multiple():
    net = UnetGenerator(in_channels=6, out_channels=1, num_downs=5, ngf=4)
    assert net.size_multiple == 32
    assert UnetGenerator(num_downs=7, ngf=4).size_multiple == 128
    assert net(torch.randn(2, 6, 32, 64)).shape == (2, 1, 32, 64)


def test_unet_skip_carries_activated_input():
    """As junyanz (in-place LeakyReLU), the skip half is LReLU(x), not x."""
    net = UnetGenerator(num_downs=5, ngf=4).eval()
    block = net.model.model[1]
    x = torch.randn(1, 4, 16, 16)
    out = block(x)
    assert out.shape == (1, 8, 16, 16)
    assert torch.equal(out[:, :4], nn.functional.leaky_relu(x, 0.2))


def test_unet_rejects_too_shallow():
    with pytest.raises(ValueError, match="num_downs"):
        UnetGenerator(num_downs=4)


# --- PatchGAN critic ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [(256, 256, (30, 30)), (128, 128, (14, 14)), (64, 64, (6, 6)), (64, 128, (6, 14)), (24, 24, (1, 1))],
)
def test_patch_output_size(height, width, expected):
    critic = PatchDiscriminator(in_channels=3, ndf=4)
    out = critic(torch.randn(2, 3, height, width))
    assert isinstance(out, CriticOutput) and out.code is None
    assert out.score.shape == (2, 1, *expected)


def test_patch_rejects_too_small_input():
    critic = PatchDiscriminator(in_channels=3, ndf=4)
    assert critic.min_size == 24
    with pytest.raises(ValueError, match="at least 24x24"):
        critic(torch.randn(1, 3, 23, 64))


@pytest.mark.parametrize(("in_channels", "norm", "expected"), [(3, "instance", 2.765e6), (6, "batch", 2.769e6)])
def test_patch_param_count(in_channels, norm, expected):
    critic = on_meta(PatchDiscriminator, in_channels=in_channels, norm=norm)
    assert n_params(critic) == pytest.approx(expected, rel=0.001)


def test_patch_junyanz_layout():
    keys = set(on_meta(PatchDiscriminator, in_channels=6).state_dict())
    weights = {key for key in keys if key.endswith(".weight")}
    convs = {f"model.{i}.weight" for i in (0, 2, 5, 8, 11)}
    norms = {f"model.{i}.weight" for i in (3, 6, 9)}
    assert weights == convs | norms
    assert {"model.0.bias", "model.11.bias"} <= keys and "model.2.bias" not in keys


def test_patch_n_layers():
    critic = PatchDiscriminator(in_channels=3, ndf=4, n_layers=2, norm="none")
    assert critic(torch.randn(1, 3, 64, 64)).score.shape == (1, 1, 14, 14)
    convs = [m for m in critic.modules() if isinstance(m, nn.Conv2d)]
    assert [conv.out_channels for conv in convs] == [4, 8, 16, 1]
    assert all(conv.bias is not None for conv in convs)  # no norm: every conv needs its bias
    with pytest.raises(ValueError, match="n_layers"):
        PatchDiscriminator(n_layers=0)


# --- factories ------------------------------------------------------------------------


def test_build_critic_patch():
    critic = build_critic("patch", in_channels=6, ndf=8, norm="instance", n_layers=2)
    assert isinstance(critic, PatchDiscriminator)
    assert critic.model[0].in_channels == 6 and critic.model[0].out_channels == 8
    assert isinstance(critic.model[3], nn.InstanceNorm2d)
    assert critic.min_size == 12


def test_build_critic_energy_imports_lazily(monkeypatch):
    calls = []

    class FakeEnergyCritic(nn.Module):
        def __init__(self, in_channels, ndf=64, **kwargs):
            super().__init__()
            calls.append((in_channels, ndf, kwargs))

    fake = types.ModuleType("translate.nets.energy")
    fake.EnergyCritic = FakeEnergyCritic
    monkeypatch.setitem(sys.modules, "translate.nets.energy", fake)
    critic = build_critic("energy", in_channels=3, ndf=16, norm="batch", code_channels=7)
    assert isinstance(critic, FakeEnergyCritic)
    assert calls == [(3, 16, {"code_channels": 7})]


def test_build_critic_unknown_kind():
    with pytest.raises(ValueError, match=r"'hinge'.*patch, energy"):
        build_critic("hinge", in_channels=3)


@pytest.mark.parametrize(
    ("arch", "cls", "depth", "norm_type", "has_dropout"),
    [
        ("resnet_9blocks", ResnetGenerator, 9, nn.InstanceNorm2d, False),
        ("resnet_6blocks", ResnetGenerator, 6, nn.InstanceNorm2d, False),
        ("unet_256", UnetGenerator, 8, nn.BatchNorm2d, True),
        ("unet_128", UnetGenerator, 7, nn.BatchNorm2d, True),
    ],
)
def test_build_generator_defaults(arch, cls, depth, norm_type, has_dropout):
    net = build_generator(arch, ngf=4)
    assert type(net) is cls
    if cls is ResnetGenerator:
        assert sum(type(m).__name__ == "ResnetBlock" for m in net.modules()) == depth
    else:
        assert net.size_multiple == 2**depth
    assert any(isinstance(m, norm_type) for m in net.modules())
    assert any(isinstance(m, nn.Dropout) for m in net.modules()) == has_dropout


def test_build_generator_overrides():
    net = build_generator("unet_128", in_channels=1, out_channels=2, ngf=4, norm="instance", dropout=False)
    assert net.model.model[0].in_channels == 1 and net.model.model[3].out_channels == 2
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in net.modules())
    resnet = build_generator("resnet_6blocks", ngf=4, norm="batch", dropout=True)
    assert any(isinstance(m, nn.BatchNorm2d) for m in resnet.modules())
    assert any(isinstance(m, nn.Dropout) for m in resnet.modules())


def test_build_generator_unknown_arch():
    with pytest.raises(ValueError, match=r"'resnet_12blocks'.*unet_128"):
        build_generator("resnet_12blocks")



@pytest.mark.parametrize("build,message", [
    (lambda: StarGenerator(0), "StarGenerator 'c_dim' must be an integer >= 1, got 0"),
    (lambda: DomainClassifier(2, n_layers=True), "DomainClassifier 'n_layers' must be an integer >= 1, got True"),
    (lambda: Encoder(dim=8, n_res=-1), "Encoder 'n_res' must be an integer >= 0, got -1"),
    (lambda: Decoder(dim=4, n_up=3), "Decoder 'dim' must be an integer >= 8, got 4"),
    (lambda: EnergyCritic(3, patch=2.5), "energy critic 'patch' must be an integer >= 1, got 2.5"),
    (lambda: PluginRegistry().model("unit")(None, image_size=32, n_shared=-2),
     "model 'unit' option 'n_shared' must be an integer >= 0, got -2"),
    (lambda: PluginRegistry().model("stargan")(None, image_size=32, domains="a,b", conv_dim=0),
     "model 'stargan' option 'conv_dim' must be an integer >= 1, got 0"),
])
def test_sizes_and_counts_must_be_integers_in_range(build, message):
    with pytest.raises(OptionError) as raised:
        build()
    assert str(raised.value) == message
