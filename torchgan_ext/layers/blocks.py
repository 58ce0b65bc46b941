"""Residual up / down blocks of SAGAN and BigGAN style generators and discriminators.

The blocks follow the residual architectures of Miyato et al. (https://arxiv.org/abs/1802.05957,
appendix), SAGAN (https://arxiv.org/abs/1805.08318) and BigGAN
(https://arxiv.org/abs/1809.11096, appendix B):

* :class:`ResBlockUp` (generator): ``norm -> act -> up -> conv3x3 -> norm -> act -> conv3x3``,
  plus ``up -> conv1x1`` on the shortcut. The norm is a plain, a class-conditional or a
  vector-conditional batch norm, or none (for decoders inside discriminators, as U-Net GAN).
* :class:`ResBlockDown` (discriminator): ``[act] -> conv3x3 -> act -> conv3x3 -> avgpool``, plus
  ``conv1x1 -> avgpool`` on the shortcut (``avgpool -> conv1x1`` for the first block, which sees
  the image and has no pre-activation).

Every convolution is spectrally normalised unless ``spectral_norm=False``. The constructor
arguments are keyword-stable: other models (U-Net GAN, BigGAN) build on these blocks.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .conditional import ConditionalBatchNorm2d
from .spectral import make_conv2d

__all__ = ["ResBlockUp", "ResBlockDown"]


def _activation(factory: Callable[[], nn.Module] | None) -> nn.Module:
    return factory() if factory is not None else nn.ReLU()


class _Norm(nn.Module):
    """Plain / conditional batch norm or identity behind one ``forward(x, y)``."""

    def __init__(
        self,
        channels: int,
        num_classes: int | None,
        cond_dim: int | None,
        batch_norm: bool,
        spectral_norm: bool,
        hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.conditional = num_classes is not None or cond_dim is not None
        if self.conditional:
            self.norm: nn.Module = ConditionalBatchNorm2d(
                channels,
                num_classes=num_classes,
                cond_dim=cond_dim,
                spectral_norm=spectral_norm,
                hidden_dim=hidden_dim,
            )
        elif batch_norm:
            self.norm = nn.BatchNorm2d(channels)
        else:
            self.norm = nn.Identity()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.conditional:
            return self.norm(x, y)
        return self.norm(x)


class ResBlockUp(nn.Module):
    """Generator residual block that doubles the resolution (optionally conditional).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        num_classes: Class-conditional batch norm with this many classes; ``forward`` then
            takes integer labels ``y`` of shape ``[B]``.
        cond_dim: Vector-conditional batch norm (BigGAN: shared embedding + noise chunk);
            ``forward`` then takes ``y`` of shape ``[B, cond_dim]``. At most one of
            ``num_classes`` / ``cond_dim``.
        upsample: Double height and width (nearest neighbour). ``False`` keeps the size.
        batch_norm: Use (unconditional) batch norm; ``False`` uses none (ignored when
            conditional).
        spectral_norm: Spectral norm on every convolution (and on the conditional
            projections with ``cond_dim``).
        hidden_channels: Channels between the two 3x3 convolutions (default ``out_channels``).
        activation: A factory of the activation module (default ``nn.ReLU``).
        cond_hidden_dim: With ``cond_dim``: the conditional gains and biases are MLPs with one
            hidden layer of this size (self-modulation, https://arxiv.org/abs/1810.01365).
        cond_spectral_norm: Spectral norm on the conditional projections (default: as
            ``spectral_norm``).

    Shape:
        ``[B, in_channels, H, W]`` -> ``[B, out_channels, 2H, 2W]`` (``[..., H, W]`` without
        ``upsample``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_classes: int | None = None,
        cond_dim: int | None = None,
        upsample: bool = True,
        batch_norm: bool = True,
        spectral_norm: bool = True,
        hidden_channels: int | None = None,
        activation: Callable[[], nn.Module] | None = None,
        cond_hidden_dim: int | None = None,
        cond_spectral_norm: bool | None = None,
    ) -> None:
        super().__init__()
        if num_classes is not None and cond_dim is not None:
            raise ValueError("ResBlockUp takes at most one of num_classes and cond_dim")
        hidden = hidden_channels or out_channels
        sn = spectral_norm
        cond_sn = sn if cond_spectral_norm is None else cond_spectral_norm
        norm_args = (num_classes, cond_dim, batch_norm, cond_sn, cond_hidden_dim)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.upsample = upsample
        self.conditional = num_classes is not None or cond_dim is not None
        self.norm1 = _Norm(in_channels, *norm_args)
        self.act1 = _activation(activation)
        self.conv1 = make_conv2d(in_channels, hidden, 3, padding=1, spectral_norm=sn)
        self.norm2 = _Norm(hidden, *norm_args)
        self.act2 = _activation(activation)
        self.conv2 = make_conv2d(hidden, out_channels, 3, padding=1, spectral_norm=sn)
        if in_channels != out_channels or upsample:
            self.shortcut: nn.Module = make_conv2d(in_channels, out_channels, 1, spectral_norm=sn)
        else:
            self.shortcut = nn.Identity()

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest") if self.upsample else x

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the block; ``y`` is the condition (required when conditional)."""
        if self.conditional and y is None:
            raise ValueError("this ResBlockUp is conditional: pass the condition y")
        h = self.act1(self.norm1(x, y))
        h = self.conv1(self._up(h))
        h = self.conv2(self.act2(self.norm2(h, y)))
        return h + self.shortcut(self._up(x))


class ResBlockDown(nn.Module):
    """Discriminator residual block that halves the resolution.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        downsample: Halve height and width (2x2 average pooling). ``False`` keeps the size.
        preactivation: Apply the activation before the first convolution (every block but the
            first, which sees the image). Without it the shortcut pools before its 1x1
            convolution, as in the "optimized" first block of SN-GAN / BigGAN.
        spectral_norm: Spectral norm on every convolution.
        hidden_channels: Channels between the two 3x3 convolutions (default ``out_channels``).
        activation: A factory of the activation module (default ``nn.ReLU``).

    Shape:
        ``[B, in_channels, H, W]`` -> ``[B, out_channels, H/2, W/2]`` (floor, as
        ``avg_pool2d``), or the same size without ``downsample``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        downsample: bool = True,
        preactivation: bool = True,
        spectral_norm: bool = True,
        hidden_channels: int | None = None,
        activation: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        hidden = hidden_channels or out_channels
        sn = spectral_norm
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.downsample = downsample
        self.preactivation = preactivation
        self.act0 = _activation(activation) if preactivation else nn.Identity()
        self.conv1 = make_conv2d(in_channels, hidden, 3, padding=1, spectral_norm=sn)
        self.act1 = _activation(activation)
        self.conv2 = make_conv2d(hidden, out_channels, 3, padding=1, spectral_norm=sn)
        if in_channels != out_channels or downsample:
            self.shortcut: nn.Module = make_conv2d(in_channels, out_channels, 1, spectral_norm=sn)
        else:
            self.shortcut = nn.Identity()

    def _down(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        h = self.conv1(self.act0(x))
        h = self._down(self.conv2(self.act1(h)))
        if self.preactivation:
            s = self._down(self.shortcut(x))
        else:
            s = self.shortcut(self._down(x))
        return h + s
