"""torchgan's least-squares losses (``torchgan.losses.leastsquares``), without a host sync.

The same losses (``forward``, constructor arguments and defaults are torchgan's own); only
the training step differs: it comes from :mod:`torchgan_ext.losses.train_ops`, which returns
the detached loss instead of calling ``.item()`` on every generator and discriminator step.

These are the classes registered as ``least_squares_generator`` and
``least_squares_discriminator``.
"""

from __future__ import annotations

from torchgan import losses as tl

from .train_ops import DiscriminatorStep, GeneratorStep

__all__ = ["LeastSquaresGeneratorLoss", "LeastSquaresDiscriminatorLoss"]


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
