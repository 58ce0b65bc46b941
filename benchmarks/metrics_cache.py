"""The real side of FID/KID with and without the on-disk real-feature cache.

A "run" is a new ``FrechetInceptionDistance`` object (as a new process builds) asked for the
real features of the same split: the first run extracts them (cache miss) and stores them;
the second reads them back (cache hit, including the dataset fingerprint that keys the
entry). Each repeat uses a fresh cache directory. Prints the medians of the two and the ratio
``miss / hit`` (goal: >= 10).

Extractors (features only; the numbers are timings, not metric values):

* ``tiny`` (default, seconds on a laptop CPU): the tiny test extractor on 32x32 images;
* ``inception``: torchvision's Inception V3 *architecture* at 299x299 with fixed random
  weights, i.e. the compute of the real protocol without needing the weights file (slow on
  CPU: use ``--num-real 200`` or a GPU).

    python benchmarks/metrics_cache.py [--extractor tiny|inception] [--num-real 1500]
        [--image-size 32] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.utils.data import DataLoader

from torchgan_ext.data.digits import Digits
from torchgan_ext.metrics import FrechetInceptionDistance, InputSpec
from torchgan_ext.testing.extractors import TinyFeatureExtractor


def _extractor(kind: str) -> torch.nn.Module:
    if kind == "tiny":
        return TinyFeatureExtractor(size=32)
    from torchvision.models import inception_v3

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same weights in both "runs": same cache key
        net = inception_v3(weights=None, aux_logits=False, init_weights=True)
    net.fc = torch.nn.Identity()
    net.input_spec = InputSpec(
        value_range="zero_one",
        size=299,
        channels=3,
        quantize=True,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
    )
    return net


def _real_side(kind: str, loader: DataLoader, n: int, cache_dir: str, device: str):
    metric = FrechetInceptionDistance(
        extractor=_extractor(kind), num_samples=n, batch_size=64, cache_dir=cache_dir
    )
    start = time.perf_counter()
    features, source, _ = metric.real_features(loader, "train", device)
    if features.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, source, tuple(features.shape)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--extractor", choices=("tiny", "inception"), default="tiny")
    p.add_argument("--num-real", type=int, default=1500)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()

    dataset = Digits(image_size=a.image_size, split="all")
    loader = DataLoader(dataset, batch_size=64)
    n = min(a.num_real, len(dataset))
    miss, hit = [], []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            t, source, shape = _real_side(a.extractor, loader, n, cache_dir, a.device)
            assert source == "miss", source
            miss.append(t)
            t, source, _ = _real_side(a.extractor, loader, n, cache_dir, a.device)
            assert source == "hit", source
            hit.append(t)
    m, h = statistics.median(miss), statistics.median(hit)
    print(
        f"real side of FID, {n} digits at {a.image_size}x{a.image_size}, extractor "
        f"{a.extractor}, features {shape}, device {a.device}, {a.repeats} repeats (medians)"
    )
    print(f"  first run  (cache miss: extract + store) : {m * 1000:9.1f} ms")
    print(f"  second run (cache hit: fingerprint + load): {h * 1000:9.1f} ms")
    print(f"  speed-up miss / hit: {m / h:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
