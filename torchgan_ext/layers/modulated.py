"""StyleGAN2's modulated convolution and its [1, 3, 3, 1] resampling filter.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020,
https://arxiv.org/abs/1912.04958, section 2.2. A style :math:`s` (one scale per input channel,
from an affine map of :math:`w`) *modulates* the weights of a convolution, and *demodulation*
rescales each output channel so that its expected standard deviation is one again:

.. math::
    w'_{ijk} = s_i \\cdot w_{ijk}, \\qquad
    w''_{ijk} = w'_{ijk} \\Big/ \\sqrt{\\textstyle\\sum_{i,k} {w'_{ijk}}^2 + \\epsilon}

(:math:`i` input channel, :math:`j` output channel, :math:`k` kernel position). Every sample of
a batch has its own weights: either one grouped convolution (the batch folded into the channel
axis, one group per sample: the paper's "fused" form) or, the same function, the style scaling
the input channels, one shared convolution and the demodulation scaling the output channels
(the authors' training path, and the default here).

Resampling uses the separable binomial low-pass filter :math:`[1, 3, 3, 1]` of the paper (and
of StyleGAN before it): up-sampling inserts zeros and filters (gain 4, so a constant image
stays constant), down-sampling filters and keeps every second pixel. The authors fuse the
filter into a transposed / strided convolution; here the up-sampling convolution filters *then*
convolves, and the down-sampling one filters then convolves with stride 2 (the authors' order
for down-sampling).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int
from .equalized import EqualizedLinear

__all__ = [
    "fir_kernel",
    "upsample2d",
    "blur2d",
    "downsample2d",
    "modulated_conv2d",
    "ModulatedConv2d",
]


def fir_kernel(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """The separable 2-D filter ``outer(taps, taps)`` normalised to sum 1."""
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum()


def _depthwise(x: torch.Tensor, kernel: torch.Tensor, stride: int = 1) -> torch.Tensor:
    c = x.shape[1]
    k = kernel.to(dtype=x.dtype, device=x.device)
    weight = k.flip([0, 1])[None, None].expand(c, 1, *k.shape)
    return F.conv2d(x, weight, stride=stride, groups=c)


def blur2d(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Filter every channel of ``x`` with ``kernel`` after zero-padding ``pad`` (before, after)
    on both spatial axes."""
    return _depthwise(F.pad(x, [pad[0], pad[1], pad[0], pad[1]]), kernel)


def upsample2d(x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """Double the resolution: zeros between the pixels, then the low-pass (gain 4)."""
    kernel = fir_kernel() if kernel is None else kernel
    n, c, h, w = x.shape
    y = x.new_zeros(n, c, h, 2, w, 2)
    y[:, :, :, 0, :, 0] = x
    y = y.reshape(n, c, 2 * h, 2 * w)
    k = kernel.shape[0]
    return blur2d(y, kernel * 4, ((k + 1) // 2, (k - 2) // 2))


def downsample2d(x: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
    """Halve the resolution: the low-pass, then every second pixel."""
    kernel = fir_kernel() if kernel is None else kernel
    k = kernel.shape[0]
    pad = ((k - 1) // 2, (k - 2) // 2)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return _depthwise(x, kernel, stride=2)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    padding: int = 0,
    eps: float = 1e-8,
    fused: bool = False,
) -> torch.Tensor:
    """Convolve every sample of ``x`` with ``weight`` modulated by its own style.

    Args:
        x: Inputs ``[N, I, H, W]``.
        weight: Weights ``[O, I, k, k]`` (already scaled by any equalised-lr gain).
        styles: Scales ``[N, I]``, one per sample and input channel.
        demodulate: Normalise each sample's output channel weights to unit L2 norm.
        padding: Zero padding of the convolution.
        eps: Added under the square root of the demodulation.
        fused: One grouped convolution with per-sample weights. ``False`` (the default, as
            the authors' code in training): the same function as scaling the input channels
            by the style, one shared convolution and scaling the output channels by the
            demodulation factors, which is faster where grouped convolutions are slow (CPU).

    Returns:
        ``[N, O, H', W']``.
    """
    n, c_in, h, w = x.shape
    c_out = weight.shape[0]
    if styles.shape != (n, c_in):
        raise ValueError(f"styles: expected shape {(n, c_in)}, got {tuple(styles.shape)}")
    if not fused:
        out = F.conv2d(x * styles.reshape(n, c_in, 1, 1), weight, padding=padding)
        if demodulate:  # sum_{i,k} (s_i w_ijk)^2 = sum_i s_i^2 sum_k w_ijk^2
            norms = styles.square() @ weight.square().sum(dim=(2, 3)).t()  # [N, O]
            out = out * torch.rsqrt(norms + eps).reshape(n, c_out, 1, 1)
        return out
    wts = weight.unsqueeze(0) * styles.reshape(n, 1, c_in, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
    wts = wts.reshape(n * c_out, c_in, *weight.shape[2:])
    out = F.conv2d(x.reshape(1, n * c_in, h, w), wts, padding=padding, groups=n)
    return out.reshape(n, c_out, *out.shape[2:])


class ModulatedConv2d(nn.Module):
    """A convolution modulated by a style computed from :math:`w` (StyleGAN2's layer core).

    The style is ``affine(w)`` (an :class:`~torchgan_ext.layers.EqualizedLinear` with bias
    initialised to 1, so every layer starts unmodulated); the weight is stored as
    :math:`\\mathcal{N}(0, 1)` samples and scaled by the equalised-lr gain
    :math:`1/\\sqrt{I k^2}`. No bias and no activation (the synthesis layer adds those).

    Args:
        in_channels: Input channels :math:`I`.
        out_channels: Output channels :math:`O`.
        kernel_size: Square kernel size (3 for convolutions, 1 for toRGB).
        w_dim: Size of :math:`w`.
        demodulate: Weight demodulation (off for the toRGB layers, as in the paper).
        up: Double the resolution first (:func:`upsample2d`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
        up: bool = False,
    ) -> None:
        super().__init__()
        for value, arg in ((in_channels, "in_channels"), (out_channels, "out_channels")):
            check_positive_int(value, arg)
        check_positive_int(kernel_size, "kernel_size")
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.up = up
        self.padding = kernel_size // 2
        self.register_buffer("kernel", fir_kernel(), persistent=False)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, I, H, W]`` and ``w`` ``[N, w_dim]`` -> ``[N, O, H, W]`` (``2H`` with
        ``up``)."""
        if self.up:
            x = upsample2d(x, self.kernel)
        styles = self.affine(w)
        return modulated_conv2d(
            x, self.weight * self.weight_gain, styles, self.demodulate, self.padding
        )

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, demodulate={self.demodulate}, up={self.up}"
