"""StyleGAN2 generator (Karras et al., CVPR 2020).

`Analyzing and Improving the Image Quality of StyleGAN <https://arxiv.org/abs/1912.04958>`_,
config F: a **mapping network** (``mapping_layers`` equalised-lr linear layers with learning
rate multiplier 0.01 on the normalised :math:`z`) gives :math:`w`; the **synthesis network**
starts from a learned 4x4 constant and doubles the resolution per block, each layer a
:class:`~torchgan_ext.layers.ModulatedConv2d` with weight demodulation, per-pixel **noise**
with a learned strength, a bias and leaky ReLU (gain :math:`\\sqrt 2`). The output is the
**skip** architecture: every resolution has a toRGB layer (1x1 modulated convolution, no
demodulation), and the image is the sum of the toRGBs, each up-sampled to the next resolution.

Layer :math:`l` reads :math:`w_l` of ``num_ws`` = 2 log2(size) - 2 copies of :math:`w`; a block's
toRGB shares its :math:`w` with the next block's first convolution (the authors' indexing).

* **Style mixing** (regularisation, training mode only): with probability ``style_mixing_prob``
  (0.9) a batch uses :math:`w` of a second noise vector from a random layer ``cutoff`` in
  ``[1, num_ws)`` on (one cutoff per batch, as the authors' code).
* **Truncation** (sampling): :math:`w' = \\bar w + \\psi (w - \\bar w)` for the layers below
  ``truncation_cutoff`` (all when ``null``), with :math:`\\bar w` the running average of
  :math:`w` over training (``w_avg``, decay ``w_avg_beta``, a buffer: saved in checkpoints and
  copied into the EMA generator). In eval mode (sample grids, ``--sample``) the generator uses
  its ``truncation_psi`` attribute, 1 (no truncation) by default: set it (or ``torchgan-run
  CONFIG --sample N --truncation 0.7``) for the paper's truncated samples. Metrics (during
  training and ``--evaluate``) always run at :math:`\\psi = 1`, whatever the attribute
  (:func:`~torchgan_ext.models.truncation.untruncated`), so they compare with published FIDs.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Generator

from .._validation import check_choice, check_number, check_positive_int
from ..layers import EqualizedLinear
from ..layers.modulated import ModulatedConv2d, upsample2d

__all__ = ["MappingNetwork", "StyleGAN2Generator", "channels_at", "check_size"]

NoiseMode = Literal["random", "const", "none"]
NOISE_MODES = ("random", "const", "none")


def check_size(size: int, arg: str) -> int:
    """``size`` must be a power of two >= 8 (``ValueError`` naming ``arg``)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size & (size - 1):
        raise ValueError(f"{arg}: must be a power of two >= 8 (8, 16, 32, ...), got {size!r}")
    return size


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution``: ``min(channel_base // resolution, channel_max)``
    (StyleGAN2-ADA's rule; ``channel_base`` 16384 and max 512 are its 256 px settings)."""
    return max(1, min(channel_base // resolution, channel_max))


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2) * math.sqrt(2.0)


class MappingNetwork(nn.Module):
    """:math:`z \\mapsto w`: normalise :math:`z` to unit second moment, then ``num_layers``
    equalised-lr linear layers with leaky ReLU (gain :math:`\\sqrt 2`), learning-rate
    multiplier ``lr_multiplier``. Tracks ``w_avg`` in training mode.

    Args:
        z_dim: Size of :math:`z`.
        w_dim: Size of :math:`w` (and of the hidden layers).
        num_layers: Linear layers (8 in the paper).
        lr_multiplier: Learning-rate multiplier of every layer (0.01).
        w_avg_beta: Decay of the running average of :math:`w` (0.995).
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualizedLinear(a, b, lr_multiplier=lr_multiplier)
            for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, update_w_avg: bool = True) -> torch.Tensor:
        """:math:`w` ``[B, w_dim]`` of ``z``; in training mode ``w_avg`` moves towards the batch
        mean unless ``update_w_avg`` is false (the second noise of style mixing, as the
        authors' ``skip_w_avg_update``)."""
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for layer in self.layers:
            x = _lrelu(layer(x))
        if self.training and update_w_avg:
            with torch.no_grad():
                self.w_avg.lerp_(x.detach().mean(dim=0).to(self.w_avg.dtype), 1 - self.w_avg_beta)
        return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally up-sampling), noise, bias, leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, resolution: int, up: bool) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_out, 3, w_dim, demodulate=True, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.resolution = resolution

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: NoiseMode) -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            n, _, h, wd = x.shape
            x = x + torch.randn(n, 1, h, wd, device=x.device, dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const.to(x.dtype) * self.noise_strength
        return _lrelu(x + self.bias.reshape(1, -1, 1, 1))


class ToRGB(nn.Module):
    """1x1 modulated convolution (no demodulation) to image channels, plus a bias."""

    def __init__(self, c_in: int, c_img: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(c_in, c_img, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(c_img))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.reshape(1, -1, 1, 1)


class StyleGAN2Generator(Generator):
    """StyleGAN2 generator: noise :math:`z` -> image in about [-1, 1] (linear output, no tanh,
    as the paper).

    Args:
        encoding_dims: Size of :math:`z` (512).
        out_size: Image side, a power of two >= 8 (from the dataset when left out).
        out_channels: Image channels (from the dataset when left out).
        w_dim: Size of :math:`w` (512).
        channel_base: Feature maps at resolution ``r`` are ``min(channel_base // r,
            channel_max)`` (StyleGAN2-ADA paper256: 16384; config F: 32768).
        channel_max: Cap on feature maps (512).
        mapping_layers: Layers of the mapping network (8).
        mapping_lr_multiplier: Its learning-rate multiplier (0.01).
        style_mixing_prob: Probability that a training batch mixes two styles (0.9; 0 off).
        w_avg_beta: Decay of the tracked average :math:`\\bar w` (0.995).
        truncation_psi: :math:`\\psi` (finite, >= 0) of sample grids and ``--sample`` in eval
            mode (1: none; an attribute that can be changed after loading). Metrics ignore it.
        truncation_cutoff: Truncate the layers below this one (``null``: all layers).
        noise_mode: ``random`` (fresh noise per call), ``const`` (a fixed noise image per
            layer) or ``none``.
    """

    data_arguments = {"out_size": "image_size", "out_channels": "channels"}

    def __init__(
        self,
        encoding_dims: int = 512,
        out_size: int = 256,
        out_channels: int = 3,
        w_dim: int = 512,
        channel_base: int = 16384,
        channel_max: int = 512,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        style_mixing_prob: float = 0.9,
        w_avg_beta: float = 0.995,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: NoiseMode = "random",
    ) -> None:
        check_positive_int(encoding_dims, "encoding_dims")
        super().__init__(encoding_dims, "none")
        self.out_size = check_size(out_size, "out_size")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        check_positive_int(w_dim, "w_dim")
        check_positive_int(channel_base, "channel_base")
        check_positive_int(channel_max, "channel_max")
        check_positive_int(mapping_layers, "mapping_layers")
        if not 0 < check_number(mapping_lr_multiplier, "mapping_lr_multiplier"):
            raise ValueError(f"mapping_lr_multiplier: must be > 0, got {mapping_lr_multiplier}")
        self.style_mixing_prob = _probability(style_mixing_prob, "style_mixing_prob")
        _probability(w_avg_beta, "w_avg_beta")
        self.truncation_psi = float(check_number(truncation_psi, "truncation_psi"))
        if not math.isfinite(self.truncation_psi):
            raise ValueError(f"truncation_psi: must be a finite number >= 0, got {truncation_psi}")
        self.noise_mode = check_choice(noise_mode, "noise_mode", NOISE_MODES, "noise mode")
        self.w_dim = w_dim
        log2 = int(math.log2(out_size))
        self.num_ws = 2 * log2 - 2
        if truncation_cutoff is not None:
            check_positive_int(truncation_cutoff, "truncation_cutoff")
        self.truncation_cutoff = truncation_cutoff
        self.mapping = MappingNetwork(
            encoding_dims, w_dim, mapping_layers, mapping_lr_multiplier, w_avg_beta
        )
        ch = [channels_at(2**k, channel_base, channel_max) for k in range(2, log2 + 1)]
        self.const = nn.Parameter(torch.randn(ch[0], 4, 4))
        self.convs = nn.ModuleList([SynthesisLayer(ch[0], ch[0], w_dim, 4, up=False)])
        self.torgbs = nn.ModuleList([ToRGB(ch[0], out_channels, w_dim)])
        for i in range(1, len(ch)):
            res = 2 ** (i + 2)
            self.convs.append(SynthesisLayer(ch[i - 1], ch[i], w_dim, res, up=True))
            self.convs.append(SynthesisLayer(ch[i], ch[i], w_dim, res, up=False))
            self.torgbs.append(ToRGB(ch[i], out_channels, w_dim))

    # -- the two networks ------------------------------------------------------------------
    def style(
        self,
        z: torch.Tensor,
        psi: float = 1.0,
        cutoff: int | None = None,
        update_w_avg: bool = True,
    ) -> torch.Tensor:
        """:math:`w` of every layer, ``[B, num_ws, w_dim]``, truncated with ``psi`` below
        ``cutoff`` (all layers when ``None``). Updates ``w_avg`` in training mode unless
        ``update_w_avg`` is false."""
        w = self.mapping(z, update_w_avg).unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            cut = self.num_ws if cutoff is None else min(cutoff, self.num_ws)
            avg = self.mapping.w_avg.to(w.dtype)
            w = w.clone()
            w[:, :cut] = avg.lerp(w[:, :cut], psi)
        return w

    def synthesis(self, ws: torch.Tensor, noise_mode: NoiseMode | None = None) -> torch.Tensor:
        """Images from per-layer styles ``ws`` ``[B, num_ws, w_dim]`` (``noise_mode``: the
        attribute when ``None``)."""
        if ws.dim() != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(
                f"ws: expected [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}"
            )
        mode = self.noise_mode if noise_mode is None else noise_mode
        x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        x = self.convs[0](x, ws[:, 0], mode)
        img = self.torgbs[0](x, ws[:, 1])
        for b in range(1, len(self.torgbs)):
            i = 2 * b - 1  # the block's first layer reads w_i, its second w_{i+1}, toRGB w_{i+2}
            x = self.convs[i](x, ws[:, i], mode)
            x = self.convs[i + 1](x, ws[:, i + 1], mode)
            img = upsample2d(img, self.torgbs[b].conv.kernel) + self.torgbs[b](x, ws[:, i + 2])
        return img

    @staticmethod
    def mix(ws: torch.Tensor, ws2: torch.Tensor, cutoff: int) -> torch.Tensor:
        """``ws`` for the layers below ``cutoff`` and ``ws2`` from ``cutoff`` on."""
        out = ws.clone()
        out[:, cutoff:] = ws2[:, cutoff:]
        return out

    def training_styles(self, z: torch.Tensor) -> torch.Tensor:
        """``ws`` of a training batch: with probability ``style_mixing_prob`` the layers from a
        random cutoff in ``[1, num_ws)`` on take the styles of fresh noise (which, as in the
        authors' code, does not move ``w_avg``: only ``z`` does)."""
        ws = self.style(z)
        if self.style_mixing_prob > 0 and torch.rand(()) < self.style_mixing_prob:
            cutoff = int(torch.randint(1, self.num_ws, ()))
            ws = self.mix(ws, self.style(torch.randn_like(z), update_w_avg=False), cutoff)
        return ws

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Generate ``[B, out_channels, out_size, out_size]`` from :math:`z` ``[B,
        encoding_dims]`` (style mixing in training mode, ``truncation_psi`` in eval mode)."""
        if self.training:
            ws = self.training_styles(z)
        else:
            ws = self.style(z, self.truncation_psi, self.truncation_cutoff)
        return self.synthesis(ws)

    def extra_repr(self) -> str:
        return (
            f"out_size={self.out_size}, num_ws={self.num_ws}, "
            f"truncation_psi={self.truncation_psi}, noise_mode={self.noise_mode!r}"
        )


def _probability(value: float, arg: str) -> float:
    value = check_number(value, arg)
    if value > 1:
        raise ValueError(f"{arg}: must be in [0, 1], got {value!r}")
    return float(value)
