"""U-Net GAN losses: per-image and per-pixel BCE, CutMix and consistency regularisation.

Schonfeld, Schiele and Khoreva, "A U-Net Based Discriminator for Generative Adversarial
Networks", CVPR 2020, https://arxiv.org/abs/2002.12655.

The U-Net discriminator :math:`D^U` has an encoder head :math:`D^U_{enc}` (one logit per image)
and a decoder head :math:`D^U_{dec}` (one logit per pixel); see
:class:`~torchgan_ext.models.UNetDiscriminator`, whose ``forward`` returns the tuple
``(global_logits [B], pixel_logits [B, 1, H, W])`` these losses expect. :math:`\\sigma` is the
logistic function; per-pixel terms are averaged over the pixels (and the batch).

Discriminator (non-saturating binary cross-entropy on both heads):

.. math::
    \\mathcal L_{D_{enc}} = -\\mathbb E_x[\\log \\sigma(D^U_{enc}(x))]
        - \\mathbb E_z[\\log(1 - \\sigma(D^U_{enc}(G(z))))]

    \\mathcal L_{D_{dec}} = -\\mathbb E_x\\Big[\\tfrac{1}{HW}\\sum_{i,j}
        \\log \\sigma([D^U_{dec}(x)]_{ij})\\Big]
        - \\mathbb E_z\\Big[\\tfrac{1}{HW}\\sum_{i,j}
        \\log(1 - \\sigma([D^U_{dec}(G(z))]_{ij}))\\Big]

With probability :math:`r_{mix}` a batch also gets CutMix images
:math:`\\tilde x = \\operatorname{mix}(x, G(z), M)` (:mod:`~torchgan_ext.losses.cutmix`): the
encoder must call them fake, the decoder must output the mask :math:`M` (1 = real pixel), and
the decoder output must be consistent with mixing:

.. math::
    \\mathcal L^{mix}_{D_{enc}} = -\\mathbb E[\\log(1 - \\sigma(D^U_{enc}(\\tilde x)))]

    \\mathcal L^{mix}_{D_{dec}} = -\\mathbb E\\Big[\\tfrac{1}{HW}\\sum_{i,j}
        M_{ij} \\log \\sigma([D^U_{dec}(\\tilde x)]_{ij})
        + (1 - M_{ij}) \\log(1 - \\sigma([D^U_{dec}(\\tilde x)]_{ij}))\\Big]

    \\mathcal L_{cons} = \\mathbb E\\Big[\\tfrac{1}{HW}\\big\\|D^U_{dec}(\\tilde x)
        - \\operatorname{mix}(D^U_{dec}(x), D^U_{dec}(G(z)), M)\\big\\|^2\\Big]

    \\mathcal L_{D^U} = w_{enc}(\\mathcal L_{D_{enc}} + \\mathcal L^{mix}_{D_{enc}})
        + w_{dec}(\\mathcal L_{D_{dec}} + \\mathcal L^{mix}_{D_{dec}})
        + \\lambda_{cons} \\mathcal L_{cons}

(the consistency term is taken on the decoder logits). Generator (non-saturating):

.. math::
    \\mathcal L_G = -\\mathbb E_z\\Big[w_{enc} \\log \\sigma(D^U_{enc}(G(z)))
        + w_{dec} \\tfrac{1}{HW}\\sum_{i,j} \\log \\sigma([D^U_{dec}(G(z))]_{ij})\\Big]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .cutmix import cutmix_masks, mix, mix_probability

__all__ = [
    "UNetGeneratorLoss",
    "UNetDiscriminatorLoss",
    "unet_discriminator_terms",
    "generator_inputs",
    "unet_outputs",
    "pixel_correct_probability",
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


def _bce(logits: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
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
        enc=_bce(global_real, 1.0) + _bce(global_fake, 0.0),
        dec=_bce(pixel_real, 1.0) + _bce(pixel_fake, 0.0),
    )
    if pixel_mix is not None:
        if mask is None or global_mix is None:
            raise ValueError("a CutMix batch needs global_mix, pixel_mix and mask")
        terms["enc_mix"] = _bce(global_mix, 0.0)
        terms["dec_mix"] = _bce(pixel_mix, mask)
        terms["cons"] = F.mse_loss(pixel_mix, mix(pixel_real, pixel_fake, mask))
    return terms


class UNetGeneratorLoss(GeneratorLoss):
    """Non-saturating generator loss on both heads of a U-Net discriminator.

    .. math::
        \\mathcal L_G = -\\mathbb E_z\\Big[w_{enc} \\log \\sigma(D^U_{enc}(G(z)))
            + w_{dec} \\tfrac{1}{HW}\\sum_{i,j} \\log \\sigma([D^U_{dec}(G(z))]_{ij})\\Big]

    Paper: https://arxiv.org/abs/2002.12655 (U-Net GAN, CVPR 2020).

    Args:
        global_weight: :math:`w_{enc}`, weight of the per-image (encoder) term.
        pixel_weight: :math:`w_{dec}`, weight of the per-pixel (decoder) term.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    def __init__(
        self,
        global_weight: float = 1.0,
        pixel_weight: float = 1.0,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.global_weight = float(global_weight)
        self.pixel_weight = float(pixel_weight)

    def forward(self, global_fake: torch.Tensor, pixel_fake: torch.Tensor) -> torch.Tensor:
        """The loss from the discriminator's logits on generated images."""
        return self.global_weight * _bce(global_fake, 1.0) + self.pixel_weight * _bce(
            pixel_fake, 1.0
        )

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: torch.device,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, real_inputs, device, labels
            )
        inputs, fake_labels = generator_inputs(generator, real_inputs.size(0), device, labels)
        optimizer_generator.zero_grad(set_to_none=True)
        fake = generator(*inputs)
        global_fake, pixel_fake = unet_outputs(discriminator, fake, fake_labels)
        loss = self.forward(global_fake, pixel_fake)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class UNetDiscriminatorLoss(DiscriminatorLoss):
    """U-Net GAN discriminator loss: both heads, CutMix and consistency regularisation.

    .. math::
        \\mathcal L_{D^U} = w_{enc}(\\mathcal L_{D_{enc}} + \\mathcal L^{mix}_{D_{enc}})
            + w_{dec}(\\mathcal L_{D_{dec}} + \\mathcal L^{mix}_{D_{dec}})
            + \\lambda_{cons} \\mathcal L_{cons}

    (terms in :mod:`torchgan_ext.losses.unet`; the ``mix`` terms only on CutMix batches).
    Paper: https://arxiv.org/abs/2002.12655 (U-Net GAN, CVPR 2020).

    Each step generates one fake batch and, with probability :math:`r_{mix}`, one CutMix batch;
    real, fake and mixed images go through the discriminator together in **one** forward
    pass, whose decoder outputs on the real and fake images are reused for the consistency
    target. :math:`r_{mix}` rises linearly from 0 to ``mix_prob`` over ``warmup_epochs``
    (or ``warmup_steps``); the losses read ``epoch`` and ``step`` from the trainer.

    :meth:`log_scalars` gives the mean probability of the correct per-pixel class on real,
    fake and (last) CutMix images, the consistency term and :math:`r_{mix}`, as tensors.

    Args:
        global_weight: :math:`w_{enc}`.
        pixel_weight: :math:`w_{dec}`.
        consistency_weight: :math:`\\lambda_{cons}` (0 switches the consistency term off).
        mix_prob: :math:`r_{mix}` after the warm-up (0 switches CutMix off).
        warmup_epochs: Epochs of the linear warm-up of :math:`r_{mix}` from 0.
        warmup_steps: Steps of the warm-up instead (overrides ``warmup_epochs``).
        beta_alpha: :math:`\\alpha` of the :math:`\\mathrm{Beta}(\\alpha, \\alpha)` box size.
        invert_prob: Probability of inverting each CutMix mask.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    def __init__(
        self,
        global_weight: float = 1.0,
        pixel_weight: float = 1.0,
        consistency_weight: float = 1.0,
        mix_prob: float = 0.5,
        warmup_epochs: float = 0.0,
        warmup_steps: int | None = None,
        beta_alpha: float = 1.0,
        invert_prob: float = 0.5,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        for name, value in (("mix_prob", mix_prob), ("invert_prob", invert_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {value}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs: must be >= 0, got {warmup_epochs}")
        if warmup_steps is not None and warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {warmup_steps}")
        if beta_alpha <= 0:
            raise ValueError(f"beta_alpha: must be > 0, got {beta_alpha}")
        self.global_weight = float(global_weight)
        self.pixel_weight = float(pixel_weight)
        self.consistency_weight = float(consistency_weight)
        self.mix_prob = float(mix_prob)
        self.warmup_epochs = float(warmup_epochs)
        self.warmup_steps = warmup_steps
        self.beta_alpha = float(beta_alpha)
        self.invert_prob = float(invert_prob)
        self._scalars: dict[str, torch.Tensor] = {}
        #: The CutMix masks of the last mixed batch (1 = real pixel), for inspection.
        self.last_mask: torch.Tensor | None = None

    def current_mix_probability(self, epoch: int, step: int) -> float:
        """:math:`r_{mix}` at this point of the training."""
        return mix_probability(
            epoch,
            step,
            max_prob=self.mix_prob,
            warmup_epochs=self.warmup_epochs,
            warmup_steps=self.warmup_steps,
        )

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted sum of :func:`unet_discriminator_terms`."""
        loss = self.global_weight * terms["enc"] + self.pixel_weight * terms["dec"]
        if "dec_mix" in terms:
            loss = loss + self.global_weight * terms["enc_mix"]
            loss = loss + self.pixel_weight * terms["dec_mix"]
            if self.consistency_weight:
                loss = loss + self.consistency_weight * terms["cons"]
        return loss

    def forward(
        self,
        global_real: torch.Tensor,
        pixel_real: torch.Tensor,
        global_fake: torch.Tensor,
        pixel_fake: torch.Tensor,
        global_mix: torch.Tensor | None = None,
        pixel_mix: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The loss from the discriminator's logits (CutMix terms when ``pixel_mix`` is given)."""
        terms = unet_discriminator_terms(
            global_real, pixel_real, global_fake, pixel_fake, global_mix, pixel_mix, mask
        )
        return self.combine(terms)

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: torch.device,
        labels: torch.Tensor | None = None,
        epoch: int = 0,
        step: int = 0,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        real = real_inputs
        b = real.size(0)
        with torch.no_grad():
            inputs, fake_labels = generator_inputs(generator, b, device, labels)
            fake = generator(*inputs).to(real.dtype)  # autocast may give a lower precision
        r_mix = self.current_mix_probability(epoch, step)
        # one CPU random number: no device sync
        do_mix = r_mix > 0 and float(torch.rand(())) < r_mix
        images = [real, fake]
        d_labels = [labels, fake_labels]
        mask = None
        if do_mix:
            mask = cutmix_masks(
                b,
                real.size(-2),
                real.size(-1),
                alpha=self.beta_alpha,
                invert_prob=self.invert_prob,
                device=real.device,
            ).to(real.dtype)
            images.append(mix(real, fake, mask))
            d_labels.append(labels)  # conditional: fakes were made with the real labels
        conditional = getattr(discriminator, "label_type", "none") != "none"
        all_labels = None
        if conditional:
            if any(y is None for y in d_labels):
                raise ValueError("the discriminator is conditional but the batch has no labels")
            all_labels = torch.cat([y.to(device) for y in d_labels])

        optimizer_discriminator.zero_grad(set_to_none=True)
        global_all, pixel_all = unet_outputs(discriminator, torch.cat(images), all_labels)
        global_parts = global_all.split(b)
        pixel_parts = pixel_all.split(b)
        terms = unet_discriminator_terms(
            global_parts[0],
            pixel_parts[0],
            global_parts[1],
            pixel_parts[1],
            global_parts[2] if do_mix else None,
            pixel_parts[2] if do_mix else None,
            mask,
        )
        loss = self.combine(terms)
        loss.backward()
        optimizer_discriminator.step()

        scalars = self._scalars
        ones = torch.ones((), device=pixel_all.device)
        scalars["unet/pixel_acc_real"] = pixel_correct_probability(pixel_parts[0], ones)
        scalars["unet/pixel_acc_fake"] = pixel_correct_probability(pixel_parts[1], 1 - ones)
        scalars["unet/mix_prob"] = torch.tensor(r_mix)
        if do_mix:
            assert mask is not None
            scalars["unet/pixel_acc_cutmix"] = pixel_correct_probability(pixel_parts[2], mask)
            scalars["unet/consistency"] = terms["cons"].detach()
            self.last_mask = mask
        return loss.detach()

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """Per-pixel accuracies (mean probability of the correct class), consistency, r_mix.

        CutMix values are those of the last mixed batch (absent before the first one).
        """
        return dict(self._scalars)
