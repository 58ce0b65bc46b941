"""Inception Score (IS) as a torchgan ``EvaluationMetric``.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
https://arxiv.org/abs/1606.03498. The statistics follow the paper's code and torch-fidelity:
the samples are permuted (``numpy.random.RandomState(seed).permutation``), cut into ``splits``
consecutive splits, and the mean and the **population** standard deviation (``ddof=0``) of the
per-split scores are reported. (torchmetrics' ``InceptionScore`` reports ``ddof=1``, which is
``sqrt(splits / (splits - 1))`` larger: 5.4% for 10 splits.) Class logits come from
:mod:`torchgan_ext.metrics.features` (``logits_unbiased`` of the FID Inception port, as in
torch-fidelity). Unlike torchgan's ``ClassifierScore`` (one image per epoch by default, and a
network pickled into every checkpoint), it scores ``num_samples`` images and is never pickled.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import GeneratorMetric, _positive_int
from .preprocess import InputSpec

__all__ = ["InceptionScore", "inception_score"]


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    r"""Inception Score of class logits: mean and standard deviation over ``splits`` splits.

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb{E}_x\, D_{\mathrm{KL}}\big(p(y \mid x)
            \,\Vert\, p(y)\big)\Big)

    within each split, :math:`p(y)` being the split's mean prediction (softmax in float64).
    1 for uniform predictions, the number of classes for confident predictions with a uniform
    marginal. The samples are permuted with ``numpy.random.RandomState(seed)`` and split ``i``
    holds positions ``[i N / splits, (i + 1) N / splits)`` (integer division), as in
    torch-fidelity; the standard deviation is the population one (``ddof=0``), as in the
    paper's code and torch-fidelity (0 for one split). The global RNGs are untouched.
    """
    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape (N, classes), got {tuple(logits.shape)}")
    n = len(logits)
    if splits > n:
        raise ValueError(f"splits: {splits} splits need at least {splits} samples, got {n}")
    order = torch.from_numpy(np.random.RandomState(seed).permutation(n)).to(logits.device)
    x = logits[order].double()
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        marginal = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - marginal.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


class InceptionScore(GeneratorMetric):
    r"""Inception Score of generated images (higher is better).

    .. math::
        \mathrm{IS} = \exp\Big(\mathbb{E}_x\, D_{\mathrm{KL}}\big(p(y \mid x)
            \,\Vert\, p(y)\big)\Big)

    over the 1008 ``logits_unbiased`` of the FID Inception port by default (Salimans et al.
    2016, https://arxiv.org/abs/1606.03498). Registered as ``inception_score``.
    ``metric_ops`` returns the mean over splits; ``last_result["std"]`` holds the population
    standard deviation over splits (``ddof=0``, as published tables; see
    :func:`inception_score`).

    Args:
        extractor: ``inception_v3_fid`` (default), ``inception_v3_torchvision`` (its 1000
            ImageNet logits), or a registered model name / ``nn.Module`` returning logits.
        weights: The extractor's weights file.
        extractor_args: Constructor arguments of a registered-model extractor.
        input_spec: How a custom extractor wants its images.
        num_samples: Generated images (default 50k, the published protocol).
        splits: Number of splits (10 in the published protocol).
        batch_size: Images per forward pass.
        seed: Seed of the generator inputs and of the split assignment.
        resize: ``legacy`` (default) or ``clean``, as for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
    """

    name = "inception_score"
    output = "logits"

    def __init__(
        self,
        extractor: str | nn.Module = "inception_v3_fid",
        weights: str | os.PathLike | None = None,
        extractor_args: Mapping[str, Any] | None = None,
        input_spec: Mapping[str, Any] | InputSpec | None = None,
        num_samples: int = 50000,
        splits: int = 10,
        batch_size: int = 64,
        seed: int = 0,
        resize: str = "legacy",
    ) -> None:
        super().__init__(
            extractor=extractor,
            weights=weights,
            extractor_args=extractor_args,
            input_spec=input_spec,
            num_samples=num_samples,
            batch_size=batch_size,
            seed=seed,
            resize=resize,
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
