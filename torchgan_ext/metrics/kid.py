"""Kernel Inception Distance (KID) as a torchgan ``EvaluationMetric``.

Bińkowski et al., "Demystifying MMD GANs", ICLR 2018, https://arxiv.org/abs/1801.01401: the
unbiased MMD² with a cubic polynomial kernel, mean and population standard deviation
(``ddof=0``) over random subsets, drawn as the paper's code and torch-fidelity draw them (see
:func:`kernel_inception_distance`). Features come from :mod:`torchgan_ext.metrics.features`,
real features from the cache (shared with FID).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import RealReferenceMetric, _positive_int
from .fid import _check_pair
from .preprocess import InputSpec

__all__ = ["KernelInceptionDistance", "kernel_inception_distance", "mmd2_unbiased"]


def mmd2_unbiased(
    x: torch.Tensor, y: torch.Tensor, degree: int = 3, gamma: float | None = None, coef: float = 1.0
) -> float:
    r"""Unbiased MMD² of two equally sized feature sets under a polynomial kernel (float64).

    .. math::
        \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)} \sum_{i \ne j} \big(k(x_i, x_j)
            + k(y_i, y_j)\big) - \frac{2}{m^2} \sum_{i, j} k(x_i, y_j),
        \qquad k(x, y) = (\gamma\, x^\top y + c)^d
    """
    m = len(x)
    x, y = x.double(), y.double()
    g = 1.0 / x.shape[1] if gamma is None else gamma
    k_xx = (x @ x.T * g + coef) ** degree
    k_yy = (y @ y.T * g + coef) ** degree
    k_xy = (x @ y.T * g + coef) ** degree
    within = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
) -> tuple[float, float]:
    r"""KID between two feature sets: mean and standard deviation over ``subsets`` subsets.

    For each subset pair :math:`X, Y` of size :math:`m` (each drawn without replacement),
    :func:`mmd2_unbiased` with :math:`k(x, y) = (\gamma\, x^\top y + c)^d`,
    :math:`\gamma = 1/D` by default. Its expectation is 0 when both sets come from the same
    distribution (it can be negative). Subset ``i`` takes
    ``rng.choice(len(fake), m, replace=False)`` of the generated features, then the same of the
    real ones, from one ``numpy.random.RandomState(seed)``: the draws of torch-fidelity called
    with the generated images as its first input. The standard deviation is the population
    one (``ddof=0``). The global RNGs are untouched.
    """
    _check_pair(real_features, fake_features)
    if subset_size > min(len(real_features), len(fake_features)):
        raise ValueError(
            f"subset_size: {subset_size} is larger than the {len(real_features)} real / "
            f"{len(fake_features)} generated samples"
        )
    fake_features = fake_features.to(real_features.device)
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        f = rng.choice(len(fake_features), subset_size, replace=False)
        r = rng.choice(len(real_features), subset_size, replace=False)
        values.append(
            mmd2_unbiased(
                fake_features[torch.from_numpy(f)],
                real_features[torch.from_numpy(r)],
                degree,
                gamma,
                coef,
            )
        )
    return float(np.mean(values)), float(np.std(values))


class KernelInceptionDistance(RealReferenceMetric):
    r"""Kernel Inception Distance between generated images and a real split (lower is better).

    The unbiased MMD² of Inception pool features under :math:`k(x, y) = (x^\top y / D + 1)^3`,
    averaged over ``subsets`` random subsets of ``subset_size`` (Bińkowski et al. 2018,
    https://arxiv.org/abs/1801.01401). Registered as ``kid``. ``metric_ops`` returns the mean;
    ``last_result["std"]`` holds the population standard deviation over subsets.

    Args:
        subsets: Number of subset pairs.
        subset_size: Images per subset (capped, with a warning, at the number of samples).
        degree: Degree of the polynomial kernel.
        gamma: Kernel scale (default ``1 / D``).
        coef: Kernel constant.
        extractor, weights, extractor_args, input_spec: As for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
        num_samples, num_real, batch_size, reference, seed, resize: As for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
        cache, cache_dir, recompute_real: As for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
    """

    name = "kid"

    def __init__(
        self,
        extractor: str | nn.Module = "inception_v3_fid",
        weights: str | os.PathLike | None = None,
        extractor_args: Mapping[str, Any] | None = None,
        input_spec: Mapping[str, Any] | InputSpec | None = None,
        num_samples: int = 50000,
        num_real: int | None = None,
        batch_size: int = 64,
        reference: str = "auto",
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        recompute_real: bool = False,
        seed: int = 0,
        resize: str = "legacy",
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
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
            reference=reference,
            num_real=num_real,
            cache=cache,
            cache_dir=cache_dir,
            recompute_real=recompute_real,
        )
        self.subsets = _positive_int("subsets", subsets)
        self.subset_size = _positive_int("subset_size", subset_size, 2)
        self.degree = _positive_int("degree", degree)
        if gamma is not None:
            if isinstance(gamma, bool) or not isinstance(gamma, int | float):
                raise TypeError(f"gamma: must be a positive number or null, got {gamma!r}")
            if not gamma > 0:
                raise ValueError(f"gamma: must be a positive number or null, got {gamma!r}")
        if isinstance(coef, bool) or not isinstance(coef, int | float):
            raise TypeError(f"coef: must be a positive number, got {coef!r}")
        if not coef > 0:
            raise ValueError(f"coef: must be a positive number, got {coef!r}")
        self.gamma = float(gamma) if gamma is not None else None
        self.coef = float(coef)

    def score_features(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[float, dict[str, Any]]:
        """KID (mean over subsets) of ``fake`` against ``real``, with ``std``,
        ``subset_size`` (capped, with a warning, at the number of samples) and ``subsets``."""
        size = min(self.subset_size, len(real), len(fake))
        if size < self.subset_size:
            warnings.warn(
                f"kid: subset_size {self.subset_size} is larger than the {len(real)} real / "
                f"{len(fake)} generated samples; using subsets of {size}",
                RuntimeWarning,
                stacklevel=3,
            )
        mean, std = kernel_inception_distance(
            real, fake, self.subsets, size, self.degree, self.gamma, self.coef, self.seed
        )
        extra = {
            "std": std if math.isfinite(std) else None,
            "subset_size": size,
            "subsets": self.subsets,
        }
        return mean, extra
