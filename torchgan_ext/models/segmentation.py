"""A small fully convolutional segmentation network: the judge of ``segmentation_score``.

pix2pix (Isola et al., CVPR 2017, https://arxiv.org/abs/1611.07004, section 4) scores
label -> photo translations with the "FCN-score": an off-the-shelf semantic segmentation
network (FCN-8s, Long et al., https://arxiv.org/abs/1411.4038) trained on real Cityscapes
photos labels the generated photos, and its accuracy against the label maps they were made
from measures how recognisable they are. This module is a compact network of the same family,
trained with ``torchgan-run configs/segmentation_cityscapes.yaml`` on the real training photos
(model name ``segmenter``, loss ``segmentation_cross_entropy``); the metric loads the run.

It subclasses torchgan's ``Discriminator`` (one input, logits out) so that the torchgan
trainer runs a config whose only model is the segmenter, as for the StarGAN attribute
classifier.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator

from .._validation import check_int, check_positive_int

__all__ = ["SegmentationNet"]


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class SegmentationNet(Discriminator):
    """FCN-style segmenter: image ``[B, C, H, W]`` -> class logits ``[B, K, H, W]``.

    An encoder of ``depth`` stages, each halving the resolution (a stride-2 3x3 conv and a 3x3
    conv, batch norm and ReLU after each; widths double from ``width`` up to ``max_width``),
    and FCN-8s's decoder: a 1x1 class-score layer on each of the last ``skips`` stages; the
    coarsest scores are upsampled bilinearly to the next stage's grid and added to its scores,
    and so on, then upsampled to the input size. With ``depth=5, skips=3`` the scores come
    from strides 32, 16 and 8, as in FCN-8s (https://arxiv.org/abs/1411.4038, section 4.2).
    Any input size works (power-of-two sizes such as 256x256 divide evenly).

    Args:
        num_classes: Number of classes (19 Cityscapes train ids; from the dataset's
            ``num_classes`` in a config).
        in_channels: Image channels (from the dataset).
        width: Width of the first stage.
        depth: Number of stride-2 stages (``>= 1``).
        max_width: Largest width.
        skips: Stages that contribute scores (``1 <= skips <= depth``; 1 is FCN-32s-like;
            default ``min(3, depth)``).
        dropout: Dropout before the score layers (``0 <= dropout < 1``).

    Example:
        >>> net = SegmentationNet(num_classes=19, width=8, depth=3)
        >>> net(torch.zeros(2, 3, 64, 64)).shape
        torch.Size([2, 19, 64, 64])
        >>> SegmentationNet(skips=6, depth=5)
        Traceback (most recent call last):
        ...
        ValueError: skips: must be between 1 and depth (5), got 6
    """

    data_arguments = {"num_classes": "num_classes", "in_channels": "channels"}

    def __init__(
        self,
        num_classes: int = 19,
        in_channels: int = 3,
        width: int = 32,
        depth: int = 5,
        max_width: int = 256,
        skips: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        for name, value in (
            ("num_classes", num_classes),
            ("in_channels", in_channels),
            ("width", width),
            ("max_width", max_width),
            ("depth", depth),
        ):
            check_positive_int(value, name)
        skips = min(3, depth) if skips is None else check_int(skips, "skips", minimum=1)
        if skips > depth:
            raise ValueError(f"skips: must be between 1 and depth ({depth}), got {skips}")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(f"dropout: must be a number in [0, 1), got {dropout!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: must be in [0, 1), got {dropout!r}")
        super().__init__(input_dims=in_channels, label_type="none")
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.stem = nn.Sequential(*_conv_bn_relu(in_channels, width))
        stages, widths, d = [], [], width
        for _ in range(depth):
            nd = min(2 * d, max_width)
            stages.append(nn.Sequential(*_conv_bn_relu(d, nd, 2), *_conv_bn_relu(nd, nd)))
            widths.append(nd)
            d = nd
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout2d(float(dropout))
        # scores[0] scores the deepest stage, scores[-1] the shallowest of the skips
        self.scores = nn.ModuleList(nn.Conv2d(w, num_classes, 1) for w in widths[::-1][:skips])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes, H, W]`` of images ``x`` in [-1, 1]."""
        size = x.shape[-2:]
        features = []
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        deepest = features[::-1][: len(self.scores)]
        out = None
        for score, feat in zip(self.scores, deepest, strict=True):
            s = score(self.dropout(feat))
            if out is not None:
                s = s + F.interpolate(out, size=s.shape[-2:], mode="bilinear", align_corners=False)
            out = s
        assert out is not None
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)
