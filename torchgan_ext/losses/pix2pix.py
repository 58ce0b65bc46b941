"""pix2pix losses: a conditional GAN on patches plus L1 (Isola et al., CVPR 2017).

`pix2pix <https://arxiv.org/abs/1611.07004>`_ trains a generator :math:`G` on pairs
:math:`(x, y)` (input, target) against a conditional PatchGAN :math:`D(x, \\cdot)` that
returns one logit per patch (eq. 1-4):

.. math::
    \\mathcal L_D = \\tfrac12 \\big(\\ell(D(x, y), 1) + \\ell(D(x, G(x)), 0)\\big)

    \\mathcal L_G = \\ell(D(x, G(x)), 1)
        + \\lambda_{L1}\\, \\mathbb E\\big[\\lVert y - G(x) \\rVert_1\\big]

:math:`\\ell` is the binary cross-entropy with logits averaged over the patches (``vanilla``,
the paper; the generator maximises :math:`\\log D` as recommended by Goodfellow et al.) or
the squared error to the target (``lsgan``); :math:`\\lambda_{L1} = 100`. The halving of
:math:`\\mathcal L_D` is the paper's "we divide the objective by 2 while optimizing D, which
slows down the rate at which D learns relative to G".

The batch is ``(x, y)``: the trainer's ``real_inputs`` and ``labels``. Each step of a loss
computes :math:`G(x)` itself; the authors' order is the discriminator step first, so list
``pix2pix_discriminator`` before ``pix2pix_generator``. Returned tensors are detached; nothing
is read back to the host during a step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_choice, check_number
from .train_ops import backward_and_step, frozen

__all__ = [
    "GAN_MODES",
    "gan_criterion",
    "paired_target",
    "Pix2PixGeneratorLoss",
    "Pix2PixDiscriminatorLoss",
]

#: Values of ``gan_mode``.
GAN_MODES = ("vanilla", "lsgan")


def gan_criterion(logits: torch.Tensor, real: bool, mode: str = "vanilla") -> torch.Tensor:
    """:math:`\\ell(D(\\cdot), t)` averaged over a score map: BCE with logits (``vanilla``) or
    squared error (``lsgan``) to the target :math:`t` = 1 (real) or 0 (fake)."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)


def paired_target(real_inputs: torch.Tensor, labels: Any, what: str) -> torch.Tensor:
    """The second image of a ``(input, target)`` batch, checked to be an image batch."""
    if not isinstance(labels, torch.Tensor) or labels.dim() != 4:
        raise ValueError(
            f"{what} needs batches of image pairs (input, target), like the datasets "
            "paired_images, unpaired_images and cityscapes_pairs yield; got "
            f"{'no second element' if labels is None else type(labels).__name__}"
            f"{'' if not isinstance(labels, torch.Tensor) else f' of shape {tuple(labels.shape)}'}"
        )
    if labels.shape[0] != real_inputs.shape[0] or labels.shape[-2:] != real_inputs.shape[-2:]:
        raise ValueError(
            f"{what}: inputs {tuple(real_inputs.shape)} and targets {tuple(labels.shape)} "
            "differ in batch size or image size"
        )
    return labels


def _judge(discriminator: nn.Module, image: torch.Tensor, condition: torch.Tensor):
    if getattr(discriminator, "conditional", False):
        return discriminator(image, condition)
    return discriminator(image)


class _Terms:
    """Shared bookkeeping: the last unweighted terms and ``log_scalars``."""

    prefix = ""
    _last: dict[str, torch.Tensor]

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """The unweighted terms of the last step (tags ``<prefix>/<term>``)."""
        return {f"{self.prefix}/{k}": v for k, v in self._last.items()}


class Pix2PixDiscriminatorLoss(_Terms, DiscriminatorLoss):
    """pix2pix's discriminator loss on real and generated pairs, halved.

    .. math::
        \\mathcal L_D = \\tfrac12 \\big(\\ell(D(x, y), 1) + \\ell(D(x, G(x)), 0)\\big)

    Paper: https://arxiv.org/abs/1611.07004 (pix2pix, CVPR 2017), eq. (1) and section 3.3.

    Args:
        gan_mode: :math:`\\ell`: ``vanilla`` (binary cross-entropy, the paper) or ``lsgan``.
        scale: The factor of the objective (0.5, the paper's halving).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "pix2pix/d"

    def __init__(
        self, gan_mode: str = "vanilla", scale: float = 0.5, override_train_ops: Any = None
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.gan_mode = check_choice(gan_mode, "gan_mode", GAN_MODES)
        self.scale = float(check_number(scale, "scale"))
        self._last: dict[str, torch.Tensor] = {}

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step on the batch ``(x, y)``; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, labels
            )
        target = paired_target(real_inputs, labels, "pix2pix_discriminator")
        with torch.no_grad():
            fake = generator(real_inputs)
        optimizer_discriminator.zero_grad(set_to_none=True)
        real_term = gan_criterion(_judge(discriminator, target, real_inputs), True, self.gan_mode)
        fake_term = gan_criterion(_judge(discriminator, fake, real_inputs), False, self.gan_mode)
        loss = self.scale * (real_term + fake_term)
        terms = {"real": real_term, "fake": fake_term}
        loss, self._last = backward_and_step(loss, terms, optimizer_discriminator)
        return loss


class Pix2PixGeneratorLoss(_Terms, GeneratorLoss):
    """pix2pix's generator loss: fool the patch discriminator and stay close to the target.

    .. math::
        \\mathcal L_G = \\ell(D(x, G(x)), 1)
            + \\lambda_{L1}\\, \\mathbb E\\big[\\lVert y - G(x) \\rVert_1\\big]

    (the L1 term is the mean absolute error over pixels, as in the authors' code.)

    Paper: https://arxiv.org/abs/1611.07004 (pix2pix, CVPR 2017), eq. (3) and (4).

    Args:
        lambda_l1: :math:`\\lambda_{L1}` (100); 0 gives the cGAN-only ablation.
        lambda_gan: Weight of the adversarial term (1; 0 gives the L1-only ablation).
        gan_mode: :math:`\\ell`: ``vanilla`` (the paper) or ``lsgan``.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "pix2pix/g"

    def __init__(
        self,
        lambda_l1: float = 100.0,
        lambda_gan: float = 1.0,
        gan_mode: str = "vanilla",
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_l1 = float(check_number(lambda_l1, "lambda_l1"))
        self.lambda_gan = float(check_number(lambda_gan, "lambda_gan"))
        self.gan_mode = check_choice(gan_mode, "gan_mode", GAN_MODES)
        self._last: dict[str, torch.Tensor] = {}

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step on the batch ``(x, y)``; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_generator, real_inputs, labels
            )
        target = paired_target(real_inputs, labels, "pix2pix_generator")
        optimizer_generator.zero_grad(set_to_none=True)
        fake = generator(real_inputs)
        if fake.shape != target.shape:
            raise ValueError(
                f"pix2pix_generator: the generator's output {tuple(fake.shape)} does not match "
                f"the targets {tuple(target.shape)}; set its out_channels to the target's"
            )
        with frozen(discriminator):
            adv = gan_criterion(_judge(discriminator, fake, real_inputs), True, self.gan_mode)
        l1 = (fake.float() - target.float()).abs().mean()
        loss = self.lambda_gan * adv + self.lambda_l1 * l1
        loss, self._last = backward_and_step(loss, {"adv": adv, "l1": l1}, optimizer_generator)
        return loss
