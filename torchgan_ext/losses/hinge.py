"""Hinge adversarial losses (SAGAN, BigGAN).

The hinge version of the adversarial loss (Lim & Ye, "Geometric GAN",
https://arxiv.org/abs/1705.02894; Tran et al., https://arxiv.org/abs/1705.08991), used by
SAGAN (https://arxiv.org/abs/1805.08318) and BigGAN (https://arxiv.org/abs/1809.11096).

Both losses train with :mod:`torchgan_ext.losses.train_ops`: torchgan's standard steps
(conditional models included) returning a detached tensor instead of calling ``.item()``, so
a CUDA step does not wait for the host.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .train_ops import DiscriminatorStep, GeneratorStep

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
    """:math:`-D(G(z))`, reduced.

    Example:
        >>> hinge_generator(torch.tensor([1.0, 3.0]))
        tensor(-2.)
    """
    return _reduce(-dgz, reduction)


def hinge_discriminator(
    dx: torch.Tensor, dgz: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """:math:`\\max(0, 1 - D(x)) + \\max(0, 1 + D(G(z)))`, each term reduced.

    Example:
        >>> dx, dgz = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.0])
        >>> hinge_discriminator(dx, dgz)  # mean([0, 0.5]) + mean([0, 1])
        tensor(0.7500)
        >>> torch.equal(HingeDiscriminatorLoss()(dx, dgz), hinge_discriminator(dx, dgz))
        True
    """
    return _reduce(torch.relu(1.0 - dx), reduction) + _reduce(torch.relu(1.0 + dgz), reduction)


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction: unknown reduction {reduction!r}; valid: mean, sum, none")


class HingeGeneratorLoss(GeneratorStep, GeneratorLoss):
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


class HingeDiscriminatorLoss(DiscriminatorStep, DiscriminatorLoss):
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
