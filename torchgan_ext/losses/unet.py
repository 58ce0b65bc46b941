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

A CutMix batch :math:`\\tilde x = \\operatorname{mix}(x, G(z), M)`
(:mod:`~torchgan_ext.losses.cutmix`) adds three terms: the encoder must call the mixed images
fake, the decoder must output the mask :math:`M` (1 = real pixel), and the decoder output must
be consistent with mixing:

.. math::
    \\mathcal L^{mix}_{D_{enc}} = -\\mathbb E[\\log(1 - \\sigma(D^U_{enc}(\\tilde x)))]

    \\mathcal L^{mix}_{D_{dec}} = -\\mathbb E\\Big[\\tfrac{1}{HW}\\sum_{i,j}
        M_{ij} \\log \\sigma([D^U_{dec}(\\tilde x)]_{ij})
        + (1 - M_{ij}) \\log(1 - \\sigma([D^U_{dec}(\\tilde x)]_{ij}))\\Big]

    \\mathcal L_{cons} = \\mathbb E\\Big[\\tfrac{1}{HW}\\big\\|D^U_{dec}(\\tilde x)
        - \\operatorname{mix}(D^U_{dec}(x), D^U_{dec}(G(z)), M)\\big\\|^2\\Big]

    \\mathcal L_{D^U} = a\\,[\\text{normal}]\\,\\big(w_{enc}\\mathcal L_{D_{enc}}
        + w_{dec}\\mathcal L_{D_{dec}}\\big)
        + [\\text{mixed}]\\,\\Big(b\\,\\big(w_{enc}\\mathcal L^{mix}_{D_{enc}}
        + w_{dec}\\mathcal L^{mix}_{D_{dec}}\\big) + \\lambda_{cons}\\mathcal L_{cons}\\Big)

with :math:`a` ``real_fake_weight``, :math:`b` ``mix_weight``, and the brackets 1 when the
step has normal / mixed terms. Which steps have which is the ``mode`` (:data:`CUTMIX_MODES`):

* ``"celeba"`` (the authors' CelebA script): every step has both, from the first step.
* ``"ffhq"`` (the authors' FFHQ script): with probability :math:`r_{mix}` a step is mixed and
  then has **only** the mixed terms; the other steps only the normal ones.
* ``"ours"``: every step has the normal terms; with probability :math:`r_{mix}` it also has
  the mixed ones.

:math:`r_{mix}` rises linearly from 0 to ``mix_prob`` over the warm-up. The authors' weights
are :math:`a = 0.5`, :math:`b = 1`, :math:`\\lambda_{cons} = 1`, :math:`w_{enc} = w_{dec} = 1`
(``real_fake_weight: 0.5``); the defaults (all 1) are ours.

The consistency term is taken on the decoder logits. Generator (non-saturating):

.. math::
    \\mathcal L_G = -\\mathbb E_z\\Big[w_{enc} \\log \\sigma(D^U_{enc}(G(z)))
        + w_{dec} \\tfrac{1}{HW}\\sum_{i,j} \\log \\sigma([D^U_{dec}(G(z))]_{ij})\\Big]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .cutmix import cutmix_masks, mix, mix_probability
from .unet_terms import (
    bce,
    generator_inputs,
    pixel_correct_probability,
    unet_discriminator_terms,
    unet_outputs,
)

__all__ = [
    "UNetGeneratorLoss",
    "UNetDiscriminatorLoss",
    "unet_discriminator_terms",
    "generator_inputs",
    "unet_outputs",
    "pixel_correct_probability",
    "CUTMIX_MODES",
]

#: How CutMix batches enter the discriminator loss (see the module docstring).
CUTMIX_MODES = ("ours", "celeba", "ffhq")


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
        return self.global_weight * bce(global_fake, 1.0) + self.pixel_weight * bce(pixel_fake, 1.0)

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
        \\mathcal L_{D^U} = a\\,[\\text{normal}]\\,\\big(w_{enc}\\mathcal L_{D_{enc}}
            + w_{dec}\\mathcal L_{D_{dec}}\\big)
            + [\\text{mixed}]\\,\\Big(b\\,\\big(w_{enc}\\mathcal L^{mix}_{D_{enc}}
            + w_{dec}\\mathcal L^{mix}_{D_{dec}}\\big) + \\lambda_{cons}\\mathcal L_{cons}\\Big)

    (terms and modes in :mod:`torchgan_ext.losses.unet`).
    Paper: https://arxiv.org/abs/2002.12655 (U-Net GAN, CVPR 2020).

    Each step generates one fake batch and, on a mixed step, one CutMix batch; real, fake and
    mixed images go through the discriminator together in **one** forward pass, whose decoder
    outputs on the real and fake images are reused for the consistency target. Mixed steps:

    * ``mode="celeba"``: every step (the authors' CelebA script; ``mix_prob`` and the warm-up
      do not apply).
    * ``mode="ffhq"``: with probability :math:`r_{mix}`, and then the normal real/fake terms
      are left out (the authors' FFHQ script, which uses a 100-epoch warm-up).
    * ``mode="ours"``: with probability :math:`r_{mix}`, on top of the normal terms.

    :math:`r_{mix}` rises linearly from 0 to ``mix_prob`` over ``warmup_epochs`` (or
    ``warmup_steps``); the losses read ``epoch`` and ``step`` from the trainer.

    :meth:`log_scalars` gives the mean probability of the correct per-pixel class on real,
    fake and (last) CutMix images, the consistency term and :math:`r_{mix}`, as tensors.

    Args:
        global_weight: :math:`w_{enc}`.
        pixel_weight: :math:`w_{dec}`.
        consistency_weight: :math:`\\lambda_{cons}` (0 switches the consistency term off).
        mix_prob: :math:`r_{mix}` after the warm-up (0 switches CutMix off); default 0.5.
            Not with ``mode="celeba"``.
        warmup_epochs: Epochs of the linear warm-up of :math:`r_{mix}` from 0.
        warmup_steps: Steps of the warm-up instead (overrides ``warmup_epochs``).
        beta_alpha: :math:`\\alpha` of the :math:`\\mathrm{Beta}(\\alpha, \\alpha)` box size.
        invert_prob: Probability of inverting each CutMix mask.
        mode: ``"ours"``, ``"celeba"`` or ``"ffhq"`` (:data:`CUTMIX_MODES`).
        real_fake_weight: :math:`a`, weight of the normal real/fake terms (the authors: 0.5).
        mix_weight: :math:`b`, weight of the CutMix terms of both heads (the authors: 1).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    def __init__(
        self,
        global_weight: float = 1.0,
        pixel_weight: float = 1.0,
        consistency_weight: float = 1.0,
        mix_prob: float | None = None,
        warmup_epochs: float = 0.0,
        warmup_steps: int | None = None,
        beta_alpha: float = 1.0,
        invert_prob: float = 0.5,
        mode: str = "ours",
        real_fake_weight: float = 1.0,
        mix_weight: float = 1.0,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        if mode not in CUTMIX_MODES:
            raise ValueError(f"mode: unknown {mode!r}; valid: {', '.join(CUTMIX_MODES)}")
        if mode == "celeba":
            if mix_prob is not None:
                raise ValueError(
                    "mix_prob: mode 'celeba' mixes on every step; leave mix_prob out "
                    "(or use mode 'ours' / 'ffhq')"
                )
            if warmup_epochs or warmup_steps is not None:
                raise ValueError(
                    "warmup_epochs: mode 'celeba' mixes on every step from the start; "
                    "leave warmup_epochs / warmup_steps out"
                )
        mix_prob = (1.0 if mode == "celeba" else 0.5) if mix_prob is None else mix_prob
        for name, value in (("mix_prob", mix_prob), ("invert_prob", invert_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be in [0, 1], got {value}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs: must be >= 0, got {warmup_epochs}")
        if warmup_steps is not None and warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {warmup_steps}")
        if beta_alpha <= 0:
            raise ValueError(f"beta_alpha: must be > 0, got {beta_alpha}")
        for name, value in (("real_fake_weight", real_fake_weight), ("mix_weight", mix_weight)):
            if value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        self.global_weight = float(global_weight)
        self.pixel_weight = float(pixel_weight)
        self.consistency_weight = float(consistency_weight)
        self.mix_prob = float(mix_prob)
        self.warmup_epochs = float(warmup_epochs)
        self.warmup_steps = warmup_steps
        self.beta_alpha = float(beta_alpha)
        self.invert_prob = float(invert_prob)
        self.mode = mode
        self.real_fake_weight = float(real_fake_weight)
        self.mix_weight = float(mix_weight)
        self._scalars: dict[str, torch.Tensor] = {}
        #: The CutMix masks of the last mixed batch (1 = real pixel), for inspection.
        self.last_mask: torch.Tensor | None = None

    def current_mix_probability(self, epoch: int, step: int) -> float:
        """:math:`r_{mix}` at this point of the training (1 in mode ``"celeba"``)."""
        if self.mode == "celeba":
            return 1.0
        return mix_probability(
            epoch,
            step,
            max_prob=self.mix_prob,
            warmup_epochs=self.warmup_epochs,
            warmup_steps=self.warmup_steps,
        )

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted sum of :func:`unet_discriminator_terms` for this ``mode``.

        The CutMix terms count when ``terms`` has them (a mixed step); the normal real/fake
        terms count except on the mixed steps of mode ``"ffhq"``.
        """
        mixed = "dec_mix" in terms
        loss = torch.zeros((), device=terms["dec"].device, dtype=terms["dec"].dtype)
        if not (mixed and self.mode == "ffhq"):
            normal = self.global_weight * terms["enc"] + self.pixel_weight * terms["dec"]
            loss = loss + self.real_fake_weight * normal
        if mixed:
            cutmix = self.global_weight * terms["enc_mix"] + self.pixel_weight * terms["dec_mix"]
            loss = loss + self.mix_weight * cutmix
            if self.consistency_weight:
                loss = loss + self.consistency_weight * terms["cons"]
        return loss

    def forward(self, *logits: torch.Tensor | None) -> torch.Tensor:
        """The loss from the discriminator's logits (a CutMix step when they include the mix).

        Args:
            *logits: The arguments of :func:`unet_discriminator_terms`, in its order:
                ``global_real, pixel_real, global_fake, pixel_fake`` and, on a CutMix step,
                ``global_mix, pixel_mix, mask``.
        """
        return self.combine(unet_discriminator_terms(*logits))

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
