"""Hinge adversarial losses (SAGAN, BigGAN).

The hinge version of the adversarial loss (Lim & Ye, "Geometric GAN",
https://arxiv.org/abs/1705.02894; Tran et al., https://arxiv.org/abs/1705.08991), used by
SAGAN (https://arxiv.org/abs/1805.08318) and BigGAN (https://arxiv.org/abs/1809.11096).

Both losses follow torchgan's standard ``train_ops`` (including conditional models: a model
with ``label_type="required"`` gets the batch's labels, ``"generated"`` gets labels drawn
uniformly from ``generator.num_classes``) but return a detached tensor instead of calling
``.item()``, so a CUDA step does not wait for the host.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

__all__ = ["HingeGeneratorLoss", "HingeDiscriminatorLoss", "hinge_generator", "hinge_discriminator"]


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"unknown reduction {reduction!r}; valid: mean, sum, none")


def hinge_generator(dgz: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """:math:`-D(G(z))`, reduced."""
    return _reduce(-dgz, reduction)


def hinge_discriminator(
    dx: torch.Tensor, dgz: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """:math:`\\max(0, 1 - D(x)) + \\max(0, 1 + D(G(z)))`, each term reduced."""
    return _reduce(torch.relu(1.0 - dx), reduction) + _reduce(torch.relu(1.0 + dgz), reduction)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}; valid: mean, sum, none")


def _labels_for(
    generator: Any,
    discriminator: Any,
    labels: torch.Tensor | None,
    batch_size: int,
    device: Any,
    judge_real: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Labels for the generator and for judging its output (torchgan's conventions).

    ``judge_real``: the discriminator also scores the real batch (with the batch's labels).
    """
    g_type = getattr(generator, "label_type", "none")
    d_type = getattr(discriminator, "label_type", "none")
    needs_batch_labels = (
        g_type == "required"
        or (d_type != "none" and g_type != "generated")
        or (judge_real and d_type != "none")
    )
    if labels is None and needs_batch_labels:
        raise ValueError(
            "the models are conditional (label_type='required') but the batch has no labels; "
            "use a dataset that yields (images, labels)"
        )
    if g_type == "generated":
        fake_labels = torch.randint(0, generator.num_classes, (batch_size,), device=device)
    elif g_type == "required":
        fake_labels = labels
    else:
        fake_labels = labels if d_type != "none" else None
    g_labels = fake_labels if g_type != "none" else None
    return g_labels, fake_labels


def _generate(generator: Any, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return generator(noise) if labels is None else generator(noise, labels)


def _judge(discriminator: Any, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    if getattr(discriminator, "label_type", "none") == "none":
        return discriminator(images)
    return discriminator(images, labels)


class HingeGeneratorLoss(GeneratorLoss):
    """Hinge loss of the generator (`SAGAN <https://arxiv.org/abs/1805.08318>`_).

    .. math:: L_G = -\\mathbb{E}_{z}\\big[D(G(z))\\big]

    Args:
        reduction: ``mean`` (default), ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def __init__(self, reduction: str = "mean", override_train_ops: Any = None) -> None:
        _check_reduction(reduction)
        super().__init__(reduction, override_train_ops)

    def forward(self, dgz: torch.Tensor) -> torch.Tensor:
        """The loss for discriminator outputs ``dgz`` on generated images."""
        return hinge_generator(dgz, self.reduction)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss.

        Args:
            generator: The generator (``label_type`` ``none``, ``required`` or ``generated``).
            discriminator: The discriminator.
            optimizer_generator: The generator's optimizer.
            device: Where to draw the noise.
            batch_size: Number of images to generate.
            labels: The batch's labels (for conditional models).
        """
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        if labels is not None and labels.shape[0] != batch_size:
            batch_size = labels.shape[0]
        g_labels, fake_labels = _labels_for(
            generator, discriminator, labels, batch_size, device, judge_real=False
        )
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        fake = _generate(generator, noise, g_labels)
        loss = self.forward(_judge(discriminator, fake, fake_labels))
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class HingeDiscriminatorLoss(DiscriminatorLoss):
    """Hinge loss of the discriminator (`SAGAN <https://arxiv.org/abs/1805.08318>`_).

    .. math::
        L_D = \\mathbb{E}_{x}\\big[\\max(0, 1 - D(x))\\big]
            + \\mathbb{E}_{z}\\big[\\max(0, 1 + D(G(z)))\\big]

    Args:
        reduction: ``mean`` (default), ``sum`` or ``none`` over the batch (per term).
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def __init__(self, reduction: str = "mean", override_train_ops: Any = None) -> None:
        _check_reduction(reduction)
        super().__init__(reduction, override_train_ops)

    def forward(self, dx: torch.Tensor, dgz: torch.Tensor) -> torch.Tensor:
        """The loss for outputs ``dx`` on real and ``dgz`` on generated images."""
        return hinge_discriminator(dx, dgz, self.reduction)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached loss.

        Args:
            generator: The generator (``label_type`` ``none``, ``required`` or ``generated``).
            discriminator: The discriminator being trained.
            optimizer_discriminator: Its optimizer.
            real_inputs: A batch of real images.
            device: Where to draw the noise.
            labels: The batch's labels (for conditional models).
        """
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        batch_size = real_inputs.size(0)
        g_labels, fake_labels = _labels_for(
            generator, discriminator, labels, batch_size, device, judge_real=True
        )
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_discriminator.zero_grad(set_to_none=True)
        # real images are judged with their own labels; generated ones with the labels they
        # were generated for (the same labels unless the generator draws its own)
        dx = _judge(discriminator, real_inputs, labels)
        with torch.no_grad():
            fake = _generate(generator, noise, g_labels)
        loss = self.forward(dx, _judge(discriminator, fake, fake_labels))
        loss.backward()
        optimizer_discriminator.step()
        return loss.detach()
