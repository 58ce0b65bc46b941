"""Precision/recall and density/coverage of generated images, from k-NN balls of features.

* Improved precision and recall: Kynkäänniemi et al., "Improved Precision and Recall Metric
  for Assessing Generative Models", NeurIPS 2019, https://arxiv.org/abs/1904.06991 (``k=3``).
* Density and coverage: Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative
  Models", ICML 2020, https://arxiv.org/abs/2002.09797 (``k=5``).

Both approximate a manifold by the union of balls around samples, each ball's radius being the
distance to the sample's ``k``-th nearest neighbour within its own set (the sample itself not
counted). Distances are computed in float64 (features centred on the real mean first: ball
membership is decided at the surface, where float32 rounding of ``|a|^2 + |b|^2 - 2 a.b`` flips
decisions) in row chunks of ``chunk_size`` against the other set, so the memory is
``O(chunk_size * N)`` rather than ``O(N * M)`` (a 50k x 50k float64 distance matrix would take
20 GB; a chunk of 512 rows, 200 MB), besides one float64 copy of each feature set. Features
come from the same extractors as FID (Inception by default) and the real ones from the shared
cache (:mod:`torchgan_ext.metrics.cache`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .base import RealReferenceMetric, _positive_int
from .fid import _check_pair
from .preprocess import InputSpec

__all__ = [
    "PrecisionRecall",
    "DensityCoverage",
    "precision_recall",
    "density_coverage",
    "knn_radii",
]

#: Rows of a distance chunk (``chunk_size x N`` float64 values live at a time).
DEFAULT_CHUNK = 512


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def _sq_distances(
    a: torch.Tensor, a_sq: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor
) -> torch.Tensor:
    """Squared Euclidean distances ``(len(a), len(b))``, clamped at 0 (rounding)."""
    d = torch.addmm(b_sq.unsqueeze(0), a, b.T, beta=1.0, alpha=-2.0)
    return d.add_(a_sq.unsqueeze(1)).clamp_(min=0.0)


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(i + size, n)) for i in range(0, n, size)]


def knn_radii(features: torch.Tensor, k: int, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Squared distance of every sample to its ``k``-th nearest neighbour in ``features``.

    The sample itself (distance 0) is not a neighbour: the value is the ``(k + 1)``-th smallest
    distance of its row, as in the reference implementations.

    Args:
        features: ``(N, D)`` with ``N > k``.
        k: Neighbourhood size.
        chunk_size: Rows per distance chunk.

    Returns:
        ``(N,)`` squared radii (float64 on the device of ``features``).
    """
    n = len(features)
    if n <= k:
        raise ValueError(f"k: {k} neighbours need more than {k} samples, got {n}")
    x = features.double()
    x_sq = _sq_norms(x)
    out = torch.empty(n, device=x.device, dtype=torch.float64)
    for lo, hi in _chunks(n, chunk_size):
        d = _sq_distances(x[lo:hi], x_sq[lo:hi], x, x_sq)
        out[lo:hi] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def _prepare(real: torch.Tensor, fake: torch.Tensor, k: int, chunk_size: int):
    _check_pair(real, fake)
    _positive_int("k", k)
    _positive_int("chunk_size", chunk_size)
    real = real.double()
    centre = real.mean(dim=0, keepdim=True)
    real = real - centre
    fake = fake.to(real.device, torch.float64) - centre
    return real, _sq_norms(real), fake, _sq_norms(fake)


@torch.no_grad()
def precision_recall(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    k: int = 3,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[float, float]:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019).

    .. math::
        \mathrm{precision} = \frac{1}{M} \sum_{j=1}^{M}
            \mathbb{1}\big[\exists i:\ \lVert Y_j - X_i \rVert \le r_k(X_i)\big], \qquad
        \mathrm{recall} = \frac{1}{N} \sum_{i=1}^{N}
            \mathbb{1}\big[\exists j:\ \lVert X_i - Y_j \rVert \le r_k(Y_j)\big]

    with real features :math:`X_i`, generated :math:`Y_j`, and :math:`r_k` the distance to the
    ``k``-th nearest neighbour within the sample's own set (a point on a ball's surface counts
    as inside, as in the paper's code).

    Args:
        real_features: ``(N, D)``.
        fake_features: ``(M, D)``.
        k: Neighbourhood size (3 in the paper).
        chunk_size: Rows per distance chunk (memory ``chunk_size * max(N, M)`` doubles).

    Returns:
        ``(precision, recall)``, each in [0, 1]. Cost: three passes of distances (the two
        sets' radii and the cross distances, ``(N^2 + M^2 + NM) D`` multiply-adds).
    """
    real, real_sq, fake, fake_sq = _prepare(real_features, fake_features, k, chunk_size)
    real_r = knn_radii(real, k, chunk_size)
    fake_r = knn_radii(fake, k, chunk_size)
    inside = 0
    covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for lo, hi in _chunks(len(fake), chunk_size):  # one pass over the cross distances
        d = _sq_distances(fake[lo:hi], fake_sq[lo:hi], real, real_sq)
        inside += int((d <= real_r.unsqueeze(0)).any(dim=1).sum())
        covered |= (d <= fake_r[lo:hi].unsqueeze(1)).any(dim=0)
    return inside / len(fake), int(covered.sum()) / len(real)


@torch.no_grad()
def density_coverage(
    real_features: torch.Tensor,
    fake_features: torch.Tensor,
    k: int = 5,
    chunk_size: int = DEFAULT_CHUNK,
) -> tuple[float, float]:
    r"""Density and coverage (Naeem et al. 2020).

    .. math::
        \mathrm{density} = \frac{1}{kM} \sum_{j=1}^{M} \sum_{i=1}^{N}
            \mathbb{1}\big[Y_j \in B(X_i, r_k(X_i))\big], \qquad
        \mathrm{coverage} = \frac{1}{N} \sum_{i=1}^{N}
            \mathbb{1}\big[\exists j:\ Y_j \in B(X_i, r_k(X_i))\big]

    Only real balls are used (outliers among the generated samples do not inflate anything);
    :math:`B(x, r)` is the open ball, as in the paper's code. Density is not bounded by 1
    (about 1 when both sets come from the same distribution).

    Args:
        real_features: ``(N, D)``.
        fake_features: ``(M, D)``.
        k: Neighbourhood size (5 in the paper).
        chunk_size: Rows per distance chunk (memory ``chunk_size * max(N, M)`` doubles).

    Returns:
        ``(density, coverage)``.
    """
    real, real_sq, fake, fake_sq = _prepare(real_features, fake_features, k, chunk_size)
    real_r = knn_radii(real, k, chunk_size)
    count = 0
    covered = torch.zeros(len(real), dtype=torch.bool, device=real.device)
    for lo, hi in _chunks(len(fake), chunk_size):  # one pass over the cross distances
        within = _sq_distances(fake[lo:hi], fake_sq[lo:hi], real, real_sq) < real_r.unsqueeze(0)
        count += int(within.sum())
        covered |= within.any(dim=0)  # real i is covered iff its nearest fake is inside
    return count / (k * len(fake)), int(covered.sum()) / len(real)


class _ManifoldMetric(RealReferenceMetric):
    """Shared body of :class:`PrecisionRecall` and :class:`DensityCoverage`."""

    #: The two values, in order; ``metric_ops`` returns the first.
    values: tuple[str, str] = ("", "")
    #: The paper's neighbourhood size and number of generated images (defaults).
    default_k: int = 3
    default_samples: int = 50000

    def __init__(
        self,
        extractor: str | nn.Module = "inception_v3_fid",
        weights: str | os.PathLike | None = None,
        extractor_args: Mapping[str, Any] | None = None,
        input_spec: Mapping[str, Any] | InputSpec | None = None,
        num_samples: int | None = None,
        num_real: int | None = None,
        batch_size: int = 64,
        reference: str = "auto",
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        recompute_real: bool = False,
        seed: int = 0,
        resize: str = "legacy",
        k: int | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        super().__init__(
            extractor=extractor,
            weights=weights,
            extractor_args=extractor_args,
            input_spec=input_spec,
            num_samples=self.default_samples if num_samples is None else num_samples,
            batch_size=batch_size,
            seed=seed,
            resize=resize,
            reference=reference,
            num_real=num_real,
            cache=cache,
            cache_dir=cache_dir,
            recompute_real=recompute_real,
        )
        self.k = _positive_int("k", self.default_k if k is None else k)
        self.chunk_size = _positive_int("chunk_size", chunk_size)

    def score(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
        """Both values for real and generated features."""
        raise NotImplementedError

    def score_features(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[float, dict[str, Any]]:
        """The first value, with both values by name, ``k`` and the scoring time."""
        start = time.perf_counter()
        first, second = self.score(real, fake)
        return first, {
            self.values[0]: first,
            self.values[1]: second,
            "k": self.k,
            "seconds_score": round(time.perf_counter() - start, 3),
        }


class PrecisionRecall(_ManifoldMetric):
    r"""Improved precision and recall of generated images (higher is better, both in [0, 1]).

    Precision: the fraction of generated samples inside the real manifold (fidelity); recall:
    the fraction of real samples inside the generated manifold (diversity). Each manifold is
    the union of balls reaching every sample's ``k``-th nearest neighbour (Kynkäänniemi et al.
    2019, https://arxiv.org/abs/1904.06991; see :func:`precision_recall`). Registered as
    ``precision_recall``; ``metric_ops`` returns the precision and ``last_result`` holds
    ``precision`` and ``recall``.

    The paper uses VGG-16 fc2 features of 50k real and 50k generated images; the default here is
    the FID Inception network (the features FID shares), so values are comparable only with
    values of the same extractor.

    Args:
        k: Neighbourhood size (default 3, as in the paper).
        chunk_size: Rows per distance chunk (bounds memory).
        extractor, weights, extractor_args, input_spec: As for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
        num_samples: Generated images (default 50k, as in the paper).
        num_real, batch_size, reference, cache, cache_dir, recompute_real, seed, resize: As for
            :class:`~torchgan_ext.metrics.FrechetInceptionDistance`.
    """

    name = "precision_recall"
    values = ("precision", "recall")
    default_k = 3
    default_samples = 50000

    def score(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
        return precision_recall(real, fake, self.k, self.chunk_size)


class DensityCoverage(_ManifoldMetric):
    r"""Density and coverage of generated images (higher is better).

    Density: how many real-sample balls contain a generated sample, on average, divided by
    ``k`` (about 1 for matching distributions, above 1 when samples crowd dense regions);
    coverage: the fraction of real samples whose ball contains a generated sample (in [0, 1]).
    Only the real manifold is used, so generated outliers do not inflate either value (Naeem et
    al. 2020, https://arxiv.org/abs/2002.09797; see :func:`density_coverage`). Registered as
    ``density_coverage``; ``metric_ops`` returns the density and ``last_result`` holds
    ``density`` and ``coverage``.

    The paper uses VGG-16 fc2 features of 10k real and 10k generated images with ``k = 5``; the
    default extractor here is the FID Inception network.

    Args:
        k: Neighbourhood size (default 5, as in the paper).
        chunk_size: Rows per distance chunk (bounds memory).
        num_samples: Generated images (default 10k, as in the paper).
        extractor, weights, extractor_args, input_spec, num_real: As for
            :class:`PrecisionRecall`.
        batch_size, reference, cache, cache_dir, recompute_real, seed, resize: As for
            :class:`PrecisionRecall`.
    """

    name = "density_coverage"
    values = ("density", "coverage")
    default_k = 5
    default_samples = 10000

    def score(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
        return density_coverage(real, fake, self.k, self.chunk_size)
