"""CycleGAN's ResNet generator (Zhu et al., ICCV 2017).

`Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks
<https://arxiv.org/abs/1703.10593>`_ trains two generators, :math:`G: A \\to B` and
:math:`F: B \\to A`, and two unconditional PatchGAN discriminators
(:class:`~torchgan_ext.models.pix2pix.PatchGANDiscriminator` with ``conditional: false``).
The generator follows Johnson et al.'s network (paper appendix 7.2): ``c7s1-64, d128, d256``,
``n`` residual blocks ``R256`` (6 for 128x128 images, 9 for 256x256 and up),
``u128, u64, c7s1-3`` with reflection padding, instance norm and ReLU, and tanh at the end.

In a run the two generators are two models of the config: ``generator`` (``direction: a2b``)
and ``generator_ba`` (``direction: b2a``); each draws its own cycle in the sample grids
(:meth:`CycleGANGenerator.sample_grid`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torchgan.models import Generator

from .._validation import check_choice, check_int, check_positive_int
from .pix2pix import NORMS, display_images, init_gan_weights, norm_layer

__all__ = [
    "CycleGANGenerator",
    "ReflectionResidualBlock",
    "TwoWayTranslation",
    "DIRECTIONS",
    "TWO_DOMAIN_DATA",
    "domain_channels",
]

#: Values of ``direction``.
DIRECTIONS = ("a2b", "b2a")


#: Model arguments a two-domain dataset (``unpaired_images``, ``paired_images``) fills in.
TWO_DOMAIN_DATA = {
    "channels_a": "channels_a",
    "channels_b": "channels_b",
    "image_size": "image_size",
}


def domain_channels(channels_a: int, channels_b: int, direction: str) -> tuple[int, int]:
    """``(input channels, output channels)`` of a translation ``direction`` (``a2b``/``b2a``),
    after checking both counts and the direction."""
    check_positive_int(channels_a, "channels_a")
    check_positive_int(channels_b, "channels_b")
    check_choice(direction, "direction", DIRECTIONS)
    return (channels_a, channels_b) if direction == "a2b" else (channels_b, channels_a)


class ReflectionResidualBlock(nn.Module):
    """``x + norm(conv3x3(ReLU(norm(conv3x3(x)))))`` with reflection padding (CycleGAN's R)."""

    def __init__(self, channels: int, norm: str = "instance") -> None:
        super().__init__()
        bias = norm != "batch"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TwoWayTranslation:
    """What the generators of a two-way unpaired translation share (CycleGAN, DiscoGAN): a
    ``direction`` (``a2b`` or ``b2a``), ``in_channels`` and ``image_size``, random inputs for
    shape checks, the generator of the other direction among the run's models, and sample
    grids that draw each generator's cycle."""

    direction: str
    in_channels: int
    image_size: int

    def sampler(self, sample_size: int, device: Any) -> list[torch.Tensor]:
        """``sample_size`` random input images in [-1, 1] (shape checks, benchmarks; sample
        grids translate a fixed real batch, :meth:`sample_grid`)."""
        s = self.image_size
        return [torch.rand(sample_size, self.in_channels, s, s, device=device) * 2.0 - 1.0]

    def inverse(self, models: Mapping[str, nn.Module] | None) -> nn.Module | None:
        """The generator of the other direction among ``models`` (``None`` if there is none)."""
        found = [
            m
            for m in (models or {}).values()
            if type(m) is type(self) and m.direction != self.direction
        ]
        if len(found) > 1:
            raise ValueError(
                f"{len(found)} {type(self).__name__} generators translate "
                f"{self.direction[::-1]}; a run has one per direction"
            )
        return found[0] if found else None

    @torch.no_grad()
    def sample_grid(
        self,
        batch: Sequence[torch.Tensor] | None,
        noise: Sequence[torch.Tensor],
        models: Mapping[str, nn.Module] | None = None,
    ) -> tuple[torch.Tensor, int]:
        """The cycle of the fixed batch ``(images A, images B)``: rows of
        ``A | G(A) | F(G(A))`` for ``a2b`` (``B | F(B) | G(F(B))`` for ``b2a``), label maps
        in their palette; the third column needs the inverse generator among ``models``."""
        if isinstance(batch, tuple | list) and len(batch) >= 2:
            x = batch[0] if self.direction == "a2b" else batch[1]
        else:
            x = noise[0]
        y = self(x)
        columns = [display_images(x).to(y.dtype), display_images(y)]
        inverse = self.inverse(models)
        if inverse is not None:
            columns.append(display_images(inverse(y)).to(y.dtype))
        # a grey domain next to a colour one: grey images drawn with three equal channels
        width = max(c.shape[1] for c in columns)
        columns = [c.expand(-1, width, -1, -1) for c in columns]
        return torch.stack(columns, dim=1).flatten(0, 1), len(columns)


class CycleGANGenerator(TwoWayTranslation, Generator):
    """CycleGAN's ResNet generator: an image of one domain -> an image of the other.

    Paper: https://arxiv.org/abs/1703.10593 (appendix 7.2).

    Args:
        channels_a: Channels of domain A (the dataset's ``channels_a``).
        channels_b: Channels of domain B (the dataset's ``channels_b``).
        direction: ``a2b`` (:math:`G`, input A, output B) or ``b2a`` (:math:`F`).
        image_size: Side of the images (for :meth:`sampler`; any multiple of 4 runs).
        base_channels: Width of the first conv (64).
        num_blocks: Residual blocks (9 for 256x256, 6 for 128x128).
        norm: ``instance`` (the paper), ``batch`` or ``none``.

    Inputs: ``forward(x)`` with ``x`` ``[B, C_in, H, W]``, ``H`` and ``W`` multiples of 4.
    """

    data_arguments = TWO_DOMAIN_DATA

    def __init__(
        self,
        channels_a: int = 3,
        channels_b: int = 3,
        direction: str = "a2b",
        image_size: int | Sequence[int] = 256,
        base_channels: int = 64,
        num_blocks: int = 9,
        norm: str = "instance",
    ) -> None:
        cin, cout = domain_channels(channels_a, channels_b, direction)
        self.direction = direction
        super().__init__(encoding_dims=cin)
        if isinstance(image_size, Sequence) and not isinstance(image_size, str):
            image_size = image_size[0] if len(set(image_size)) == 1 else image_size
        side = check_positive_int(image_size, "image_size")
        if side % 4:
            raise ValueError(f"image_size: must be a multiple of 4, got {side}")
        w = check_positive_int(base_channels, "base_channels")
        check_int(num_blocks, "num_blocks")
        check_choice(norm, "norm", NORMS)
        self.in_channels, self.out_channels, self.image_size = cin, cout, side
        bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(cin, w, 7, bias=bias),
            norm_layer(norm, w),
            nn.ReLU(inplace=True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(w * mult, w * mult * 2, 3, 2, 1, bias=bias),
                norm_layer(norm, w * mult * 2),
                nn.ReLU(inplace=True),
            ]
        layers += [ReflectionResidualBlock(4 * w, norm) for _ in range(num_blocks)]
        for mult in (4, 2):
            layers += [
                nn.ConvTranspose2d(w * mult, w * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                norm_layer(norm, w * mult // 2),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, cout, 7), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(
                f"the CycleGAN generator needs image sides that are multiples of 4, got "
                f"{x.shape[-2]}x{x.shape[-1]}"
            )
        return self.main(x)
