"""torchgan's ACGAN class terms (``torchgan.losses.auxclassifier``), without a host sync.

The steps return detached tensors, and the run is checked before training (a conditional
generator, the batch's labels when needed).

These are the classes registered as ``auxiliary_classifier_generator`` and
``auxiliary_classifier_discriminator``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

__all__ = ["AuxiliaryClassifierGeneratorLoss", "AuxiliaryClassifierDiscriminatorLoss"]


def _acgan_check(generator: Any, has_labels: bool, need_labels: bool, name: str) -> None:
    """``ValueError`` unless the generator is conditional and the needed labels are there."""
    g_type = getattr(generator, "label_type", "none")
    if g_type == "none":
        raise ValueError(
            f"{name} needs a conditional generator (label_type 'required' or 'generated', "
            "e.g. acgan_generator)"
        )
    if not has_labels and (need_labels or g_type == "required"):
        raise ValueError(f"{name} needs the batch's class labels; use a dataset that yields them")


def _acgan_targets(
    generator: Any, labels: torch.Tensor | None, batch_size: int, device: Any
) -> torch.Tensor:
    """The classes the generator draws: the batch's, or uniform ones (``"generated"``)."""
    if generator.label_type == "required":
        return labels
    return torch.randint(0, generator.num_classes, (batch_size,), device=device)


class _ACGANCheck:
    """Mixin: check before training that the run suits an ACGAN class term."""

    _name: str
    _needs_batch_labels: bool

    def validate(self, trainer: Any) -> None:
        """Called before training: a conditional generator, and labels when needed."""
        generator = getattr(trainer, "generator", None)
        if generator is not None:
            has_labels = trainer.labels is not None
            _acgan_check(generator, has_labels, self._needs_batch_labels, self._name)


class AuxiliaryClassifierGeneratorLoss(_ACGANCheck, tl.AuxiliaryClassifierGeneratorLoss):
    """ACGAN's class term for the generator (`Odena et al. <https://arxiv.org/abs/1610.09585>`_).

    .. math:: L_G^{cls} = -\\mathbb{E}_{z, c}\\big[\\log P(C = c \\mid G(z, c))\\big]

    torchgan's loss and step (combine with an adversarial loss such as ``minimax_generator``);
    the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    _name = "auxiliary_classifier_generator"
    _needs_batch_labels = False

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step on the class term; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        _acgan_check(generator, labels is not None, False, "auxiliary_classifier_generator")
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        targets = _acgan_targets(generator, labels, batch_size, device)
        logits = discriminator(generator(noise, targets), mode="classifier")
        loss = self.forward(logits, targets)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class AuxiliaryClassifierDiscriminatorLoss(_ACGANCheck, tl.AuxiliaryClassifierDiscriminatorLoss):
    """ACGAN's class term for the discriminator (`Odena et al. <https://arxiv.org/abs/1610.09585>`_).

    .. math::
        L_D^{cls} = -\\mathbb{E}_{x, c}\\big[\\log P(C = c \\mid x)\\big]
                    - \\mathbb{E}_{z, c}\\big[\\log P(C = c \\mid G(z, c))\\big]

    torchgan's loss and step (the generator's forward runs without building a graph); the step
    returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    _name = "auxiliary_classifier_discriminator"
    _needs_batch_labels = True

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step on the class term; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        _acgan_check(generator, labels is not None, True, "auxiliary_classifier_discriminator")
        batch_size = real_inputs.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_discriminator.zero_grad(set_to_none=True)
        real_logits = discriminator(real_inputs, mode="classifier")
        targets = _acgan_targets(generator, labels, batch_size, device)
        with torch.no_grad():
            fake = generator(noise, targets)
        loss = self.forward(discriminator(fake, mode="classifier"), targets)
        loss = loss + self.forward(real_logits, labels)
        loss.backward()
        optimizer_discriminator.step()
        return loss.detach()
