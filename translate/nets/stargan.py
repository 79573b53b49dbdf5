"""StarGAN networks: one label-conditioned generator and a size-agnostic domain classifier.

:class:`StarGenerator` follows ``yunjey/stargan`` (``model.py`` ``Generator``): the
target label vector ``c`` (``c_dim`` values) is tiled into ``c_dim`` constant planes
and concatenated to the image, then

* 7×7 conv (``3 + c_dim`` → ``conv_dim``), IN, ReLU;
* 2 × [4×4 conv stride 2], doubling the width (64 → 128 → 256), IN, ReLU;
* ``repeat_num`` residual blocks [3×3 conv, IN, ReLU, 3×3 conv, IN] + identity;
* 2 × [4×4 transposed conv stride 2], halving the width, IN, ReLU;
* 7×7 conv to 3 channels, tanh.

Every conv is bias-free and zero-padded: the authors note that reflection padding
breaks the constant label planes. (IN right after the first conv removes whatever is
spatially constant, so the label reaches the rest of the net only through the zero-padded
borders of that conv and the shift they cause in the instance mean; with reflection
padding it would vanish entirely.) IN is affine. The layers sit in one list
``main`` with the reference indices (stem ``main.0``/``main.1``,
down ``main.3``/``main.6``, blocks ``main.9`` … each ``main.k.main.{0,1,3,4}``, up
and head after them), so released G weights map key for key. Unlike the reference,
IN keeps **no running statistics**: the reference tests in train mode (per-instance
statistics), and ``.eval()`` here gives the same outputs as training. Drop the
``running_mean``/``running_var``/``num_batches_tracked`` entries when porting.

Options (:class:`StarGenerator` keeps the reference's network by default; the model's defaults
switch all four on, see :mod:`translate.models.stargan`):

* ``condition="norm"`` makes every IN a :class:`LabelNorm`: after normalising, each channel is
  scaled and shifted by a linear function of the label (conditional instance norm), so the label
  reaches every layer instead of only the first conv's borders. The label planes at the input stay.
* ``residual=True``: the head conv starts at zero and the output is the input changed by it
  (:func:`~translate.nets.layers.residual_output`), so the untrained generator is the identity.
* ``upsample="nearest"`` (or ``"bilinear"``): resize, then a 3×3 conv, instead of the transposed convs.
* ``colour_matrix=True`` (needs ``residual``): the residual path starts from the input under a learned
  colour matrix per label (:class:`LabelColourMatrix`) instead of the input itself.

Every option keeps the ``main.N`` indices, so a reference state dict loads into the reference
layout and the new layouts differ only by added keys (``.label.weight``) or one more level
(``main.15.conv.weight``). ``main`` is an ``nn.ModuleList`` run in order by the generator (its keys
are those of the reference's ``nn.Sequential``), because the label norms take the labels too.

H and W must be multiples of 4 inside the net; :meth:`StarGenerator.forward` reflect-pads
the image to a multiple of :attr:`StarGenerator.size_multiple` (and to at least
:attr:`StarGenerator.min_size`), builds the label planes
at the padded size (they are constant, so padding them is meaningless), and crops back.

:class:`DomainClassifier` is the reference critic's trunk (``n_layers`` × [4×4 conv
stride 2, LeakyReLU(0.01)], widths ``conv_dim · 2^i``, no normalisation) with a
size-agnostic head: a 1×1 conv to ``c_dim`` logits averaged over the whole map
(global average pooling). The reference's ``cls`` head is a conv whose kernel equals
``image_size / 64``, so a critic built for 128 px fails on 256 px; this head works
at any size. Inputs are reflect-padded to a multiple of ``2 ** n_layers``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from translate.nets.layers import (
    crop_to,
    init_weights,
    pad_to_multiple,
    residual_output,
    starts_at_zero,
    upsampling,
)
from translate.options import check_counts


#: How :class:`StarGenerator` reads its label: ``"input"`` only as constant planes concatenated to
#: the image (the reference); ``"norm"`` also through a per-label scale and shift after every
#: instance norm (:class:`LabelNorm`), which normalisation cannot remove.
CONDITIONS = ("input", "norm")
#: Standard deviation of the initial label weights of :class:`LabelNorm`: large enough that each label
#: starts with its own features (the residual head starts at zero, so the output is still the identity),
#: not the 0.02 of every other layer, whose labels the head could not tell apart for hundreds of steps.
LABEL_INIT_STD = 0.5


#: How much faster :class:`LabelColourMatrix` moves than its raw weights: the matrix is this gain times
#: its parameters, so Adam (whose steps have the size of the learning rate, whatever the gradient's
#: scale) moves it 30 times as far per step as any other weight. A grading such as sepia moves the
#: matrix by about 0.6; at lr 2e-4 an ungained weight moves at most 0.03 in the 160 steps a domain
#: gets of 480, so the gain is what lets a global recolouring appear within that budget.
COLOUR_MATRIX_GAIN = 30.0


class LabelColourMatrix(nn.Module):
    """A learned affine colour transform per label: ``x + A(c) x + b(c)`` per pixel.

    ``[A(c) | b(c)]`` (3×4) is :data:`COLOUR_MATRIX_GAIN` · ``Σ_k c_k W_k``, one ``W_k`` per label
    (:attr:`weight`, ``(c_dim, 12)``), zero at the start, so the untrained transform is the identity.
    It recolours the input of the generator's residual path: the convolutional body, whose instance
    norms remove each image's own contrast and colour amplitude, need not also learn to scale the
    input's colours (a desaturation such as sepia is a rank-one colour matrix, which the body learned
    only slowly even when trained on the truth). Computed with element-wise products, so autocast keeps
    it in the input's precision.
    """

    def __init__(self, c_dim: int, gain: float = COLOUR_MATRIX_GAIN) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(c_dim, 12))
        self.gain = gain

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        weights = self.weight.to(x.dtype)
        affine = (c.to(x.dtype).unsqueeze(2) * weights.unsqueeze(0)).sum(dim=1).mul(self.gain).view(-1, 3, 4)
        mixed = (affine[:, :, :3].unsqueeze(-1).unsqueeze(-1) * x.unsqueeze(1)).sum(dim=2)
        return x + mixed + affine[:, :, 3].unsqueeze(-1).unsqueeze(-1)


class KeepColours(nn.Module):
    """The residual path's input unchanged (a generator without :class:`LabelColourMatrix`; no parameters)."""

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return x


class LabelNorm(nn.Module):
    """Affine instance norm followed by a scale and shift that depend on the label ``c``.

    ``IN(x) · (1 + s(c)) + t(c)`` per channel, with ``[s, t]`` a bias-free linear map of
    ``c`` (:attr:`label`: ``c_dim`` → ``2 · channels``). With one-hot labels this is a learned
    scale and shift per domain (conditional instance norm). A label concatenated to the input
    as constant planes is removed by the next instance norm (it only shifts the instance mean);
    this conditioning acts after the norm, so it reaches every layer. The IN's ``weight`` and
    ``bias`` have a plain affine IN's names.
    """

    def __init__(self, channels: int, c_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.reads_labels = True  # generate() passes the labels to layers with this attribute
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.label = nn.Linear(c_dim, 2 * channels, bias=False)
        self.reset_label()

    def reset_label(self) -> None:
        """Draw the label weights from N(0, :data:`LABEL_INIT_STD`)."""
        nn.init.normal_(self.label.weight, mean=0.0, std=LABEL_INIT_STD)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        normed = F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        scale, shift = self.label(c.to(x.dtype)).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return normed * (1.0 + scale) + shift


def _norm(channels: int, c_dim: int, condition: str) -> nn.Module:
    if condition == "norm":
        return LabelNorm(channels, c_dim)
    return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)


class StarResidualBlock(nn.Module):
    """``x + main(x)``: [3×3 conv, IN, ReLU, 3×3 conv, IN] at constant width, zero padding.

    With ``condition="norm"`` both norms are :class:`LabelNorm`, which read the labels ``c``
    (the other layers ignore them). ``main`` is a ``ModuleList`` run in order: the keys are a
    ``Sequential``'s, and the layers can take different arguments.
    """

    def __init__(self, channels: int, c_dim: int = 0, condition: str = "input") -> None:
        super().__init__()
        self.reads_labels = True  # generate() passes the labels to layers with this attribute
        self.main = nn.ModuleList([
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _norm(channels, c_dim, condition),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1, bias=False),
            _norm(channels, c_dim, condition),
        ])

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        y = x
        for layer in self.main:  # unrolled by TorchScript: hasattr is decided per layer
            if hasattr(layer, "reads_labels"):
                y = layer(y, c)
            else:
                y = layer(y)
        return x + y


def with_label_planes(images: Tensor, labels: Tensor) -> Tensor:
    """``images`` ``(N, C, H, W)`` with one constant plane per entry of ``labels`` ``(N, c)`` after them
    (the generator's input, and a conditional critic's)."""
    labels = labels.to(images.dtype)
    planes = labels.view(labels.shape[0], labels.shape[1], 1, 1).expand(-1, -1, images.shape[2], images.shape[3])
    return torch.cat([images, planes], dim=1)


class _LabelledLayers(nn.Module):
    """The generator's computation over ``self.main``, ``self.residual`` and ``self.colours``, shared by
    :class:`StarGenerator` and :class:`LabelledGenerator` (a method, so TorchScript compiles it)."""

    def generate(self, x: Tensor, c: Tensor) -> Tensor:
        """``G(x, c)`` for ``x`` whose H and W are multiples of 4: label planes concatenated, the layers, the
        residual path (from the input recoloured by ``self.colours``)."""
        c = c.to(x.dtype)
        out = with_label_planes(x, c)
        for layer in self.main:  # unrolled by TorchScript: hasattr is decided per layer
            if hasattr(layer, "reads_labels"):
                out = layer(out, c)
            else:
                out = layer(out)
        return residual_output(self.colours(x, c), out) if self.residual else out


class StarGenerator(_LabelledLayers):
    """StarGAN's generator: ``G(x, c)`` for images ``x`` (N, 3, H, W) and labels ``c`` (N, c_dim).

    Any H and W work (padded to :attr:`size_multiple` and :attr:`min_size`, and cropped back);
    the output has the input's shape and lies in [-1, 1]. With the defaults of ``upsample``,
    ``residual`` and ``condition`` this is the reference's network, key for key.

    :param c_dim: length of the label vector (number of domains or attributes).
    :param conv_dim: width of the first layer (64 in the reference); the residual body runs at ``4 · conv_dim``.
    :param repeat_num: number of residual blocks (6 in the reference).
    :param upsample: ``"transpose"`` (the reference's 4×4 stride-2 transposed convs), ``"nearest"`` or
        ``"bilinear"`` (resize, then a 3×3 conv: no checkerboard pattern); see
        :func:`~translate.nets.layers.upsampling`. The indices stay (``main.15.conv.weight``).
    :param residual: a global residual path: the output is the input changed by the head
        (:func:`~translate.nets.layers.residual_output`), whose conv starts at zero, so the
        untrained generator is the identity for every label. The head's tanh goes (it has no
        parameters, so no key moves).
    :param condition: one of :data:`CONDITIONS`: ``"norm"`` makes every IN a :class:`LabelNorm`
        (its ``label`` weights are new keys; the others keep their names).
    :param colour_matrix: with ``residual``, the residual path starts from the input recoloured by a
        learned matrix per label (:class:`LabelColourMatrix`, the new key ``colours.weight``).
    """

    size_multiple = 4
    #: Smallest H and W: instance norm in the residual body needs more than one pixel (2×2 here).
    min_size = 8

    def __init__(self, c_dim: int, conv_dim: int = 64, repeat_num: int = 6, *, upsample: str = "transpose",
                 residual: bool = False, condition: str = "input", colour_matrix: bool = False) -> None:
        super().__init__()
        check_counts("StarGenerator", c_dim=(c_dim, 1), conv_dim=(conv_dim, 1), repeat_num=(repeat_num, 0))
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition {condition!r}; valid kinds: {', '.join(CONDITIONS)}")
        if colour_matrix and not residual:
            raise ValueError("a colour matrix recolours the residual path's input: it needs residual=True")
        self.c_dim, self.residual = c_dim, residual
        self.colours = LabelColourMatrix(c_dim) if colour_matrix else KeepColours()
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
            _norm(conv_dim, c_dim, condition),
            nn.ReLU(inplace=True),
        ]
        width = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(width, width * 2, kernel_size=4, stride=2, padding=1, bias=False),
                _norm(width * 2, c_dim, condition),
                nn.ReLU(inplace=True),
            ]
            width *= 2
        layers += [StarResidualBlock(width, c_dim, condition) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                upsampling(upsample, width, width // 2, kernel_size=4, bias=False),
                _norm(width // 2, c_dim, condition),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        head = nn.Conv2d(width, 3, kernel_size=7, stride=1, padding=3, bias=False)
        layers += [starts_at_zero(head)] if residual else [head, nn.Tanh()]
        self.main = nn.ModuleList(layers)  # a Sequential's keys; run by generate(), as layers take labels
        init_weights(self)
        for layer in self.modules():
            if isinstance(layer, LabelNorm):
                layer.reset_label()  # init_weights gave it the 0.02 of the convolutions

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        if c.dim() != 2 or c.shape[1] != self.c_dim or c.shape[0] != x.shape[0]:
            raise ValueError(
                f"StarGenerator expects labels of shape ({x.shape[0]}, {self.c_dim}), got {tuple(c.shape)}"
            )
        padded, size = pad_to_multiple(x, self.size_multiple, mode="reflect", min_size=self.min_size)
        return crop_to(self.generate(padded, c), size)


class LabelledGenerator(_LabelledLayers):
    """A :class:`StarGenerator` with the labels fixed: one input, for export.

    ``forward`` takes images whose H and W are already multiples of 4 (wrap in
    :class:`~translate.nets.layers.PadCrop`, as ``Model.inference_network`` does) and adds
    the labels itself. It shares the generator's parameters (its ``main``).
    """

    def __init__(self, generator: StarGenerator, labels: Tensor) -> None:
        super().__init__()
        if labels.numel() != generator.c_dim:
            raise ValueError(f"LabelledGenerator needs {generator.c_dim} label values, got {labels.numel()}")
        self.main, self.residual, self.colours = generator.main, generator.residual, generator.colours
        self.register_buffer("labels", labels.detach().float().reshape(1, -1).clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        labels = self.labels.to(x.dtype).expand(x.shape[0], -1)
        return self.generate(x, labels)


class DomainClassifier(nn.Module):
    """Domain/attribute logits ``(N, c_dim)`` for images of any size.

    ``n_layers`` × [4×4 conv stride 2 pad 1 (with bias), LeakyReLU(0.01)] with widths
    ``conv_dim · 2^i`` (the reference critic's trunk: 64 → 2048 for 6 layers), then a
    1×1 conv to ``c_dim`` and the mean over the spatial map. The same weights serve every
    input size; inputs are reflect-padded to a multiple of :attr:`size_multiple` (``2 ** n_layers``).
    """

    def __init__(self, c_dim: int, conv_dim: int = 64, n_layers: int = 6) -> None:
        super().__init__()
        check_counts("DomainClassifier", c_dim=(c_dim, 1), conv_dim=(conv_dim, 1), n_layers=(n_layers, 1))
        self.size_multiple = 2**n_layers
        layers: list[nn.Module] = []
        width, prev = conv_dim, 3
        for _ in range(n_layers):
            layers += [nn.Conv2d(prev, width, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            prev, width = width, width * 2
        self.main = nn.Sequential(*layers)
        self.head = nn.Conv2d(prev, c_dim, kernel_size=1, bias=True)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        padded, _ = pad_to_multiple(x, self.size_multiple, mode="reflect")
        return self.head(self.main(padded)).mean(dim=(2, 3))


__all__ = ["COLOUR_MATRIX_GAIN", "CONDITIONS", "DomainClassifier", "KeepColours", "LabelColourMatrix", "LabelNorm",
           "LabelledGenerator", "StarGenerator", "StarResidualBlock", "with_label_planes"]
