"""Fréchet Inception Distance (FID) as a torchgan ``EvaluationMetric``.

Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", NeurIPS 2017, https://arxiv.org/abs/1706.08500. The statistics are torchmetrics'
``FrechetInceptionDistance`` (float64 accumulation); features come from
:mod:`torchgan_ext.metrics.features`, real features from the cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance as _TMFrechetInceptionDistance

from .base import RealReferenceMetric
from .preprocess import InputSpec

__all__ = ["FrechetInceptionDistance", "frechet_distance", "PassThroughFeatures"]


class PassThroughFeatures(nn.Module):
    """Hands precomputed ``(N, D)`` features to a torchmetrics image metric unchanged."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _check_pair(real: torch.Tensor, fake: torch.Tensor) -> None:
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"expected real and fake features of shape (N, D) with the same D, got "
            f"{tuple(real.shape)} and {tuple(fake.shape)}"
        )


def frechet_distance(real_features: torch.Tensor, fake_features: torch.Tensor) -> float:
    r"""FID between two feature sets (means and covariances accumulated in float64).

    .. math::
        \mathrm{FID} = \lVert \mu_r - \mu_g \rVert_2^2
            + \operatorname{tr}\left(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\right)

    Args:
        real_features: ``(N, D)``.
        fake_features: ``(M, D)``.
    """
    _check_pair(real_features, fake_features)
    fake_features = fake_features.to(real_features.device)
    metric = _TMFrechetInceptionDistance(feature=PassThroughFeatures(real_features.shape[1]))
    metric = metric.to(real_features.device)
    metric.update(real_features, real=True)
    metric.update(fake_features, real=False)
    return float(metric.compute())


class FrechetInceptionDistance(RealReferenceMetric):
    r"""Fréchet Inception Distance between generated images and a real split (lower is better).

    .. math::
        \mathrm{FID} = \lVert \mu_r - \mu_g \rVert_2^2
            + \operatorname{tr}\left(\Sigma_r + \Sigma_g - 2 (\Sigma_r \Sigma_g)^{1/2}\right)

    where :math:`\mu, \Sigma` are the mean and covariance of Inception pool features
    (Heusel et al. 2017, https://arxiv.org/abs/1706.08500). Registered as ``fid``.

    Args:
        extractor: ``inception_v3_fid`` (the published protocol), ``inception_v3_torchvision``,
            a registered model name or an ``nn.Module``.
        weights: The extractor's weights file (default
            ``$TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth``).
        extractor_args: Constructor arguments of a registered-model extractor.
        input_spec: How a custom extractor wants its images (``value_range``, ``size``, ...).
        num_samples: Generated images (default 50k, the published protocol).
        num_real: Real images (default ``num_samples``, capped at the split's size: the
            whole split when it is smaller; a larger explicit value is an error).
        batch_size: Images per forward pass.
        reference: ``auto`` (``val`` when configured, else ``train``), ``val`` or ``train``.
        cache: Cache real features on disk.
        cache_dir: Cache directory.
        recompute_real: Recompute the cached real features once.
        seed: Seed of the generator inputs.
        resize: ``legacy`` (default: TensorFlow-compatible bilinear inside the FID network, as
            published numbers) or ``clean`` (Parmar et al. 2022, PIL bicubic on floats).
    """

    name = "fid"
    _covariance = True

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

    def score_features(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[float, dict[str, Any]]:
        """FID of generated features ``fake`` against real features ``real``."""
        return frechet_distance(real, fake), {}
