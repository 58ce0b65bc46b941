"""Small real translation tasks made from scikit-learn's bundled handwritten digits (offline).

Both are written in the authors' layouts, so the shipped datasets read them:

* :func:`write_edges2digits` (pix2pix, ``paired_images`` aligned ``A|B``): the input is the
  binary outline of a digit, the target the digit itself, as the paper's edges2shoes /
  edges2handbags (edge map -> object) on handwriting. The last 297 digits (scikit-learn's
  ``test`` split of :class:`~torchgan_ext.data.digits.Digits`) are the held-back ``val`` pairs.
* :func:`write_stroke_digits` (CycleGAN, ``unpaired_images``): domain A holds thin-stroke
  digits, domain B bold-stroke digits (grey erosion / dilation of the same kind of digits),
  a local style change as the paper's horse <-> zebra. The training digits are split in two
  disjoint halves, one per domain, so no image has its counterpart in the other domain; the
  297 held-back digits appear in both ``testA`` and ``testB`` (for judging only).

Digits are upsampled (bilinear, antialiased) from 8x8 to ``size`` (32: the smallest size the
U-Net takes) and written as 8-bit PNG. :func:`digit_split` gives the labels of each split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "NUM_HELD_BACK",
    "digit_images",
    "digit_split",
    "outline",
    "stroke_width",
    "write_edges2digits",
    "write_stroke_digits",
]

#: Digits held back for evaluation (scikit-learn's last 297, as the ``digits`` test split).
NUM_HELD_BACK = 297


def digit_images(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits as ``[N, 1, size, size]`` floats in [0, 1] and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
    images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
    return images.clamp_(0, 1), torch.from_numpy(bunch.target).long()


def digit_split(split: str, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``train`` (first 1500) or ``held_back`` (last 297) digits and labels."""
    images, labels = digit_images(size)
    n = len(labels) - NUM_HELD_BACK
    return (images[:n], labels[:n]) if split == "train" else (images[n:], labels[n:])


def outline(images: torch.Tensor, threshold: float = 0.35) -> torch.Tensor:
    """Binary outlines ``{0, 1}``: the morphological gradient (3x3 dilation minus erosion)
    of the thresholded digit."""
    mask = (images > threshold).float()
    dilated = F.max_pool2d(mask, 3, 1, 1)
    eroded = -F.max_pool2d(-mask, 3, 1, 1)
    return dilated - eroded


def stroke_width(images: torch.Tensor, bold: bool) -> torch.Tensor:
    """Bold (3x3 grey dilation) or thin (3x3 grey erosion) strokes."""
    if bold:
        return F.max_pool2d(images, 3, 1, 1)
    return -F.max_pool2d(-images, 3, 1, 1)


def _save(image: torch.Tensor, path: Path) -> None:
    pixels = (image.squeeze(0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    Image.fromarray(np.ascontiguousarray(pixels), mode="L").save(path)


def write_edges2digits(root: str | os.PathLike, size: int = 32) -> Path:
    """Write ``root/train`` (1500) and ``root/val`` (297) aligned outline|digit pairs."""
    base = Path(root)
    for split, folder in (("train", "train"), ("held_back", "val")):
        images, _ = digit_split(split, size)
        (base / folder).mkdir(parents=True, exist_ok=True)
        pairs = torch.cat([outline(images), images], dim=-1)
        for i, pair in enumerate(pairs):
            _save(pair, base / folder / f"{i:04d}.png")
    return base


def write_stroke_digits(root: str | os.PathLike, size: int = 32) -> Path:
    """Write ``trainA`` (750 thin), ``trainB`` (750 bold, other digits), ``testA`` and
    ``testB`` (the 297 held-back digits, thin and bold)."""
    base = Path(root)
    train, _ = digit_split("train", size)
    held, _ = digit_split("held_back", size)
    half = len(train) // 2
    folders = {
        "trainA": stroke_width(train[:half], bold=False),
        "trainB": stroke_width(train[half:], bold=True),
        "testA": stroke_width(held, bold=False),
        "testB": stroke_width(held, bold=True),
    }
    for folder, images in folders.items():
        (base / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            _save(image, base / folder / f"{i:04d}.png")
    return base
