"""Speed and parity of the generation metrics against torch-fidelity, and the cost of
precision/recall.

Sections (all by default; pick with ``--only``):

* ``extraction``: images/s of feature extraction, our pipeline (GAN images in [-1, 1] through
  :func:`~torchgan_ext.metrics.prepare_images` and the FID Inception network) vs
  torch-fidelity's (``FeatureExtractorInceptionV3`` on the same images as uint8), the same
  weights file, batch size and threads; each batch timed through both back to back (order
  alternating), medians of the per-batch rates and of the per-pair speed ratios
  ours / torch-fidelity (goal >= 1.0).
* ``prdc``: time and peak memory (the peak resident set of a fresh process above the one it
  had holding the float32 features; Linux) of ``precision_recall`` and ``density_coverage``
  on random ``N x N`` features of Inception's 2048 dimensions (default 10k x 10k).
* ``parity``: FID, KID, IS, precision/recall of two PNG folders at the full 299x299 protocol,
  ours (metric objects) vs ``torch_fidelity.calculate_metrics``; relative differences.
* ``resize``: mean absolute difference (8-bit units) of the 299x299 network input between
  the legacy (TF1 bilinear) and clean (PIL bicubic) resize, shrinking a 512x512 photo and
  enlarging 32x32 images.

The weights are a seeded random state dict in the FID Inception format (the published file
is not needed to time or compare pipelines). Run with ``OMP_NUM_THREADS=1`` for the CPU
figures in docs/metrics.md::

    OMP_NUM_THREADS=1 python benchmarks/metrics.py [--only extraction,prdc,parity,resize]
        [--images 32] [--batch-size 16] [--repeats 3] [--prdc-n 10000] [--parity-n 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from torchgan_ext.metrics import (
    build_feature_extractor,
    density_coverage,
    precision_recall,
)
from torchgan_ext.testing.inception import (
    compare_with_torch_fidelity,
    write_png_folder,
    write_random_fid_inception,
)


def extraction(weights: Path, images: int, batch_size: int, repeats: int) -> dict:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    torch.manual_seed(0)
    gan = torch.rand(images, 3, 32, 32) * 2 - 1  # GAN output
    as_uint8 = torch.floor((gan + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
    ours = build_feature_extractor("inception_v3_fid", weights=weights)
    theirs = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(weights)
    ).eval()

    @torch.no_grad()
    def run_theirs(batch: torch.Tensor) -> torch.Tensor:
        return theirs(batch)[0]

    batches = list(zip(gan.split(batch_size), as_uint8.split(batch_size), strict=True))
    for mine, other in batches:  # warm-up, and the same features
        assert torch.equal(ours(mine), run_theirs(other))
    # pairs of batches timed back to back, order alternating: robust to a shared machine's
    # load changing during the run
    times: dict[str, list[float]] = {"ours": [], "torch_fidelity": []}
    ratios = []
    for i in range(repeats):
        for j, (mine, other) in enumerate(batches):
            pair = [("ours", ours, mine), ("torch_fidelity", run_theirs, other)]
            took = {}
            for name, fn, batch in pair if (i + j) % 2 == 0 else pair[::-1]:
                start = time.perf_counter()
                fn(batch)
                took[name] = time.perf_counter() - start
                times[name].append(took[name])
            ratios.append(took["torch_fidelity"] / took["ours"])
    rates = {k: batch_size / statistics.median(v) for k, v in times.items()}
    return {
        "images": images,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "timed_batch_pairs": len(ratios),
        "ours_images_per_s": round(rates["ours"], 3),
        "torch_fidelity_images_per_s": round(rates["torch_fidelity"], 3),
        "ratio": round(statistics.median(ratios), 3),
    }


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _prdc_child(kind: str, n: int, dims: int) -> None:
    """In a fresh process: make the features, reset the peak resident set (Linux
    ``/proc/self/clear_refs``), run one metric, report the peak above the features."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(n, dims, generator=g)
    fake = torch.randn(n, dims, generator=g) + 0.05
    fn = precision_recall if kind == "precision_recall" else density_coverage
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    values = fn(real, fake)
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    print(json.dumps({"values": values, "seconds": seconds, "rss_mb": before, "peak_mb": peak}))


def prdc(n: int, dims: int) -> dict:
    out: dict = {"n_real": n, "n_fake": n, "dims": dims}
    for kind in ("precision_recall", "density_coverage"):
        cmd = [sys.executable, __file__, "--prdc-child", kind, "--prdc-n", str(n)]
        cmd += ["--prdc-dims", str(dims)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        out[kind] = {
            "seconds": round(r["seconds"], 2),
            "peak_above_features_mb": round(r["peak_mb"] - r["rss_mb"]),
            "features_mb": round(2 * n * dims * 4 / 2**20),
            "values": [round(v, 4) for v in r["values"]],
        }
    return out


def parity(weights: Path, n: int, root: Path) -> dict:
    real_dir = write_png_folder(root / "real", n, seed=0)
    fake_dir = write_png_folder(root / "fake", n, seed=1, tone=0.15)
    ours, ref, _ = compare_with_torch_fidelity(
        fake_dir, real_dir, weights, root / "cache", seed=3, kid_subsets=10,
        kid_subset_size=n // 2, isc_splits=2,
    )  # fmt: skip
    return {
        key: {
            "ours": v,
            "torch_fidelity": ref[key],
            "rel_diff": abs(v - ref[key]) / abs(ref[key]) if ref[key] else abs(v - ref[key]),
        }
        for key, v in ours.items()
    }


def resize_difference() -> dict:
    from skimage import data as skdata
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    from torchgan_ext.metrics import clean_resize

    def compare(images: torch.Tensor) -> float:
        pixels = torch.floor((images + 1) * 127.5 + 0.5).clamp(0, 255)
        legacy = interpolate_bilinear_2d_like_tensorflow1x(
            pixels, size=(299, 299), align_corners=False
        )
        clean = (clean_resize(images, 299) + 1) * 127.5
        return round(float((legacy - clean).abs().mean()), 2)

    photo = torch.from_numpy(skdata.astronaut()).permute(2, 0, 1)[None].float() / 127.5 - 1
    torch.manual_seed(0)
    small = torch.nn.functional.interpolate(photo, size=(32, 32), mode="area")
    return {
        "shrink_512_to_299_mean_abs_diff": compare(photo),
        "enlarge_32_to_299_mean_abs_diff": compare(small),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="extraction,prdc,parity,resize")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prdc-n", type=int, default=10000)
    parser.add_argument("--prdc-dims", type=int, default=2048)
    parser.add_argument("--parity-n", type=int, default=20)
    parser.add_argument("--prdc-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prdc_child:
        _prdc_child(args.prdc_child, args.prdc_n, args.prdc_dims)
        return
    sections = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        weights = None
        if {"extraction", "parity"} & set(sections):
            weights = write_random_fid_inception(root / "random-fid-inception.pth", seed=0)
        if "extraction" in sections:
            r = extraction(weights, args.images, args.batch_size, args.repeats)
            print(f"extraction: {json.dumps(r)}")
            print(
                f"  ours {r['ours_images_per_s']:.3f} img/s, torch-fidelity "
                f"{r['torch_fidelity_images_per_s']:.3f} img/s: ratio {r['ratio']:.3f}x"
            )
        if "prdc" in sections:
            print(f"prdc: {json.dumps(prdc(args.prdc_n, args.prdc_dims))}")
        if "parity" in sections:
            for key, r in parity(weights, args.parity_n, root).items():
                print(
                    f"parity {key}: ours {r['ours']:.8g} torch-fidelity "
                    f"{r['torch_fidelity']:.8g} rel diff {r['rel_diff']:.2e}"
                )
        if "resize" in sections:
            print(f"resize: {json.dumps(resize_difference())}")


if __name__ == "__main__":
    main()
