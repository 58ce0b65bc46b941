"""The real-feature cache: hit, miss, keys, invalidation, sharing between FID and KID.

"Second run" = a new metric object (as a new process would build) with the same arguments.
The speed-up itself is measured by ``benchmarks/metrics_cache.py``; here a cache hit is shown
to run no real image through the extractor at all.
"""

import warnings

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from torchgan_ext.data.digits import Digits
from torchgan_ext.metrics import (
    FrechetInceptionDistance,
    KernelInceptionDistance,
    RealFeatureCache,
)
from torchgan_ext.metrics.cache import cache_key, dataset_fingerprint
from torchgan_ext.testing.extractors import TinyFeatureExtractor

CPU = torch.device("cpu")


class _Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the same weights in every "run"
            self.lin = torch.nn.Linear(4, 256)

    def sampler(self, n, device):
        return [torch.randn(n, 4, device=device)]

    def forward(self, z):
        return torch.tanh(self.lin(z)).view(-1, 1, 16, 16)


@pytest.fixture(scope="module")
def digits_test():
    return Digits(image_size=16, split="test")


def _loader(dataset):
    return DataLoader(dataset, batch_size=32)


def _fid(tmp_path, **kw):
    args = dict(
        extractor=TinyFeatureExtractor(),
        num_samples=64,
        num_real=100,
        batch_size=50,
        cache_dir=tmp_path / "cache",
    )
    args.update(kw)
    return FrechetInceptionDistance(**args)


def _count_real_passes(metric):
    calls = []
    metric.extractor(CPU).network.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    return calls


def _eval(metric, dataset):
    return metric.metric_ops(_Generator(), CPU, data_loader=None, val_loader=_loader(dataset))


def test_second_run_reads_real_features_from_disk(tmp_path, digits_test):
    first = _fid(tmp_path)
    calls = _count_real_passes(first)
    v1 = _eval(first, digits_test)
    assert first.last_result["real_features"] == "miss"
    assert sum(calls) == 100 + 64  # 100 real images + 64 generated
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1

    second = _fid(tmp_path)  # a new run: new metric, new extractor object
    calls = _count_real_passes(second)
    v2 = _eval(second, digits_test)
    assert second.last_result["real_features"] == "hit"
    assert sum(calls) == 64  # only the generated images
    assert v2 == v1

    # the same metric object keeps them in memory for the next evaluation
    _eval(second, digits_test)
    assert second.last_result["real_features"] == "memory"


def test_what_does_not_change_real_features_reuses_the_entry(tmp_path, digits_test):
    """The generator's seed and the number of generated images are in the protocol record,
    not in the real-feature key: the real side is the same."""
    _eval(_fid(tmp_path), digits_test)
    metric = _fid(tmp_path, seed=5, num_samples=32)
    _eval(metric, digits_test)
    assert metric.last_result["real_features"] == "hit"
    assert metric.last_result["protocol"]["seed"] == 5


def test_fid_and_kid_share_one_entry(tmp_path, digits_test):
    _eval(_fid(tmp_path), digits_test)
    kid = KernelInceptionDistance(
        extractor=TinyFeatureExtractor(),
        num_samples=64,
        num_real=100,
        subset_size=50,
        subsets=5,
        cache_dir=tmp_path / "cache",
    )
    _eval(kid, digits_test)
    assert kid.last_result["real_features"] == "hit"


@pytest.mark.parametrize(
    "change",
    [
        "num_real",
        "split",
        "image_size",
        "channels",
        "extractor_weights",
        "extractor_size",
        "digits_subset",
        "resize",
    ],
)
def test_any_change_of_the_key_is_a_miss(tmp_path, digits_test, change):
    _eval(_fid(tmp_path), digits_test)
    dataset, kw = digits_test, {}
    if change == "num_real":
        kw["num_real"] = 99
    elif change == "split":
        dataset = Digits(image_size=16, split="train")
    elif change == "image_size":
        dataset = Digits(image_size=12, split="test")
    elif change == "channels":
        dataset = Digits(image_size=16, split="test", channels=3)
        kw["extractor"] = TinyFeatureExtractor(in_channels=3)
    elif change == "extractor_weights":
        kw["extractor"] = TinyFeatureExtractor(seed=1)
    elif change == "extractor_size":
        kw["extractor"] = TinyFeatureExtractor(size=20)
    elif change == "digits_subset":
        dataset = Digits(image_size=16, split="test", digits=[0, 1, 2, 3, 4, 5, 6, 7, 8])
    elif change == "resize":
        kw["resize"] = "clean"  # the tiny extractor resizes 16 -> 16: spec differs, so the key
    metric = _fid(tmp_path, **kw)
    _eval(metric, dataset)
    assert metric.last_result["real_features"] == "miss"
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_reference_split_is_part_of_the_key(tmp_path, digits_test):
    a = cache_key(digits_test, "val", "x", 10)
    b = cache_key(digits_test, "train", "x", 10)
    assert RealFeatureCache(tmp_path).path(a) != RealFeatureCache(tmp_path).path(b)
    assert "test-val" not in RealFeatureCache(tmp_path).path(a).name  # class name, split
    assert RealFeatureCache(tmp_path).path(a).name.startswith("digits-val-10-")


def test_recompute_real_overwrites_the_entry(tmp_path, digits_test):
    _eval(_fid(tmp_path), digits_test)
    metric = _fid(tmp_path, recompute_real=True)
    calls = _count_real_passes(metric)
    _eval(metric, digits_test)
    assert metric.last_result["real_features"] == "miss" and sum(calls) == 164
    _eval(metric, digits_test)  # once: afterwards the features are reused
    assert metric.last_result["real_features"] == "memory"


def test_invalidate_clear_and_corrupt_entries(tmp_path, digits_test):
    metric = _fid(tmp_path)
    _eval(metric, digits_test)
    cache = RealFeatureCache(tmp_path / "cache")
    key = metric._real_memory[0]
    assert cache.load(key) is not None
    assert cache.invalidate(key) and not cache.invalidate(key)
    assert cache.load(key) is None

    _eval(_fid(tmp_path), digits_test)
    cache.path(key).write_bytes(b"not a torch file")
    fresh = _fid(tmp_path)
    with pytest.warns(RuntimeWarning, match="unreadable real-feature cache entry"):
        _eval(fresh, digits_test)
    assert fresh.last_result["real_features"] == "miss"
    assert cache.load(key) is not None  # rewritten
    assert cache.clear() == 1 and cache.clear() == 0


def test_an_entry_with_another_key_is_not_used(tmp_path, digits_test):
    metric = _fid(tmp_path)
    _eval(metric, digits_test)
    cache = RealFeatureCache(tmp_path / "cache")
    key = metric._real_memory[0]
    entry = torch.load(cache.path(key), weights_only=True)
    entry["key"]["split"] = "train"  # e.g. a digest collision or a hand-copied file
    torch.save(entry, cache.path(key))
    with pytest.warns(RuntimeWarning, match="stale"):
        assert cache.load(key) is None


def test_cache_off_writes_nothing(tmp_path, digits_test):
    metric = _fid(tmp_path, cache=False)
    _eval(metric, digits_test)
    assert metric.last_result["real_features"] == "computed"
    assert not (tmp_path / "cache").exists()


class _Flipping(Dataset):
    """Random horizontal flips, as training datasets often have."""

    def __init__(self):
        self.base = Digits(image_size=16, split="test")

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return (x.flip(-1) if torch.rand(()) < 0.5 else x), y


def test_fingerprint_is_stable_with_random_augmentation_and_leaves_rng_alone():
    ds = _Flipping()
    state = torch.get_rng_state()
    a, b = dataset_fingerprint(ds), dataset_fingerprint(ds)
    assert a == b
    assert torch.equal(state, torch.get_rng_state())
    assert a["length"] == 297 and a["image_shape"] == [1, 16, 16]


def test_a_subset_of_real_images_is_fixed(tmp_path, digits_test):
    a, b = _fid(tmp_path, cache=False), _fid(tmp_path, cache=False, batch_size=7)
    fa, _, _ = a.real_features(_loader(digits_test), "val", CPU)
    fb, _, _ = b.real_features(_loader(digits_test), "val", CPU)
    assert fa.shape == (100, 8)
    assert torch.allclose(fa, fb, atol=1e-6)  # same images whatever the batch size


def test_num_real_defaults_to_the_whole_split_when_it_is_smaller(tmp_path, digits_test):
    metric = _fid(tmp_path, num_real=None, num_samples=5000)
    metric.num_samples = 64  # generate few; the real count still follows the default rule
    metric.num_real = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: 297 samples > 8 feature dimensions
        real, _, _ = metric.real_features(_loader(digits_test), "val", CPU)
    assert len(real) == 64 == min(64, len(digits_test))
    big = _fid(tmp_path, num_real=None, num_samples=5000)
    real, _, _ = big.real_features(_loader(digits_test), "val", CPU)
    assert len(real) == len(digits_test)  # min(num_samples, split): the whole split


def test_num_real_larger_than_the_split_is_an_error_naming_it(tmp_path, digits_test):
    metric = _fid(tmp_path, num_real=5000)
    with pytest.raises(ValueError, match=r"^num_real: 5000 is larger than the val split \(297"):
        metric.real_features(_loader(digits_test), "val", CPU)

    class _Trainer:
        data_loader = _loader(digits_test)
        val_loader = None

    with pytest.raises(ValueError, match=r"^num_real: 5000 is larger than the train split"):
        metric.validate(_Trainer())  # the launcher's preflight: before any training


def test_real_features_of_uint8_batches_equal_those_of_float_batches(tmp_path):
    """``output: uint8`` (and the decoded cache) give uint8 batches: the metric reads them as
    the trainer does (float in [-1, 1]), so the real features do not change."""
    from torchgan_ext.data import CelebA
    from torchgan_ext.data.collate import collate
    from torchgan_ext.testing import write_celeba

    root = write_celeba(tmp_path, 8, size=(40, 32)).root
    features = {}
    for output in ("uint8", "float"):
        dataset = CelebA(root, split="all", crop_size=32, image_size=16, output=output)
        loader = DataLoader(dataset, batch_size=4, collate_fn=collate)
        metric = _fid(
            tmp_path, extractor=TinyFeatureExtractor(in_channels=3), num_real=8, cache=False
        )
        features[output] = metric.real_features(loader, "train", CPU)[0]
    assert torch.allclose(features["uint8"], features["float"], atol=1e-6)
    assert features["float"].std(0).min() > 0  # real, distinct features
