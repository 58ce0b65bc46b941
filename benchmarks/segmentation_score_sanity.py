"""Sanity check of ``segmentation_score`` on synthetic scenes (CPU, about two minutes).

Not a Cityscapes figure: no Cityscapes copy is available offline. A miniature Cityscapes tree
(``torchgan_ext.testing.write_cityscapes``, 64 training and 16 val frames of 64x64) is written
whose photos are a known rendering of their label maps (each label's official colour, a random
brightness per image and Gaussian pixel noise). The judge is trained on the training photos
by the shipped ``configs/segmentation_cityscapes.yaml`` (sizes scaled down), loaded back from
its run directory by ``segmentation_score_from_run``, and scores hand-made "generators" of the val
split's label maps whose quality is known by construction: the rendering process itself (a
perfect generator of the photo distribution), the same rendering blurred, the same rendering
with classes swapped, and a constant grey image. A working score puts them in that order, the
perfect renderer close to the real photos.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/segmentation_score_sanity.py [--out runs/segscore_sanity]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from torchgan_ext import config, run
from torchgan_ext.data.cityscapes import CITYSCAPES_CLASSES, Cityscapes, train_ids_to_color
from torchgan_ext.metrics.segmentation_labels import TRAIN_ID_COLORS
from torchgan_ext.plugins.segmentation_runs import segmentation_score_from_run
from torchgan_ext.testing import write_cityscapes

ROOT = Path(__file__).resolve().parents[1]
_PALETTE = np.zeros((256, 3), np.float32)
for _c in CITYSCAPES_CLASSES:
    if _c.id >= 0:
        _PALETTE[_c.id] = _c.color
NOISE, BRIGHTNESS = 40.0, (0.7, 1.3)


def draw(label_ids: np.ndarray, index: int) -> np.ndarray:
    """The 'camera': label colour x brightness + Gaussian noise."""
    rng = np.random.default_rng(1000 + index)
    image = _PALETTE[label_ids] * rng.uniform(*BRIGHTNESS) + rng.normal(
        0, NOISE, (*label_ids.shape, 3)
    )
    return image.clip(0, 255).astype(np.uint8)


class Renderer(nn.Module):
    """The same rendering applied to a colour label input in [-1, 1] (train-id colours)."""

    def __init__(self, blur: int = 1, swap: dict[int, int] | None = None) -> None:
        super().__init__()
        self.blur = blur
        table = torch.arange(len(TRAIN_ID_COLORS) + 1)
        for a, b in (swap or {}).items():
            table[a], table[b] = b, a
        colors = torch.tensor([*TRAIN_ID_COLORS, (0, 0, 0)], dtype=torch.float32)
        self.register_buffer("colors", colors[table])
        self.g = torch.Generator().manual_seed(7)

    def forward(self, label: torch.Tensor) -> torch.Tensor:
        rgb = (label + 1) * 127.5
        codes = torch.stack([torch.tensor(c) for c in (*TRAIN_ID_COLORS, (0, 0, 0))]).float()
        index = torch.cdist(rgb.permute(0, 2, 3, 1).reshape(-1, 3), codes).argmin(1)
        out = self.colors[index].view(*label.shape[:1], *label.shape[2:], 3).permute(0, 3, 1, 2)
        gain = torch.empty(label.size(0), 1, 1, 1).uniform_(*BRIGHTNESS, generator=self.g)
        out = out * gain + torch.randn(out.shape, generator=self.g) * NOISE
        out = out.clamp(0, 255) / 127.5 - 1
        if self.blur > 1:
            out = F.avg_pool2d(out, self.blur, 1, self.blur // 2, count_include_pad=False)
        return out


class Constant(nn.Module):
    def forward(self, label: torch.Tensor) -> torch.Tensor:
        return torch.zeros(label.size(0), 3, *label.shape[2:])


class Pairs(Dataset):
    """``(colour label map, photo)`` of the val split, as the label -> photo pairs yield."""

    label_format = "color"

    def __init__(self, root: Path, size: int) -> None:
        self.base = Cityscapes(root, "val", target="train_ids", image_size=[size, size])

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        image, ids = self.base[i]
        return train_ids_to_color(ids), image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/segscore_sanity")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    out = Path(args.out)
    torch.manual_seed(0)
    fake = write_cityscapes(
        out / "data", images={"train": 64, "val": 16}, size=(64, 64), block=8, draw=draw
    )
    start = time.perf_counter()
    cfg = config.load_config(
        ROOT / "configs" / "segmentation_cityscapes.yaml",
        [
            f"out_dir={out / 'judge'}",
            f"data.args.root={fake.root}",
            "data.args.image_size=[72, 72]",
            "data.args.crop_size=64",
            "data.val.args.image_size=[64, 64]",
            "data.loader.num_workers=0",
            "models.segmenter.args.width=16",
            "models.segmenter.args.depth=3",
            f"models.segmenter.scheduler.args.T_max={args.epochs}",
            f"trainer.epochs={args.epochs}",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    result = run(cfg)
    train_s = time.perf_counter() - start
    print(f"judge: {result.step} steps in {train_s:.1f} s; val {result.metrics}")

    metric = segmentation_score_from_run(weights=str(out / "judge"), max_images=None)
    loader = DataLoader(Pairs(fake.root, 64), batch_size=8)
    swap = {0: 1, 2: 13, 8: 10}  # road<->sidewalk, building<->car, vegetation<->sky
    generators = {
        "renderer (the photos' own process)": Renderer(),
        "renderer, 5x5 blur": Renderer(blur=5),
        "renderer, 3 class pairs swapped": Renderer(swap=swap),
        "constant grey": Constant(),
    }
    print("| generator | per-pixel acc. | per-class acc. | class IoU | seconds |")
    print("|---|---|---|---|---|")
    real = None
    for name, gen in generators.items():
        t = time.perf_counter()
        metric.metric_ops("cpu", generator=gen.eval(), val_loader=loader)
        r = metric.last_result
        real = r["real"]
        print(
            f"| {name} | {r['pixel_accuracy']:.3f} | {r['class_accuracy']:.3f} | "
            f"{r['class_iou']:.3f} | {time.perf_counter() - t:.2f} |"
        )
    assert real is not None
    print(
        f"| real photos (ground truth) | {real['pixel_accuracy']:.3f} | "
        f"{real['class_accuracy']:.3f} | {real['class_iou']:.3f} | |"
    )
    print(f"{r['images']} val images of 64x64, {r['pixels']} scored pixels")


if __name__ == "__main__":
    main()
