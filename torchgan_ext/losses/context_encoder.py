"""Context Encoder losses: masked L2 reconstruction plus an adversarial term (Pathak et al.).

`Context Encoders <https://arxiv.org/abs/1604.07379>`_ (CVPR 2016, section 3.2) train the
encoder-decoder :math:`F` on images :math:`x` with a dropped region :math:`\\hat M`
(:meth:`~torchgan_ext.models.context_encoder.ContextEncoderGenerator.mask_batch` makes the
masked input :math:`(1 - \\hat M) \\odot x + \\hat M \\odot c`, :math:`c` the fill colour, the
target region :math:`y` and the per-pixel weights :math:`w`):

.. math::
    \\mathcal L_F = \\lambda_{rec}\\, \\frac{1}{N} \\sum w \\odot \\big(F(\\tilde x) - y\\big)^2
        + \\lambda_{adv}\\, \\ell\\big(D(F(\\tilde x)), 1\\big)

    \\mathcal L_D = \\ell(D(y), 1) + \\ell(D(F(\\tilde x)), 0)

with :math:`\\ell` the binary cross-entropy on logits, :math:`N` the number of predicted values,
:math:`\\lambda_{rec} = 0.999` and :math:`\\lambda_{adv} = 0.001` (section 5.1). The weights
:math:`w` are 1 in the hole and 10 on the ``overlap``-pixel border of the predicted region that
the input still shows (the authors' code; 0 elsewhere for random blocks). The batch is the
trainer's ``real_inputs`` (labels, if any, are not used). The authors update the discriminator
first: list ``context_encoder_discriminator`` before ``context_encoder_generator``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_number
from .pix2pix import _Terms, gan_criterion
from .train_ops import backward_and_step, frozen

__all__ = ["ContextEncoderGeneratorLoss", "ContextEncoderDiscriminatorLoss", "masked_l2"]


def masked_l2(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor):
    """:math:`\\frac1N \\sum w \\odot (p - y)^2` over every predicted value (``weights``
    broadcast over channels)."""
    diff = prediction.float() - target.float()
    return (weights.float() * diff.square()).mean()


def _mask(generator: nn.Module, images: torch.Tensor, what: str):
    mask_batch = getattr(generator, "mask_batch", None)
    if not callable(mask_batch):
        raise ValueError(
            f"{what} needs a generator that masks its input (mask_batch), like "
            f"context_encoder_generator; got {type(generator).__name__}"
        )
    return mask_batch(images)


class ContextEncoderGeneratorLoss(_Terms, GeneratorLoss):
    """The Context Encoder's joint loss: weighted masked L2 + adversarial.

    .. math::
        \\mathcal L_F = \\lambda_{rec}\\, \\frac{1}{N} \\sum w \\odot (F(\\tilde x) - y)^2
            + \\lambda_{adv}\\, \\ell(D(F(\\tilde x)), 1)

    Paper: https://arxiv.org/abs/1604.07379 (Context Encoders, CVPR 2016), eq. (1)-(3).

    Args:
        lambda_rec: :math:`\\lambda_{rec}` (0.999).
        lambda_adv: :math:`\\lambda_{adv}` (0.001); 0 gives the L2-only context encoder.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "context_encoder/g"

    def __init__(
        self, lambda_rec: float = 0.999, lambda_adv: float = 0.001, override_train_ops: Any = None
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_rec = float(check_number(lambda_rec, "lambda_rec"))
        self.lambda_adv = float(check_number(lambda_adv, "lambda_adv"))
        self._last: dict[str, torch.Tensor] = {}

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """One generator step on a batch of real images; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_generator, real_inputs
            )
        masked = _mask(generator, real_inputs, "context_encoder_generator")
        optimizer_generator.zero_grad(set_to_none=True)
        fake = generator(masked.inputs)
        rec = masked_l2(fake, masked.target, masked.weights)
        loss = self.lambda_rec * rec
        terms = {"rec": rec}
        if self.lambda_adv > 0:
            with frozen(discriminator):
                terms["adv"] = gan_criterion(discriminator(fake), True)
            loss = loss + self.lambda_adv * terms["adv"]
        loss, self._last = backward_and_step(loss, terms, optimizer_generator)
        return loss


class ContextEncoderDiscriminatorLoss(_Terms, DiscriminatorLoss):
    """The Context Encoder's adversary: real regions against predicted ones.

    .. math::
        \\mathcal L_D = \\ell(D(y), 1) + \\ell(D(F(\\tilde x)), 0)

    Paper: https://arxiv.org/abs/1604.07379 (Context Encoders, CVPR 2016), eq. (2).

    Args:
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "context_encoder/d"

    def __init__(self, override_train_ops: Any = None) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self._last: dict[str, torch.Tensor] = {}

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """One discriminator step on a batch of real images; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs
            )
        masked = _mask(generator, real_inputs, "context_encoder_discriminator")
        with torch.no_grad():
            fake = generator(masked.inputs)
        optimizer_discriminator.zero_grad(set_to_none=True)
        real_term = gan_criterion(discriminator(masked.target), True)
        fake_term = gan_criterion(discriminator(fake), False)
        loss = real_term + fake_term
        terms = {"real": real_term, "fake": fake_term}
        loss, self._last = backward_and_step(loss, terms, optimizer_discriminator)
        return loss
