"""torchgan's DRAGAN penalty (``torchgan.losses.draganpenalty``), made per-sample.

torchgan 0.1.0 takes one gradient norm over the whole batch; :class:`DraganGradientPenalty`
keeps torchgan's perturbation but takes the paper's per-sample norms, never back-propagates the
penalty into the generator, and returns a detached tensor.

This is the class registered as ``dragan_gradient_penalty``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

from .penalty import PenaltyStep
from .train_ops import labels_for

__all__ = ["DraganGradientPenalty"]


class DraganGradientPenalty(PenaltyStep, tl.DraganGradientPenalty):
    """DRAGAN gradient penalty around the real data, per sample (`Kodali et al.
    <https://arxiv.org/abs/1705.07215>`_).

    .. math::
        x^p_i = x_i + (1 - \\alpha_i) \\odot \\tfrac12\\, \\mathrm{std}(x)\\, \\beta_i, \\quad
        \\alpha, \\beta \\sim U[0, 1]^{\\text{elementwise}}

        L = \\lambda\\, \\frac{1}{B} \\sum_i
            \\big(\\lVert \\nabla_{x^p_i} D(x^p_i) \\rVert_2 - k\\big)^2

    The perturbation is torchgan's; the norm is taken per sample. Samples must be scored
    independently (no batch norm in the discriminator).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda`.
        k: :math:`k`, the target norm.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
        output: For a discriminator returning a tuple, the element that is the score (U-Net
            GAN's ``(global, per-pixel)``: 0, the global score), as
            :func:`~torchgan_ext.losses.penalty.critic_score`.
    """

    def __init__(
        self,
        reduction: str = "mean",
        lambd: float = 10.0,
        k: float = 1.0,
        override_train_ops: Any = None,
        output: int = 0,
    ) -> None:
        super().__init__(reduction, lambd, k, override_train_ops)
        self._set_output(output)

    def _center(self) -> float:
        return float(self.k)

    def _points(
        self, generator: Any, discriminator: Any, real: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        alpha = torch.rand_like(real)
        beta = torch.rand_like(real)
        _, judge_labels = labels_for(
            generator, discriminator, labels, real.size(0), real.device, judge_real=False
        )
        return real + (1 - alpha) * 0.5 * real.std() * beta, judge_labels
