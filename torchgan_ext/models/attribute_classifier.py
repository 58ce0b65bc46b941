"""A small attribute classifier: the judge of the ``attribute_accuracy`` metric.

StarGAN (https://arxiv.org/abs/1711.09020, section 4.5) measures translation quality with a
classifier trained on the *real* images of the same dataset: the share of translated images it
assigns the target domain. This network is that classifier; train it with
``configs/stargan_classifier_*.yaml`` (model name ``classifier``, loss
``attribute_classification``), then point the metric at its run directory or checkpoint.

It subclasses torchgan's ``Discriminator`` (one input, logits out) so the torchgan trainer
runs a config whose only model is the classifier.
"""

from __future__ import annotations

import torch
from torch import nn
from torchgan.models import Discriminator

from .._validation import check_int, check_positive_int

__all__ = ["AttributeClassifier"]


class AttributeClassifier(Discriminator):
    """Conv net: image -> one logit per attribute (or per domain).

    A 3x3 conv, then ``repeat_num`` stride-2 4x4 convs (width doubling up to ``max_dim``), each
    followed by batch norm and LeakyReLU(0.2), global average pooling, dropout and a linear
    layer. Works for any image size of at least ``2 ** repeat_num``.

    Args:
        c_dim: Number of attributes (from the dataset's ``num_attributes`` when not given).
        in_channels: Image channels (from the dataset).
        conv_dim: Width of the first conv.
        repeat_num: Number of stride-2 convs.
        max_dim: Largest width.
        dropout: Dropout before the linear layer.
    """

    data_arguments = {"c_dim": "num_attributes", "in_channels": "channels"}

    def __init__(
        self,
        c_dim: int,
        in_channels: int = 3,
        conv_dim: int = 32,
        repeat_num: int = 4,
        max_dim: int = 512,
        dropout: float = 0.0,
    ) -> None:
        for name, value in (
            ("c_dim", c_dim),
            ("in_channels", in_channels),
            ("conv_dim", conv_dim),
            ("max_dim", max_dim),
        ):
            check_positive_int(value, name)
        check_int(repeat_num, "repeat_num", minimum=0)
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"dropout: must be a number in [0, 1), got {dropout!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: must be in [0, 1), got {dropout!r}")
        super().__init__(input_dims=in_channels, label_type="none")
        self.c_dim = c_dim
        d = conv_dim
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, d, 3, 1, 1, bias=False),
            nn.BatchNorm2d(d),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(repeat_num):
            nd = min(2 * d, max_dim)
            layers += [
                nn.Conv2d(d, nd, 4, 2, 1, bias=False),
                nn.BatchNorm2d(nd),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            d = nd
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(float(dropout)), nn.Linear(d, c_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, c_dim]`` of images ``x`` in [-1, 1]."""
        return self.head(self.features(x).mean((2, 3)))
