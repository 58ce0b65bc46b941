"""StarGAN end to end on the generated coloured-digits dataset: the issue's done-when figure.

Steps (all on the shipped configs, through the same launcher as ``torchgan-run``):

1. write the attribute dataset (``torchgan_ext.testing.write_attribute_digits``) unless present;
2. train the judge: ``configs/stargan_classifier_digits.yaml`` (the only model is the classifier);
3. train StarGAN: ``configs/stargan_digits.yaml``, whose ``attribute_accuracy`` metric loads the
   judge's run directory;
4. report the attribute accuracy of translated images (and per target column), the judge's
   accuracy on real images, and - because this dataset is generated, the exact right
   translation of every image is known - the mean absolute pixel error of the translations
   against the true target images, next to the error of leaving the image unchanged.

Run from the repository root::

    python benchmarks/stargan_digits.py                 # about 4-5 minutes on one CPU core
    python benchmarks/stargan_digits.py --steps 1000    # shorter StarGAN run
    python benchmarks/stargan_digits.py --write-data-only

``--threads 1`` (the default) because on a small shared CPU torch's default of one thread per
core makes these tiny networks many times slower; pass ``--threads 0`` to keep torch's default.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="runs/data/attribute_digits", help="dataset root")
    p.add_argument("--runs", default="runs", help="where the two run directories go")
    p.add_argument("--steps", type=int, default=None, help="StarGAN max_steps (config: 3000)")
    p.add_argument("--classifier-epochs", type=int, default=None, help="(config: 3)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the configs')")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--write-data-only", action="store_true")
    return p.parse_args(argv)


def ensure_data(root: Path) -> None:
    from torchgan_ext.testing import write_attribute_digits

    if (root / "celeba" / "list_attr_celeba.txt").is_file():
        print(f"dataset: {root} (present)")
        return
    start = time.perf_counter()
    fake = write_attribute_digits(root)
    print(
        f"dataset: wrote {len(fake.filenames)} images to {fake.root} "
        f"in {time.perf_counter() - start:.1f} s"
    )


def train(config_path: Path, overrides: list[str], device: str | None):
    from torchgan_ext import load_config, run

    cfg = load_config(config_path, overrides)
    out = Path(cfg.out_dir)
    if (out / "config.yaml").is_file():
        shutil.rmtree(out)  # this benchmark's own run directory: start afresh (metrics.jsonl)
    start = time.perf_counter()
    result = run(cfg, overwrite=True, device=device, stream=sys.stderr)
    return result, time.perf_counter() - start


@torch.no_grad()
def ground_truth_error(generator: torch.nn.Module, dataset, device: torch.device) -> dict:
    """Mean |G(x, c) - true image of (digit, c)| in [0, 1] units over every single-attribute
    flip of every image of ``dataset``, next to two references: the unchanged input, and the
    target attributes drawn on the *next* image's digit (right attributes, wrong identity)."""
    from torchgan_ext.models.attribute_labels import flip_attribute
    from torchgan_ext.testing.attribute_digits import (
        ATTRIBUTE_DIGITS_ATTRIBUTES,
        draw_attribute_digit,
    )

    def drawn(index: int, flags: dict, size: tuple) -> torch.Tensor:
        image = torch.from_numpy(draw_attribute_digit(index, flags, size)).permute(2, 0, 1)
        return image.to(device).float() / 255

    generator.eval()
    groups = generator.exclusive_groups
    size = tuple(dataset[0][0].shape[-2:])
    indices = [int(Path(f).stem) - 1 for f in dataset.filenames]
    err = {"translation_l1": 0.0, "unchanged_l1": 0.0, "other_digit_l1": 0.0}
    count = 0
    for k, index in enumerate(indices):
        x, labels = dataset[k]
        x, labels = x[None].to(device), labels[None].to(device)
        for j in range(len(ATTRIBUTE_DIGITS_ATTRIBUTES)):
            target = flip_attribute(labels, j, groups)
            flags = {a: bool(v) for a, v in zip(ATTRIBUTE_DIGITS_ATTRIBUTES, target[0].tolist())}
            truth = drawn(index, flags, size)
            other = drawn(indices[(k + 1) % len(indices)], flags, size)
            out = (generator(x, target)[0] + 1) / 2
            err["translation_l1"] += float((out - truth).abs().mean())
            err["unchanged_l1"] += float(((x[0] + 1) / 2 - truth).abs().mean())
            err["other_digit_l1"] += float((other - truth).abs().mean())
            count += 1
    return {**{k: v / count for k, v in err.items()}, "pairs": count}


def digit_labels(dataset) -> torch.Tensor:
    """The digit (0-9) shown by every image of a CelebA-format attribute-digits split."""
    from sklearn.datasets import load_digits

    target = torch.from_numpy(load_digits().target)
    return torch.stack([target[(int(Path(f).stem) - 1) % len(target)] for f in dataset.filenames])


def train_digit_classifier(root: Path, device: torch.device, epochs: int = 20):
    """A digit classifier (which digit, whatever the colours) trained on the real training
    images: the identity check of translations. Returns the model and its accuracy on the
    real valid images."""
    from torchgan_ext.data.celeba import CelebA
    from torchgan_ext.losses.stargan import domain_classification_loss
    from torchgan_ext.models import AttributeClassifier

    kwargs = {"crop_size": None, "image_size": None, "flip": False}
    train_set = CelebA(root, split="train", **kwargs)
    images = torch.stack([train_set[i][0] for i in range(len(train_set))]).to(device)
    digits = digit_labels(train_set).to(device)
    torch.manual_seed(0)
    model = AttributeClassifier(10, conv_dim=32, repeat_num=2).to(device)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(images), device=device).split(32):
            opt.zero_grad()
            domain_classification_loss(model(images[idx]), digits[idx]).backward()
            opt.step()
    model.eval()
    valid = CelebA(root, split="valid", **kwargs)
    with torch.no_grad():
        x = torch.stack([valid[i][0] for i in range(len(valid))]).to(device)
        acc = float((model(x).argmax(1) == digit_labels(valid).to(device)).float().mean())
    return model, acc


@torch.no_grad()
def identity_accuracy(generator, digit_model, dataset, device: torch.device) -> float:
    """Share of translations (every single-attribute flip of every image) that the digit
    classifier reads as the input's digit."""
    from torchgan_ext.models.attribute_labels import single_flip_targets

    x = torch.stack([dataset[i][0] for i in range(len(dataset))]).to(device)
    c = torch.stack([dataset[i][1] for i in range(len(dataset))]).to(device)
    digits = digit_labels(dataset).to(device)
    hits = [
        (digit_model(generator(x, t)).argmax(1) == digits).float().mean()
        for t in single_flip_targets(c, generator.exclusive_groups)
    ]
    return float(torch.stack(hits).mean())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    from torchgan_ext import load_plugins

    load_plugins()
    data = Path(args.data)
    ensure_data(data)
    if args.write_data_only:
        return 0
    runs = Path(args.runs)
    common = [f"data.args.root={data}", "logging.progress=false"]

    clf_dir = runs / "stargan_classifier_digits"
    clf_over = common + [f"out_dir={clf_dir}"]
    if args.classifier_epochs:
        clf_over.append(f"trainer.epochs={args.classifier_epochs}")
    clf, clf_seconds = train(
        ROOT / "configs" / "stargan_classifier_digits.yaml", clf_over, args.device
    )
    print(
        f"classifier: {clf.step} steps ({clf.epoch} epochs) in {clf_seconds:.0f} s; "
        f"accuracy on the valid split: {clf.metrics.get('classifier_accuracy')}"
    )

    gan_dir = runs / "stargan_digits"
    gan_over = common + [f"out_dir={gan_dir}", f"metrics.0.args.weights={clf_dir}"]
    if args.steps:
        gan_over += [f"trainer.max_steps={args.steps}"]
    gan, gan_seconds = train(ROOT / "configs" / "stargan_digits.yaml", gan_over, args.device)
    trainer = gan.trainer
    info = trainer.loss_information
    metric = trainer.metrics["AttributeAccuracy"]
    curve = [json.loads(line) for line in (gan_dir / "metrics.jsonl").read_text().splitlines()]
    generator = trainer._eval_models()["generator"]
    val_set = trainer.val_loader.dataset
    truth = ground_truth_error(generator, val_set, trainer.device)
    digit_model, digit_real = train_digit_classifier(data, trainer.device)
    digit_fake = identity_accuracy(generator, digit_model, val_set, trainer.device)

    details = metric.last_result
    print()
    print(
        f"StarGAN: {gan.step} discriminator steps, {int(info['generator_iters'])} generator "
        f"steps, {gan_seconds:.0f} s ({gan.step / gan_seconds:.1f} it/s) on {trainer.device}"
    )
    print(
        "attribute accuracy of translated images by step: "
        + ", ".join(f"{c['step']}: {c['attribute_accuracy']:.3f}" for c in curve)
    )
    print(
        f"final attribute accuracy: {details['value']:.4f} over {details['translations']} "
        f"translations of {details['images']} held-out images"
    )
    print(
        "  per target column: "
        + ", ".join(f"{k} {v:.3f}" for k, v in details["per_target"].items())
    )
    print(f"judge's accuracy on the real images: {details['real_accuracy']:.4f}")
    print(
        f"mean |translation - true target image| (0-1 scale): {truth['translation_l1']:.4f}; "
        f"references: unchanged input {truth['unchanged_l1']:.4f}, target attributes on "
        f"another digit {truth['other_digit_l1']:.4f} ({truth['pairs']} pairs)"
    )
    print(
        f"identity: a digit classifier (real valid accuracy {digit_real:.4f}) reads the input's "
        f"digit in {digit_fake:.4f} of the translations"
    )
    summary = {
        "classifier": {
            "steps": clf.step,
            "epochs": clf.epoch,
            "seconds": round(clf_seconds, 1),
            "valid_accuracy": clf.metrics.get("classifier_accuracy"),
        },
        "stargan": {
            "steps": gan.step,
            "generator_steps": int(info["generator_iters"]),
            "seconds": round(gan_seconds, 1),
            "curve": curve,
        },
        "attribute_accuracy": details,
        "ground_truth": truth,
        "identity": {"digit_accuracy_translations": digit_fake, "digit_accuracy_real": digit_real},
        "device": str(trainer.device),
        "threads": torch.get_num_threads(),
    }
    (gan_dir / "benchmark.json").write_text(json.dumps(summary, indent=2))
    print(f"summary: {gan_dir / 'benchmark.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
