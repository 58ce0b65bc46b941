"""The U-Net discriminator of U-Net GAN: one decision per image and one per pixel.

Schonfeld, Schiele and Khoreva, "A U-Net Based Discriminator for Generative Adversarial
Networks", CVPR 2020, https://arxiv.org/abs/2002.12655.

Architecture (``image_size`` 128, ``ch`` 64, default channel multipliers)::

    image 3x128x128
      | ResBlockDown (no pre-activation)  -> e1  64 x 64x64  ----------------------------.
      | ResBlockDown                      -> e2 128 x 32x32  ----------------------.     |
      | ResBlockDown                      -> e3 256 x 16x16  ----------------.     |     |
      | ResBlockDown                      -> e4 512 x  8x8   ----------.     |     |     |
      | ResBlockDown                      -> e5 1024 x 4x4 (bottleneck)|     |     |     |
      |                                        |                       |     |     |     |
      |   global head: ReLU -> sum over HxW -> SN linear -> 1 logit    |     |     |     |
      |                (+ <embed(y), h> with num_classes)               |     |     |     |
      v                                                                |     |     |     |
    ResBlockUp (no norm, nearest x2) e5 -> 512 x 8x8,   concat e4 <----'     |     |     |
    ResBlockUp                         -> 256 x 16x16,  concat e3 <----------'     |     |
    ResBlockUp                         -> 128 x 32x32,  concat e2 <----------------'     |
    ResBlockUp                         ->  64 x 64x64,  concat e1 <----------------------'
    ResBlockUp                         ->  64 x 128x128
      per-pixel head: 1x1 conv (no spectral norm) -> 1 logit per pixel
                      (+ <embed(y), h_ij> with num_classes)

Every convolution, linear layer and embedding has spectral norm except the last 1x1 conv. The
per-pixel head reads the last decoder output as it is, like the authors' code; the first
release of this project applied a ReLU first (``pixel_head_relu=True`` keeps that head: the
parameters are the same, so checkpoints of either head load into both, but an old checkpoint
computes what it was trained to compute only with the flag).
Encoder blocks halve the resolution with 2x2 average pooling down to 4x4; decoder blocks double
it (nearest neighbour) and concatenate the encoder features of the same resolution.

``forward`` returns ``(global_logits [B], pixel_logits [B, 1, H, W])``; the U-Net losses
(``unet_generator`` / ``unet_discriminator``) consume the tuple, and :meth:`decision_grid` shows
the per-pixel decisions next to the images in the sample grids.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator

from ..layers import (
    ResBlockDown,
    ResBlockUp,
    SelfAttention2d,
    init_weights,
    make_embedding,
    make_linear,
)

__all__ = ["UNetDiscriminator", "DEFAULT_D_MULTIPLIERS", "num_resolution_blocks"]

#: Encoder channel multipliers (of ``ch``) per input resolution; the decoder mirrors them.
DEFAULT_D_MULTIPLIERS: dict[int, tuple[int, ...]] = {
    32: (1, 2, 4),
    64: (1, 2, 4, 8),
    128: (1, 2, 4, 8, 16),
    256: (1, 2, 4, 8, 8, 16),
}


def num_resolution_blocks(size: int, arg: str) -> int:
    """Number of x2 steps between 4x4 and ``size`` (``size`` must be ``4 * 2^n``, ``n >= 1``)."""
    n = math.log2(size / 4) if size >= 8 else -1
    if n < 1 or n != int(n):
        raise ValueError(f"{arg} must be 4 * 2^n (8, 16, 32, 64, 128, 256, ...), got {size}")
    return int(n)


class UNetDiscriminator(Discriminator):
    """U-Net discriminator: encoder with a per-image head, decoder with a per-pixel head.

    Args:
        in_channels: Image channels (taken from the dataset's ``channels`` when left out).
        image_size: Image side length, ``4 * 2^n`` (taken from the dataset when left out).
        ch: Base channel width.
        channel_multipliers: Encoder widths as multiples of ``ch``, one per down block
            (``log2(image_size / 4)`` of them); default :data:`DEFAULT_D_MULTIPLIERS` (for other
            sizes: doubling up to 16).
        num_classes: Class-conditional projection on both heads; ``forward`` then takes labels.
        attention_resolutions: Self-attention (SAGAN) after the encoder block that outputs
            each of these resolutions (e.g. ``[64]``).
        spectral_norm: Spectral norm on every layer but the last 1x1 convolution.
        init: Weight initialisation (``ortho`` as BigGAN, ``xavier``, ``normal``, ``kaiming``).
        pixel_head_relu: Apply a ReLU to the last decoder output before the per-pixel head
            (and its class projection). ``False`` (default) is the authors' head; ``True`` is
            the head of this project's earlier versions, for their checkpoints.

    Shape:
        Input ``[B, C, H, W]`` (and labels ``[B]`` when conditional). Output the tuple
        ``(global_logits [B], pixel_logits [B, 1, H, W])``.
    """

    data_arguments = {"in_channels": "channels", "image_size": "image_size"}

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 128,
        ch: int = 64,
        channel_multipliers: Sequence[int] | None = None,
        num_classes: int | None = None,
        attention_resolutions: Sequence[int] = (),
        spectral_norm: bool = True,
        init: str = "ortho",
        pixel_head_relu: bool = False,
    ) -> None:
        super().__init__(in_channels, label_type="none" if num_classes is None else "required")
        n = num_resolution_blocks(image_size, "image_size")
        if channel_multipliers is None:
            mults = DEFAULT_D_MULTIPLIERS.get(image_size) or tuple(min(16, 2**i) for i in range(n))
        else:
            mults = tuple(int(m) for m in channel_multipliers)
        if len(mults) != n:
            raise ValueError(
                f"channel_multipliers: image_size {image_size} needs {n} (one per down block "
                f"to 4x4), got {len(mults)}"
            )
        if ch < 1 or min(mults) < 1:
            raise ValueError("ch and channel_multipliers must be >= 1")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        resolutions = [image_size // 2 ** (i + 1) for i in range(n)]
        bad = [r for r in attention_resolutions if r not in resolutions]
        if bad:
            raise ValueError(
                f"attention_resolutions {bad} are not encoder output resolutions; "
                f"valid: {resolutions}"
            )
        sn = spectral_norm
        self.image_size = image_size
        self.num_classes = num_classes
        self.pixel_head_relu = bool(pixel_head_relu)
        widths = [ch * m for m in mults]
        self.encoder = nn.ModuleList()
        self.encoder_attention = nn.ModuleDict()
        c_in = in_channels
        for i, (c_out, res) in enumerate(zip(widths, resolutions, strict=True)):
            self.encoder.append(ResBlockDown(c_in, c_out, preactivation=i > 0, spectral_norm=sn))
            if res in attention_resolutions:
                self.encoder_attention[str(i)] = SelfAttention2d(c_out, spectral_norm=sn)
            c_in = c_out
        self.global_linear = make_linear(widths[-1], 1, spectral_norm=sn)
        # decoder: up to the resolution of e_{n-1}, ..., e_1, then the image resolution
        self.decoder = nn.ModuleList()
        dec_widths = [*reversed(widths[:-1]), ch]
        c_in = widths[-1]
        for j, c_out in enumerate(dec_widths):
            self.decoder.append(ResBlockUp(c_in, c_out, batch_norm=False, spectral_norm=sn))
            skip = widths[-2 - j] if j < n - 1 else 0
            c_in = c_out + skip
        self.pixel_conv = nn.Conv2d(c_in, 1, kernel_size=1)
        if num_classes is not None:
            self.global_embed = make_embedding(num_classes, widths[-1], spectral_norm=sn)
            self.pixel_embed = make_embedding(num_classes, c_in, spectral_norm=sn)
        init_weights(self, init)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both decisions for a batch of images.

        Args:
            x: Images ``[B, C, H, W]`` with ``H = W = image_size``.
            labels: Class labels ``[B]`` for a conditional discriminator. Without them the
                class projection terms are left out (used to draw decision maps).

        Returns:
            ``(global_logits [B], pixel_logits [B, 1, H, W])``; a logit above 0 means "real".
        """
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(
                f"UNetDiscriminator(image_size={self.image_size}) got images of size "
                f"{tuple(x.shape[-2:])}"
            )
        skips = []
        h = x
        for i, block in enumerate(self.encoder):
            h = block(h)
            attention = self.encoder_attention[str(i)] if str(i) in self.encoder_attention else None
            if attention is not None:
                h = attention(h)
            skips.append(h)
        pooled = F.relu(h).sum(dim=(2, 3))
        global_logits = self.global_linear(pooled).squeeze(1)
        use_labels = self.num_classes is not None and labels is not None
        if use_labels:
            global_logits = global_logits + (self.global_embed(labels) * pooled).sum(1)
        for j, block in enumerate(self.decoder):
            h = block(h)
            if j < len(self.decoder) - 1:
                h = torch.cat([h, skips[-2 - j]], dim=1)
        if self.pixel_head_relu:
            h = F.relu(h)
        pixel_logits = self.pixel_conv(h)
        if use_labels:
            emb = self.pixel_embed(labels)[:, :, None, None]
            pixel_logits = pixel_logits + (emb * h).sum(1, keepdim=True)
        return global_logits, pixel_logits

    @torch.no_grad()
    def decision_grid(self, images: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Images next to their per-pixel decision maps, for the sample grids.

        Each image is followed by its map :math:`2\\sigma(D_{dec}) - 1` in [-1, 1] (white: real,
        black: fake), repeated over the image channels. A conditional discriminator draws the
        maps without the class projection (no labels are given here).

        Returns:
            ``(images [2N, C, H, W] in [-1, 1], nrow)`` with image/map pairs side by side.
        """
        _, pixel = self(images)
        maps = (2 * torch.sigmoid(pixel) - 1).expand(-1, images.size(1), -1, -1)
        pairs = torch.stack([images.clamp(-1, 1), maps.to(images.dtype)], dim=1)
        per_row = max(1, int(math.ceil(math.sqrt(images.size(0)))))
        return pairs.flatten(0, 1), 2 * per_row
