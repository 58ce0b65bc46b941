"""SRResNet generator and SRGAN discriminator (Ledig et al., CVPR 2017).

`Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network
<https://arxiv.org/abs/1609.04802>`_. The generator maps a low-resolution image to one
``scale`` times larger:

.. math::
    h_0 = \\mathrm{PReLU}(\\mathrm{conv}_{9\\times9}(x_{LR})), \\quad
    h_{k} = h_{k-1} + \\mathrm{BN}(\\mathrm{conv}(
        \\mathrm{PReLU}(\\mathrm{BN}(\\mathrm{conv}(h_{k-1}))))), \\quad k = 1 \\ldots B,

    \\hat x_{HR} = \\mathrm{conv}_{9\\times9}\\big(
        \\mathrm{Up}(h_0 + \\mathrm{BN}(\\mathrm{conv}(h_B)))\\big)

where :math:`\\mathrm{Up}` is a chain of sub-pixel convolutions (conv, ``PixelShuffle``,
PReLU; Shi et al., https://arxiv.org/abs/1609.05158), one per factor 2 (or 3) of ``scale``.
The discriminator is the paper's VGG-style network: eight 3x3 convolutions from 64 to 512
channels, stride 2 on every other one, batch norm and LeakyReLU(0.2), then a dense head. An
adaptive average pooling before the head makes it accept any crop size (for the paper's 96x96
crops it is the identity: the feature map is already 6x6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_choice, check_int, check_positive_int

__all__ = [
    "SRResNetGenerator",
    "SRGANDiscriminator",
    "bicubic_upscale",
    "sr_pair",
    "upsampling_factors",
    "OUTPUT_ACTIVATIONS",
    "INPUT_RANGES",
]

#: Values of :class:`SRResNetGenerator`'s ``output_activation``.
OUTPUT_ACTIVATIONS = ("none", "tanh")
#: What the first convolution sees: the [-1, 1] input as it is, or mapped to [0, 1] (the paper).
INPUT_RANGES = ("symmetric", "unit")


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upscaling of ``[N, C, H, W]`` by ``scale`` (the baseline of SR papers).

    Uses the cubic kernel with :math:`a = -0.5` of MATLAB's ``imresize`` and PIL (torch's
    ``antialias=True`` path; its plain bicubic mode uses :math:`a = -0.75`). Not clamped.
    """
    h, w = lr.shape[-2:]
    return F.interpolate(
        lr, size=(h * scale, w * scale), mode="bicubic", align_corners=False, antialias=True
    )


def sr_pair(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lr, hr)`` of a super-resolution batch.

    Raises:
        ValueError: The batch is not a pair of image tensors (a dataset that is not
            ``super_resolution``).
    """
    if (
        isinstance(batch, Sequence)
        and len(batch) >= 2
        and isinstance(batch[0], torch.Tensor)
        and isinstance(batch[1], torch.Tensor)
        and batch[0].dim() == 4
        and batch[1].dim() == 4
    ):
        return batch[0], batch[1]
    raise ValueError(
        "super-resolution losses need batches of (low-resolution, high-resolution) images; "
        "use the super_resolution dataset"
    )


def upsampling_factors(scale: int) -> list[int]:
    """The sub-pixel steps of ``scale``: factors 2 (and one 3), e.g. 8 -> [2, 2, 2], 6 -> [2, 3].

    Raises:
        TypeError: ``scale`` is not an integer.
        ValueError: ``scale`` is not a product of 2s and at most one 3 (2, 3, 4, 6, 8, ...).
    """
    check_int(scale, "scale", minimum=2)
    factors, rest = [], scale
    while rest % 2 == 0:
        factors.append(2)
        rest //= 2
    if rest == 3:
        factors.append(3)
        rest = 1
    if rest != 1:
        raise ValueError(
            f"scale: {scale} cannot be built from x2 and x3 sub-pixel steps; valid: 2, 3, 4, 6, "
            "8, 12, 16, ..."
        )
    return factors


class _ResidualBlock(nn.Module):
    """conv3x3 - BN - PReLU - conv3x3 - BN, plus the input."""

    def __init__(self, width: int, batch_norm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers += [nn.PReLU(), nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNetGenerator(Generator):
    """SRResNet, the generator of `SRGAN <https://arxiv.org/abs/1609.04802>`_.

    Its input is a low-resolution image (in [-1, 1], as every image of this project), not
    noise. The paper feeds LR images in [0, 1] (and scales HR targets to [-1, 1]);
    ``input_range="unit"`` does that inside the network, so datasets, samples and the bicubic
    skip keep [-1, 1]. The two are one affine reparametrisation of the first convolution apart
    (``conv(W, (x + 1) / 2) = conv(W / 2, x) + sum(W) / 2``): the same functions, a different
    start and optimisation path (measured in ``docs/srgan.md``). Sample grids show
    (bicubic-upscaled LR | SR | HR) triplets of a fixed validation batch (:meth:`sample_grid`).

    Args:
        scale: Upscaling factor (2, 3, 4, 8, ...; taken from the dataset when left out).
        in_channels: Channels of the LR input (from the dataset when left out).
        out_channels: Channels of the output (from the dataset when left out).
        width: Feature channels (64 in the paper).
        num_blocks: Residual blocks (16 in the paper).
        batch_norm: Batch norm in the residual blocks (the paper's choice; EDSR,
            https://arxiv.org/abs/1707.02921, drops it).
        output_activation: ``none`` (linear output, the paper) or ``tanh``.
        bicubic_skip: Add the bicubic upscaling of the input to the output, so that the network
            learns the residual over bicubic (VDSR-style global skip,
            https://arxiv.org/abs/1511.04587; **not** in the paper). The output convolution
            then starts at zero, so the untrained network is exactly bicubic upscaling. Off by
            default.
        input_range: ``symmetric`` (default: the first convolution sees the [-1, 1] input;
            the behaviour of earlier versions, so their checkpoints keep their meaning) or
            ``unit`` (it sees ``(x + 1) / 2`` in [0, 1], the paper's LR range).

    Attributes:
        sample_lr_size: Side of the random LR images returned by :meth:`sampler`.
    """

    data_arguments = {"scale": "scale", "in_channels": "channels", "out_channels": "channels"}
    sample_lr_size = 24

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        width: int = 64,
        num_blocks: int = 16,
        batch_norm: bool = True,
        output_activation: str = "none",
        bicubic_skip: bool = False,
        input_range: str = "symmetric",
    ) -> None:
        factors = upsampling_factors(scale)
        check_choice(input_range, "input_range", INPUT_RANGES, "input_range")
        check_positive_int(in_channels, "in_channels")
        check_positive_int(out_channels, "out_channels")
        check_positive_int(width, "width")
        check_int(num_blocks, "num_blocks", minimum=0)
        check_choice(
            output_activation, "output_activation", OUTPUT_ACTIVATIONS, "output_activation"
        )
        if bicubic_skip and in_channels != out_channels:
            raise ValueError("bicubic_skip: needs in_channels == out_channels")
        super().__init__(encoding_dims=in_channels, label_type="none")
        self.scale = scale
        self.in_channels, self.out_channels = in_channels, out_channels
        self.output_activation = output_activation
        self.bicubic_skip = bool(bicubic_skip)
        self.input_range = input_range
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(_ResidualBlock(width, batch_norm) for _ in range(num_blocks)))
        after: list[nn.Module] = [nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            after.append(nn.BatchNorm2d(width))
        self.body_out = nn.Sequential(*after)
        up: list[nn.Module] = []
        for f in factors:
            up += [nn.Conv2d(width, width * f * f, 3, padding=1), nn.PixelShuffle(f), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(width, out_channels, 9, padding=4)
        if self.bicubic_skip:
            # start as exact bicubic upscaling: the network adds a learned correction
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Super-resolve ``x`` (``[N, in_channels, h, w]``) to ``[N, out_channels, h*s, w*s]``."""
        head = self.head((x + 1.0) * 0.5 if self.input_range == "unit" else x)
        y = self.body_out(self.body(head)) + head
        y = self.tail(self.upsample(y))
        if self.bicubic_skip:
            y = y + bicubic_upscale(x, self.scale)
        if self.output_activation == "tanh":
            y = torch.tanh(y)
        return y

    def sampler(self, sample_size: int, device: Any) -> list[torch.Tensor]:
        """Inputs of the generator's type: ``sample_size`` random LR images in [-1, 1].

        An SR generator has no latent space; these uniform-noise ``sample_lr_size`` squares only
        serve generic code that calls ``generator(*sampler(n, device))`` (shape checks,
        benchmarks). Sample grids use the fixed real batch instead (:meth:`sample_grid`).
        """
        s = self.sample_lr_size
        return [torch.rand(sample_size, self.in_channels, s, s, device=device) * 2.0 - 1.0]

    @torch.no_grad()
    def sample_grid(
        self, batch: Sequence[torch.Tensor] | None, noise: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        """(bicubic LR | SR | HR) triplets of the fixed batch ``(lr, hr)``, three per row.

        Without a batch (``None``), the sampler's inputs are shown as (bicubic | SR) pairs.
        """
        if isinstance(batch, tuple | list) and len(batch) >= 2:
            lr, hr = batch[0], batch[1]
        else:
            lr, hr = noise[0], None
        sr = self(lr).clamp(-1.0, 1.0)
        columns = [bicubic_upscale(lr, self.scale).clamp(-1.0, 1.0), sr]
        if hr is not None:
            columns.append(hr.to(sr.dtype))
        return torch.stack(columns, dim=1).flatten(0, 1), len(columns)


class SRGANDiscriminator(Discriminator):
    """The VGG-style discriminator of `SRGAN <https://arxiv.org/abs/1609.04802>`_.

    Eight 3x3 convolutions with ``width`` x (1, 1, 2, 2, 4, 4, 8, 8) channels and strides
    (1, 2, 1, 2, 1, 2, 1, 2), batch norm after all but the first, LeakyReLU; then adaptive
    average pooling to ``pool_size`` squared, a dense layer of ``hidden`` units, LeakyReLU and
    one output. Returns logits of shape ``[N]`` (no sigmoid; the losses use
    ``binary_cross_entropy_with_logits``).

    Args:
        in_channels: Image channels (from the dataset when left out).
        width: Channels of the first convolution (64 in the paper).
        hidden: Units of the dense layer (1024 in the paper).
        pool_size: Side of the pooled feature map (6: identity for 96x96 crops).
        batch_norm: Batch norm after convolutions 2-8 (the paper's choice).
        negative_slope: Slope of the LeakyReLU (0.2).
    """

    #: What it judges: the high-resolution image of an ``(lr, hr)`` pair, picked by its loss
    #: (read by callbacks that judge the batch themselves, which refuse it).
    judges = "the high-resolution image of (lr, hr) pairs"

    data_arguments = {"in_channels": "channels"}

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 64,
        hidden: int = 1024,
        pool_size: int = 6,
        batch_norm: bool = True,
        negative_slope: float = 0.2,
    ) -> None:
        check_positive_int(in_channels, "in_channels")
        check_positive_int(width, "width")
        check_positive_int(hidden, "hidden")
        check_positive_int(pool_size, "pool_size")
        super().__init__(input_dims=in_channels, label_type="none")
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.LeakyReLU(negative_slope),
        ]
        channels = width
        for i, mult in enumerate((1, 2, 2, 4, 4, 8, 8)):
            out = width * mult
            stride = 2 if i % 2 == 0 else 1
            conv = nn.Conv2d(channels, out, 3, stride=stride, padding=1, bias=not batch_norm)
            layers.append(conv)
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(negative_slope))
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(pool_size),
            nn.Flatten(),
            nn.Linear(channels * pool_size * pool_size, hidden),
            nn.LeakyReLU(negative_slope),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[N]`` for images ``[N, in_channels, H, W]`` (any ``H, W`` >= 1)."""
        return self.head(self.features(x)).squeeze(-1)
