"""StarGAN losses: one combined loss object per model (Choi et al., CVPR 2018).

`StarGAN <https://arxiv.org/abs/1711.09020>`_ trains a generator :math:`G(x, c)` and a
discriminator with a source head :math:`D_{src}` (a PatchGAN map, averaged) and a domain head
:math:`D_{cls}`. With real images :math:`x` of labels :math:`c'` and target labels :math:`c` (a
random permutation of the batch's labels, as in the authors' code):

.. math::
    \\mathcal L_D = -\\mathbb E[D_{src}(x)] + \\mathbb E[D_{src}(G(x, c))]
        + \\lambda_{cls} \\mathcal L^r_{cls} + \\lambda_{gp} \\mathcal L_{gp}

    \\mathcal L_G = -\\mathbb E[D_{src}(G(x, c))] + \\lambda_{cls} \\mathcal L^f_{cls}
        + \\lambda_{rec} \\mathbb E\\big[\\lVert x - G(G(x, c), c') \\rVert_1\\big]

    \\mathcal L^r_{cls} = \\mathbb E[\\ell(D_{cls}(x), c')], \\quad
    \\mathcal L^f_{cls} = \\mathbb E[\\ell(D_{cls}(G(x, c)), c)]

:math:`\\ell` is the binary cross-entropy with logits summed over the attributes for multi-label
attributes (CelebA), or the cross-entropy over exclusive domains (class indices, RaFD);
:math:`\\mathcal L_{gp}` is the **per-sample** WGAN-GP penalty of
:func:`~torchgan_ext.losses.penalty.per_sample_gradient_penalty` (torchgan's own penalty is
per batch). The paper's weights: :math:`\\lambda_{cls} = 1`, :math:`\\lambda_{rec} = 10`,
:math:`\\lambda_{gp} = 10`, with five discriminator steps per generator step (``ncritic: 5``).

Each model gets **one** loss object holding all its terms, so torchgan's ``ncritic``, which
counts loss objects, schedules the steps right. The trainer passes the arguments by name
(``generator``, ``discriminator``, their optimizers, ``real_inputs``, ``labels``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_choice, check_number
from ..models.attribute_labels import is_domain_index, random_targets
from .penalty import double_backward_safe, per_sample_gradient_penalty
from .train_ops import backward_and_step, frozen

__all__ = [
    "CLASSIFICATION_MODES",
    "TARGET_MODES",
    "StarGANGeneratorLoss",
    "StarGANDiscriminatorLoss",
    "domain_classification_loss",
    "target_labels",
    "discriminator_outputs",
]

#: Values of ``classification``: ``auto`` picks ``ce`` for domain indices, else ``bce``.
CLASSIFICATION_MODES = ("auto", "bce", "ce")
#: Values of ``target_labels``.
TARGET_MODES = ("permute", "random")


def domain_classification_loss(
    logits: torch.Tensor, labels: torch.Tensor, mode: str = "auto"
) -> torch.Tensor:
    """:math:`\\ell` of the module docstring, averaged over the batch.

    Args:
        logits: ``[B, c]``.
        labels: Float 0/1 attributes ``[B, c]`` or domain indices ``[B]``.
        mode: ``bce`` (sum over attributes of the binary cross-entropy with logits, as the
            authors' CelebA code), ``ce`` (cross-entropy over exclusive domains; one-hot float
            labels are turned into indices) or ``auto`` (``ce`` for domain indices).
    """
    if mode == "auto":
        mode = "ce" if is_domain_index(labels) else "bce"
    if mode == "ce":
        target = labels.long() if is_domain_index(labels) else labels.argmax(1)
        return F.cross_entropy(logits, target)
    if mode != "bce":
        raise ValueError(f"unknown classification mode {mode!r}; valid: {CLASSIFICATION_MODES}")
    if is_domain_index(labels):
        target = F.one_hot(labels.long(), logits.size(1)).to(logits.dtype)
    else:
        target = labels.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return bce / logits.size(0)


def target_labels(
    labels: torch.Tensor,
    mode: str = "permute",
    generator: nn.Module | None = None,
    rng: torch.Generator | None = None,
) -> torch.Tensor:
    """Target domains of a batch: its labels in random order (``permute``, the authors'
    choice, which keeps the label statistics and the exclusive groups of the data) or random
    labels (``random``: each attribute with probability 1/2, one member per exclusive group of
    ``generator.exclusive_groups``; domain indices uniform)."""
    b = labels.size(0)
    if mode == "permute":
        return labels[torch.randperm(b, generator=rng).to(labels.device)]
    c_dim = int(getattr(generator, "c_dim", labels.size(1) if labels.dim() == 2 else 0))
    if is_domain_index(labels):
        return torch.randint(c_dim, (b,), generator=rng).to(labels.device, labels.dtype)
    groups = getattr(generator, "exclusive_groups", ())
    return random_targets(b, c_dim, groups, generator=rng).to(labels.device, labels.dtype)


def discriminator_outputs(
    discriminator: nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(src, cls)`` of a StarGAN-style discriminator, checked."""
    out = discriminator(images)
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise TypeError(
            "StarGAN losses need a discriminator returning (source_map, class_logits), like "
            f"'stargan_discriminator'; {type(discriminator).__name__} returned "
            f"{type(out).__name__}"
        )
    return out[0], out[1]


def _require_labels(labels: torch.Tensor | None) -> torch.Tensor:
    if labels is None:
        raise ValueError(
            "StarGAN needs domain labels: use a dataset that yields (image, attributes), e.g. "
            "celeba with its attributes argument"
        )
    return labels


class _StarGANLoss:
    """Shared bookkeeping: the weights, the last terms and ``log_scalars``."""

    prefix = ""
    weights: dict[str, float]

    def combine(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the loss terms (keys of :attr:`weights`)."""
        return sum(self.weights[k] * terms[k] for k in self.weights)  # type: ignore[return-value]

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """The unweighted terms of the last step (tags ``stargan/<d|g>_<term>``)."""
        return {f"stargan/{self.prefix}_{k}": v for k, v in self._last.items()}


class StarGANDiscriminatorLoss(_StarGANLoss, DiscriminatorLoss):
    """StarGAN's discriminator loss: WGAN, per-sample gradient penalty, classification.

    .. math::
        \\mathcal L_D = -\\mathbb E[D_{src}(x)] + \\mathbb E[D_{src}(G(x, c))]
            + \\lambda_{cls} \\mathbb E[\\ell(D_{cls}(x), c')]
            + \\lambda_{gp} \\frac1B \\sum_i (\\lVert \\nabla_{\\hat x_i}
            D_{src}(\\hat x_i) \\rVert_2 - 1)^2

    Paper: https://arxiv.org/abs/1711.09020 (StarGAN, CVPR 2018), eq. (1)-(3) and (5).

    Args:
        lambda_cls: :math:`\\lambda_{cls}` (1).
        lambda_gp: :math:`\\lambda_{gp}` (10).
        classification: :math:`\\ell`: ``auto``, ``bce`` or ``ce`` (see
            :func:`domain_classification_loss`).
        target_labels: ``permute`` (default) or ``random`` (see :func:`target_labels`).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "d"

    def __init__(
        self,
        lambda_cls: float = 1.0,
        lambda_gp: float = 10.0,
        classification: str = "auto",
        target_labels: str = "permute",
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_cls = float(check_number(lambda_cls, "lambda_cls"))
        self.lambda_gp = float(check_number(lambda_gp, "lambda_gp"))
        self.classification = check_choice(classification, "classification", CLASSIFICATION_MODES)
        self.target_labels = check_choice(target_labels, "target_labels", TARGET_MODES)
        self.weights = {
            "adv_real": 1.0,
            "adv_fake": 1.0,
            "cls": self.lambda_cls,
            "gp": self.lambda_gp,
        }
        self._last: dict[str, torch.Tensor] = {}

    def terms(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        real: torch.Tensor,
        labels: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The unweighted terms ``adv_real``, ``adv_fake``, ``cls``, ``gp`` (and the detached
        mean gradient norm ``grad_norm``)."""
        with torch.no_grad():
            fake = generator(real, target_labels(labels, self.target_labels, generator))
        src_real, cls_real = discriminator_outputs(discriminator, real)
        src_fake, _ = discriminator_outputs(discriminator, fake)

        def critic(x: torch.Tensor) -> torch.Tensor:
            return discriminator_outputs(discriminator, x)[0]

        with double_backward_safe(discriminator):
            gp, norms = per_sample_gradient_penalty(critic, real, fake)
        return {
            "adv_real": -src_real.mean(),
            "adv_fake": src_fake.mean(),
            "cls": domain_classification_loss(cls_real, labels, self.classification),
            "gp": gp,
            "grad_norm": norms.mean(),
        }

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached combined loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, labels
            )
        labels = _require_labels(labels)
        optimizer_discriminator.zero_grad(set_to_none=True)
        terms = self.terms(generator, discriminator, real_inputs, labels)
        loss = self.combine(terms)
        loss, self._last = backward_and_step(loss, terms, optimizer_discriminator)
        return loss


class StarGANGeneratorLoss(_StarGANLoss, GeneratorLoss):
    """StarGAN's generator loss: WGAN, domain classification and cycle reconstruction.

    .. math::
        \\mathcal L_G = -\\mathbb E[D_{src}(G(x, c))]
            + \\lambda_{cls} \\mathbb E[\\ell(D_{cls}(G(x, c)), c)]
            + \\lambda_{rec} \\mathbb E\\big[\\lVert x - G(G(x, c), c') \\rVert_1\\big]

    (the L1 term is the mean absolute error over pixels, as in the authors' code.)

    Paper: https://arxiv.org/abs/1711.09020 (StarGAN, CVPR 2018), eq. (4), (5) and (6).

    Args:
        lambda_cls: :math:`\\lambda_{cls}` (1).
        lambda_rec: :math:`\\lambda_{rec}` (10).
        classification: :math:`\\ell`: ``auto``, ``bce`` or ``ce``.
        target_labels: ``permute`` (default) or ``random``.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "g"

    def __init__(
        self,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        classification: str = "auto",
        target_labels: str = "permute",
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_cls = float(check_number(lambda_cls, "lambda_cls"))
        self.lambda_rec = float(check_number(lambda_rec, "lambda_rec"))
        self.classification = check_choice(classification, "classification", CLASSIFICATION_MODES)
        self.target_labels = check_choice(target_labels, "target_labels", TARGET_MODES)
        self.weights = {"adv": 1.0, "cls": self.lambda_cls, "rec": self.lambda_rec}
        self._last: dict[str, torch.Tensor] = {}

    def terms(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        real: torch.Tensor,
        labels: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The unweighted terms ``adv``, ``cls`` and ``rec``."""
        target = target_labels(labels, self.target_labels, generator)
        fake = generator(real, target)
        with frozen(discriminator):
            src_fake, cls_fake = discriminator_outputs(discriminator, fake)
        reconstruction = generator(fake, labels)
        return {
            "adv": -src_fake.mean(),
            "cls": domain_classification_loss(cls_fake, target, self.classification),
            "rec": (real - reconstruction).abs().mean(),
        }

    def train_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached combined loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_generator, real_inputs, labels
            )
        labels = _require_labels(labels)
        optimizer_generator.zero_grad(set_to_none=True)
        terms = self.terms(generator, discriminator, real_inputs, labels)
        loss = self.combine(terms)
        loss, self._last = backward_and_step(loss, terms, optimizer_generator)
        return loss
