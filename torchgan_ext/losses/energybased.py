"""torchgan's EBGAN losses (``torchgan.losses.energybased``), trained without a host sync.

These are the classes registered as ``energy_based_generator``, ``energy_based_discriminator``
and ``energy_based_pulling_away_term``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torchgan import losses as tl
from torchgan import models as tgm

from .train_ops import DiscriminatorStep, GeneratorStep

__all__ = [
    "EnergyBasedGeneratorLoss",
    "EnergyBasedDiscriminatorLoss",
    "EnergyBasedPullingAwayTerm",
]


@contextlib.contextmanager
def _scores_only(discriminator: Any) -> Iterator[None]:
    """An auto-encoding discriminator returns only its score inside (torchgan's EBGAN steps)."""
    if not isinstance(discriminator, tgm.AutoEncodingDiscriminator):
        yield
        return
    embeddings = discriminator.embeddings
    discriminator.embeddings = False
    try:
        yield
    finally:
        discriminator.embeddings = embeddings


class EnergyBasedGeneratorLoss(tl.EnergyBasedGeneratorLoss):
    """EBGAN generator loss (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math:: L_G = D(G(z))

    where :math:`D` is the auto-encoder's reconstruction energy. torchgan's loss; the step
    returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        with _scores_only(discriminator):
            return GeneratorStep.train_ops(
                self, generator, discriminator, optimizer_generator, device, batch_size, labels
            )


class EnergyBasedDiscriminatorLoss(tl.EnergyBasedDiscriminatorLoss):
    """EBGAN discriminator loss (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math:: L_D = D(x) + \\max(0, m - D(G(z)))

    torchgan's loss; the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        margin: :math:`m`.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator,
                discriminator,
                optimizer_discriminator,
                real_inputs,
                device,
                batch_size,
                labels,
            )
        with _scores_only(discriminator):
            return DiscriminatorStep.train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )


class EnergyBasedPullingAwayTerm(tl.EnergyBasedPullingAwayTerm):
    """EBGAN's pulling-away term (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math::
        f_{PT} = \\frac{1}{N(N-1)} \\sum_i \\sum_{j \\ne i}
            \\Big(\\frac{S_i^\\top S_j}{\\lVert S_i \\rVert \\lVert S_j \\rVert}\\Big)^2

    over the encoder embeddings :math:`S` of generated images, scaled by ``pt_ratio``. torchgan's
    term; the step returns the detached loss instead of calling ``.item()``.

    Args:
        pt_ratio: Weight of the term.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    @staticmethod
    def _check(generator: Any, discriminator: Any) -> None:
        if not isinstance(discriminator, tgm.AutoEncodingDiscriminator) or not getattr(
            discriminator, "embeddings", False
        ):
            raise ValueError(
                "energy_based_pulling_away_term needs an autoencoding_discriminator with "
                "embeddings: true"
            )
        if getattr(generator, "label_type", "none") != "none":
            raise ValueError(
                "energy_based_pulling_away_term supports unconditional generators only"
            )

    def validate(self, trainer: Any) -> None:
        """Called before training: the models must suit the term."""
        if hasattr(trainer, "generator") and hasattr(trainer, "discriminator"):
            self._check(trainer.generator, trainer.discriminator)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step on the term; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        self._check(generator, discriminator)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        d_hid, dgz = discriminator(generator(noise))
        loss = self.forward(dgz, d_hid)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()
