"""torchgan's Wasserstein losses (``torchgan.losses.wasserstein``); WGAN-GP made per-sample.

Generator and critic losses: the same losses (``forward``, constructor arguments and defaults
are torchgan's own); only the training step differs: it comes from
:mod:`torchgan_ext.losses.train_ops`, which returns the detached loss instead of calling
``.item()`` on every generator and discriminator step.

WGAN-GP penalty: torchgan 0.1.0 takes one gradient norm over the whole batch
(:math:`(\\lVert \\nabla \\sum_i D(\\hat x_i) \\rVert_2 - 1)^2`, which is :math:`(\\sqrt B - 1)^2`
for a critic with unit gradient at every sample) and one interpolation coefficient per batch.
:class:`WassersteinGradientPenalty` takes the paper's per-sample norms with one coefficient per
sample, never back-propagates the penalty into the generator, and returns a detached tensor.

These are the classes registered as ``wasserstein_generator``, ``wasserstein_discriminator``
and ``wasserstein_gradient_penalty``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

from .penalty import PenaltyStep, interpolate
from .train_ops import DiscriminatorStep, GeneratorStep, generate, labels_for

__all__ = [
    "WassersteinGeneratorLoss",
    "WassersteinDiscriminatorLoss",
    "WassersteinGradientPenalty",
]


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


class WassersteinGradientPenalty(PenaltyStep, tl.WassersteinGradientPenalty):
    """WGAN-GP gradient penalty, per sample (`Gulrajani et al. <https://arxiv.org/abs/1704.00028>`_).

    .. math::
        \\hat x_i = \\epsilon_i x_i + (1 - \\epsilon_i) G(z_i), \\quad \\epsilon_i \\sim U[0, 1]

        L_{gp} = \\lambda\\, \\frac{1}{B} \\sum_i
            \\big(\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - 1\\big)^2

    A separate critic step, as in torchgan (combine it with ``wasserstein_discriminator``). The
    samples must be scored independently for per-sample gradients: the paper's critic has no
    batch norm (torchgan's DCGAN discriminator has; use layer or instance norm).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda` (paper: 10).
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
        output: For a critic returning a tuple, the element that is the score (U-Net GAN's
            ``(global, per-pixel)``: 0, the global score), as
            :func:`~torchgan_ext.losses.penalty.critic_score`.
    """

    def __init__(
        self,
        reduction: str = "mean",
        lambd: float = 10.0,
        override_train_ops: Any = None,
        output: int = 0,
    ) -> None:
        super().__init__(reduction, lambd, override_train_ops)
        self._set_output(output)

    def _center(self) -> float:
        return 1.0

    def _points(
        self, generator: Any, discriminator: Any, real: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size = real.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=real.device)
        g_labels, fake_labels = labels_for(
            generator, discriminator, labels, batch_size, real.device, judge_real=False
        )
        fake = generate(generator, noise, g_labels)
        eps = torch.rand(batch_size, device=real.device, dtype=real.dtype)
        return interpolate(real, fake, eps), fake_labels
