"""DiscoGAN on unpaired grey / colour MNIST digits: translations scored against the truth.

Domain A: grey MNIST digits; domain B: the same kind of digits coloured (strokes yellow,
background dark blue). The training domains come from *disjoint* halves of the MNIST-5k
training split (even / odd indices), so the model never sees a pair; the 1000 held-out test
digits are coloured too, which gives the right translation of every test image for scoring
only. Reported for :math:`G_{AB}` on the test digits: mean absolute error (in [0, 1] units)
and PSNR against the true colouring, next to three references that need no learning: the
grey input copied to three channels, the mean training B image, and a random B image
(right domain, wrong digit).

    OMP_NUM_THREADS=1 python benchmarks/discogan_digits.py            # a few minutes on CPU
    OMP_NUM_THREADS=1 python benchmarks/discogan_digits.py --write-data-only
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _demo import report, train_fresh  # noqa: E402

#: Colours of domain B (RGB in [0, 1]): background and stroke.
BACKGROUND = (0.1, 0.15, 0.45)
STROKE = (1.0, 0.85, 0.2)


def colourise(grey: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` in [0, 1] -> ``[N, 3, H, W]``: background where 0, stroke where 1."""
    bg = torch.tensor(BACKGROUND).view(1, 3, 1, 1)
    fg = torch.tensor(STROKE).view(1, 3, 1, 1)
    return bg * (1 - grey) + fg * grey


def digits(split: str) -> torch.Tensor:
    from torchgan_ext.data.digits import Digits

    return (Digits(image_size=32, channels=1, split=split, source="mnist").images + 1) / 2


def _save(images: torch.Tensor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pixels = (images.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for i, p in enumerate(pixels):
        Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p).save(folder / f"{i:05d}.png")


def write_data(root: Path) -> None:
    train, test = digits("train"), digits("test")
    _save(train[0::2], root / "trainA")
    _save(colourise(train[1::2]), root / "trainB")
    _save(test, root / "testA")
    _save(colourise(test), root / "testB")


def _scores(out: torch.Tensor, truth: torch.Tensor) -> dict:
    mse = float((out - truth).square().mean())
    return {"l1": float((out - truth).abs().mean()), "psnr_db": 10 * math.log10(1 / mse)}


@torch.no_grad()
def evaluate(generator, root: Path) -> dict:
    generator.eval()
    test, train_b = digits("test"), colourise(digits("train")[1::2])
    truth = colourise(test)
    out = torch.cat([(generator(x * 2 - 1) + 1) / 2 for x in test.split(250)])
    perm = torch.randperm(len(train_b), generator=torch.Generator().manual_seed(0))[: len(test)]
    return {
        "discogan": _scores(out, truth),
        "grey_copy": _scores(test.expand(-1, 3, -1, -1), truth),
        "mean_b_image": _scores(train_b.mean(0, keepdim=True).expand_as(truth), truth),
        "random_b_image": _scores(train_b[perm], truth),
        "test_images": len(test),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs/discogan_digits.yaml"))
    p.add_argument("--data", default="runs/data/discogan_digits")
    p.add_argument("--out", default="runs/discogan_digits")
    p.add_argument("--steps", type=int, default=None, help="max_steps (config: 600)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    p.add_argument("--write-data-only", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(args.data)
    if not (root / "testB").is_dir():
        write_data(root)
    if args.write_data_only:
        return {}
    overrides = [f"out_dir={args.out}", f"data.args.root={root}"]
    result, cfg, seconds = train_fresh(args.config, overrides, args.steps, args.device)
    figures = evaluate(result.trainer.generator, root)
    figures.update(steps=result.step, train_seconds=round(seconds, 1), seed=cfg.seed)
    return report(figures, args.json)


if __name__ == "__main__":
    main()
