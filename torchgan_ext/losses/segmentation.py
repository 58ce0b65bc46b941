"""Training loss of the segmentation network that judges label -> photo translations.

pix2pix's FCN-score (https://arxiv.org/abs/1611.07004, section 4) needs a semantic
segmentation network trained on the real photos of the dataset. This loss trains the model
named ``segmenter`` of a config (e.g. :class:`~torchgan_ext.models.SegmentationNet`) with the
per-pixel cross-entropy of FCN (Long et al., https://arxiv.org/abs/1411.4038), averaged over
the annotated pixels:

.. math::
    \\mathcal L_{S} = -\\frac{1}{|\\Omega|} \\sum_{p \\in \\Omega}
        \\log \\operatorname{softmax}\\big(S(x)_p\\big)_{y_p}

where :math:`\\Omega` are the pixels whose label :math:`y_p` is not the ignore index (255).

It subclasses torchgan's ``DiscriminatorLoss``, so torchgan's trainer runs it at every step of
a config whose only model is the segmenter.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.losses import DiscriminatorLoss

from .._validation import check_int

__all__ = ["SegmentationCrossEntropyLoss"]


class SegmentationCrossEntropyLoss(DiscriminatorLoss):
    """Per-pixel cross-entropy of a segmenter (the model named ``segmenter``).

    .. math::
        \\mathcal L_{S} = -\\frac{1}{|\\Omega|} \\sum_{p \\in \\Omega}
            \\log \\operatorname{softmax}\\big(S(x)_p\\big)_{y_p}

    Paper: https://arxiv.org/abs/1411.4038 (FCN), the judge of
    https://arxiv.org/abs/1611.07004 (pix2pix), section 4.

    Args:
        ignore_index: Label of pixels left out (255 in Cityscapes train ids).
        label_smoothing: Label smoothing of the cross-entropy (``0 <= value < 1``).
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.

    Example:
        >>> loss = SegmentationCrossEntropyLoss()
        >>> logits = torch.zeros(1, 19, 2, 2)
        >>> round(float(loss(logits, torch.tensor([[[0, 255], [3, 255]]]))), 4)  # log(19)
        2.9444
    """

    def __init__(
        self,
        ignore_index: int = 255,
        label_smoothing: float = 0.0,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.ignore_index = check_int(ignore_index, "ignore_index", minimum=-(2**31))
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, int | float):
            raise TypeError(f"label_smoothing: must be a number in [0, 1), got {label_smoothing!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing: must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self._last: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits,
            labels.long(),
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )

    def train_ops(
        self,
        segmenter: nn.Module,
        optimizer_segmenter: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One segmenter step; returns the detached loss (the batch pixel accuracy is logged)."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, segmenter, optimizer_segmenter, real_inputs, labels
            )
        if labels is None or labels.dim() != 3 or labels.is_floating_point():
            raise ValueError(
                "the segmenter needs per-pixel labels: use a dataset that yields (image, "
                "train_ids [H, W]), e.g. cityscapes with target: train_ids"
            )
        optimizer_segmenter.zero_grad(set_to_none=True)
        logits = segmenter(real_inputs)
        loss = self(logits, labels)
        loss.backward()
        optimizer_segmenter.step()
        with torch.no_grad():
            valid = labels != self.ignore_index
            hits = (logits.detach().argmax(1) == labels) & valid
            self._last = {
                "segmenter/pixel_accuracy": hits.sum() / valid.sum().clamp(min=1),
            }
        return loss.detach()

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """Training-batch pixel accuracy of the last step (annotated pixels only)."""
        return dict(self._last)
