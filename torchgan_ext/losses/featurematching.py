"""torchgan's feature matching (``torchgan.losses.featurematching``), without a host sync.

This is the class registered as ``feature_matching_generator``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

from .train_ops import check_labels, generate, validate_labels

__all__ = ["FeatureMatchingGeneratorLoss"]


class FeatureMatchingGeneratorLoss(tl.FeatureMatchingGeneratorLoss):
    """Feature matching (`Salimans et al. <https://arxiv.org/abs/1606.03498>`_).

    .. math:: L_G = \\big\\lVert \\mathbb{E}_x f(x) - \\mathbb{E}_z f(G(z)) \\big\\rVert_2^2

    with :math:`f` the discriminator's intermediate features (``feature_matching=True``).
    torchgan's loss; the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none``.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels."""
        validate_labels(trainer, judge_real=True)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, labels
            )
        check_labels(generator, discriminator, labels is not None, judge_real=True)
        g_type = generator.label_type
        d_type = getattr(discriminator, "label_type", "none")
        batch_size = real_inputs.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        drawn = None
        if g_type == "generated":
            drawn = torch.randint(0, generator.num_classes, (batch_size,), device=device)
        fake = generate(generator, noise, {"none": None, "required": labels}.get(g_type, drawn))
        if d_type == "none":
            fx = discriminator(real_inputs, feature_matching=True)
            fgz = discriminator(fake, feature_matching=True)
        else:
            real_labels = drawn if d_type == "generated" else labels
            fx = discriminator(real_inputs, real_labels, feature_matching=True)
            fgz = discriminator(
                fake, drawn if g_type == "generated" else labels, feature_matching=True
            )
        loss = self.forward(fx, fgz)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()
