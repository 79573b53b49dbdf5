"""Networks: generators, critics, and the helpers they share.

Generators are bare fully convolutional nets; wrap one in :class:`PadCrop` with its
``size_multiple`` to accept any input size. :func:`build_generator` and
:func:`build_critic` build them by name.
"""

from __future__ import annotations

from torch import nn

from translate.nets.layers import PadCrop, crop_to, init_weights, norm_layer, pad_to_multiple
from translate.nets.patchgan import PatchDiscriminator
from translate.nets.resnet import ResnetGenerator
from translate.nets.unet import UnetGenerator

#: Generator architectures accepted by :func:`build_generator` (any ``unet_<2^k>``, k >= 5, too).
GENERATOR_ARCHS = ("resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128")

#: Critic kinds accepted by :func:`build_critic` (``Objective.critic`` values).
CRITIC_KINDS = ("patch", "energy")


def build_generator(
    arch: str,
    in_channels: int = 3,
    out_channels: int = 3,
    ngf: int = 64,
    norm: str | None = None,
    dropout: bool | None = None,
    upsample: str = "transpose",
    residual: bool = False,
) -> nn.Module:
    """A bare (not :class:`PadCrop`-wrapped) generator by junyanz architecture name.

    The defaults build the reference's layout, into which its ``latest_net_G.pth`` files load.

    :param arch: ``"resnet_9blocks"``, ``"resnet_6blocks"``, or ``"unet_<size>"`` for a
        power-of-two size of at least 32 (``unet_256`` and ``unet_128`` as the reference;
        ``unet_64`` has a 1×1 bottleneck on 64-pixel crops).
    :param norm: defaults to the architecture's reference setting: ``"instance"`` for
        ResNets (CycleGAN), ``"batch"`` for U-Nets (pix2pix).
    :param dropout: defaults to off for ResNets (CycleGAN), on for U-Nets (pix2pix).
    :param upsample: ``"transpose"`` (the reference), ``"nearest"`` or ``"bilinear"``
        (resize-then-convolve, :class:`~translate.nets.layers.ResizeConv`).
    :param residual: a global residual path (ResNets only; see :class:`ResnetGenerator`).
    :raises ValueError: for an unknown ``arch`` or ``upsample``, or ``residual`` with a U-Net.
    """
    if arch in ("resnet_9blocks", "resnet_6blocks"):
        return ResnetGenerator(
            in_channels=in_channels,
            out_channels=out_channels,
            ngf=ngf,
            n_blocks=9 if arch == "resnet_9blocks" else 6,
            norm="instance" if norm is None else norm,
            dropout=False if dropout is None else dropout,
            upsample=upsample,
            residual=residual,
        )
    size = int(arch[5:]) if arch.startswith("unet_") and arch[5:].isdigit() else 0
    if size >= 32 and size & (size - 1) == 0:
        if residual:
            raise ValueError(f"a global residual path is a ResNet option; {arch!r} is a U-Net, whose skips "
                             "already carry the input")
        return UnetGenerator(
            in_channels=in_channels,
            out_channels=out_channels,
            num_downs=size.bit_length() - 1,
            ngf=ngf,
            norm="batch" if norm is None else norm,
            dropout=True if dropout is None else dropout,
            upsample=upsample,
        )
    raise ValueError(
        f"unknown generator architecture {arch!r}; valid: {', '.join(GENERATOR_ARCHS)} or unet_<power of two>"
    )


def build_critic(kind: str, in_channels: int, ndf: int = 64, norm: str = "batch", **kwargs) -> nn.Module:
    """The critic an objective asks for (its ``Objective.critic``).

    :param kind: ``"patch"`` -> :class:`PatchDiscriminator` (``norm`` and ``kwargs`` passed
        on); ``"energy"`` -> ``translate.nets.energy.EnergyCritic`` (``kwargs`` passed on,
        ``norm`` not used).
    :raises ValueError: for an unknown ``kind``.
    """
    if kind == "patch":
        return PatchDiscriminator(in_channels, ndf=ndf, norm=norm, **kwargs)
    if kind == "energy":
        from translate.nets.energy import EnergyCritic

        return EnergyCritic(in_channels, ndf=ndf, **kwargs)
    raise ValueError(f"unknown critic kind {kind!r}; valid kinds: {', '.join(CRITIC_KINDS)}")


__all__ = [
    "CRITIC_KINDS",
    "GENERATOR_ARCHS",
    "PadCrop",
    "PatchDiscriminator",
    "ResnetGenerator",
    "UnetGenerator",
    "build_critic",
    "build_generator",
    "crop_to",
    "init_weights",
    "norm_layer",
    "pad_to_multiple",
]
