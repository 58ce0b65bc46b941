"""Building blocks of the U-Net GAN losses: generator inputs, discriminator outputs, terms.

Schonfeld, Schiele and Khoreva, "A U-Net Based Discriminator for Generative Adversarial
Networks", CVPR 2020, https://arxiv.org/abs/2002.12655. The formulas are in
:mod:`torchgan_ext.losses.unet`, which re-exports these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .cutmix import mix

__all__ = [
    "unet_discriminator_terms",
    "generator_inputs",
    "unet_outputs",
    "pixel_correct_probability",
    "bce",
]


def generator_inputs(
    generator: nn.Module,
    batch_size: int,
    device: torch.device | str,
    labels: torch.Tensor | None = None,
    rng: torch.Generator | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Noise (and labels) for one generator batch, following torchgan's ``label_type``.

    ``label_type`` ``"none"``: ``[z]``; ``"required"``: ``[z, labels]`` (the real batch's
    labels, so CutMix mixes images of one class); ``"generated"``: ``[z, uniform labels]``.

    Returns:
        The generator's inputs and the labels of the fake batch (or ``None``).
    """
    label_type = getattr(generator, "label_type", "none")
    if rng is None:
        z = torch.randn(batch_size, generator.encoding_dims, device=device)
    else:
        z = torch.randn(batch_size, generator.encoding_dims, generator=rng).to(device)
    if label_type == "none":
        return [z], None
    if label_type == "required":
        if labels is None:
            raise ValueError(
                "the generator is conditional (label_type 'required') but the dataset yields "
                "no labels; use a labelled dataset or an unconditional generator"
            )
        y = labels[:batch_size].to(device)
    elif label_type == "generated":
        y = torch.randint(0, generator.num_classes, (batch_size,), generator=rng)
        y = y.to(device)
    else:
        raise ValueError(f"unknown label_type {label_type!r} of the generator")
    return [z, y], y


def unet_outputs(
    discriminator: nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Call a U-Net discriminator and check it returns ``(global [B], pixel [B, 1, H, W])``."""
    if getattr(discriminator, "label_type", "none") != "none":
        if labels is None:
            raise ValueError("the discriminator is conditional but there are no labels")
        out = discriminator(images, labels)
    else:
        out = discriminator(images)
    if not (isinstance(out, Sequence) and len(out) == 2):
        raise TypeError(
            f"U-Net losses need a discriminator returning (global_logits, pixel_logits), like "
            f"'unet_discriminator'; {type(discriminator).__name__} returned {type(out).__name__}"
        )
    global_logits, pixel_logits = out
    return global_logits.reshape(images.size(0)), pixel_logits


def pixel_correct_probability(pixel_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean probability the decoder gives the correct class of each pixel (target 1 = real)."""
    p_real = torch.sigmoid(pixel_logits.detach().float())
    return (target * p_real + (1 - target) * (1 - p_real)).mean()


def bce(logits: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        target = torch.full_like(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target.expand_as(logits))


def unet_discriminator_terms(
    global_real: torch.Tensor,
    pixel_real: torch.Tensor,
    global_fake: torch.Tensor,
    pixel_fake: torch.Tensor,
    global_mix: torch.Tensor | None = None,
    pixel_mix: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The unweighted terms of the U-Net discriminator loss (see the module docstring).

    Returns:
        ``enc`` and ``dec`` (real and fake), and with a CutMix batch also ``enc_mix``,
        ``dec_mix`` (target: the mask) and ``cons``.
    """
    terms = dict(
        enc=bce(global_real, 1.0) + bce(global_fake, 0.0),
        dec=bce(pixel_real, 1.0) + bce(pixel_fake, 0.0),
    )
    if pixel_mix is not None:
        if mask is None or global_mix is None:
            raise ValueError("a CutMix batch needs global_mix, pixel_mix and mask")
        terms["enc_mix"] = bce(global_mix, 0.0)
        terms["dec_mix"] = bce(pixel_mix, mask)
        terms["cons"] = F.mse_loss(pixel_mix, mix(pixel_real, pixel_fake, mask))
    return terms
