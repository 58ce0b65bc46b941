"""Training loss of the attribute classifier that judges translated images.

StarGAN's evaluation (https://arxiv.org/abs/1711.09020, section 4.5) needs a classifier
trained on the real images of the dataset. This loss trains the model named ``classifier`` of a
config (e.g. :class:`~torchgan_ext.models.AttributeClassifier`) with the domain-classification
loss of StarGAN:

.. math::
    \\mathcal L_{C} = \\mathbb E_{(x, c)}\\big[\\ell(C(x), c)\\big]

with :math:`\\ell` the binary cross-entropy with logits summed over the attributes (multi-label)
or the cross-entropy over exclusive domains, see
:func:`~torchgan_ext.losses.stargan.domain_classification_loss`.

It subclasses torchgan's ``DiscriminatorLoss``, so torchgan's trainer runs it at every step of
a config whose only model is the classifier.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss

from .._validation import check_choice
from ..models.attribute_labels import as_attribute_vector, is_domain_index
from .stargan import CLASSIFICATION_MODES, domain_classification_loss

__all__ = ["AttributeClassificationLoss", "predict_attributes"]


def predict_attributes(logits: torch.Tensor, mode: str = "bce") -> torch.Tensor:
    """0/1 decisions ``[B, c]`` from logits: ``logit > 0`` per attribute (``bce``) or a one-hot
    of the largest logit (``ce``, exclusive domains)."""
    if mode == "ce":
        return torch.nn.functional.one_hot(logits.argmax(1), logits.size(1)).to(logits.dtype)
    return (logits > 0).to(logits.dtype)


class AttributeClassificationLoss(DiscriminatorLoss):
    """Classification loss of an attribute classifier (the model named ``classifier``).

    .. math::
        \\mathcal L_{C} = \\mathbb E_{(x, c)}\\big[\\ell(C(x), c)\\big]

    Paper: https://arxiv.org/abs/1711.09020 (StarGAN, CVPR 2018), section 4.5.

    Args:
        classification: ``auto`` (``ce`` for domain indices, else ``bce``), ``bce`` or ``ce``.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    def __init__(self, classification: str = "auto", override_train_ops: Any = None) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.classification = check_choice(classification, "classification", CLASSIFICATION_MODES)
        self._last: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return domain_classification_loss(logits, labels, self.classification)

    def train_ops(
        self,
        classifier: nn.Module,
        optimizer_classifier: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One classifier step; returns the detached loss (the batch accuracy is logged)."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, classifier, optimizer_classifier, real_inputs, labels
            )
        if labels is None:
            raise ValueError(
                "the attribute classifier needs labels: use a dataset that yields (image, "
                "attributes), e.g. celeba with its attributes argument"
            )
        optimizer_classifier.zero_grad(set_to_none=True)
        logits = classifier(real_inputs)
        loss = self(logits, labels)
        loss.backward()
        optimizer_classifier.step()
        with torch.no_grad():
            mode = self.classification
            if mode == "auto":
                mode = "ce" if is_domain_index(labels) else "bce"
            target, _ = as_attribute_vector(labels, logits.size(1))
            hits = predict_attributes(logits.detach(), mode) == target
            self._last = {
                "classifier/accuracy": hits.all(1).float().mean(),
                "classifier/attribute_accuracy": hits.float().mean(),
            }
        return loss.detach()

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """Training-batch accuracy of the last step (all attributes right; per attribute)."""
        return dict(self._last)
