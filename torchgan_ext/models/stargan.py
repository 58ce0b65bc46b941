"""StarGAN generator and discriminator (Choi et al., CVPR 2018).

`StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation
<https://arxiv.org/abs/1711.09020>`_ translates an image :math:`x` into a target domain
:math:`c` with one generator :math:`G(x, c)`; the target label vector is tiled over the image
and concatenated to its channels. The discriminator has two heads on one trunk: a PatchGAN
source map :math:`D_{src}(x)` (real or fake, one score per patch) and a domain classifier
:math:`D_{cls}(x)` (one logit per attribute). Architecture of the paper's appendix:

* generator: 7x7 conv, two stride-2 4x4 down convs, ``repeat_num`` residual blocks (6),
  two stride-2 4x4 transposed convs, 7x7 conv + tanh; instance norm (affine) and ReLU
  (``num_down`` changes the number of down/up convs for tiny images);
* discriminator: ``repeat_num`` (6) stride-2 4x4 convs doubling the width, LeakyReLU(0.01), no
  normalisation; a 3x3 conv source head and a classification conv as large as the final map.

The training losses are :mod:`torchgan_ext.losses.stargan`; label conventions and exclusive
groups (one hair colour) are in :mod:`torchgan_ext.models.attribute_labels`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_int, check_positive_int
from .attribute_labels import (
    Groups,
    as_attribute_vector,
    flip_attribute,
    random_targets,
    resolve_exclusive_groups,
)

__all__ = ["StarGANGenerator", "StarGANDiscriminator", "ResidualBlock", "tile_labels"]


def tile_labels(labels: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Tile label vectors ``[B, c]`` spatially to ``[B, c, H, W]`` (every pixel holds ``c``)."""
    h, w = int(size[0]), int(size[1])
    return labels[:, :, None, None].expand(-1, -1, h, w)


class ResidualBlock(nn.Module):
    """``x + IN(conv3x3(ReLU(IN(conv3x3(x)))))`` with affine instance norm (StarGAN's block)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class StarGANGenerator(Generator):
    """StarGAN generator :math:`G(x, c)`: image and target domain -> translated image.

    Instance norm is affine and uses batch statistics in train and eval mode alike (the
    authors' code also tracks running statistics, which changes eval-mode outputs; here
    samples and metrics see the same network as training).

    Args:
        c_dim: Number of attributes (domains). Taken from the dataset's attribute list
            (``num_attributes``) when not given.
        attributes: Attribute names in label order (from the dataset); used to resolve
            ``exclusive_groups`` given by name.
        exclusive_groups: Lists of attribute names (or indices) of which a target sets one
            (see :mod:`~torchgan_ext.models.attribute_labels`); default the selected CelebA
            hair colours; ``[]`` for none.
        in_channels: Image channels (from the dataset).
        conv_dim: Width of the first conv (64 in the paper); the bottleneck has
            ``2 ** num_down * conv_dim``.
        repeat_num: Number of residual blocks (6).
        num_down: Number of stride-2 down (and up) convs (2 in the paper). Tiny images may
            want 1, so that the residual blocks still see a local neighbourhood.

    Inputs: ``forward(x, c)`` with ``x`` ``[B, in_channels, H, W]`` in [-1, 1] (``H``, ``W``
    multiples of ``2 ** num_down``) and ``c`` float attributes ``[B, c_dim]`` or domain
    indices ``[B]``.
    """

    data_arguments = {
        "c_dim": "num_attributes",
        "attributes": "attributes",
        "in_channels": "channels",
    }

    def __init__(
        self,
        c_dim: int,
        attributes: Sequence[str] | None = None,
        exclusive_groups: Sequence[Sequence[str | int]] | None = None,
        in_channels: int = 3,
        conv_dim: int = 64,
        repeat_num: int = 6,
        num_down: int = 2,
    ) -> None:
        super().__init__(encoding_dims=check_positive_int(c_dim, "c_dim"), label_type="required")
        check_positive_int(num_down, "num_down")
        check_positive_int(in_channels, "in_channels")
        check_positive_int(conv_dim, "conv_dim")
        check_int(repeat_num, "repeat_num", minimum=0)
        if attributes is not None:
            attributes = list(attributes)
            if len(attributes) != c_dim:
                raise ValueError(
                    f"c_dim: {c_dim} but {len(attributes)} attributes are selected "
                    f"({', '.join(attributes)}); leave c_dim out to take it from the dataset"
                )
        self.c_dim = c_dim
        self.attributes = attributes
        self.in_channels = in_channels
        self.num_down = num_down
        self.exclusive_groups: Groups = resolve_exclusive_groups(
            exclusive_groups, attributes, c_dim, "exclusive_groups"
        )
        d = conv_dim
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels + c_dim, d, 7, 1, 3, bias=False),
            nn.InstanceNorm2d(d, affine=True),
            nn.ReLU(inplace=True),
        ]
        for _ in range(num_down):
            layers += [
                nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(2 * d, affine=True),
                nn.ReLU(inplace=True),
            ]
            d *= 2
        layers += [ResidualBlock(d) for _ in range(repeat_num)]
        for _ in range(num_down):
            layers += [
                nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False),
                nn.InstanceNorm2d(d // 2, affine=True),
                nn.ReLU(inplace=True),
            ]
            d //= 2
        layers += [nn.Conv2d(d, in_channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def target_vector(self, labels: torch.Tensor) -> torch.Tensor:
        """Float ``[B, c_dim]`` attribute vectors of ``labels`` (domain indices -> one-hot)."""
        return as_attribute_vector(labels, self.c_dim)[0]

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        step = 2**self.num_down
        if h % step or w % step:
            raise ValueError(
                f"this StarGAN generator needs image sides that are multiples of {step}, got "
                f"{h}x{w}"
            )
        c = self.target_vector(c).to(x.dtype)
        return self.main(torch.cat([x, tile_labels(c, (h, w))], dim=1))

    def sampler(self, sample_size: int, device: torch.device | str) -> list[torch.Tensor]:
        """Random target labels ``[sample_size, c_dim]`` (respecting the exclusive groups).

        The generator translates real images, so ``generator(*sampler(n))`` is not a valid
        call; the trainer keeps these labels with the run and draws sample grids with
        :meth:`sample_grid` from a fixed batch of real images instead.
        """
        return [random_targets(sample_size, self.c_dim, self.exclusive_groups, device)]

    @torch.no_grad()
    def sample_grid(
        self, batch: Sequence[torch.Tensor], noise: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, int]:
        """The paper's figure: each row one real image, then one column per attribute flip.

        Column ``1 + j`` translates the row's image to its own labels with attribute ``j``
        flipped (:func:`~torchgan_ext.models.attribute_labels.flip_attribute`: toggled, or set
        with the rest of its exclusive group cleared).

        Args:
            batch: ``(images [B, C, H, W], labels)`` of real data.
            noise: Ignored (the sampler's labels).

        Returns:
            ``(images [B * (1 + c_dim), C, H, W], 1 + c_dim)`` in row-major order.
        """
        if not isinstance(batch, tuple | list) or len(batch) < 2:
            raise ValueError(
                "StarGAN sample grids need a batch of (images, labels); the dataset must yield "
                "attribute labels"
            )
        x, labels = batch[0], batch[1]
        c_org, groups = as_attribute_vector(labels, self.c_dim, self.exclusive_groups)
        columns = [x] + [self(x, flip_attribute(c_org, j, groups)) for j in range(self.c_dim)]
        return torch.stack(columns, dim=1).flatten(0, 1), 1 + self.c_dim


def _size_pair(size: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        return size, size
    if isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, int) for s in size):
        return int(size[0]), int(size[1])
    raise TypeError(f"{name}: expected an int or [height, width], got {size!r}")


class StarGANDiscriminator(Discriminator):
    """StarGAN discriminator: PatchGAN source map and domain-classification logits.

    Args:
        c_dim: Number of attributes (from the dataset when not given).
        image_size: Input side (or ``[height, width]``), from the dataset; each side must be a
            multiple of ``2 ** repeat_num`` (64 to 256 with the default 6 layers).
        in_channels: Image channels (from the dataset).
        conv_dim: Width of the first conv (64); doubled by every layer.
        repeat_num: Number of stride-2 4x4 convs (6).

    Returns (``forward``): ``(src [B, 1, H / 2^r, W / 2^r], cls [B, c_dim])``; no
    normalisation layer, so every sample is scored independently (which the per-sample
    gradient penalty relies on).
    """

    data_arguments = {
        "c_dim": "num_attributes",
        "image_size": "image_size",
        "in_channels": "channels",
    }

    def __init__(
        self,
        c_dim: int,
        image_size: int | Sequence[int] = 128,
        in_channels: int = 3,
        conv_dim: int = 64,
        repeat_num: int = 6,
    ) -> None:
        super().__init__(
            input_dims=check_positive_int(in_channels, "in_channels"), label_type="none"
        )
        check_positive_int(c_dim, "c_dim")
        check_positive_int(conv_dim, "conv_dim")
        check_positive_int(repeat_num, "repeat_num")
        h, w = _size_pair(image_size, "image_size")
        step = 2**repeat_num
        if h % step or w % step:
            common = math.gcd(h, w)
            fits = (common & -common).bit_length() - 1
            raise ValueError(
                f"repeat_num: {repeat_num} does not fit the image size {h}x{w}, which is not a "
                f"multiple of 2**repeat_num = {step}; use repeat_num <= {fits} (6 for 64-256)"
            )
        self.c_dim = c_dim
        self.image_size = (h, w)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        d = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(d, 2 * d, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        self.src = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(d, c_dim, (h // step, w // step), bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[-2:]) != self.image_size:
            raise ValueError(
                f"the discriminator was built for {self.image_size[0]}x{self.image_size[1]} "
                f"images, got {x.shape[-2]}x{x.shape[-1]}"
            )
        h = self.main(x)
        return self.src(h), self.cls(h).flatten(1)
