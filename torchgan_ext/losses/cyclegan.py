"""CycleGAN losses: two least-squares GANs tied by cycle consistency (Zhu et al., ICCV 2017).

`CycleGAN <https://arxiv.org/abs/1703.10593>`_ trains :math:`G: A \\to B` (the run's model
``generator``), :math:`F: B \\to A` (``generator_ba``), :math:`D_B` (``discriminator``, judges
domain B) and :math:`D_A` (``discriminator_a``) on unpaired batches :math:`(a, b)` (the
trainer's ``real_inputs`` and ``labels``). With the least-squares GAN objective of the paper
(section 7.1):

.. math::
    \\mathcal L_{G,F} = \\mathbb E\\big[(D_B(G(a)) - 1)^2\\big]
        + \\mathbb E\\big[(D_A(F(b)) - 1)^2\\big]
        + \\lambda\\, \\mathcal L_{cyc} + \\lambda_{idt} \\lambda\\, \\mathcal L_{idt}

    \\mathcal L_{cyc} = \\mathbb E\\big[\\lVert F(G(a)) - a \\rVert_1\\big]
        + \\mathbb E\\big[\\lVert G(F(b)) - b \\rVert_1\\big], \\quad
    \\mathcal L_{idt} = \\mathbb E\\big[\\lVert G(b) - b \\rVert_1\\big]
        + \\mathbb E\\big[\\lVert F(a) - a \\rVert_1\\big]

    \\mathcal L_{D_B} = \\tfrac12 \\big(\\mathbb E[(D_B(b) - 1)^2]
        + \\mathbb E[D_B(\\tilde b)^2]\\big)

(:math:`\\mathcal L_{D_A}` alike), with :math:`\\lambda = 10`, :math:`\\lambda_{idt} = 0.5`
(identity loss, optional: 0 turns it off) and :math:`\\tilde b` drawn from a history of the
50 latest generated images (Shrivastava et al., https://arxiv.org/abs/1612.07828): once the
history is full, each new image replaces a random stored one with probability 1/2 and the
stored one is shown to the discriminator instead. The histories, with their random state, are
part of the loss's state dict, so checkpoints hold them and ``--resume`` continues exactly.

The authors update both generators first, then both discriminators: list
``cyclegan_generator`` before ``cyclegan_discriminator``. The discriminator step translates
the batch again (without gradients) after the generators' update, one extra forward pass of
each generator, where the authors reuse the images of the generator step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_choice, check_int, check_number
from .pix2pix import GAN_MODES, _Terms, gan_criterion, paired_target
from .train_ops import backward_and_step, frozen

__all__ = [
    "ImageHistory",
    "FourModelGeneratorStep",
    "FourModelDiscriminatorStep",
    "CycleGANGeneratorLoss",
    "CycleGANDiscriminatorLoss",
]


class ImageHistory(nn.Module):
    """A history of generated images shown to a discriminator (SimGAN's buffer).

    Args:
        size: Images kept (50); 0 passes every batch through unchanged.
        seed: Seed of the history's own random generator (default: drawn from torch's).

    The images, their count and the random state are the module's extra state
    (``state_dict()``), so a checkpoint restores the history exactly.
    """

    def __init__(self, size: int = 50, seed: int | None = None) -> None:
        super().__init__()
        self.size = check_int(size, "pool_size")
        if seed is None:
            seed = int(torch.randint(2**62, (), dtype=torch.int64))
        self.rng = torch.Generator().manual_seed(seed)
        self.count = 0
        self.images: torch.Tensor | None = None

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Store ``images`` and return a batch of the same size for the discriminator.

        The random choices are drawn on the host from the history's generator; the device
        only copies images, so no value is read back.
        """
        if self.size == 0:
            return images
        fresh = images.detach().float()
        if self.images is None or self.images.shape[1:] != fresh.shape[1:]:
            self.images = fresh.new_zeros((self.size, *fresh.shape[1:]))
            self.count = 0
        elif self.images.device != fresh.device:
            self.images = self.images.to(fresh.device)
        out = fresh.clone()
        for i in range(fresh.shape[0]):
            if self.count < self.size:
                self.images[self.count] = fresh[i]
                self.count += 1
                continue
            if float(torch.rand((), generator=self.rng)) < 0.5:
                j = int(torch.randint(self.size, (), generator=self.rng))
                out[i] = self.images[j]
                self.images[j] = fresh[i]
        return out.to(images.dtype)

    def get_extra_state(self) -> dict[str, Any]:
        images = self.images[: self.count].clone() if self.images is not None else None
        return {"count": self.count, "images": images, "rng": self.rng.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.count = int(state["count"])
        stored = state["images"]
        if stored is None or self.size == 0:
            self.images = None
            return
        if self.count > self.size:
            raise ValueError(
                f"pool_size: the checkpoint's history holds {self.count} images, more than "
                f"pool_size {self.size}; resume with the same pool_size"
            )
        self.images = stored.new_zeros((self.size, *stored.shape[1:]))
        self.images[: self.count] = stored
        self.rng.set_state(state["rng"])


class _FourModelStep(_Terms):
    """The common part of the four-model steps: torchgan's ``override_train_ops``, the batch
    check, then :meth:`step`."""

    loss_name = ""

    def _four_model_step(
        self,
        models: tuple[nn.Module, ...],
        optimizers: tuple[torch.optim.Optimizer, ...],
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        if self.override_train_ops is not None:
            return self.override_train_ops(self, *models, *optimizers, real_inputs, labels)
        b = paired_target(real_inputs, labels, self.loss_name)
        return self.step(*models, optimizers, real_inputs, b)

    def step(self, g_ab, g_ba, d_b, d_a, optimizers, a, b) -> torch.Tensor:
        raise NotImplementedError


class FourModelGeneratorStep(_FourModelStep):
    """A step of both generators of a two-way translation run on the batch ``(a, b)``.

    ``train_ops`` takes the four models by their run names (``generator`` A -> B,
    ``generator_ba``, ``discriminator`` judging B, ``discriminator_a``), honours torchgan's
    ``override_train_ops`` and checks the batch; subclasses implement :meth:`step`.
    """

    loss_name = ""

    def train_ops(
        self,
        generator: nn.Module,
        generator_ba: nn.Module,
        discriminator: nn.Module,
        discriminator_a: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        optimizer_generator_ba: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One step of both generators on the batch ``(a, b)``; returns the detached loss."""
        models = (generator, generator_ba, discriminator, discriminator_a)
        optimizers = (optimizer_generator, optimizer_generator_ba)
        return self._four_model_step(models, optimizers, real_inputs, labels)


class FourModelDiscriminatorStep(_FourModelStep):
    """A step of both discriminators of a two-way translation run (see
    :class:`FourModelGeneratorStep`)."""

    loss_name = ""

    def train_ops(
        self,
        generator: nn.Module,
        generator_ba: nn.Module,
        discriminator: nn.Module,
        discriminator_a: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        optimizer_discriminator_a: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One step of both discriminators on the batch ``(a, b)``; returns the detached
        loss."""
        models = (generator, generator_ba, discriminator, discriminator_a)
        optimizers = (optimizer_discriminator, optimizer_discriminator_a)
        return self._four_model_step(models, optimizers, real_inputs, labels)


class CycleGANGeneratorLoss(FourModelGeneratorStep, GeneratorLoss):
    """CycleGAN's loss of both generators: LSGAN both ways, cycle and identity terms.

    .. math::
        \\mathcal L_{G,F} = \\mathbb E[(D_B(G(a)) - 1)^2] + \\mathbb E[(D_A(F(b)) - 1)^2]
            + \\lambda\\, \\mathcal L_{cyc} + \\lambda_{idt} \\lambda\\, \\mathcal L_{idt}

    Paper: https://arxiv.org/abs/1703.10593 (CycleGAN, ICCV 2017), eq. (1)-(3), 5.2 and 7.1.

    Args:
        lambda_cycle: :math:`\\lambda` (10), weight of both cycle terms.
        lambda_identity: :math:`\\lambda_{idt}` (0.5); 0 turns the identity loss off. Needs
            the same number of channels in both domains.
        gan_mode: ``lsgan`` (the paper) or ``vanilla``.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "cyclegan/g"
    loss_name = "cyclegan_generator"

    def __init__(
        self,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        gan_mode: str = "lsgan",
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_cycle = float(check_number(lambda_cycle, "lambda_cycle"))
        self.lambda_identity = float(check_number(lambda_identity, "lambda_identity"))
        self.gan_mode = check_choice(gan_mode, "gan_mode", GAN_MODES)
        self._last: dict[str, torch.Tensor] = {}

    def step(self, generator, generator_ba, discriminator, discriminator_a, optimizers, a, b):
        """One step of both generators on ``(a, b)``; returns the detached loss."""
        optimizer_generator, optimizer_generator_ba = optimizers
        if self.lambda_identity > 0 and a.shape[1] != b.shape[1]:
            raise ValueError(
                f"lambda_identity: the identity loss needs the same channels in both domains "
                f"(A has {a.shape[1]}, B has {b.shape[1]}); set lambda_identity: 0"
            )
        optimizer_generator.zero_grad(set_to_none=True)
        optimizer_generator_ba.zero_grad(set_to_none=True)
        fake_b, fake_a = generator(a), generator_ba(b)
        rec_a, rec_b = generator_ba(fake_b), generator(fake_a)
        with frozen(discriminator), frozen(discriminator_a):
            adv_b = gan_criterion(discriminator(fake_b), True, self.gan_mode)
            adv_a = gan_criterion(discriminator_a(fake_a), True, self.gan_mode)
        cycle_a = (rec_a.float() - a.float()).abs().mean()
        cycle_b = (rec_b.float() - b.float()).abs().mean()
        terms = {"adv_a": adv_a, "adv_b": adv_b, "cycle_a": cycle_a, "cycle_b": cycle_b}
        loss = adv_a + adv_b + self.lambda_cycle * (cycle_a + cycle_b)
        if self.lambda_identity > 0:
            terms["idt_a"] = (generator_ba(a).float() - a.float()).abs().mean()
            terms["idt_b"] = (generator(b).float() - b.float()).abs().mean()
            weight = self.lambda_identity * self.lambda_cycle
            loss = loss + weight * (terms["idt_a"] + terms["idt_b"])
        loss, self._last = backward_and_step(
            loss, terms, optimizer_generator, optimizer_generator_ba
        )
        return loss


class CycleGANDiscriminatorLoss(FourModelDiscriminatorStep, DiscriminatorLoss):
    """CycleGAN's loss of both discriminators, on histories of generated images.

    .. math::
        \\mathcal L_D = \\tfrac12 \\big(\\mathbb E[(D_B(b) - 1)^2] + \\mathbb E[D_B(\\tilde b)^2]
            \\big) + \\tfrac12 \\big(\\mathbb E[(D_A(a) - 1)^2] + \\mathbb E[D_A(\\tilde a)^2]\\big)

    Paper: https://arxiv.org/abs/1703.10593 (CycleGAN, ICCV 2017), section 4 and 7.1.

    Args:
        pool_size: Generated images kept per direction (50); 0 uses the current batch.
        gan_mode: ``lsgan`` (the paper) or ``vanilla``.
        scale: Factor of each discriminator's objective (0.5, the paper's halving).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "cyclegan/d"
    loss_name = "cyclegan_discriminator"

    def __init__(
        self,
        pool_size: int = 50,
        gan_mode: str = "lsgan",
        scale: float = 0.5,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.gan_mode = check_choice(gan_mode, "gan_mode", GAN_MODES)
        self.scale = float(check_number(scale, "scale"))
        self.history_a = ImageHistory(pool_size)
        self.history_b = ImageHistory(pool_size)
        self._last: dict[str, torch.Tensor] = {}

    def step(self, generator, generator_ba, discriminator, discriminator_a, optimizers, a, b):
        """One step of both discriminators on ``(a, b)``; returns the detached loss."""
        optimizer_discriminator, optimizer_discriminator_a = optimizers
        with torch.no_grad():
            fake_b = self.history_b.query(generator(a))
            fake_a = self.history_a.query(generator_ba(b))
        optimizer_discriminator.zero_grad(set_to_none=True)
        optimizer_discriminator_a.zero_grad(set_to_none=True)
        terms = {
            "real_b": gan_criterion(discriminator(b), True, self.gan_mode),
            "fake_b": gan_criterion(discriminator(fake_b), False, self.gan_mode),
            "real_a": gan_criterion(discriminator_a(a), True, self.gan_mode),
            "fake_a": gan_criterion(discriminator_a(fake_a), False, self.gan_mode),
        }
        loss = self.scale * sum(terms.values())
        loss, self._last = backward_and_step(
            loss, terms, optimizer_discriminator, optimizer_discriminator_a
        )
        return loss
