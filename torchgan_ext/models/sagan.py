"""SAGAN generator and discriminator (Zhang et al., ICML 2019).

`Self-Attention Generative Adversarial Networks <https://arxiv.org/abs/1805.08318>`_: residual
networks with spectral norm in both models, one :class:`~torchgan_ext.layers.SelfAttention2d`
layer in each, hinge loss and TTUR (generator lr 1e-4, discriminator lr 4e-4, Adam betas
(0, 0.9)). Channel widths per resolution follow BigGAN's table
(https://arxiv.org/abs/1809.11096, appendix B) scaled by ``step_channels``. With ``num_classes``
the generator uses class-conditional batch norm and the discriminator a projection head
(Miyato & Koyama, https://arxiv.org/abs/1802.05637):

.. math::
    D(x, y) = w^\\top \\phi(x) + e(y)^\\top \\phi(x)
"""

from __future__ import annotations

import torch
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_positive_int
from ..layers import ResBlockDown, ResBlockUp, SelfAttention2d, init_weights
from ..layers.spectral import make_conv2d, make_embedding, make_linear

__all__ = ["SAGANGenerator", "SAGANDiscriminator", "SIZES"]

#: Supported image sizes.
SIZES = (32, 64, 128, 256)

# channel multipliers of step_channels: generator stage widths from 4x4 up to the image size;
# discriminator block output widths and whether each block halves the resolution
_G_WIDTHS = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
}
_D_WIDTHS = {
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True), (16, False)),
}


def _check_common(size: int, size_arg: str, channels: int, channels_arg: str, step: int) -> None:
    if size not in SIZES or isinstance(size, bool):
        raise ValueError(
            f"{size_arg}: must be one of {', '.join(map(str, SIZES))} (a power of two from 32 to "
            f"256), got {size!r}"
        )
    check_positive_int(channels, channels_arg)
    check_positive_int(step, "step_channels")


def _check_classes(num_classes: int | None) -> None:
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1
    ):
        raise ValueError(
            f"num_classes: must be an integer >= 1 (or null: unconditional), got {num_classes!r}"
        )


def _attention_at(
    attention: bool, resolution: int | None, size: int, valid: list[int]
) -> int | None:
    if not attention:
        return None
    if resolution is None:
        resolution = min(32, size // 2)
    if resolution not in valid:
        raise ValueError(
            f"attention_resolution: must be one of {', '.join(map(str, valid))} for size {size}, "
            f"got {resolution} (or set attention: false)"
        )
    return resolution


class SAGANGenerator(Generator):
    """SAGAN generator: noise (and a class) -> image in [-1, 1].

    ``z -> linear -> 4x4 -> ResBlockUp ... -> BN -> ReLU -> conv3x3 -> tanh`` with a
    self-attention layer after the block that reaches ``attention_resolution``.

    Args:
        encoding_dims: Size of the noise vector :math:`z`.
        out_size: Image side, a power of two from 32 to 256 (from the dataset when left out).
        out_channels: Image channels (from the dataset when left out).
        step_channels: Width multiplier: stage widths are ``step_channels`` times BigGAN's
            multipliers (64 px: 16, 16, 8, 4, 2).
        num_classes: Class-conditional batch norm with this many classes (from the dataset
            when left out and the dataset has classes; ``null`` in a config forces an
            unconditional model). Conditional models have ``label_type="required"``.
        attention: Insert the self-attention layer.
        attention_resolution: Resolution of the attention layer (default 32, 16 for 32 px).
        spectral_norm: Spectral norm on every convolution / linear layer.
        init: Weight initialisation (``ortho``, ``xavier``, ``normal``, ``kaiming``).
    """

    data_arguments = {
        "out_size": "image_size",
        "out_channels": "channels",
        "num_classes": "num_classes",
    }

    def __init__(
        self,
        encoding_dims: int = 128,
        out_size: int = 64,
        out_channels: int = 3,
        step_channels: int = 64,
        num_classes: int | None = None,
        attention: bool = True,
        attention_resolution: int | None = None,
        spectral_norm: bool = True,
        init: str = "ortho",
    ) -> None:
        _check_common(out_size, "out_size", out_channels, "out_channels", step_channels)
        _check_classes(num_classes)
        check_positive_int(encoding_dims, "encoding_dims")
        super().__init__(encoding_dims, "none" if num_classes is None else "required")
        self.out_size = out_size
        self.out_channels = out_channels
        self.num_classes = num_classes
        widths = [m * step_channels for m in _G_WIDTHS[out_size]]
        resolutions = [4 * 2 ** (i + 1) for i in range(len(widths) - 1)]
        self.attention_resolution = _attention_at(
            attention, attention_resolution, out_size, resolutions
        )
        sn = spectral_norm
        self.base_channels = widths[0]
        self.linear = make_linear(encoding_dims, 16 * widths[0], spectral_norm=sn)
        self.blocks = nn.ModuleList()
        for i, res in enumerate(resolutions):
            self.blocks.append(
                ResBlockUp(widths[i], widths[i + 1], num_classes=num_classes, spectral_norm=sn)
            )
            if res == self.attention_resolution:
                self.blocks.append(SelfAttention2d(widths[i + 1], spectral_norm=sn))
        self.head = nn.Sequential(
            nn.BatchNorm2d(widths[-1]),
            nn.ReLU(),
            make_conv2d(widths[-1], out_channels, 3, padding=1, spectral_norm=sn),
            nn.Tanh(),
        )
        self._weight_initializer(init)

    def _weight_initializer(self, method: str = "ortho") -> None:
        """Initialise every weight (spectral-norm aware) with ``method``."""
        try:
            init_weights(self, method)
        except ValueError as e:
            raise ValueError(f"init: {e}") from e

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images ``[B, out_channels, out_size, out_size]`` in [-1, 1].

        Args:
            z: Noise ``[B, encoding_dims]``.
            labels: Class labels ``[B]`` (required when conditional).
        """
        if self.num_classes is not None and labels is None:
            raise ValueError("this SAGANGenerator is conditional (num_classes): pass labels")
        h = self.linear(z).view(z.shape[0], self.base_channels, 4, 4)
        for block in self.blocks:
            h = block(h, labels) if isinstance(block, ResBlockUp) else block(h)
        return self.head(h)

    def sampler(self, sample_size: int, device: torch.device) -> list[torch.Tensor]:
        """Inputs for ``sample_size`` images: noise, and for a conditional model the classes
        ``0, 1, ..., num_classes - 1, 0, 1, ...`` (every class equally often)."""
        noise = torch.randn(sample_size, self.encoding_dims, device=device)
        if self.num_classes is None:
            return [noise]
        labels = torch.arange(sample_size, device=device) % self.num_classes
        return [noise, labels]


class SAGANDiscriminator(Discriminator):
    """SAGAN discriminator: image (and a class) -> one real/fake score per image.

    ``ResBlockDown ... -> ReLU -> global sum pooling -> linear`` (+ the projection
    :math:`e(y)^\\top \\phi(x)` when conditional), with a self-attention layer after the block
    that reaches ``attention_resolution``.

    Args:
        in_size: Image side, a power of two from 32 to 256 (from the dataset when left out).
        in_channels: Image channels (from the dataset when left out).
        step_channels: Width multiplier: block widths are ``step_channels`` times BigGAN's
            multipliers (64 px: 1, 2, 4, 8, 16).
        num_classes: Projection discriminator with this many classes (from the dataset when
            left out and the dataset has classes; ``null`` forces an unconditional model).
        attention: Insert the self-attention layer.
        attention_resolution: Resolution of the attention layer (default 32, 16 for 32 px).
        spectral_norm: Spectral norm on every convolution / linear / embedding layer.
        init: Weight initialisation (``ortho``, ``xavier``, ``normal``, ``kaiming``).

    Returns (``forward``):
        Scores ``[B]`` (unbounded; the hinge loss compares them with +-1).
    """

    data_arguments = {
        "in_size": "image_size",
        "in_channels": "channels",
        "num_classes": "num_classes",
    }

    def __init__(
        self,
        in_size: int = 64,
        in_channels: int = 3,
        step_channels: int = 64,
        num_classes: int | None = None,
        attention: bool = True,
        attention_resolution: int | None = None,
        spectral_norm: bool = True,
        init: str = "ortho",
    ) -> None:
        _check_common(in_size, "in_size", in_channels, "in_channels", step_channels)
        _check_classes(num_classes)
        super().__init__(in_channels, "none" if num_classes is None else "required")
        self.in_size = in_size
        self.in_channels = in_channels
        self.num_classes = num_classes
        spec = _D_WIDTHS[in_size]
        resolutions, res = [], in_size
        for _, down in spec:
            res = res // 2 if down else res
            resolutions.append(res)
        first_at = {}
        for i, r in enumerate(resolutions):
            first_at.setdefault(r, i)
        self.attention_resolution = _attention_at(
            attention, attention_resolution, in_size, sorted(first_at, reverse=True)
        )
        sn = spectral_norm
        blocks: list[nn.Module] = []
        width = in_channels
        for i, (mult, down) in enumerate(spec):
            out = mult * step_channels
            blocks.append(
                ResBlockDown(width, out, downsample=down, preactivation=i > 0, spectral_norm=sn)
            )
            if self.attention_resolution is not None and i == first_at.get(
                self.attention_resolution
            ):
                blocks.append(SelfAttention2d(out, spectral_norm=sn))
            width = out
        self.blocks = nn.Sequential(*blocks)
        self.act = nn.ReLU()
        self.linear = make_linear(width, 1, spectral_norm=sn)
        self.embed = (
            make_embedding(num_classes, width, spectral_norm=sn)
            if num_classes is not None
            else None
        )
        self._weight_initializer(init)

    def _weight_initializer(self, method: str = "ortho") -> None:
        """Initialise every weight (spectral-norm aware) with ``method``."""
        try:
            init_weights(self, method)
        except ValueError as e:
            raise ValueError(f"init: {e}") from e

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Score images ``[B, in_channels, H, W]``; ``labels`` ``[B]`` when conditional."""
        if self.embed is not None and labels is None:
            raise ValueError("this SAGANDiscriminator is conditional (num_classes): pass labels")
        h = self.act(self.blocks(x)).sum(dim=(2, 3))
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(labels) * h).sum(dim=1)
        return out
