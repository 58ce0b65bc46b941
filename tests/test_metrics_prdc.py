"""Precision/recall and density/coverage against a plain float64 reference on controlled sets."""

import numpy as np
import pytest
import torch

from torchgan_ext import METRICS, load_plugins
from torchgan_ext.metrics import (
    DensityCoverage,
    PrecisionRecall,
    density_coverage,
    precision_recall,
)
from torchgan_ext.metrics.prdc import knn_radii
from torchgan_ext.testing.extractors import TinyFeatureExtractor


def _reference(real, fake, k):
    """The definitions, written out with full float64 distance matrices (no chunks)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    d_rr, d_ff, d_rf = dist(real, real), dist(fake, fake), dist(real, fake)
    r_real = np.sort(d_rr, axis=1)[:, k]  # column 0 is the sample itself
    r_fake = np.sort(d_ff, axis=1)[:, k]
    precision = (d_rf <= r_real[:, None]).any(axis=0).mean()
    recall = (d_rf <= r_fake[None, :]).any(axis=1).mean()
    density = (d_rf < r_real[:, None]).sum(axis=0).mean() / k
    coverage = (d_rf.min(axis=1) < r_real).mean()
    return precision, recall, density, coverage


def _cloud(n, d=6, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.normal(size=(n, d)) + shift).float()


@pytest.mark.parametrize("chunk", [1, 7, 1024])
def test_matches_the_reference_on_overlapping_clouds(chunk):
    real, fake = _cloud(300), _cloud(250, seed=1, shift=0.4)
    p, r, dens, cov = _reference(real.numpy(), fake.numpy(), 3)
    assert precision_recall(real, fake, k=3, chunk_size=chunk) == pytest.approx((p, r))
    ref5 = _reference(real.numpy(), fake.numpy(), 5)
    got = density_coverage(real, fake, k=5, chunk_size=chunk)
    assert got == pytest.approx((ref5[2], ref5[3]), rel=1e-12)
    assert 0.2 < p < 1.0 and 0.2 < r < 1.0  # a case where the values say something


def test_equals_torch_fidelitys_precision_recall():
    from torch_fidelity.metric_prc import prc_features_to_metric

    real, fake = _cloud(300), _cloud(250, seed=1, shift=0.4)
    # torch-fidelity's first input is the generated set
    ref = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=64, verbose=False)
    got = precision_recall(real, fake, k=3, chunk_size=64)
    assert got == pytest.approx((ref["precision"], ref["recall"]), rel=1e-6)


def test_identical_sets_are_perfect():
    x = _cloud(200)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)
    density, coverage = density_coverage(x, x.clone())
    assert coverage == 1.0
    # each real ball (open, radius = distance to the 5th neighbour) holds the point itself and
    # its 4 nearer neighbours: density is exactly 1 in exact arithmetic; the 5th neighbour lies
    # on the surface, where rounding may count it either way (a few in 1000 here)
    assert _reference(x.numpy(), x.numpy(), 5)[2] == 1.0
    assert density == pytest.approx(1.0, abs=0.01)


def test_disjoint_sets_score_zero():
    real, fake = _cloud(150), _cloud(150, seed=1, shift=100.0)
    assert precision_recall(real, fake) == (0.0, 0.0)
    assert density_coverage(real, fake) == (0.0, 0.0)


def test_a_known_fraction_inside_the_manifold():
    """50 tight real clusters far apart; generated: copies of the points of 15 clusters plus a
    tight far-away clump of 30 points. Precision, recall and coverage are the planted
    fractions, density matches the reference."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(50, 6)) * 1000.0
    real = torch.from_numpy(np.repeat(centres, 6, axis=0) + rng.normal(size=(300, 6))).float()
    copies = real[: 15 * 6] + 1e-3  # all 6 points of clusters 0..14, each next to its original
    clump = torch.from_numpy(rng.normal(size=(30, 6)) + 1e5).float()
    fake = torch.cat([copies, clump])
    precision, recall = precision_recall(real, fake)
    assert precision == pytest.approx(90 / 120)
    assert recall == pytest.approx(90 / 300)
    density, coverage = density_coverage(real, fake)
    assert coverage == pytest.approx(90 / 300)
    ref = _reference(real.numpy(), fake.numpy(), 5)
    assert density == pytest.approx(ref[2])
    assert precision_recall(real, fake, chunk_size=16) == pytest.approx(
        _reference(real.numpy(), fake.numpy(), 3)[:2]
    )


def test_knn_radii_skip_the_sample_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # squared distances to the 1st and 2nd nearest other point
    assert knn_radii(x, 1).tolist() == [1.0, 1.0, 4.0, 16.0]
    assert knn_radii(x, 2, chunk_size=1).tolist() == [9.0, 4.0, 9.0, 36.0]
    with pytest.raises(ValueError, match="^k: 4 neighbours need more than 4 samples"):
        knn_radii(x, 4)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="same D"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="^chunk_size: "):
        density_coverage(torch.zeros(9, 2), torch.zeros(9, 2), chunk_size=0)
    with pytest.raises(ValueError, match="^k: "):
        PrecisionRecall(extractor=TinyFeatureExtractor(), k=0)


def test_registered_and_sharing_the_real_cache_with_fid(tmp_path):
    """precision_recall, density_coverage and fid with one extractor and sample count read one
    cache entry: the second and third metric find the real features on disk."""
    from torch.utils.data import DataLoader, TensorDataset

    load_plugins()
    assert METRICS.get("precision_recall") is PrecisionRecall
    assert METRICS.get("density_coverage") is DensityCoverage

    class Gen(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 16 * 16)

        def sampler(self, n, device):
            return (torch.randn(n, 4, device=device),)

        def forward(self, z):
            return torch.tanh(self.lin(z)).view(-1, 1, 16, 16)

    images = torch.rand(40, 1, 16, 16) * 2 - 1
    loader = DataLoader(TensorDataset(images), batch_size=8)
    common = {"extractor": TinyFeatureExtractor(), "num_samples": 24, "cache_dir": tmp_path}
    sources = []
    for name in ("fid", "precision_recall", "density_coverage"):
        metric = METRICS.get(name)(**common)
        value = metric.metric_ops(Gen(), torch.device("cpu"), data_loader=loader)
        sources.append(metric.last_result["real_features"])
        assert np.isfinite(value)
    assert sources == ["miss", "hit", "hit"]
    result = metric.last_result
    assert set(result) >= {"density", "coverage", "k", "num_real", "num_fake"}
    assert result["value"] == result["density"] and result["k"] == 5
