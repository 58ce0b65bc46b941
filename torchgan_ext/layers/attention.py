"""SAGAN self-attention for feature maps, computed with ``scaled_dot_product_attention``.

Self-attention as in SAGAN (Zhang et al., "Self-Attention Generative Adversarial Networks",
ICML 2019, https://arxiv.org/abs/1805.08318) in the form BigGAN uses it (Brock et al.,
https://arxiv.org/abs/1809.11096). For a feature map :math:`x \\in \\mathbb{R}^{C \\times N}`
(:math:`N = HW` positions):

.. math::
    q = W_q x, \\quad k = \\mathrm{pool}(W_k x), \\quad v = \\mathrm{pool}(W_v x)

.. math::
    \\beta_{j,i} = \\frac{\\exp(q_j^\\top k_i)}{\\sum_{i'} \\exp(q_j^\\top k_{i'})}, \\qquad
    o_j = W_o \\sum_i \\beta_{j,i} v_i, \\qquad y_j = x_j + \\gamma\\, o_j

:math:`W_q, W_k` map :math:`C \\to C/8`, :math:`W_v` maps :math:`C \\to C/2`, :math:`W_o` maps
:math:`C/2 \\to C` (all 1x1 convolutions with spectral norm), ``pool`` is a 2x2 max-pool (so
there are :math:`M = N/4` keys) and the gain :math:`\\gamma` starts at 0, so the layer is the
identity at initialisation. The softmax runs over the keys :math:`i`: the weights of every output
position :math:`j` sum to 1. As in the paper, the logits are not scaled by
:math:`1/\\sqrt{C/8}`.

The weighted sum is computed by :func:`torch.nn.functional.scaled_dot_product_attention`, so
CUDA uses the fused flash / memory-efficient kernels and the CPU its fused flash kernel: the
:math:`N \\times M` attention matrix is never stored (not even for the backward pass) and memory
stays linear in :math:`N`. The fused kernels take only inputs with a unit last-dimension stride
and one width for queries, keys and values, so queries and keys are zero-padded from
:math:`C/8` to :math:`C/2` channels (which leaves every :math:`q_j^\\top k_i` unchanged); without
that the CPU falls back to the unfused "math" path that stores the matrix. The matrix is computed
only when asked for (``return_attention=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral import make_conv2d

__all__ = ["SelfAttention2d"]


def _heads(t: torch.Tensor, width: int) -> torch.Tensor:
    """``[B, c, H, W]`` -> contiguous ``[B, 1, H*W, width]``, zero-padding the channels."""
    t = t.flatten(2).transpose(1, 2)
    if t.shape[-1] < width:
        t = F.pad(t, (0, width - t.shape[-1]))
    return t.contiguous().unsqueeze(1)


class SelfAttention2d(nn.Module):
    """SAGAN self-attention over the positions of a ``[B, C, H, W]`` feature map.

    Args:
        in_channels: :math:`C`, channels of the input (and of the output).
        key_channels: Channels of queries and keys (default :math:`\\max(1, C/8)`).
        value_channels: Channels of the values (default :math:`\\max(1, C/2)`).
        pool: 2x2 max-pool keys and values (SAGAN/BigGAN: 4x fewer keys). Odd sizes are pooled
            with ``ceil_mode``, so no position is dropped.
        spectral_norm: Spectral norm on the four 1x1 convolutions.

    Shape:
        Input ``[B, C, H, W]``; output of the same shape. Any ``H`` and ``W`` (non-square, odd).

    Example:
        >>> attn = SelfAttention2d(64)
        >>> y = attn(torch.randn(2, 64, 16, 16))
        >>> y, weights = attn(torch.randn(2, 64, 16, 16), return_attention=True)
        >>> weights.shape  # [B, H*W queries, (H/2)*(W/2) keys]
        torch.Size([2, 256, 64])
    """

    def __init__(
        self,
        in_channels: int,
        key_channels: int | None = None,
        value_channels: int | None = None,
        pool: bool = True,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels: must be >= 1, got {in_channels}")
        key_channels = key_channels if key_channels is not None else max(1, in_channels // 8)
        value_channels = value_channels if value_channels is not None else max(1, in_channels // 2)
        if key_channels < 1 or value_channels < 1:
            raise ValueError(
                f"key_channels and value_channels must be >= 1, got {key_channels} and "
                f"{value_channels}"
            )
        self.in_channels = in_channels
        self.key_channels = key_channels
        self.value_channels = value_channels
        self.pool = pool
        sn = spectral_norm
        self.query = make_conv2d(in_channels, key_channels, 1, bias=False, spectral_norm=sn)
        self.key = make_conv2d(in_channels, key_channels, 1, bias=False, spectral_norm=sn)
        self.value = make_conv2d(in_channels, value_channels, 1, bias=False, spectral_norm=sn)
        self.out = make_conv2d(value_channels, in_channels, 1, bias=False, spectral_norm=sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def _pooled(self, t: torch.Tensor) -> torch.Tensor:
        if not self.pool:
            return t
        return F.max_pool2d(t, kernel_size=2, stride=2, ceil_mode=True)

    def forward(
        self, x: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend over all positions of ``x``.

        Args:
            x: ``[B, C, H, W]``.
            return_attention: Also return the attention weights ``[B, H*W, M]`` (queries in
                row-major order; ``M`` keys, ``M = ceil(H/2) * ceil(W/2)`` with pooling). They
                are computed only here, for visualisation.

        Returns:
            ``x + gamma * o``, and the weights when ``return_attention``.
        """
        b, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"SelfAttention2d expects {self.in_channels} channels, got {c}")
        # [B, 1 head, N or M, d] with unit last-dim stride and one width d for q, k and v:
        # the fused CPU flash kernel (and CUDA's flash kernel) take nothing else. Zero channels
        # appended to q and k leave q.k unchanged; those appended to v are cut off again.
        d = max(self.key_channels, self.value_channels)
        q = _heads(self.query(x), d)
        k = _heads(self._pooled(self.key(x)), d)
        v = _heads(self._pooled(self.value(x)), d)
        o = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        o = o.squeeze(1)[..., : self.value_channels].transpose(1, 2)
        o = o.reshape(b, self.value_channels, h, w)
        y = x + self.gamma * self.out(o)
        if return_attention:
            weights = torch.softmax(q.squeeze(1) @ k.squeeze(1).transpose(1, 2), dim=-1)
            return y, weights
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, key_channels={self.key_channels}, "
            f"value_channels={self.value_channels}, pool={self.pool}"
        )
