"""Inception Score (IS) as a torchgan ``EvaluationMetric``.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
https://arxiv.org/abs/1606.03498. The estimator is torchmetrics' ``InceptionScore`` (mean and
standard deviation over ``splits`` splits); class logits come from
:mod:`torchgan_ext.metrics.features` (``logits_unbiased`` of the FID Inception port, as in
torch-fidelity). Unlike torchgan's ``ClassifierScore`` (one image per epoch by default, and a
network pickled into every checkpoint), it scores ``num_samples`` images and is never pickled.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchmetrics.image.inception import InceptionScore as _TMInceptionScore

from .base import GeneratorMetric, _positive_int
from .features import InputSpec
from .fid import PassThroughFeatures

__all__ = ["InceptionScore", "inception_score"]


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    r"""Inception Score of class logits: mean and standard deviation over ``splits`` splits.

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb{E}_x\, D_{\mathrm{KL}}\big(p(y \mid x)
            \,\Vert\, p(y)\big)\Big)

    within each split, :math:`p(y)` being the split's mean prediction. 1 for uniform
    predictions, the number of classes for confident predictions with a uniform marginal. The
    samples are shuffled into splits from ``seed`` (the global RNG is untouched). The standard
    deviation is ``nan`` for one split.
    """
    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape (N, classes), got {tuple(logits.shape)}")
    if splits > len(logits):
        raise ValueError(f"{splits} splits need at least {splits} samples, got {len(logits)}")
    with warnings.catch_warnings():
        # the feature buffer is what we want; one split has no standard deviation (nan)
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        warnings.filterwarnings("ignore", message=".*degrees of freedom is <= 0.*")
        metric = _TMInceptionScore(feature=PassThroughFeatures(logits.shape[1]), splits=splits)
        metric = metric.to(logits.device)
        metric.update(logits)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            mean, std = metric.compute()
    return float(mean), float(std)


class InceptionScore(GeneratorMetric):
    r"""Inception Score of generated images (higher is better).

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb{E}_x\, D_{\mathrm{KL}}\big(p(y \mid x)
            \,\Vert\, p(y)\big)\Big)

    over the 1008 ``logits_unbiased`` of the FID Inception port by default (Salimans et al.
    2016, https://arxiv.org/abs/1606.03498). Registered as ``inception_score``.
    ``metric_ops`` returns the mean over splits; ``last_result["std"]`` holds the standard
    deviation.

    Args:
        extractor: ``inception_v3_fid`` (default), ``inception_v3_torchvision`` (its 1000
            ImageNet logits), or a registered model name / ``nn.Module`` returning logits.
        weights: The extractor's weights file.
        extractor_args: Constructor arguments of a registered-model extractor.
        input_spec: How a custom extractor wants its images.
        num_samples: Generated images (default 10k; the published protocol uses 50k).
        splits: Number of splits (10 in the published protocol).
        batch_size: Images per forward pass.
        seed: Seed of the generator inputs and of the split assignment.
    """

    name = "inception_score"
    output = "logits"

    def __init__(
        self,
        extractor: str | nn.Module = "inception_v3_fid",
        weights: str | os.PathLike | None = None,
        extractor_args: Mapping[str, Any] | None = None,
        input_spec: Mapping[str, Any] | InputSpec | None = None,
        num_samples: int = 10000,
        splits: int = 10,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__(
            extractor=extractor,
            weights=weights,
            extractor_args=extractor_args,
            input_spec=input_spec,
            num_samples=num_samples,
            batch_size=batch_size,
            seed=seed,
        )
        self.splits = _positive_int("splits", splits)
        if self.splits > self.num_samples:
            raise ValueError(f"splits: {splits} must not exceed num_samples ({num_samples})")

    def calculate_score(self, x: torch.Tensor) -> float:
        """IS (mean over splits) of class logits ``x``."""
        return inception_score(x, self.splits, self.seed)[0]

    def metric_ops(self, eval_generator: nn.Module, device: torch.device) -> float:
        """IS of ``num_samples`` images of ``eval_generator``."""
        start = time.perf_counter()
        logits = self.generated_features(eval_generator, device)
        mean, std = inception_score(logits, self.splits, self.seed)
        return self._record(
            mean,
            std=std if math.isfinite(std) else None,
            splits=self.splits,
            num_fake=len(logits),
            extractor=self.extractor().name,
            seconds_fake=round(time.perf_counter() - start, 3),
        )
