"""pix2pix and CycleGAN end to end on the small digit tasks: the issue's CPU figures.

Steps (the shipped configs, through the same launcher as ``torchgan-run``):

1. write the datasets (``torchgan_ext.testing.write_edges2digits`` / ``write_stroke_digits``)
   unless present;
2. train ``configs/pix2pix_digits.yaml`` and judge it on the 297 held-back pairs: L1 and PSNR
   of the generated digits against the true digits, beside two trivial baselines (the mean
   training digit, and the input outline unchanged), and the share of generated digits that a
   digit classifier trained on the real training digits reads as the right digit;
3. train ``configs/cyclegan_digits.yaml`` and judge the translations of the 297 held-back
   digits in both directions with judges trained on real training images only: a stroke-style
   judge (thin vs bold, logistic regression on pixels) must see the target domain, and a digit
   classifier of the target domain must read the input's digit. Because the held-back digits
   exist in both styles, the pixel error against the true translation is reported too, beside
   leaving the image unchanged.

Run from the repository root::

    python benchmarks/translation_digits.py                  # both, a few minutes each
    python benchmarks/translation_digits.py --only pix2pix --steps 500

``--threads 1`` (the default): on a small shared CPU, torch's one thread per core makes these
tiny networks slower. Both the wall time and the process's CPU time of each training run are
reported (on a loaded machine the CPU time is the one to compare).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="runs/data", help="where the two datasets go")
    p.add_argument("--runs", default="runs", help="where the run directories go")
    p.add_argument("--steps", type=int, default=None, help="max_steps (default: the configs')")
    p.add_argument("--only", choices=("pix2pix", "cyclegan"), default=None)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the configs')")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    return p.parse_args(argv)


def train(name: str, data: Path, runs: Path, steps: int | None, device: str | None):
    from torchgan_ext import load_config, run

    overrides = [f"data.args.root={data}", f"out_dir={runs / name}", "logging.progress=false"]
    if steps:
        overrides.append(f"trainer.max_steps={steps}")
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", overrides)
    if (Path(cfg.out_dir) / "config.yaml").is_file():
        shutil.rmtree(cfg.out_dir)  # this benchmark's own run directory: start afresh
    start, cpu = time.perf_counter(), time.process_time()
    result = run(cfg, overwrite=True, device=device, stream=sys.stderr)
    return result, (time.perf_counter() - start, time.process_time() - cpu)


def stack(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Both elements of every item, in [0, 1]."""
    a, b = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return (torch.stack(a) + 1) / 2, (torch.stack(b) + 1) / 2


@torch.no_grad()
def translate(generator: torch.nn.Module, images: torch.Tensor, device) -> torch.Tensor:
    """``generator`` (eval mode) on [0, 1] images, result in [0, 1] on the CPU."""
    generator.eval()
    out = [generator(x.to(device) * 2 - 1).float().cpu() for x in images.split(64)]
    return (torch.cat(out) + 1) / 2


def l1_psnr(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Mean absolute error and mean per-image PSNR (dB, peak 1) in [0, 1] units."""
    mse = (pred - truth).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return {
        "l1": round(float((pred - truth).abs().mean()), 4),
        "psnr": round(float((10 * torch.log10(1 / mse)).mean()), 2),
    }


def logistic(features: torch.Tensor, labels: torch.Tensor):
    """A logistic-regression judge on flattened pixels (fit on real images only)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=0.5)
    model.fit(features.flatten(1).numpy(), labels.numpy())
    return model


def accuracy(model, images: torch.Tensor, labels: torch.Tensor | np.ndarray) -> float:
    pred = model.predict(images.flatten(1).numpy())
    return round(float((pred == np.asarray(labels)).mean()), 4)


#: Dataset arguments of the evaluation: the whole 32x32 images, no flips, grey.
EVAL_ARGS = {"image_size": 32, "flip": False, "channels_a": 1, "channels_b": 1}


def write_and_train(args: argparse.Namespace, task: str, folder: str, marker: str):
    """Write the task's data unless ``marker`` exists, then train its config; returns the data
    folder, the run result and the timing row."""
    from torchgan_ext.testing import translation_digits

    data = Path(args.data) / folder
    if not (data / marker).is_dir():
        getattr(translation_digits, f"write_{folder}")(data)
    result, (wall, cpu) = train(task, data, Path(args.runs), args.steps, args.device)
    timing = {"steps": result.step, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1)}
    return data, result, timing


def pix2pix(args: argparse.Namespace, device) -> dict:
    from torchgan_ext.data.paired import PairedImages
    from torchgan_ext.testing.translation_digits import digit_split

    data, result, timing = write_and_train(args, "pix2pix_digits", "edges2digits", "val")
    kwargs = EVAL_ARGS
    train_in, train_out = stack(PairedImages(str(data), split="train", **kwargs))
    val_in, val_out = stack(PairedImages(str(data), split="val", **kwargs))
    fake = translate(result.trainer.eval_models()["generator"], val_in, device)
    _, train_digits = digit_split("train")
    _, val_digits = digit_split("held_back")
    digits = logistic(train_out, train_digits)
    figures = {
        **timing,
        "pairs_held_back": len(val_in),
        "pix2pix": l1_psnr(fake, val_out),
        "baseline_mean_training_digit": l1_psnr(
            train_out.mean(0, keepdim=True).expand_as(val_out), val_out
        ),
        "baseline_outline_unchanged": l1_psnr(val_in, val_out),
        "digit_accuracy_generated": accuracy(digits, fake, val_digits),
        "digit_accuracy_real": accuracy(digits, val_out, val_digits),
    }
    print(f"pix2pix_digits: {json.dumps(figures)}")
    return figures


def cyclegan(args: argparse.Namespace, device) -> dict:
    from torchgan_ext.data.paired import UnpairedImages
    from torchgan_ext.testing.translation_digits import digit_split

    data, result, timing = write_and_train(args, "cyclegan_digits", "stroke_digits", "testB")
    kwargs = EVAL_ARGS
    real = UnpairedImages(str(data), split="train", **kwargs)
    train_a = torch.stack([(real._one(f, 1) + 1) / 2 for f in real.files_a])
    train_b = torch.stack([(real._one(f, 1) + 1) / 2 for f in real.files_b])
    test_a, test_b = stack(UnpairedImages(str(data), split="test", **kwargs))
    _, digits = digit_split("train")
    half = len(train_a)
    _, test_digits = digit_split("held_back")
    models = result.trainer.eval_models()
    a2b = translate(models["generator"], test_a, device)
    b2a = translate(models["generator_ba"], test_b, device)
    style = logistic(torch.cat([train_a, train_b]), torch.tensor([0] * half + [1] * half))
    digits_b = logistic(train_b, digits[half:])
    digits_a = logistic(train_a, digits[:half])
    ones, zeros = np.ones(len(test_a)), np.zeros(len(test_a))
    figures = {
        **timing,
        "images_held_back": len(test_a),
        "style_judge_real_accuracy": accuracy(
            style, torch.cat([test_a, test_b]), np.concatenate([zeros, ones])
        ),
        "a2b_judged_bold": accuracy(style, a2b, ones),
        "a2b_unchanged_judged_bold": accuracy(style, test_a, ones),
        "b2a_judged_thin": accuracy(style, b2a, zeros),
        "b2a_unchanged_judged_thin": accuracy(style, test_b, zeros),
        "a2b_digit_accuracy": accuracy(digits_b, a2b, test_digits),
        "bold_judge_real_accuracy": accuracy(digits_b, test_b, test_digits),
        "b2a_digit_accuracy": accuracy(digits_a, b2a, test_digits),
        "thin_judge_real_accuracy": accuracy(digits_a, test_a, test_digits),
        "a2b_vs_true_bold": l1_psnr(a2b, test_b),
        "a2b_unchanged_vs_true_bold": l1_psnr(test_a, test_b),
        "b2a_vs_true_thin": l1_psnr(b2a, test_a),
        "b2a_unchanged_vs_true_thin": l1_psnr(test_b, test_a),
    }
    print(f"cyclegan_digits: {json.dumps(figures)}")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from torchgan_ext import load_plugins
    from torchgan_ext.trainer.batch import resolve_device

    load_plugins()
    device = resolve_device(args.device or "auto")
    summary: dict = {"device": str(device), "threads": torch.get_num_threads()}
    if args.only in (None, "pix2pix"):
        summary["pix2pix_digits"] = pix2pix(args, device)
    if args.only in (None, "cyclegan"):
        summary["cyclegan_digits"] = cyclegan(args, device)
    out = Path(args.runs) / f"translation_digits{'_' + args.only if args.only else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"summary: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
