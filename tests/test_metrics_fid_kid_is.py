"""FID, KID and Inception Score: statistics against float64 references, extractors, weights.

No test needs real Inception weights: the statistics take feature tensors, the metrics use
tiny extractors, and the Inception code paths run on weight files of random numbers written
here (to test loading and image conversion, never to produce a metric value).
"""

import dataclasses
import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from torchgan_ext import METRICS, load_plugins
from torchgan_ext.errors import ConfigError
from torchgan_ext.metrics import (
    FrechetInceptionDistance,
    InceptionScore,
    InputSpec,
    KernelInceptionDistance,
    build_feature_extractor,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    prepare_images,
)
from torchgan_ext.metrics.features import FID_INCEPTION_FILE, TORCHVISION_INCEPTION_FILE
from torchgan_ext.testing.extractors import TinyFeatureExtractor


@pytest.fixture(autouse=True)
def _offline_torch_home(tmp_path, monkeypatch):
    """An empty $TORCH_HOME and cache dir: tests never see weights installed on the machine."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("TORCHGAN_EXT_CACHE_DIR", str(tmp_path / "feature_cache"))


def _gaussians(seed=0, d=12, n1=3000, n2=2500):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    b = rng.normal(size=(d, d))
    s1 = a @ a.T / d + 0.1 * np.eye(d)
    s2 = b @ b.T / d + 0.1 * np.eye(d)
    m1, m2 = np.zeros(d), rng.normal(size=d) * 0.5
    x = rng.multivariate_normal(m1, s1, size=n1)
    y = rng.multivariate_normal(m2, s2, size=n2)
    return x, y, (m1, s1, m2, s2)


def _closed_form_fid(m1, s1, m2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * np.real(covmean)))


# ------------------------------------------------------------------------------------------
# FID
# ------------------------------------------------------------------------------------------
def test_fid_matches_closed_form_of_the_feature_statistics():
    x, y, _ = _gaussians()
    ref = _closed_form_fid(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    got = frechet_distance(torch.from_numpy(x), torch.from_numpy(y))
    assert ref > 1.0
    assert abs(got - ref) <= 1e-3 * ref
    # float32 features (what extractors produce) are accumulated in float64: still within 1e-3
    got32 = frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert abs(got32 - ref) <= 1e-3 * ref


def test_fid_approaches_the_population_value():
    x, y, (m1, s1, m2, s2) = _gaussians(seed=1, d=4, n1=40000, n2=40000)
    ref = _closed_form_fid(m1, s1, m2, s2)
    got = frechet_distance(torch.from_numpy(x), torch.from_numpy(y))
    assert abs(got - ref) <= 0.03 * ref


def test_fid_of_a_set_with_itself_is_zero():
    x, _, _ = _gaussians()
    fx = torch.from_numpy(x)
    assert abs(frechet_distance(fx, fx)) < 1e-8
    assert frechet_distance(fx, fx + 0.5) == pytest.approx(0.25 * x.shape[1], rel=1e-6)


def test_fid_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(torch.zeros(10, 3), torch.zeros(10, 4))


# ------------------------------------------------------------------------------------------
# KID
# ------------------------------------------------------------------------------------------
def _poly(a, b, d):
    return (a @ b.T / d + 1.0) ** 3


def _mmd2_unbiased(x, y):
    m, d = len(x), x.shape[1]
    kxx, kyy, kxy = _poly(x, x, d), _poly(y, y, d), _poly(x, y, d)
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return off - 2 * kxy.sum() / m**2


def _mmd2_biased(x, y):
    d = x.shape[1]
    return _poly(x, x, d).mean() + _poly(y, y, d).mean() - 2 * _poly(x, y, d).mean()


def test_kid_is_the_unbiased_mmd_of_a_cubic_kernel():
    x, y, _ = _gaussians(n1=300, n2=300)
    ref = _mmd2_unbiased(x, y)
    # one subset of all samples: the permutation does not change the value
    mean, _ = kernel_inception_distance(
        torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=300
    )
    assert mean == pytest.approx(ref, rel=1e-9)


def test_kid_is_unbiased_on_identically_distributed_sets():
    rng = np.random.default_rng(3)
    d, n = 6, 60
    kid, biased = [], []
    for _ in range(40):
        x = rng.normal(size=(n, d))
        y = rng.normal(size=(n, d))
        kid.append(
            kernel_inception_distance(
                torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=n
            )[0]
        )
        biased.append(_mmd2_biased(x, y))
    kid, biased = np.array(kid), np.array(biased)
    se = kid.std(ddof=1) / np.sqrt(len(kid))
    assert abs(kid.mean()) < 3 * se  # expectation 0 ...
    assert (kid < 0).any() and (kid > 0).any()  # ... so it takes both signs
    # the biased estimator on the same data is clearly positive: the test can tell them apart
    assert biased.mean() > 10 * se


def test_kid_subsets_are_reproducible_and_leave_the_global_rng_alone():
    x, y, _ = _gaussians(n1=200, n2=200)
    fx, fy = torch.from_numpy(x), torch.from_numpy(y)
    state = torch.get_rng_state()
    a = kernel_inception_distance(fx, fy, subsets=5, subset_size=50, seed=1)
    b = kernel_inception_distance(fx, fy, subsets=5, subset_size=50, seed=1)
    assert a == b
    assert torch.equal(state, torch.get_rng_state())


# ------------------------------------------------------------------------------------------
# Inception Score
# ------------------------------------------------------------------------------------------
def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score(torch.zeros(200, 10), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-6)
    assert std == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("classes", [2, 10, 37])
def test_inception_score_of_confident_uniform_marginal_predictions_is_the_class_count(classes):
    logits = torch.eye(classes).repeat(6, 1) * 60.0  # one-hot, every class equally often
    mean, _ = inception_score(logits, splits=1)
    assert mean == pytest.approx(classes, rel=1e-4)


def test_inception_score_with_skewed_marginal_is_below_the_class_count():
    logits = torch.eye(4)[[0, 0, 0, 0, 0, 0, 1, 2, 3]] * 60.0
    mean, _ = inception_score(logits, splits=1)
    p = np.array([6, 1, 1, 1]) / 9
    assert mean == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-4)


def test_inception_score_is_torch_fidelitys_with_the_population_std():
    """Same permutation, splits and ddof=0 as torch-fidelity (Salimans et al.'s code);
    torchmetrics' ddof=1 standard deviation is sqrt(10/9) = 5.4% larger."""
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torchmetrics.image.inception import InceptionScore as TMInceptionScore

    from torchgan_ext.metrics.fid import PassThroughFeatures

    logits = torch.randn(1003, 50, generator=torch.Generator().manual_seed(0)) * 3
    mean, std = inception_score(logits, splits=10, seed=7)
    ref = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=7)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-9)
    # the per-split scores, by hand
    order = np.random.RandomState(7).permutation(1003)
    p = torch.softmax(logits[order].double(), 1).numpy()
    scores = []
    for i in range(10):
        part = p[i * 1003 // 10 : (i + 1) * 1003 // 10]
        kl = (part * (np.log(part) - np.log(part.mean(0, keepdims=True)))).sum(1).mean()
        scores.append(np.exp(kl))
    assert std == pytest.approx(np.std(scores, ddof=0), rel=1e-9)
    # torchmetrics on the same logits: its permutation (torch.randperm under a seed) replayed
    # here gives its per-split scores; its std is their ddof=1 std, 5.4% above ddof=0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = TMInceptionScore(feature=PassThroughFeatures(50), splits=10)
    tm.update(logits[:1000])
    torch.manual_seed(3)
    tm_std = float(tm.compute()[1])
    torch.manual_seed(3)
    perm = torch.randperm(1000)
    parts = torch.softmax(logits[:1000][perm].double(), 1).chunk(10)
    tm_scores = [
        np.exp((q * (q.log() - q.mean(0, keepdim=True).log())).sum(1).mean().item()) for q in parts
    ]
    assert tm_std == pytest.approx(np.std(tm_scores, ddof=1), rel=1e-5)
    assert tm_std / np.std(tm_scores, ddof=0) == pytest.approx(1.054, abs=1e-3)


def test_kid_is_torch_fidelitys_subsets_and_population_std():
    from torch_fidelity.metric_kid import kid_features_to_metric

    x, y, _ = _gaussians(n1=400, n2=300)
    real, fake = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    mean, std = kernel_inception_distance(real, fake, subsets=7, subset_size=120, seed=5)
    # torch-fidelity takes the generated features as its first input
    ref = kid_features_to_metric(
        fake, real, kid_subsets=7, kid_subset_size=120, rng_seed=5, verbose=False
    )
    # torch-fidelity multiplies float32 features, we float64: equal to float32 precision
    assert mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-5)
    assert std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-5)
    with pytest.raises(ValueError, match="^subset_size: 500 is larger"):
        kernel_inception_distance(real, fake, subsets=1, subset_size=500)


def test_published_default_sample_counts():
    import inspect

    from torchgan_ext.metrics import DensityCoverage, PrecisionRecall

    def default(cls, name):
        return inspect.signature(cls).parameters[name].default

    for cls in (FrechetInceptionDistance, KernelInceptionDistance, InceptionScore):
        assert default(cls, "num_samples") == 50000
        if cls is not InceptionScore:
            assert default(cls, "num_real") is None  # min(num_samples, split size)
    assert default(InceptionScore, "splits") == 10
    assert (
        default(KernelInceptionDistance, "subsets"),
        default(KernelInceptionDistance, "subset_size"),
    ) == (100, 1000)
    pr = PrecisionRecall(extractor=TinyFeatureExtractor())
    dc = DensityCoverage(extractor=TinyFeatureExtractor())
    assert (pr.num_samples, pr.k, dc.num_samples, dc.k) == (50000, 3, 10000, 5)


# ------------------------------------------------------------------------------------------
# image conversion (the one place)
# ------------------------------------------------------------------------------------------
def test_prepare_images_uint8_grey_to_rgb():
    x = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    out = prepare_images(x, InputSpec(value_range="uint8", channels=3))
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 2, 2)
    assert out[0, 0].flatten().tolist() == [0, 128, 255, 255]
    assert torch.equal(out[0, 0], out[0, 2])


def test_prepare_images_resize_quantize_normalize():
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    spec = InputSpec(
        value_range="zero_one", size=32, channels=3, quantize=True, mean=(0.5,) * 3, std=(0.25,) * 3
    )
    out = prepare_images(x, spec)
    assert out.shape == (2, 3, 32, 32) and out.dtype == torch.float32
    # values are 8-bit levels mapped through (v/255 - 0.5) / 0.25
    levels = (out * 0.25 + 0.5) * 255
    assert torch.allclose(levels, levels.round(), atol=1e-3)
    with pytest.raises(ValueError, match="3-channel"):
        prepare_images(torch.zeros(1, 2, 4, 4), InputSpec(channels=3))


def test_real_images_survive_the_8bit_round_trip():
    u8 = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    x = u8.float() / 127.5 - 1.0  # how datasets map 8-bit images to [-1, 1]
    assert torch.equal(prepare_images(x, InputSpec(value_range="uint8")), u8)


# ------------------------------------------------------------------------------------------
# extractors and weights
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fid", "kid", "inception_score"])
def test_missing_inception_weights_is_a_clear_error(name, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        METRICS.get(name)()
    msg = str(info.value)
    assert FID_INCEPTION_FILE in msg
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    assert "$TORCH_HOME/hub/checkpoints" in msg


def test_missing_torchvision_weights_and_explicit_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=TORCHVISION_INCEPTION_FILE):
        FrechetInceptionDistance(extractor="inception_v3_torchvision")
    with pytest.raises(FileNotFoundError, match="the path given"):
        FrechetInceptionDistance(weights=str(tmp_path / "nowhere.pth"))


def test_classifier_score_without_weights_does_not_download():
    with pytest.raises(FileNotFoundError, match=TORCHVISION_INCEPTION_FILE):
        METRICS.get("classifier_score")()


def test_a_wrong_file_under_the_standard_name_is_refused(tmp_path):
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({"x": torch.zeros(1)}, hub / FID_INCEPTION_FILE)
    with pytest.raises(ValueError, match="SHA-256"):
        FrechetInceptionDistance()


def test_unknown_extractor_name_suggests_close_matches():
    with pytest.raises(ValueError, match="^extractor: .*inception_v3_fid"):
        FrechetInceptionDistance(extractor="inception_v3_fidd")


def _random_state_file(path, module):
    torch.save(module.state_dict(), path)
    return path


# The Inception networks run on one small image at 75x75 (their smallest input) instead of
# 299x299: the test checks loading and the input format, not Inception's numbers.
def test_torchvision_inception_loads_a_local_file_and_takes_gan_images(tmp_path):
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    path = _random_state_file(tmp_path / "my_inception.pth", net)
    feats = build_feature_extractor("inception_v3_torchvision", "features", weights=path)
    assert feats.spec.size == 299 and feats.spec.channels == 3 and feats.spec.quantize
    feats.spec = dataclasses.replace(feats.spec, size=75)
    images = torch.rand(1, 1, 16, 16) * 2 - 1  # grey: converted to RGB
    assert feats(images).shape == (1, 2048)
    assert "my_inception.pth" in feats.fingerprint


def test_fid_inception_port_loads_a_local_file(tmp_path, monkeypatch):
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    # a randomly initialised instance of torch-fidelity's network, only to get a state dict
    # of the right layout (no download: the loader is patched for this one construction)
    with monkeypatch.context() as m:
        m.setattr(tfi, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = _random_state_file(tmp_path / "fid_inception_copy.pth", net)
    del net
    metric = FrechetInceptionDistance(weights=str(path), num_samples=2)
    extractor = metric.extractor("cpu")
    assert extractor.spec.value_range == "uint8" and extractor.spec.size is None
    extractor.network.net.INPUT_IMAGE_SIZE = 75  # the network resizes itself (TF1 bilinear)
    assert extractor(torch.rand(1, 1, 16, 16) * 2 - 1).shape == (1, 2048)
    assert {"2048", "logits_unbiased"} <= set(
        tfi.FeatureExtractorInceptionV3.get_provided_features_list()
    )


def test_a_weights_file_that_does_not_fit_is_a_clear_error(tmp_path):
    path = _random_state_file(tmp_path / "tiny.pth", nn.Linear(2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        build_feature_extractor("inception_v3_torchvision", weights=path)


def test_fid_inception_weights_of_another_network_are_one_line_naming_the_file(tmp_path):
    path = _random_state_file(tmp_path / "not_inception.pth", nn.Linear(2, 2))
    metric = FrechetInceptionDistance(weights=str(path), num_samples=2)
    with pytest.raises(ValueError) as info:
        metric.validate(None)  # the launcher's preflight builds the extractor
    message = str(info.value)
    assert message.startswith(f"weights: weights file {path} does not fit the FID Inception")
    assert "\n" not in message


def test_module_extractor_with_weights(tmp_path):
    a = build_feature_extractor(TinyFeatureExtractor(num_features=5))
    assert a(torch.zeros(3, 1, 8, 8)).shape == (3, 5)
    other = TinyFeatureExtractor(num_features=5, seed=7)
    path = _random_state_file(tmp_path / "tiny.pth", other)
    b = build_feature_extractor(TinyFeatureExtractor(num_features=5), weights=path)
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(b(x), other(prepare_images(x, other.input_spec)))
    assert a.fingerprint != b.fingerprint


def test_launcher_builds_a_registered_extractor_by_name(tmp_path):
    from torchgan_ext.build import build

    load_plugins(["torchgan_ext.testing.extractors"])
    args = {"extractor": "tiny_feature_extractor", "extractor_args": {"num_features": 5}}
    metric = build(METRICS, "fid", {**args, "num_samples": 4}, key="metrics.0.args")
    assert isinstance(metric.extractor_spec, TinyFeatureExtractor)
    assert metric.extractor("cpu")(torch.zeros(3, 1, 8, 8)).shape == (3, 5)
    with pytest.raises(ConfigError, match="unknown argument 'num_feature'") as info:
        args = {"extractor": "tiny_feature_extractor", "extractor_args": {"num_feature": 5}}
        build(METRICS, "fid", args, key="metrics.0.args")
    assert info.value.key == "metrics.0.args.extractor_args.num_feature"


# ------------------------------------------------------------------------------------------
# the metric objects
# ------------------------------------------------------------------------------------------
class _SpyGenerator(nn.Module):
    """A generator that records batch sizes, grad mode and train mode of every call."""

    encoding_dims = 4

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 64)
        self.calls = []

    def sampler(self, n, device):
        return [torch.randn(n, 4, device=device)]

    def forward(self, z):
        self.calls.append((len(z), torch.is_grad_enabled(), self.training))
        return torch.tanh(self.lin(z)).view(-1, 1, 8, 8)


def test_generation_is_batched_in_eval_mode_without_grad_and_leaves_rng_alone():
    metric = InceptionScore(extractor=TinyFeatureExtractor(), num_samples=70, batch_size=32)
    gen = _SpyGenerator().train()
    state = torch.get_rng_state()
    a = metric.metric_ops(gen, torch.device("cpu"))
    assert torch.equal(state, torch.get_rng_state())
    assert [c[0] for c in gen.calls] == [32, 32, 6]
    assert not any(c[1] for c in gen.calls) and not any(c[2] for c in gen.calls)
    assert gen.training  # mode restored
    assert metric.metric_ops(gen, torch.device("cpu")) == a  # fixed seed: same noise each time
    assert metric.last_result["num_fake"] == 70


def test_metric_arguments_are_checked():
    with pytest.raises(ValueError, match="^num_samples: "):
        FrechetInceptionDistance(extractor=TinyFeatureExtractor(), num_samples=1)
    with pytest.raises(ValueError, match="^reference: .*did you mean 'val'"):
        FrechetInceptionDistance(extractor=TinyFeatureExtractor(), reference="vall")
    with pytest.raises(ValueError, match="^splits: "):
        InceptionScore(extractor=TinyFeatureExtractor(), num_samples=4, splits=10)
    with pytest.raises(ValueError, match="^coef: "):
        KernelInceptionDistance(extractor=TinyFeatureExtractor(), coef=0.0)
    with pytest.raises(TypeError, match="^coef: "):
        KernelInceptionDistance(extractor=TinyFeatureExtractor(), coef="1")


def test_reference_val_without_a_validation_split_names_the_argument():
    metric = FrechetInceptionDistance(extractor=TinyFeatureExtractor(), reference="val")
    with pytest.raises(ValueError, match="^reference: val needs a validation split"):
        metric.metric_ops(_SpyGenerator(), torch.device("cpu"), data_loader=None, val_loader=None)


def test_a_metric_never_pickles_its_network():
    metric = InceptionScore(
        extractor=TinyFeatureExtractor(num_features=512), num_samples=8, splits=2
    )
    metric.metric_ops(_SpyGenerator(), torch.device("cpu"))
    assert metric._extractor is not None
    blob = pickle.dumps(metric)
    assert len(blob) < 5000  # the extractor's ~40k parameters are not in it
    clone = pickle.loads(blob)
    assert clone._extractor is None and clone.last_result == metric.last_result


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_metrics_run_on_the_cuda_device():
    gen = _SpyGenerator().cuda()
    metric = InceptionScore(extractor=TinyFeatureExtractor(), num_samples=64, splits=2)
    state = torch.cuda.get_rng_state()
    first = metric.metric_ops(gen, torch.device("cuda"))
    assert torch.equal(state, torch.cuda.get_rng_state())  # forked RNG on the device too
    assert next(metric.extractor().parameters()).is_cuda
    assert metric.metric_ops(gen, torch.device("cuda")) == first  # same noise every time
    assert first >= 1.0
    feats = torch.randn(300, 8, device="cuda", dtype=torch.float64)
    assert frechet_distance(feats, feats + 1) == pytest.approx(8.0, rel=1e-6)
