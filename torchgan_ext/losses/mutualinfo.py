"""torchgan's InfoGAN penalty (``torchgan.losses.mutualinfo``), trained without a host sync.

This is the class registered as ``mutual_information_penalty``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

__all__ = ["MutualInformationPenalty"]


class MutualInformationPenalty(tl.MutualInformationPenalty):
    """InfoGAN's mutual-information term (`Chen et al. <https://arxiv.org/abs/1606.03657>`_).

    .. math::
        L_I = -\\lambda\\, \\mathbb{E}_{c, z}\\big[\\log Q(c_{dis} \\mid G(z, c))
              + \\log Q(c_{cont} \\mid G(z, c))\\big]

    torchgan's loss and step (it trains the generator and the Q head together); the step
    returns the detached weighted loss instead of calling ``.item()``. The codes ``dis_code``
    and ``cont_code`` come from the generator's ``training_codes`` hook
    (:mod:`torchgan_ext.models.infogan`).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda`.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        optimizer_discriminator: torch.optim.Optimizer,
        dis_code: torch.Tensor,
        cont_code: torch.Tensor,
        device: Any,
        batch_size: int,
    ) -> torch.Tensor:
        """One joint step of the generator and the discriminator's Q head."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator,
                discriminator,
                optimizer_generator,
                optimizer_discriminator,
                dis_code,
                cont_code,
                device,
                batch_size,
            )
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_discriminator.zero_grad(set_to_none=True)
        optimizer_generator.zero_grad(set_to_none=True)
        _, dist_dis, dist_cont = discriminator(generator(noise, dis_code, cont_code), True)
        weighted = self.lambd * self.forward(dis_code, cont_code, dist_dis, dist_cont)
        weighted.backward()
        optimizer_discriminator.step()
        optimizer_generator.step()
        return weighted.detach()
