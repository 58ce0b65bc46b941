"""The Context Encoder for inpainting (Pathak et al., CVPR 2016).

`Context Encoders: Feature Learning by Inpainting <https://arxiv.org/abs/1604.07379>`_ trains an
encoder-decoder :math:`F` to fill a dropped image region from its surroundings, with a
reconstruction (L2) and an adversarial loss. The networks follow the authors' Torch code
(``train.lua``, ``train_random.lua``), which is DCGAN-shaped:

* generator: stride-2 4x4 convs (LeakyReLU 0.2, batch norm after all but the first) down to
  4x4, a 4x4 conv to a ``bottleneck``-channel 1x1 code (batch norm, LeakyReLU), then a 4x4
  transposed conv back to 4x4 and stride-2 4x4 transposed convs (batch norm, ReLU) up to the
  predicted region, tanh at the end. With the ``center`` mask the prediction is the central
  square of half the image side (64x64 of a 128x128 image); with ``random_block`` masks it is
  the whole image;
* discriminator (:class:`ConvDiscriminator`): stride-2 4x4 convs (LeakyReLU 0.2, batch norm
  after all but the first) down to 4x4, then a 4x4 conv to one logit. It judges the predicted
  region (the centre patch, or the whole image).

The masking lives in the generator (:meth:`ContextEncoderGenerator.mask_batch`), so the
losses and the sample grids drop the same region: the generator's input is the masked image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_choice, check_int, check_number, check_positive_int
from .pix2pix import init_gan_weights

__all__ = [
    "MASKS",
    "ContextEncoderGenerator",
    "ConvDiscriminator",
    "ContextEncoderDiscriminator",
    "MaskedBatch",
    "conv_widths",
    "down_stack",
    "square_side",
    "check_side",
    "up_stack",
]

#: Values of ``mask``.
MASKS = ("center", "random_block")


def square_side(image_size: int | Sequence[int], arg: str = "image_size", minimum: int = 8) -> int:
    """The side of a square power-of-two image size >= ``minimum`` (``int`` or ``[s, s]``)."""
    if isinstance(image_size, Sequence) and not isinstance(image_size, str):
        if len(image_size) != 2 or len(set(image_size)) != 1:
            raise ValueError(f"{arg}: expected a square size, got {list(image_size)}")
        image_size = image_size[0]
    side = check_positive_int(image_size, arg)
    if side < minimum or side & (side - 1):
        raise ValueError(f"{arg}: must be a power of two >= {minimum}, got {side}")
    return side


def check_side(images: torch.Tensor, side: int, what: str) -> None:
    """``ValueError`` unless ``images`` are ``side`` x ``side`` (``what`` names the model)."""
    if tuple(images.shape[-2:]) != (side, side):
        raise ValueError(
            f"{what} was built for {side}x{side} images, got {images.shape[-2]}x{images.shape[-1]}"
        )


def conv_widths(layers: int, base: int) -> list[int]:
    """Widths of ``layers`` stride-2 layers ending at 4x4: ``base`` x (..., 1, 1, 2, 4, 8).

    The DCGAN / Context Encoder / DiscoGAN pattern: 64-128-256-512 from 64x64 images, one
    more 64-channel layer in front for 128x128; fewer layers keep the last ones.
    """
    mults = [1, 2, 4, 8]
    full = [1] * max(0, layers - 4) + mults
    return [base * m for m in full[len(full) - layers :]]


def down_stack(in_channels: int, side: int, base: int) -> tuple[nn.Sequential, int]:
    """Stride-2 4x4 convs from ``side`` down to 4x4: LeakyReLU(0.2), batch norm after all but
    the first conv, no conv biases (the authors zero them). Returns the stack and its width."""
    layers = int(math.log2(side // 4))
    widths = conv_widths(layers, base)
    modules: list[nn.Module] = []
    cin = in_channels
    for i, w in enumerate(widths):
        modules.append(nn.Conv2d(cin, w, 4, 2, 1, bias=False))
        if i > 0:
            modules.append(nn.BatchNorm2d(w))
        modules.append(nn.LeakyReLU(0.2, inplace=True))
        cin = w
    return nn.Sequential(*modules), cin


def up_stack(in_channels: int, side: int, base: int, out_channels: int) -> list[nn.Module]:
    """Stride-2 4x4 transposed convs from 4x4 up to ``side``: batch norm + ReLU between them,
    ``out_channels`` and tanh at the end (the mirror of :func:`down_stack`)."""
    layers = int(math.log2(side // 4))
    widths = list(reversed(conv_widths(layers, base)))[1:]
    modules: list[nn.Module] = []
    cin = in_channels
    for w in widths:
        modules += [
            nn.ConvTranspose2d(cin, w, 4, 2, 1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        ]
        cin = w
    modules += [nn.ConvTranspose2d(cin, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
    return modules


class MaskedBatch(NamedTuple):
    """What :meth:`ContextEncoderGenerator.mask_batch` returns."""

    #: The masked images (the generator's input).
    inputs: torch.Tensor
    #: The real content of the predicted region.
    target: torch.Tensor
    #: Per-pixel weights of the L2 loss over the prediction (``[B, 1, h, w]``).
    weights: torch.Tensor
    #: 1 where the input was filled, over the whole image (``[B, 1, H, W]``).
    hole: torch.Tensor


class ContextEncoderGenerator(Generator):
    """The Context Encoder: masked image -> content of the dropped region.

    Paper: https://arxiv.org/abs/1604.07379 (sections 3, 4 and 5.1).

    Args:
        channels: Image channels (the dataset's).
        image_size: Side of the square power-of-two images (128 in the paper).
        mask: ``center`` (the central square of half the side is dropped; the prediction is
            that square) or ``random_block`` (``num_blocks`` squares of a quarter of the side
            at random places, covering up to 1/4 of the image; the prediction is the whole
            image).
        overlap: Pixels of the predicted region that stay visible around the hole (the authors'
            ``overlapPred``, 4 at 128x128): the ``center`` hole is the central square shrunk by
            ``overlap``; a ``random_block`` prediction counts ``overlap`` pixels around the
            blocks.
        overlap_weight: Weight of the L2 loss on those border pixels (10 in the authors' code).
        fill: Value of the dropped pixels, one number or one per channel, in [-1, 1] (the
            authors fill with the ImageNet mean colour, 117/104/123 of 255).
        num_blocks: Squares of a ``random_block`` mask.
        bottleneck: Channels of the 1x1 code (4000 in the authors' command lines).
        base_channels: Width of the first encoder conv and the last decoder layer (64).

    Inputs: ``forward(x)`` with ``x`` the masked images ``[B, C, H, W]`` (:meth:`mask_batch`).
    Returns: the prediction ``[B, C, H/2, W/2]`` (``center``) or ``[B, C, H, W]``.
    """

    data_arguments = {"channels": "channels", "image_size": "image_size"}

    def __init__(
        self,
        channels: int = 3,
        image_size: int | Sequence[int] = 128,
        mask: str = "center",
        overlap: int = 4,
        overlap_weight: float = 10.0,
        fill: float | Sequence[float] = 0.0,
        num_blocks: int = 4,
        bottleneck: int = 4000,
        base_channels: int = 64,
    ) -> None:
        self.channels = check_positive_int(channels, "channels")
        super().__init__(encoding_dims=self.channels)
        #: Channels of the input images (the name ``--sample`` and the other image generators use).
        self.in_channels = self.channels
        self.image_size = square_side(image_size, minimum=16)
        self.mask = check_choice(mask, "mask", MASKS)
        self.overlap = check_int(overlap, "overlap")
        if self.mask == "center" and 2 * self.overlap >= self.image_size // 2:
            raise ValueError(
                f"overlap: {overlap} px leaves no hole in the {self.image_size // 2} px centre"
            )
        self.overlap_weight = float(check_number(overlap_weight, "overlap_weight"))
        fills = [fill] if isinstance(fill, int | float) else list(fill)
        if len(fills) not in (1, self.channels) or not all(
            isinstance(v, int | float) and -1.0 <= v <= 1.0 for v in fills
        ):
            raise ValueError(
                f"fill: expected one number or {self.channels} numbers in [-1, 1], got {fill!r}"
            )
        self.register_buffer("fill", torch.tensor(fills, dtype=torch.float32).view(1, -1, 1, 1))
        self.num_blocks = check_positive_int(num_blocks, "num_blocks")
        width = check_positive_int(bottleneck, "bottleneck")
        base = check_positive_int(base_channels, "base_channels")
        self.out_size = self.image_size // 2 if self.mask == "center" else self.image_size
        encoder, top = down_stack(self.channels, self.image_size, base)
        decoder_in = conv_widths(int(math.log2(self.out_size // 4)), base)[-1]
        self.main = nn.Sequential(
            encoder,
            nn.Conv2d(top, width, 4, bias=False),
            nn.BatchNorm2d(width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.ConvTranspose2d(width, decoder_in, 4, bias=False),
            nn.BatchNorm2d(decoder_in),
            nn.ReLU(inplace=True),
            *up_stack(decoder_in, self.out_size, base, self.channels),
        )
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_side(x, self.image_size, "the context encoder")
        return self.main(x)

    # -- masks ------------------------------------------------------------------------------
    def _random_blocks(self, batch: int, device: torch.device) -> torch.Tensor:
        side, block = self.image_size, self.image_size // 4
        # positions drawn on the host (torch's seeded generator), so runs repeat exactly
        corners = torch.randint(0, side - block + 1, (batch, self.num_blocks, 2)).to(device)
        coords = torch.arange(side, device=device).view(1, 1, side)
        rows, cols = ((coords >= c) & (coords < c + block) for c in corners.split(1, -1))
        blocks = rows.unsqueeze(-1) & cols.unsqueeze(-2)  # [B, n, side, side]
        return blocks.any(1, keepdim=True).float()

    def mask_batch(self, images: torch.Tensor) -> MaskedBatch:
        """Drop a region of each image: ``(inputs, target, weights, hole)``.

        ``center``: the hole is the central square shrunk by ``overlap``; the target is the
        whole central square and its ``overlap``-pixel border (visible in the input) weighs
        ``overlap_weight`` in the L2 loss. ``random_block``: the hole is the union of random
        squares; the target is the image; the weights are 1 in the hole, ``overlap_weight``
        within ``overlap`` pixels of it and 0 elsewhere.
        """
        b = images.shape[0]
        check_side(images, self.image_size, "the context encoder")
        s, o = self.image_size, self.overlap
        if self.mask == "center":
            q = s // 4
            hole = images.new_zeros(b, 1, s, s)
            hole[..., q + o : 3 * q - o, q + o : 3 * q - o] = 1.0
            target = images[..., q : 3 * q, q : 3 * q]
            weights = torch.full_like(target[:, :1], self.overlap_weight)
            weights[..., o : 2 * q - o, o : 2 * q - o] = 1.0
        else:
            hole = self._random_blocks(b, images.device).to(images.dtype)
            target = images
            around = F.max_pool2d(hole, 2 * o + 1, 1, o) if o > 0 else hole
            weights = hole + self.overlap_weight * (around - hole)
        inputs = images * (1.0 - hole) + self.fill.to(images.dtype) * hole
        return MaskedBatch(inputs, target, weights, hole)

    def paste(self, inputs: torch.Tensor, prediction: torch.Tensor, hole: torch.Tensor):
        """The completed images: the prediction in the hole, the input elsewhere."""
        if self.mask == "center":
            q = self.image_size // 4
            full = inputs.clone()
            full[..., q : 3 * q, q : 3 * q] = prediction.to(inputs.dtype)
            prediction = full
        return inputs * (1.0 - hole) + prediction.to(inputs.dtype) * hole

    def inpaint(self, images: torch.Tensor) -> torch.Tensor:
        """Complete ``images`` ``[B, C, H, W]``: drop the mask's region, predict it, paste it.

        Returns the completed images (the input outside the hole), as ``--sample`` writes them.
        """
        return self._complete(images)[1]

    def _complete(self, images: torch.Tensor) -> tuple[MaskedBatch, torch.Tensor]:
        """``(mask_batch(images), completed images)``: one mask for both."""
        masked = self.mask_batch(images)
        return masked, self.paste(masked.inputs, self(masked.inputs), masked.hole)

    def sampler(self, sample_size: int, device: Any) -> list[torch.Tensor]:
        """``sample_size`` random masked images (shape checks; grids use a real batch)."""
        images = torch.rand(sample_size, self.channels, self.image_size, self.image_size) * 2 - 1
        return [self.mask_batch(images.to(device)).inputs]

    @torch.no_grad()
    def sample_grid(
        self,
        batch: Sequence[torch.Tensor] | None,
        noise: Sequence[torch.Tensor],
        models: Mapping[str, nn.Module] | None = None,
    ) -> tuple[torch.Tensor, int]:
        """Rows of masked input | completed image | original of the fixed real batch."""
        if isinstance(batch, tuple | list) and batch:
            images = batch[0]
        elif isinstance(batch, torch.Tensor):
            images = batch
        else:
            images = noise[0]
        masked, done = self._complete(images)
        columns = [masked.inputs.to(done.dtype), done, images.to(done.dtype)]
        return torch.stack(columns, dim=1).flatten(0, 1), 3


class ConvDiscriminator(Discriminator):
    """The DCGAN-shaped discriminator of the Context Encoder and DiscoGAN: one logit per image.

    Stride-2 4x4 convs from ``input_size`` down to 4x4 (LeakyReLU 0.2, batch norm after all but
    the first, widths 64-128-256-512 from 64x64) and a 4x4 conv to one logit.

    Args:
        channels: Channels of the judged images.
        input_size: Side of the judged (square, power-of-two) images.
        base_channels: Width of the first conv (64).

    Returns (``forward``): logits ``[B]``. :meth:`features` also returns the activations of
    every layer after the first (DiscoGAN's feature-matching term).
    """

    def __init__(self, channels: int = 3, input_size: int = 64, base_channels: int = 64) -> None:
        check_positive_int(channels, "channels")
        super().__init__(input_dims=channels, label_type="none")
        self.input_size = square_side(input_size, "input_size")
        base = check_positive_int(base_channels, "base_channels")
        self.body, top = down_stack(channels, self.input_size, base)
        self.head = nn.Conv2d(top, 1, 4, bias=False)
        init_gan_weights(self)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits [B], activations after each LeakyReLU but the first)``."""
        check_side(x, self.input_size, "this discriminator")
        feats = []
        for m in self.body:
            x = m(x)
            if isinstance(m, nn.LeakyReLU):
                feats.append(x)
        return self.head(x).flatten(), feats[1:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]


class ContextEncoderDiscriminator(ConvDiscriminator):
    """The Context Encoder's adversary: judges the predicted region.

    Paper: https://arxiv.org/abs/1604.07379 (section 3.2); the authors' ``netD``.

    Args:
        channels: Image channels (the dataset's).
        image_size: Side of the images (the dataset's).
        mask: The generator's ``mask``: ``center`` judges the central square (half the side),
            ``random_block`` the whole image.
        base_channels: Width of the first conv (64).
    """

    data_arguments = {"channels": "channels", "image_size": "image_size"}
    #: What it judges: the region its loss cuts from the images or fills in (read by
    #: callbacks that judge the batch themselves, which refuse it).
    judges = "the region predicted by the context encoder"

    def __init__(
        self,
        channels: int = 3,
        image_size: int | Sequence[int] = 128,
        mask: str = "center",
        base_channels: int = 64,
    ) -> None:
        side = square_side(image_size, minimum=16)
        self.mask = check_choice(mask, "mask", MASKS)
        self.image_size = side
        super().__init__(channels, side // 2 if mask == "center" else side, base_channels)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """As :meth:`ConvDiscriminator.features`; with the ``center`` mask a whole image is
        judged by its central square (the region the generator predicts)."""
        if self.mask == "center" and tuple(x.shape[-2:]) == (self.image_size, self.image_size):
            q = self.image_size // 4
            x = x[..., q : 3 * q, q : 3 * q]
        return super().features(x)
