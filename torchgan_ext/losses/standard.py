"""torchgan's minimax, least-squares and Wasserstein losses, trained without a host sync.

The same losses (``forward``, constructor arguments and defaults are torchgan's own); only the
training step differs: it comes from :mod:`torchgan_ext.losses.train_ops`, which returns the
detached loss instead of calling ``.item()`` on every generator and discriminator step. These
are the classes registered as ``minimax_generator``, ``least_squares_discriminator``, ... .
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

from .train_ops import DiscriminatorStep, GeneratorStep

__all__ = [
    "MinimaxGeneratorLoss",
    "MinimaxDiscriminatorLoss",
    "LeastSquaresGeneratorLoss",
    "LeastSquaresDiscriminatorLoss",
    "WassersteinGeneratorLoss",
    "WassersteinDiscriminatorLoss",
]


class MinimaxGeneratorLoss(GeneratorStep, tl.MinimaxGeneratorLoss):
    """Generator loss of the original GAN (`Goodfellow et al. <https://arxiv.org/abs/1406.2661>`_).

    With ``nonsaturating=True`` (torchgan's default) and discriminator logits :math:`D`:

    .. math:: L_G = -\\mathbb{E}_z\\big[\\log \\sigma(D(G(z)))\\big]

    and :math:`\\mathbb{E}_z[\\log(1 - \\sigma(D(G(z))))]` with ``nonsaturating=False``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        nonsaturating: Use the non-saturating form.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class MinimaxDiscriminatorLoss(DiscriminatorStep, tl.MinimaxDiscriminatorLoss):
    """Discriminator loss of the original GAN (`Goodfellow et al. <https://arxiv.org/abs/1406.2661>`_).

    .. math::
        L_D = -\\mathbb{E}_x\\big[\\log \\sigma(D(x))\\big]
              - \\mathbb{E}_z\\big[\\log(1 - \\sigma(D(G(z))))\\big]

    Args:
        label_smoothing: Target for real images is ``1 - label_smoothing``.
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class LeastSquaresGeneratorLoss(GeneratorStep, tl.LeastSquaresGeneratorLoss):
    """Least-squares GAN generator loss (`Mao et al. <https://arxiv.org/abs/1611.04076>`_).

    .. math:: L_G = \\tfrac{1}{2}\\,\\mathbb{E}_z\\big[(D(G(z)) - c)^2\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        c: The target value :math:`c` the generator wants the discriminator to output.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class LeastSquaresDiscriminatorLoss(DiscriminatorStep, tl.LeastSquaresDiscriminatorLoss):
    """Least-squares GAN discriminator loss (`Mao et al. <https://arxiv.org/abs/1611.04076>`_).

    .. math::
        L_D = \\tfrac{1}{2}\\,\\mathbb{E}_x\\big[(D(x) - b)^2\\big]
              + \\tfrac{1}{2}\\,\\mathbb{E}_z\\big[(D(G(z)) - a)^2\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        a: Target for generated images.
        b: Target for real images.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class WassersteinGeneratorLoss(GeneratorStep, tl.WassersteinGeneratorLoss):
    """Wasserstein GAN generator loss (`Arjovsky et al. <https://arxiv.org/abs/1701.07875>`_).

    .. math:: L_G = -\\mathbb{E}_z\\big[D(G(z))\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class WassersteinDiscriminatorLoss(DiscriminatorStep, tl.WassersteinDiscriminatorLoss):
    """Wasserstein GAN critic loss (`Arjovsky et al. <https://arxiv.org/abs/1701.07875>`_).

    .. math:: L_D = \\mathbb{E}_z\\big[D(G(z))\\big] - \\mathbb{E}_x\\big[D(x)\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        clip: ``(low, high)``: the critic's weights are clamped to this range before every
            critic step (the paper's weight clipping, as torchgan does it), or ``None``.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook;
            called without the loss, as torchgan calls it for this class).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Clamp the critic's weights to ``clip`` (when set), then one critic step."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        if self.clip is not None:
            with torch.no_grad():
                for p in discriminator.parameters():
                    p.clamp_(self.clip[0], self.clip[1])
        return super().train_ops(
            generator, discriminator, optimizer_discriminator, real_inputs, device, labels
        )
