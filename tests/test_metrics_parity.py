"""End-to-end parity with torch-fidelity: the same two PNG folders and the same weights file in
the FID Inception format, through our whole pipeline (dataset tensors in [-1, 1], the one image
conversion, the metric objects) and through ``torch_fidelity.calculate_metrics``.

The weights are a seeded random state dict (the published file is not on test machines); the
comparison needs only that both sides use the same one. The test shrinks the network's input
side from 299 to 75 (its smallest) on the class, for both sides alike; ``benchmarks/metrics.py
--parity`` runs the full 299x299 protocol and prints the relative differences.
"""

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tfi
from torch_fidelity.metric_kid import kid_features_to_metric

from torchgan_ext.metrics import (
    FrechetInceptionDistance,
    build_feature_extractor,
    clean_resize,
)
from torchgan_ext.testing.inception import (
    FolderReplay,
    compare_with_torch_fidelity,
    read_png_folder,
    write_png_folder,
    write_random_fid_inception,
)

CPU = torch.device("cpu")
N = 10


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    real = write_png_folder(root / "real", N, seed=0)
    fake = write_png_folder(root / "fake", N, seed=1, tone=0.15)
    weights = write_random_fid_inception(root / "weights-random-fid-inception.pth", seed=0)
    return real, fake, weights


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # torch-fidelity's workers
@pytest.mark.slow  # ~30 s: six builds of the 24M-parameter network; 299x299: benchmarks/metrics.py
def test_fid_kid_is_prc_equal_torch_fidelitys(folders, tmp_path, monkeypatch):
    side = 75
    real_dir, fake_dir, weights = folders
    monkeypatch.setattr(tfi.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", side)
    seed, subsets, subset_size, splits = 3, 4, 6, 2
    with pytest.warns(RuntimeWarning, match="covariance is singular"):  # 10 images, 2048-d
        ours, ref, metrics = compare_with_torch_fidelity(
            fake_dir, real_dir, weights, tmp_path, seed=seed, kid_subsets=subsets,
            kid_subset_size=subset_size, isc_splits=splits,
        )  # fmt: skip
    kid = metrics["kid"]

    assert ref["frechet_inception_distance"] > 1e-3  # values worth comparing
    assert ref["inception_score_mean"] > 1.0 + 1e-4
    for key, value in ours.items():
        if key != "kernel_inception_distance_std":
            assert value == pytest.approx(ref[key], rel=1e-4), (key, value, ref[key])
    # KID's std over subsets: torch-fidelity multiplies float32 features, we float64; with
    # these tiny MMDs (1e-4) float32 cancellation moves its std by ~1e-3 relative. Its own
    # estimator on the same features in float64 equals ours:
    real = kid._real_memory[1]
    fake = kid.generated_features(FolderReplay(read_png_folder(fake_dir)), CPU)
    exact = kid_features_to_metric(
        fake.double(), real.double(), kid_subsets=subsets, kid_subset_size=subset_size,
        rng_seed=seed, verbose=False,
    )  # fmt: skip
    assert ours["kernel_inception_distance_std"] == pytest.approx(
        exact["kernel_inception_distance_std"], rel=1e-9
    )
    assert ours["kernel_inception_distance_mean"] == pytest.approx(
        exact["kernel_inception_distance_mean"], rel=1e-9
    )
    assert ours["kernel_inception_distance_std"] == pytest.approx(
        ref["kernel_inception_distance_std"], rel=1e-2
    )


def test_clean_resize_is_pil_bicubic_on_floats_and_differs_from_legacy():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    out = clean_resize(images, 23)
    assert out.shape == (2, 3, 23, 23) and out.dtype == torch.float32
    pixels = torch.floor((images + 1) * 127.5 + 0.5).clamp(0, 255)  # the saved 8-bit file
    # torch's antialiased bicubic is written to follow PIL's filter: equal up to rounding
    torch_aa = torch.nn.functional.interpolate(
        pixels, size=(23, 23), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 255)
    assert (out + 1) * 127.5 == pytest.approx(torch_aa, abs=0.05)
    assert not torch.equal(out, torch.round(out * 127.5) / 127.5)  # floats, not requantised
    const = torch.full((1, 1, 64, 64), 0.2)
    assert clean_resize(const, 13) == pytest.approx(torch.full((1, 1, 13, 13), 0.2), abs=1e-3)


def test_clean_resize_feeds_the_same_network_blocks(folders, monkeypatch):
    """The clean path runs torch-fidelity's blocks on float pixels: on 8-bit images already at
    the network's side (no resize on either path) it equals the legacy path exactly."""
    _, _, weights = folders
    monkeypatch.setattr(tfi.FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    images = torch.round((torch.rand(3, 3, 75, 75) * 2 - 1) * 127.5) / 127.5
    for output in ("features", "logits"):
        legacy = build_feature_extractor("inception_v3_fid", output, weights=weights)
        clean = build_feature_extractor("inception_v3_fid", output, weights=weights, resize="clean")
        assert clean.spec.resize == "clean" and clean.fingerprint != legacy.fingerprint
        assert torch.allclose(clean(images), legacy(images), rtol=1e-5, atol=1e-6)
        small = images[:, :, :40, :40]  # resized: the two resizes differ
        assert not torch.allclose(clean(small), legacy(small), rtol=1e-3)


def test_resize_is_checked_and_keys_the_cache(tmp_path):
    from torchgan_ext.testing.extractors import TinyFeatureExtractor

    with pytest.raises(ValueError, match="^resize: .*'clean'"):
        FrechetInceptionDistance(extractor=TinyFeatureExtractor(), resize="claen")
    legacy = FrechetInceptionDistance(extractor=TinyFeatureExtractor(), num_samples=4)
    clean = FrechetInceptionDistance(extractor=TinyFeatureExtractor(), resize="clean")
    images = torch.rand(2, 1, 28, 28) * 2 - 1  # the tiny extractor resizes to 16x16
    assert legacy.extractor().fingerprint != clean.extractor().fingerprint  # other cache key
    assert not torch.allclose(legacy.extractor()(images), clean.extractor()(images))
