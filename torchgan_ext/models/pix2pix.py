"""pix2pix's U-Net generator and the PatchGAN discriminator (Isola et al., CVPR 2017).

`Image-to-Image Translation with Conditional Adversarial Networks
<https://arxiv.org/abs/1611.07004>`_ maps an input image :math:`x` (a label map, an edge map,
...) to an output image :math:`G(x)`. Architecture of the paper's appendix (6.1.1, 6.1.2):

* generator: an encoder of stride-2 4x4 convs ``C64-C128-C256-C512-C512-...`` down to 1x1
  (LeakyReLU 0.2, no norm on the first and the innermost layer) and a mirrored decoder of
  stride-2 4x4 transposed convs (ReLU), each decoder layer concatenated with its mirrored
  encoder layer (the U-Net skips), dropout 0.5 in the first three decoder layers as the only
  source of noise, a 4x4 transposed conv and tanh at the end;
* discriminator: the N-layer PatchGAN ``C64-C128-C256-C512`` (4x4 convs, stride 2 except the
  last, LeakyReLU 0.2, no norm on the first) and a 4x4 conv to one logit per patch; with 3
  layers each output sees a 70x70 patch of the input. Conditional: it sees the input and the
  output concatenated.

The paper runs the generator at test time exactly as in training: dropout on, batch norm with
the statistics of the test batch. Both are the defaults here (``dropout_at_test``, and batch
norm without running statistics), so samples and metrics see the paper's generator. Weights
start from :math:`\\mathcal N(0, 0.02)` as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_bool, check_choice, check_int, check_positive_int
from ..data.cityscapes import train_ids_to_color

__all__ = [
    "NORMS",
    "Pix2PixGenerator",
    "PatchGANDiscriminator",
    "norm_layer",
    "init_gan_weights",
    "display_images",
    "power_of_two_side",
]

#: Values of ``norm``.
NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Batch norm (statistics of the batch in train and eval mode, as the paper tests),
    instance norm (no affine parameters, as the authors' code) or identity."""
    if kind == "batch":
        return nn.BatchNorm2d(channels, track_running_stats=False)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


@torch.no_grad()
def init_gan_weights(module: nn.Module, std: float = 0.02) -> None:
    """The papers' initialisation: conv weights :math:`\\mathcal N(0, \\sigma)`, biases 0,
    batch-norm scales :math:`\\mathcal N(1, \\sigma)`."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def display_images(images: torch.Tensor) -> torch.Tensor:
    """Images for a sample grid: 1 or 3 channels unchanged; class maps (one channel per class,
    one-hot or scores) coloured by their arg-max, with the Cityscapes palette for 19 classes
    (all-zero pixels, the ignored ones, black)."""
    c = images.shape[1]
    if c in (1, 3):
        return images
    ids = images.argmax(1)
    ids = torch.where(images.amax(1) > 0, ids, torch.full_like(ids, 255))
    if c == 19:
        return train_ids_to_color(ids).to(images.dtype)
    # another number of classes: grey levels spread over [-1, 1]
    grey = torch.where(ids == 255, -1.0, ids.float() * (2.0 / max(1, c - 1)) - 1.0)
    return grey.unsqueeze(1).expand(-1, 3, -1, -1).to(images.dtype)


def power_of_two_side(image_size: int | Sequence[int], arg: str = "image_size") -> int:
    """The side of a square power-of-two image size >= 32 (``int`` or ``[s, s]``)."""
    if isinstance(image_size, Sequence) and not isinstance(image_size, str):
        sides = set(image_size)
        if len(image_size) != 2 or len(sides) != 1:
            raise ValueError(f"{arg}: expected a square size, got {list(image_size)}")
        image_size = next(iter(sides))
    side = check_positive_int(image_size, arg)
    if side < 32 or side & (side - 1):
        raise ValueError(f"{arg}: must be a power of two >= 32 (32, 64, ..., 256), got {side}")
    return side


class _Up(nn.Module):
    """One decoder layer: ReLU, 4x4 stride-2 transposed conv, norm, dropout (optional)."""

    def __init__(self, cin: int, cout: int, norm: str, dropout: float, at_test: bool) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=norm != "batch")
        self.norm = norm_layer(norm, cout)
        self.dropout, self.at_test = dropout, at_test

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.conv(F.relu(x)))
        if self.dropout > 0:
            y = F.dropout(y, self.dropout, training=self.training or self.at_test)
        return y


class Pix2PixGenerator(Generator):
    """The U-Net generator of pix2pix: input image -> output image in [-1, 1].

    Paper: https://arxiv.org/abs/1611.07004 (appendix 6.1.1).

    Args:
        in_channels: Channels of the input images (the dataset's ``channels_a``: 3 for colour
            label maps, 19 for one-hot Cityscapes train ids).
        out_channels: Channels of the output (the dataset's ``channels_b``).
        image_size: Side of the (square, power-of-two, >= 32) images; the encoder has
            ``log2(image_size)`` layers, down to 1x1 (8 for 256, as the paper).
        base_channels: Width of the first layer (64); doubled per layer up to 8x.
        norm: ``batch`` (the paper), ``instance`` or ``none``.
        dropout: Dropout probability of the first decoder layers (0.5; 0 turns it off).
        num_dropout: Number of decoder layers with dropout (3).
        dropout_at_test: Keep dropout on in eval mode, the paper's noise at test time.

    Inputs: ``forward(x)`` with ``x`` ``[B, in_channels, H, W]``, ``H`` and ``W`` multiples
    of ``2 ** num_layers``.
    """

    data_arguments = {
        "in_channels": "channels_a",
        "out_channels": "channels_b",
        "image_size": "image_size",
    }

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int | Sequence[int] = 256,
        base_channels: int = 64,
        norm: str = "batch",
        dropout: float = 0.5,
        num_dropout: int = 3,
        dropout_at_test: bool = True,
    ) -> None:
        super().__init__(encoding_dims=check_positive_int(in_channels, "in_channels"))
        check_positive_int(out_channels, "out_channels")
        side = power_of_two_side(image_size)
        width = check_positive_int(base_channels, "base_channels")
        check_choice(norm, "norm", NORMS)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: must be in [0, 1), got {dropout!r}")
        check_int(num_dropout, "num_dropout")
        check_bool(dropout_at_test, "dropout_at_test")
        self.in_channels, self.out_channels, self.image_size = in_channels, out_channels, side
        self.num_layers = int(math.log2(side))
        widths = [min(width * 2**i, width * 8) for i in range(self.num_layers)]
        self.down = nn.ModuleList()
        cin = in_channels
        for i, w in enumerate(widths):
            innermost, outermost = i == self.num_layers - 1, i == 0
            layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(cin, w, 4, 2, 1, bias=norm != "batch" or innermost))
            if not (innermost or outermost):
                layers.append(norm_layer(norm, w))
            self.down.append(nn.Sequential(*layers))
            cin = w
        self.up = nn.ModuleList()
        for j in range(self.num_layers - 1):  # decoder, innermost first
            i = self.num_layers - 1 - j  # mirrored encoder layer
            cin = widths[i] if j == 0 else 2 * widths[i]
            p = float(dropout) if j < num_dropout else 0.0
            self.up.append(_Up(cin, widths[i - 1], norm, p, dropout_at_test))
        self.out = nn.ConvTranspose2d(2 * widths[0], out_channels, 4, 2, 1)
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        step = 2**self.num_layers
        if x.shape[-2] % step or x.shape[-1] % step:
            raise ValueError(
                f"this U-Net has {self.num_layers} stride-2 layers and needs image sides that "
                f"are multiples of {step}, got {x.shape[-2]}x{x.shape[-1]}"
            )
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        y = self.up[0](skips[-1])
        for layer, skip in zip(self.up[1:], reversed(skips[1:-1]), strict=True):
            y = layer(torch.cat([y, skip], 1))
        return torch.tanh(self.out(F.relu(torch.cat([y, skips[0]], 1))))

    def sampler(self, sample_size: int, device: Any) -> list[torch.Tensor]:
        """``sample_size`` random input images in [-1, 1] (for shape checks and benchmarks;
        sample grids translate a fixed batch of real inputs, :meth:`sample_grid`)."""
        s = self.image_size
        return [torch.rand(sample_size, self.in_channels, s, s, device=device) * 2.0 - 1.0]

    @torch.no_grad()
    def sample_grid(
        self, batch: Sequence[torch.Tensor] | None, noise: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        """The paper's figures: rows of input | output | target of the fixed batch
        ``(inputs, targets)``; label maps in their palette. Without a batch, input | output."""
        if isinstance(batch, tuple | list) and len(batch) >= 2:
            x, target = batch[0], batch[1]
        else:
            x, target = noise[0], None
        y = self(x)
        columns = [display_images(x).to(y.dtype), y]
        if target is not None:
            columns.append(display_images(target).to(y.dtype))
        return torch.stack(columns, dim=1).flatten(0, 1), len(columns)


class PatchGANDiscriminator(Discriminator):
    """The N-layer PatchGAN: one real/fake logit per (70x70 with 3 layers) patch.

    Paper: https://arxiv.org/abs/1611.07004 (section 3.2.2 and appendix 6.1.2).

    Args:
        channels_a: Channels of domain A, the translation input (the dataset's).
        channels_b: Channels of domain B, the translation output (the dataset's).
        judges: ``b`` (judges images of domain B, pix2pix's and CycleGAN's
            :math:`D_B`) or ``a`` (CycleGAN's :math:`D_A`).
        conditional: Also see the other domain's image, concatenated before the judged one
            (pix2pix); ``forward(x, condition)``. Unconditional (CycleGAN): ``forward(x)``.
        num_layers: Stride-2 layers before the two stride-1 convs (3: 70x70 patches; 1: the
            16x16 PatchGAN, 5: 286x286).
        base_channels: Width of the first conv (64), doubled per layer up to 8x.
        norm: ``batch`` (pix2pix), ``instance`` (CycleGAN) or ``none``.

    Returns (``forward``): logits ``[B, 1, h, w]`` (30x30 for 256x256 inputs with 3 layers).
    """

    data_arguments = {"channels_a": "channels_a", "channels_b": "channels_b"}

    def __init__(
        self,
        channels_a: int = 3,
        channels_b: int = 3,
        judges: str = "b",
        conditional: bool = True,
        num_layers: int = 3,
        base_channels: int = 64,
        norm: str = "batch",
    ) -> None:
        check_positive_int(channels_a, "channels_a")
        check_positive_int(channels_b, "channels_b")
        check_choice(judges, "judges", ("a", "b"))
        self.conditional = check_bool(conditional, "conditional")
        check_positive_int(num_layers, "num_layers")
        width = check_positive_int(base_channels, "base_channels")
        check_choice(norm, "norm", NORMS)
        judged, other = (channels_b, channels_a) if judges == "b" else (channels_a, channels_b)
        self.judged_channels = judged
        self.condition_channels = other if self.conditional else 0
        super().__init__(
            input_dims=judged + self.condition_channels,
            label_type="required" if self.conditional else "none",
        )
        self.judges, self.num_layers = judges, num_layers
        layers: list[nn.Module] = [
            nn.Conv2d(judged + self.condition_channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
        ]
        w = width
        for i in range(1, num_layers + 1):
            w_next = width * min(2**i, 8)
            stride = 2 if i < num_layers else 1
            layers += [
                nn.Conv2d(w, w_next, 4, stride, 1, bias=norm != "batch"),
                norm_layer(norm, w_next),
                nn.LeakyReLU(0.2),
            ]
            w = w_next
        layers.append(nn.Conv2d(w, 1, 4, 1, 1))
        self.main = nn.Sequential(*layers)
        init_gan_weights(self)

    def receptive_field(self) -> int:
        """Side of the input patch one output logit sees (70 for 3 layers)."""
        rf = 1
        for m in reversed([m for m in self.main if isinstance(m, nn.Conv2d)]):
            rf = (rf - 1) * m.stride[0] + m.kernel_size[0]
        return rf

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional:
            if condition is None:
                raise ValueError(
                    "this PatchGAN is conditional: call it with (image, condition), or build "
                    "it with conditional: false"
                )
            x = torch.cat([condition.to(x.dtype), x], 1)
        elif condition is not None:
            raise ValueError("this PatchGAN is unconditional: call it with the image alone")
        return self.main(x)
