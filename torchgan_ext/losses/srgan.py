"""SRGAN losses and the pixel MSE loss of SRResNet pre-training.

Ledig et al., `Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network <https://arxiv.org/abs/1609.04802>`_, CVPR 2017. The generator minimises the
perceptual loss (eq. 3): a content loss plus :math:`10^{-3}` times the adversarial loss
:math:`-\\log D(G(I^{LR}))`; the discriminator the standard binary cross-entropy. SRResNet (the
generator alone) is trained with the pixel-wise MSE (eq. 4), which also initialises SRGAN.

All losses read the super-resolution batch ``(lr, hr)`` (the ``batch`` the trainer passes by
name, as yielded by the ``super_resolution`` dataset) and return detached tensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_choice, check_number
from ..models.srgan import sr_pair
from .perceptual import build_content_network

__all__ = [
    "SRGANGeneratorLoss",
    "SRGANDiscriminatorLoss",
    "PixelMSELoss",
    "PIXEL_LOSSES",
]

#: Values of ``pixel_loss``.
PIXEL_LOSSES = ("mse", "l1")


_NO_DISCRIMINATOR = (
    "adversarial_weight: srgan_generator has adversarial_weight > 0 but there is no model named "
    "'discriminator'; add one or set adversarial_weight: 0"
)


def _pixel(sr: torch.Tensor, hr: torch.Tensor, kind: str) -> torch.Tensor:
    return F.mse_loss(sr, hr) if kind == "mse" else F.l1_loss(sr, hr)


def _nonnegative(name: str, value: Any) -> float:
    return float(check_number(value, name))


class PixelMSELoss(GeneratorLoss):
    """Pixel-wise MSE of SRResNet (`SRGAN <https://arxiv.org/abs/1609.04802>`_ eq. 4).

    .. math::
        l_{MSE} = \\frac{1}{r^2 W H} \\sum_{x=1}^{rW} \\sum_{y=1}^{rH}
            \\big(I^{HR}_{x,y} - G(I^{LR})_{x,y}\\big)^2

    A generator-only loss: a config with this loss and only a ``generator`` model trains
    without any discriminator (SRResNet pre-training).
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """The MSE between super-resolved ``sr`` and high-resolution ``hr`` images."""
        return F.mse_loss(sr, hr)

    def train_ops(
        self, generator: nn.Module, optimizer_generator: torch.optim.Optimizer, batch: Any
    ) -> torch.Tensor:
        """One generator step on the batch ``(lr, hr)``; returns the detached loss."""
        lr, hr = sr_pair(batch)
        optimizer_generator.zero_grad(set_to_none=True)
        loss = self.forward(generator(lr), hr)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class SRGANGeneratorLoss(GeneratorLoss):
    """The SRGAN perceptual loss of the generator (`SRGAN <https://arxiv.org/abs/1609.04802>`_).

    .. math::
        l_G = w_c \\, \\mathrm{MSE}\\big(s\\,\\phi(I^{HR}),\\, s\\,\\phi(G(I^{LR}))\\big)
            + w_a \\, \\mathrm{BCE}\\big(D(G(I^{LR})), 1\\big)
            + w_p \\, \\ell\\big(G(I^{LR}), I^{HR}\\big)

    :math:`\\phi` is a VGG19 feature map (``relu5_4`` in the paper), :math:`s` the feature
    scale (1/12.75 in the paper),
    :math:`\\mathrm{BCE}(D(\\cdot), 1) = -\\log \\sigma(D(\\cdot))` the adversarial
    loss (:math:`w_a = 10^{-3}`) and :math:`\\ell` an optional pixel MSE or L1 term
    (:math:`w_p = 0` in the paper).

    Args:
        content: ``vgg19`` (default; ImageNet weights required, see
            :mod:`torchgan_ext.losses.perceptual`), ``none`` (no content term: a pixel +
            adversarial loss that needs no VGG weights), or a registered model name used as
            the feature network (e.g. a tiny network in tests).
        layer: The VGG19 layer by name: ``relu5_4`` (default, after the activation),
            ``conv5_4`` (before it), ``relu2_2``, ``pool4``, ...
        weights: The VGG19 weights file (default
            ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``); for a registered model, an
            optional state dict. ``random-for-tests``: random VGG19 weights, **tests only**.
        content_args: Constructor arguments of a registered-model feature network.
        feature_scale: Features are multiplied by this before the MSE (1/12.75).
        content_weight: :math:`w_c`.
        adversarial_weight: :math:`w_a` (:math:`10^{-3}`); 0 trains without a discriminator.
        pixel_weight: :math:`w_p`.
        pixel_loss: ``mse`` or ``l1``.
    """

    def __init__(
        self,
        content: str = "vgg19",
        layer: str = "relu5_4",
        weights: str | os.PathLike | None = None,
        content_args: Mapping[str, Any] | None = None,
        feature_scale: float = 1.0 / 12.75,
        content_weight: float = 1.0,
        adversarial_weight: float = 1.0e-3,
        pixel_weight: float = 0.0,
        pixel_loss: str = "mse",
    ) -> None:
        super().__init__()
        check_choice(pixel_loss, "pixel_loss", PIXEL_LOSSES, "pixel_loss")
        if not isinstance(content, str | nn.Module):
            raise TypeError(
                f"content: expected a name (vgg19, none) or an nn.Module, got {content!r}"
            )
        self.content = content if isinstance(content, str) else type(content).__name__
        self.feature_scale = _nonnegative("feature_scale", feature_scale)
        self.content_weight = _nonnegative("content_weight", content_weight)
        self.adversarial_weight = _nonnegative("adversarial_weight", adversarial_weight)
        self.pixel_weight = _nonnegative("pixel_weight", pixel_weight)
        self.pixel_loss = pixel_loss
        network = build_content_network(content, layer, weights, content_args)
        if network is None and self.pixel_weight == 0 and self.adversarial_weight == 0:
            raise ValueError(
                "content: none with pixel_weight 0 and adversarial_weight 0 leaves nothing to "
                "minimise"
            )
        # kept outside the module tree: the frozen network is not part of checkpoints
        self.__dict__["content_network"] = network
        self._terms: dict[str, torch.Tensor] = {}

    def validate(self, trainer: Any) -> None:
        """Called before training: an adversarial term needs a model named ``discriminator``."""
        if self.adversarial_weight > 0 and getattr(trainer, "discriminator", None) is None:
            raise ValueError(_NO_DISCRIMINATOR)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        network = self.content_network
        ref = next(iter(network.parameters()), None)
        if ref is None:
            ref = next(iter(network.buffers()), None)
        if ref is not None and ref.device != images.device:
            network.to(images.device)
        return network(images) * self.feature_scale

    def content_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """MSE between the scaled features of ``sr`` and of ``hr`` (no gradient to ``hr``)."""
        with torch.no_grad():
            target = self._features(hr)
        return F.mse_loss(self._features(sr), target)

    def forward(
        self, sr: torch.Tensor, hr: torch.Tensor, d_sr: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss and its unweighted terms for ``sr``, ``hr`` and ``D(sr)`` logits."""
        terms: dict[str, torch.Tensor] = {}
        total = sr.new_zeros(())
        if self.content_network is not None and self.content_weight > 0:
            terms["content"] = self.content_loss(sr, hr)
            total = total + self.content_weight * terms["content"]
        if d_sr is not None:
            terms["adversarial"] = F.binary_cross_entropy_with_logits(d_sr, torch.ones_like(d_sr))
            total = total + self.adversarial_weight * terms["adversarial"]
        if self.pixel_weight > 0:
            terms["pixel"] = _pixel(sr, hr, self.pixel_loss)
            total = total + self.pixel_weight * terms["pixel"]
        return total, terms

    def train_ops(
        self,
        generator: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        batch: Any,
        discriminator: nn.Module | None = None,
    ) -> torch.Tensor:
        """One generator step on the batch ``(lr, hr)``; returns the detached total loss.

        The discriminator's parameters are frozen during the step (no gradients are computed
        for them); its optimizer is not touched.
        """
        lr, hr = sr_pair(batch)
        if self.adversarial_weight > 0 and discriminator is None:
            raise ValueError(_NO_DISCRIMINATOR)
        optimizer_generator.zero_grad(set_to_none=True)
        sr = generator(lr)
        d_sr = None
        frozen: list[nn.Parameter] = []
        if self.adversarial_weight > 0:
            frozen = [p for p in discriminator.parameters() if p.requires_grad]
            for p in frozen:
                p.requires_grad_(False)
        try:
            if self.adversarial_weight > 0:
                d_sr = discriminator(sr)
            total, terms = self.forward(sr, hr, d_sr)
            total.backward()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        optimizer_generator.step()
        self._terms = {k: v.detach() for k, v in terms.items()}
        return total.detach()

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """The unweighted terms of the last step (``srgan/content``, ``srgan/adversarial``,
        ``srgan/pixel``)."""
        return {f"srgan/{k}": v for k, v in self._terms.items()}


class SRGANDiscriminatorLoss(DiscriminatorLoss):
    """Binary cross-entropy of the SRGAN discriminator (`SRGAN <https://arxiv.org/abs/1609.04802>`_).

    .. math::
        l_D = -\\log \\sigma\\big(D(I^{HR})\\big) - \\log\\big(1 - \\sigma(D(G(I^{LR})))\\big)

    (each term averaged over the batch; :math:`D` returns logits).
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, d_hr: torch.Tensor, d_sr: torch.Tensor) -> torch.Tensor:
        """The loss for logits ``d_hr`` on real and ``d_sr`` on super-resolved images."""
        real = F.binary_cross_entropy_with_logits(d_hr, torch.ones_like(d_hr))
        fake = F.binary_cross_entropy_with_logits(d_sr, torch.zeros_like(d_sr))
        return real + fake

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        batch: Any,
    ) -> torch.Tensor:
        """One discriminator step on the batch ``(lr, hr)``; returns the detached loss."""
        lr, hr = sr_pair(batch)
        with torch.no_grad():
            sr = generator(lr)
        optimizer_discriminator.zero_grad(set_to_none=True)
        loss = self.forward(discriminator(hr), discriminator(sr))
        loss.backward()
        optimizer_discriminator.step()
        return loss.detach()
