"""Layers of the Progressive GAN / StyleGAN family: equalised learning rate, pixel norm and the
minibatch standard deviation.

* **Equalised learning rate** (Karras et al., ICLR 2018, https://arxiv.org/abs/1710.10196,
  section 4.1): weights are stored as :math:`\\mathcal{N}(0, 1 / c^2)` samples and scaled at run
  time by the He constant :math:`c \\cdot g` with :math:`g = 1/\\sqrt{\\text{fan\\_in}}`, so that
  Adam's per-parameter step sizes act alike on every layer. StyleGAN's ``lr_multiplier``
  :math:`c` (https://arxiv.org/abs/1812.04948, the mapping network uses 0.01) divides the stored
  initial weights and multiplies them back at run time, which slows that layer's learning by
  :math:`c`.
* **Pixel norm** (ProGAN section 4.2): each pixel's feature vector divided by its RMS,
  :math:`b = a / \\sqrt{\\tfrac{1}{C}\\sum_j a_j^2 + \\epsilon}`, :math:`\\epsilon = 10^{-8}`.
* **Minibatch standard deviation** (ProGAN section 3; StyleGAN2's grouped form): the standard
  deviation of every feature over groups of ``group_size`` samples, averaged over features and
  pixels, appended as ``num_channels`` constant feature maps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EqualizedLinear", "EqualizedConv2d", "PixelNorm", "MinibatchStdDev"]


class EqualizedLinear(nn.Module):
    """A linear layer with the equalised learning rate.

    Args:
        in_features: Input size.
        out_features: Output size.
        bias: Add a learned bias.
        bias_init: Initial value of the bias (StyleGAN2 uses 1 for the style affine layers).
        lr_multiplier: Learning-rate multiplier :math:`c` of weight and bias (0.01 in StyleGAN's
            mapping network).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"in_features/out_features: must be positive, got {in_features}/{out_features}"
            )
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier: must be positive, got {lr_multiplier}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (
            nn.Parameter(torch.full((out_features,), float(bias_init) / lr_multiplier))
            if bias
            else None
        )
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        return F.linear(x, self.weight * self.weight_gain, bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.weight.shape
        return f"{in_features}, {out_features}, bias={self.bias is not None}"


class EqualizedConv2d(nn.Module):
    """A 2-D convolution with the equalised learning rate (same padding by default).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        stride: Convolution stride.
        padding: Zero padding; ``None`` keeps the size (``kernel_size // 2``).
        bias: Add a learned bias.
        lr_multiplier: Learning-rate multiplier of weight and bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        bias: bool = True,
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1 or kernel_size < 1:
            raise ValueError(
                "in_channels/out_channels/kernel_size: must be positive, got "
                f"{in_channels}/{out_channels}/{kernel_size}"
            )
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier: must be positive, got {lr_multiplier}")
        self.weight = nn.Parameter(
            torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_multiplier
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = lr_multiplier
        self.stride = stride
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.bias_gain if self.bias is not None else None
        return F.conv2d(
            x, self.weight * self.weight_gain, bias, stride=self.stride, padding=self.padding
        )

    def extra_repr(self) -> str:
        out_channels, in_channels, k, _ = self.weight.shape
        return (
            f"{in_channels}, {out_channels}, kernel_size={k}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector (dimension ``dim``) to unit RMS."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=self.dim, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the minibatch standard deviation as extra feature maps.

    Samples are split into groups of ``group_size`` (the whole batch when it is smaller or not
    divisible, so any batch size works); within each group the standard deviation of every
    feature and pixel is averaged over (channel subgroup, height, width) and broadcast back to
    every sample of the group as ``num_channels`` maps.

    Args:
        group_size: Samples per group (4 in ProGAN and StyleGAN2).
        num_channels: Feature subgroups, one output map each (1 in both papers).
        eps: Added to the variance before the square root.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        if group_size < 1 or num_channels < 1:
            raise ValueError(
                f"group_size/num_channels: must be positive, got {group_size}/{num_channels}"
            )
        self.group_size = group_size
        self.num_channels = num_channels
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if c % self.num_channels:
            raise ValueError(
                f"num_channels: {self.num_channels} does not divide the {c} input channels"
            )
        g = self.group_size if n % self.group_size == 0 else n
        f = self.num_channels
        y = x.reshape(g, n // g, f, c // f, h, w)  # sample i is in group i % (n // g)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + self.eps).sqrt().mean(dim=(2, 3, 4))  # (n // g, f)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)
