"""Progressive GAN generator and discriminator (Karras et al., ICLR 2018).

`Progressive Growing of GANs for Improved Quality, Stability, and Variation
<https://arxiv.org/abs/1710.10196>`_ trains both networks first at 4x4 and doubles the
resolution in phases; each new block is faded in. The networks follow the paper (section 2-4,
table 2) and the authors' ``G_paper`` / ``D_paper`` (``networks.py`` of
tkarras/progressive_growing_of_gans):

* feature maps of stage :math:`s` (resolution :math:`2^{s+1}`):
  :math:`\\min(\\lfloor\\text{fmap\\_base} / 2^{s \\cdot \\text{fmap\\_decay}}\\rfloor,
  \\text{fmap\\_max})`, 8192 / 1.0 / 512 in the paper (512 maps up to 32x32, 256 at 64x64,
  ..., 16 at 1024x1024);
* every weight has the equalised learning rate (:class:`~torchgan_ext.layers.EqualizedConv2d`,
  :class:`~torchgan_ext.layers.EqualizedLinear`) with the He gain :math:`\\sqrt 2` of the
  authors' code, 1 for toRGB and the critic's last layer, :math:`\\sqrt 2 / 4` for the
  generator's first dense layer; leaky ReLU 0.2;
* generator: the latent normalised to the unit hypersphere (pixel norm), a dense layer to
  4x4, then per resolution nearest upsampling and two 3x3 convolutions, each followed by pixel
  norm; a linear 1x1 toRGB per resolution;
* discriminator: a 1x1 fromRGB per resolution, two 3x3 convolutions and 2x2 average pooling
  per resolution, and at 4x4 the minibatch standard deviation, a 3x3 convolution and two dense
  layers to one score.

**Levels and fade-in.** Level :math:`k` works at :math:`4 \\cdot 2^k` pixels; level 0 is 4x4.
:meth:`~_Progressive.set_level` selects the level and the weight :math:`\\alpha` of its block:
while :math:`\\alpha < 1` the generator outputs
:math:`(1 - \\alpha)\\,\\mathrm{up}(\\mathrm{toRGB}_{k-1}(h_{k-1})) + \\alpha\\,
\\mathrm{toRGB}_k(h_k)` and the discriminator mixes
:math:`(1 - \\alpha)\\,\\mathrm{fromRGB}_{k-1}(\\mathrm{down}(x))` with the output of its new
block in the same way. The ``progressive_growing`` callback
(:mod:`torchgan_ext.callbacks.progressive`) sets both from the number of images shown. A new
model is at its last level with :math:`\\alpha = 1` (full size). The level and
:math:`\\alpha` are saved in the model's state dict.

In training mode the generator outputs images of the current level's size; in eval mode
(sample grids, metrics, ``--sample``) they are upsampled (nearest) to ``out_size``, as the
authors' networks always output the full size. The discriminator takes images of its level's
size, or larger ones, which it box-downsamples first (the authors' ``D`` takes full-size
images and downsamples them the same way).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator, Generator

from .._validation import check_number, check_positive_int
from ..layers.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from .context_encoder import square_side

__all__ = ["ProGANGenerator", "ProGANDiscriminator", "feature_maps", "box_downsample"]

#: The He gain of the authors' layers (``get_weight(gain=np.sqrt(2))``).
_HE = math.sqrt(2.0)
#: Graphs a compiled progressive model may make per ``(level, fading)`` state: dynamo's default
#: ``recompile_limit``.
_GRAPHS_PER_STATE = 8


def feature_maps(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    """Feature maps of ``stage`` (the authors' ``nf``): resolution :math:`2^{stage+1}`."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def box_downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Square ``images`` box-filtered down to ``size`` (a power-of-two factor)."""
    side = images.shape[-1]
    if side == size:
        return images
    factor = side // size
    if side % size or factor & (factor - 1) or images.shape[-2] != side:
        raise ValueError(
            f"images: expected square images of {size}x{size} or a power-of-two multiple, got "
            f"{tuple(images.shape[-2:])}"
        )
    return F.avg_pool2d(images, factor)


def _gain(layer: EqualizedConv2d | EqualizedLinear, gain: float) -> Any:
    """``layer`` with its run-time weight scale multiplied by ``gain`` (the authors' ``gain``
    of ``get_weight``: std ``gain / sqrt(fan_in)``)."""
    layer.weight_gain *= gain
    return layer


def _conv(cin: int, cout: int, kernel: int, gain: float = _HE) -> EqualizedConv2d:
    return _gain(EqualizedConv2d(cin, cout, kernel), gain)


def _check_widths(fmap_base: Any, fmap_decay: Any, fmap_max: Any, size: int) -> None:
    """Positive widths, and at least one feature map at every stage up to ``size``."""
    check_positive_int(fmap_base, "fmap_base")
    check_number(fmap_decay, "fmap_decay")
    check_positive_int(fmap_max, "fmap_max")
    stages = range(int(math.log2(size)))  # stage s: 2**(s + 1) pixels; stage 0 sizes the latent
    for stage in stages:
        if feature_maps(stage, fmap_base, fmap_decay, fmap_max) < 1:
            res = 2 ** (stage + 1)
            least = math.ceil(max(2.0 ** (s * fmap_decay) for s in stages))
            raise ValueError(
                f"fmap_base: {fmap_base} (fmap_decay {fmap_decay}) gives 0 feature maps at "
                f"{res}x{res}; at least {least} for {size}x{size} images"
            )


class _Progressive:
    """The level and fade-in weight shared by both networks (kept in the state dict)."""

    num_levels: int
    level: int
    alpha: torch.Tensor

    def _init_levels(self, size: int) -> None:
        self.num_levels = int(math.log2(size)) - 1  # 4x4 ... size
        self.level = self.num_levels - 1
        self.register_buffer("alpha", torch.ones(()), persistent=False)
        self.fading = False

    @property
    def current_size(self) -> int:
        """The side of the images at the current level."""
        return 4 * 2**self.level

    def set_level(self, level: int, alpha: float = 1.0) -> None:
        """Work at level ``level`` (:math:`4 \\cdot 2^{level}` pixels) with weight ``alpha``
        of its block (1: fully in; below 1 the previous level's output is mixed in)."""
        last = self.num_levels - 1
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= last:
            raise ValueError(f"level: must be an integer in [0, {last}], got {level!r}")
        alpha = float(alpha)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: must be in [0, 1], got {alpha}")
        if level == 0 and alpha < 1.0:
            raise ValueError("alpha: level 0 (4x4) has no previous level to fade from; use 1")
        self.level = level
        self.fading = alpha < 1.0
        self.alpha.fill_(alpha)

    @property
    def recompile_limit(self) -> int:
        """The graphs :meth:`compile` allows this model: dynamo's default budget (8) for
        each of its :math:`2L - 1` ``(level, fading)`` states."""
        return _GRAPHS_PER_STATE * (2 * self.num_levels - 1)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """``nn.Module.compile`` with a recompile limit of :attr:`recompile_limit` for this
        model alone (``torch.compile``'s ``recompile_limit`` and ``isolate_recompiles``,
        unless given).

        The forward branches in Python on the level and the fade-in, so every
        ``(level, fading)`` state is a new graph (times the training / eval and grad modes):
        under dynamo's global limit of 8 a growing model would fall back to eager mode after
        a few levels. Its own limit grows with its levels instead; other models keep the
        global one.
        """
        kwargs.setdefault("recompile_limit", self.recompile_limit)
        kwargs.setdefault("isolate_recompiles", True)
        super().compile(*args, **kwargs)

    def get_extra_state(self) -> dict[str, Any]:
        return {"level": self.level, "alpha": float(self.alpha)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.set_level(int(state["level"]), float(state["alpha"]))


class ProGANGenerator(_Progressive, Generator):
    """Progressive GAN generator: a latent vector -> an image (linear output, data in [-1, 1]).

    Paper: https://arxiv.org/abs/1710.10196 (table 2); the authors' ``G_paper``.

    Args:
        out_size: Final image side, a power of two >= 8 (from the dataset when left out).
        out_channels: Image channels (from the dataset when left out).
        fmap_base: Feature-map multiplier (8192).
        fmap_decay: log2 reduction of the feature maps per doubling (1.0).
        fmap_max: Most feature maps of any layer (512).
        latent_size: Size of the latent :math:`z`; ``None``: ``min(fmap_base, fmap_max)`` (512).
        normalize_latents: Pixel-normalise :math:`z` (points on the hypersphere).
        pixel_norm: Pixel norm after every convolution.
    """

    data_arguments = {"out_size": "image_size", "out_channels": "channels"}

    def __init__(
        self,
        out_size: int = 256,
        out_channels: int = 3,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        latent_size: int | None = None,
        normalize_latents: bool = True,
        pixel_norm: bool = True,
    ) -> None:
        size = square_side(out_size, "out_size")
        check_positive_int(out_channels, "out_channels")
        _check_widths(fmap_base, fmap_decay, fmap_max, size)

        def nf(stage: int) -> int:
            return feature_maps(stage, fmap_base, fmap_decay, fmap_max)

        latent = nf(0) if latent_size is None else check_positive_int(latent_size, "latent_size")
        super().__init__(latent, "none")
        self.out_size, self.out_channels = size, out_channels
        self._init_levels(size)
        self.latent_norm = PixelNorm() if normalize_latents else nn.Identity()
        self.norm = self._norm(pixel_norm)
        self.stem_channels = nf(1)
        self.dense = _gain(EqualizedLinear(latent, nf(1) * 16, bias=False), _HE / 4)
        self.dense_bias = nn.Parameter(torch.zeros(nf(1)))
        self.act = nn.LeakyReLU(0.2)
        self.blocks = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        for k in range(self.num_levels):  # level k: 4 * 2**k pixels, nf(k + 1) maps
            cin, cout = nf(k) if k else nf(1), nf(k + 1)
            layers: list[nn.Module] = [nn.Upsample(scale_factor=2.0, mode="nearest")] if k else []
            layers += [_conv(cin, cout, 3), nn.LeakyReLU(0.2), self._norm(pixel_norm)]
            if k:
                layers += [_conv(cout, cout, 3), nn.LeakyReLU(0.2), self._norm(pixel_norm)]
            self.blocks.append(nn.Sequential(*layers))
            self.to_rgb.append(_conv(cout, out_channels, 1, gain=1.0))

    @staticmethod
    def _norm(enabled: bool) -> nn.Module:
        return PixelNorm() if enabled else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``[B, out_channels, s, s]``: ``s`` is the current level's size in training
        mode, ``out_size`` in eval mode (nearest upsampling).

        Args:
            z: Latents ``[B, encoding_dims]``.
        """
        h = self.dense(self.latent_norm(z)).view(z.shape[0], self.stem_channels, 4, 4)
        h = self.norm(self.act(h + self.dense_bias.view(1, -1, 1, 1)))
        for block in self.blocks[: self.level]:
            h = block(h)
        new = self.blocks[self.level](h)
        images = self.to_rgb[self.level](new)
        if self.fading:
            old = F.interpolate(self.to_rgb[self.level - 1](h), scale_factor=2.0, mode="nearest")
            images = torch.lerp(old, images, self.alpha.to(images.dtype))
        if not self.training and images.shape[-1] < self.out_size:
            images = F.interpolate(images, size=self.out_size, mode="nearest")
        return images


class ProGANDiscriminator(_Progressive, Discriminator):
    """Progressive GAN discriminator (critic): an image -> one unbounded score per image.

    Paper: https://arxiv.org/abs/1710.10196 (table 2); the authors' ``D_paper``.

    Args:
        in_size: Final image side, a power of two >= 8 (from the dataset when left out).
        in_channels: Image channels (from the dataset when left out).
        fmap_base: Feature-map multiplier (8192).
        fmap_decay: log2 reduction of the feature maps per doubling (1.0).
        fmap_max: Most feature maps of any layer (512).
        mbstd_group_size: Group size of the minibatch standard deviation (4; the whole batch
            when it does not divide it).
        mbstd_channels: Feature maps the minibatch standard deviation appends (1).

    Returns (``forward``):
        Scores ``[B]``.
    """

    data_arguments = {"in_size": "image_size", "in_channels": "channels"}

    def __init__(
        self,
        in_size: int = 256,
        in_channels: int = 3,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        mbstd_group_size: int = 4,
        mbstd_channels: int = 1,
    ) -> None:
        size = square_side(in_size, "in_size")
        check_positive_int(in_channels, "in_channels")
        check_positive_int(mbstd_group_size, "mbstd_group_size")
        check_positive_int(mbstd_channels, "mbstd_channels")
        _check_widths(fmap_base, fmap_decay, fmap_max, size)

        def nf(stage: int) -> int:
            return feature_maps(stage, fmap_base, fmap_decay, fmap_max)

        super().__init__(in_channels, "none")
        self.in_size, self.in_channels = size, in_channels
        self._init_levels(size)
        self.from_rgb = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for k in range(self.num_levels):
            self.from_rgb.append(nn.Sequential(_conv(in_channels, nf(k + 1), 1), nn.LeakyReLU(0.2)))
            if k == 0:
                self.blocks.append(
                    nn.Sequential(
                        MinibatchStdDev(mbstd_group_size, mbstd_channels),
                        _conv(nf(1) + mbstd_channels, nf(1), 3),
                        nn.LeakyReLU(0.2),
                        nn.Flatten(),
                        _gain(EqualizedLinear(nf(1) * 16, nf(0)), _HE),
                        nn.LeakyReLU(0.2),
                        EqualizedLinear(nf(0), 1),
                    )
                )
            else:
                self.blocks.append(
                    nn.Sequential(
                        _conv(nf(k + 1), nf(k + 1), 3),
                        nn.LeakyReLU(0.2),
                        _conv(nf(k + 1), nf(k), 3),
                        nn.LeakyReLU(0.2),
                        nn.AvgPool2d(2),
                    )
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores ``[B]`` of images ``[B, in_channels, s, s]``, ``s`` the current level's size
        or a power-of-two multiple of it (box-downsampled first)."""
        x = box_downsample(x, self.current_size)
        h = self.blocks[self.level](self.from_rgb[self.level](x))
        if self.fading:
            skip = self.from_rgb[self.level - 1](F.avg_pool2d(x, 2))
            h = torch.lerp(skip, h, self.alpha.to(h.dtype))
        for block in reversed(self.blocks[: self.level]):
            h = block(h)
        return h.view(-1)
