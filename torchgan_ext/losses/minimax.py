"""torchgan's minimax losses (``torchgan.losses.minimax``), trained without a host sync.

The same losses (``forward``, constructor arguments and defaults are torchgan's own); only
the training step differs: it comes from :mod:`torchgan_ext.losses.train_ops`, which returns
the detached loss instead of calling ``.item()`` on every generator and discriminator step.

These are the classes registered as ``minimax_generator`` and ``minimax_discriminator``.
"""

from __future__ import annotations

from torchgan import losses as tl

from .train_ops import DiscriminatorStep, GeneratorStep

__all__ = ["MinimaxGeneratorLoss", "MinimaxDiscriminatorLoss"]


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
