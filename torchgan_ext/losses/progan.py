"""Progressive GAN losses: WGAN-GP with the drift term (Karras et al., ICLR 2018).

`Progressive Growing of GANs <https://arxiv.org/abs/1710.10196>`_ (section 6.1 and appendix
A.1) trains with the WGAN-GP loss of Gulrajani et al. (https://arxiv.org/abs/1704.00028) and
adds a small drift term that keeps the critic's output near zero:

.. math::
    \\mathcal L_D = \\mathbb E_z[D(G(z))] - \\mathbb E_x[D(x)]
        + \\frac{\\lambda}{\\gamma^2}\\,\\frac1B \\sum_i
        \\big(\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - \\gamma\\big)^2
        + \\epsilon_{drift}\\, \\mathbb E_x[D(x)^2]

    \\mathcal L_G = -\\mathbb E_z[D(G(z))]

with :math:`\\hat x_i = \\epsilon_i x_i + (1 - \\epsilon_i) G(z_i)`, one
:math:`\\epsilon_i \\sim U[0, 1]` per sample, :math:`\\lambda = 10`, :math:`\\gamma = 1`
(``wgan_target``; the paper's appendix on CIFAR-10 uses 750) and
:math:`\\epsilon_{drift} = 0.001`, as in the authors' ``D_wgangp_acgan`` (``loss.py``).
Everything is one critic step (torchgan's ``ncritic`` counts loss objects, so one combined
loss keeps the schedule right); the penalty is trained through (double backward). The
critic's minibatch standard deviation couples the samples of a batch, so the gradient of the
summed scores at :math:`\\hat x_i` also holds the other samples' share, exactly as in the
authors' ``tf.gradients(tf.reduce_sum(mixed_scores), mixed_images)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss

from .._validation import check_number
from .penalty import double_backward_safe, per_sample_gradient_penalty
from .train_ops import backward_and_step, validate_labels
from .wasserstein import WassersteinGeneratorLoss

__all__ = ["ProGANGeneratorLoss", "ProGANDiscriminatorLoss"]


class ProGANGeneratorLoss(WassersteinGeneratorLoss):
    """Progressive GAN generator loss: the WGAN generator loss.

    .. math:: \\mathcal L_G = -\\mathbb E_z[D(G(z))]

    Paper: https://arxiv.org/abs/1710.10196 (section 6.1); the authors' ``G_wgan_acgan``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """


class ProGANDiscriminatorLoss(DiscriminatorLoss):
    """Progressive GAN critic loss: WGAN-GP (per sample) plus the drift term, one step.

    .. math::
        \\mathcal L_D = \\mathbb E[D(G(z))] - \\mathbb E[D(x)]
            + \\frac{\\lambda}{\\gamma^2} \\frac1B \\sum_i
            (\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - \\gamma)^2
            + \\epsilon_{drift} \\mathbb E[D(x)^2]

    Paper: https://arxiv.org/abs/1710.10196 (appendix A.1); the authors' ``D_wgangp_acgan``.

    Args:
        wgan_lambda: :math:`\\lambda` (10).
        wgan_target: :math:`\\gamma`, the target gradient norm (1).
        drift: :math:`\\epsilon_{drift}` (0.001).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    def __init__(
        self,
        wgan_lambda: float = 10.0,
        wgan_target: float = 1.0,
        drift: float = 0.001,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.wgan_lambda = float(check_number(wgan_lambda, "wgan_lambda"))
        self.wgan_target = float(check_number(wgan_target, "wgan_target"))
        if self.wgan_target <= 0:
            raise ValueError(f"wgan_target: must be positive, got {wgan_target!r}")
        self.drift = float(check_number(drift, "drift"))
        self._last: dict[str, torch.Tensor] = {}

    def validate(self, trainer: Any) -> None:
        """Before training: the models are unconditional."""
        validate_labels(trainer, judge_real=True)

    def terms(
        self, generator: nn.Module, discriminator: nn.Module, real: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The unweighted terms ``real``, ``fake`` (mean scores), ``gp``, ``drift`` and the
        detached mean gradient norm ``grad_norm``."""
        noise = torch.randn(real.size(0), generator.encoding_dims, device=real.device)
        with torch.no_grad():
            fake = generator(noise)
        d_real = discriminator(real)
        d_fake = discriminator(fake)
        with double_backward_safe(discriminator):  # a compiled critic has no double backward
            gp, norms = per_sample_gradient_penalty(
                discriminator, real, fake, center=self.wgan_target
            )
        return {
            "real": d_real.float().mean(),
            "fake": d_fake.float().mean(),
            "gp": gp,
            "drift": d_real.float().square().mean(),
            "grad_norm": norms.mean(),
        }

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """:math:`\\mathcal L_D` from :meth:`terms`."""
        return (
            terms["fake"]
            - terms["real"]
            + self.wgan_lambda / self.wgan_target**2 * terms["gp"]
            + self.drift * terms["drift"]
        )

    def forward(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """The WGAN part and the drift term from the scores (the penalty needs the critic:
        see :meth:`terms`)."""
        return d_fake.mean() - d_real.mean() + self.drift * d_real.square().mean()

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
    ) -> torch.Tensor:
        """One critic step; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs
            )
        optimizer_discriminator.zero_grad(set_to_none=True)
        terms = self.terms(generator, discriminator, real_inputs)
        loss, self._last = backward_and_step(self.combine(terms), terms, optimizer_discriminator)
        return loss

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """The terms of the last step (tags ``progan/d_<term>``)."""
        return {f"progan/d_{k}": v for k, v in self._last.items()}
