"""StyleGAN2 residual discriminator (Karras et al., CVPR 2020, https://arxiv.org/abs/1912.04958).

Config F's **residual** discriminator: fromRGB (1x1 convolution) at the input resolution, then
one block per resolution down to 8x8,

.. math::
    x \\leftarrow \\tfrac{1}{\\sqrt 2}\\Big(\\mathrm{conv}_{1\\times1}(\\downarrow x)
        + \\mathrm{conv}_{3\\times3}^{\\downarrow}(\\mathrm{conv}_{3\\times3}(x))\\Big)

(the down-sampling convolution low-passes with the [1, 3, 3, 1] filter, then convolves with
stride 2; the skip path down-samples, then a 1x1 convolution without bias), and the 4x4
epilogue: minibatch standard deviation (:class:`~torchgan_ext.layers.MinibatchStdDev`, groups
of ``mbstd_group_size``), a 3x3 convolution, a fully connected layer and the linear output.
Every layer has the equalised learning rate; activations are leaky ReLU (0.2) with gain
:math:`\\sqrt 2`. The output is an unbounded logit per image (the logistic loss:
``minimax_discriminator``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator

from .._validation import check_positive_int
from ..layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev
from ..layers.modulated import blur2d, downsample2d, fir_kernel
from .stylegan2 import channels_at, check_size

__all__ = ["StyleGAN2Discriminator"]


def _lrelu(x: torch.Tensor, gain: float = math.sqrt(2.0)) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * gain


class _ResidualBlock(nn.Module):
    """conv 3x3 -> down-sampling conv 3x3, plus the down-sampled 1x1 skip, over sqrt(2)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(c_in, c_in, 3)
        self.conv1 = EqualizedConv2d(c_in, c_out, 3, stride=2, padding=0)
        self.skip = EqualizedConv2d(c_in, c_out, 1, bias=False)
        self.register_buffer("kernel", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(downsample2d(x, self.kernel))
        x = _lrelu(self.conv0(x))
        x = _lrelu(self.conv1(blur2d(x, self.kernel, (2, 2))))
        return (y + x) * math.sqrt(0.5)


class StyleGAN2Discriminator(Discriminator):
    """StyleGAN2 residual discriminator: image -> one logit per image ``[B]``.

    Args:
        in_size: Image side, a power of two >= 8 (from the dataset when left out).
        in_channels: Image channels (from the dataset when left out).
        channel_base: Feature maps at resolution ``r`` are ``min(channel_base // r,
            channel_max)`` (StyleGAN2-ADA paper256: 16384; config F: 32768).
        channel_max: Cap on feature maps (512).
        mbstd_group_size: Samples per minibatch-stddev group (config F: 4; paper256: 8).
        mbstd_channels: Feature subgroups of the minibatch stddev (1); must divide the feature
            maps at 4x4.
    """

    data_arguments = {"in_size": "image_size", "in_channels": "channels"}

    def __init__(
        self,
        in_size: int = 256,
        in_channels: int = 3,
        channel_base: int = 16384,
        channel_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_channels: int = 1,
    ) -> None:
        check_size(in_size, "in_size")
        check_positive_int(in_channels, "in_channels")
        check_positive_int(channel_base, "channel_base")
        check_positive_int(channel_max, "channel_max")
        super().__init__(in_channels, "none")
        self.in_size = in_size
        self.in_channels = in_channels
        log2 = int(math.log2(in_size))
        ch = {2**k: channels_at(2**k, channel_base, channel_max) for k in range(2, log2 + 1)}
        self.from_rgb = EqualizedConv2d(in_channels, ch[in_size], 1)
        self.blocks = nn.Sequential(
            *(_ResidualBlock(ch[2**k], ch[2 ** (k - 1)]) for k in range(log2, 2, -1))
        )
        c4 = ch[4]
        check_positive_int(mbstd_group_size, "mbstd_group_size")
        check_positive_int(mbstd_channels, "mbstd_channels")
        if c4 % mbstd_channels:
            raise ValueError(
                f"mbstd_channels: must divide the {c4} feature maps at 4x4 "
                f"(min(channel_base // 4, channel_max)), got {mbstd_channels}"
            )
        self.mbstd = MinibatchStdDev(mbstd_group_size, mbstd_channels)
        self.conv = EqualizedConv2d(c4 + mbstd_channels, c4, 3)
        self.fc = EqualizedLinear(c4 * 16, c4)
        self.out = EqualizedLinear(c4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` of images ``[B, in_channels, in_size, in_size]``."""
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.in_size, self.in_size):
            raise ValueError(
                f"x: expected images [B, {self.in_channels}, {self.in_size}, {self.in_size}], "
                f"got {tuple(x.shape)}"
            )
        x = self.blocks(_lrelu(self.from_rgb(x)))
        x = _lrelu(self.conv(self.mbstd(x)))
        x = _lrelu(self.fc(x.flatten(1)))
        return self.out(x).squeeze(1)
