"""Write miniature translation datasets in the pix2pix / CycleGAN authors' layouts.

* :func:`write_paired_images`: ``root/<split>/<i>.jpg|png`` with A and B side by side
  (``layout="aligned"``) or ``root/A/<split>/<i>.png`` + ``root/B/<split>/<i>.png``
  (``layout="folders"``).
* :func:`write_unpaired_images`: ``root/trainA``, ``root/trainB``, ``root/testA``,
  ``root/testB``.

In the paired fakes, B is A's colour negative (``255 - A``), so tests can check that crops and
flips keep the two halves aligned: ``a + b == 0`` after scaling to [-1, 1].
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["write_paired_images", "write_unpaired_images"]


def _image(rng: np.random.Generator, size: int) -> np.ndarray:
    # smooth content (so resizing keeps A and B exact negatives within rounding)
    base = rng.integers(0, 256, size=(4, 4, 3), dtype=np.uint8)
    return np.kron(base, np.ones((size // 4, size // 4, 1), dtype=np.uint8))


def write_paired_images(
    root: str | os.PathLike,
    splits: Mapping[str, int] | None = None,
    size: int = 16,
    layout: str = "aligned",
    seed: int = 0,
) -> Path:
    """Write image pairs (B = 255 - A) of ``size`` x ``size`` pixels.

    Args:
        root: The dataset folder to create.
        splits: ``{split: number of pairs}``; default ``{"train": 4, "val": 2}``.
        size: Side of each image (a multiple of 4).
        layout: ``aligned`` (one ``size`` x ``2 size`` PNG per pair) or ``folders``
            (``A/<split>`` and ``B/<split>``).
        seed: Seed of the pixel values.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    base = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (splits or {"train": 4, "val": 2}).items():
        for i in range(count):
            a = _image(rng, size)
            b = 255 - a
            if layout == "aligned":
                folder = base / split
                folder.mkdir(parents=True, exist_ok=True)
                pair = np.concatenate([a, b], axis=1)
                Image.fromarray(pair).save(folder / f"{i:04d}.png")
            else:
                for side, pixels in (("A", a), ("B", b)):
                    folder = base / side / split
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return base


def write_unpaired_images(
    root: str | os.PathLike,
    counts: Mapping[str, int] | None = None,
    size: int = 16,
    seed: int = 0,
) -> Path:
    """Write two unpaired domains: ``trainA``/``trainB``/``testA``/``testB``.

    Domain A images are dark (values < 128), domain B images bright (>= 128).

    Args:
        root: The dataset folder to create.
        counts: ``{folder: number of images}``; default 3 in ``trainA``, 5 in ``trainB``, 2
            in ``testA`` and ``testB``.
        size: Side of the images (a multiple of 4).
        seed: Seed of the pixel values.
    """
    base = Path(root)
    rng = np.random.default_rng(seed)
    counts = counts or {"trainA": 3, "trainB": 5, "testA": 2, "testB": 2}
    for folder, count in counts.items():
        (base / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = _image(rng, size) // 2
            if folder.endswith("B"):
                pixels = pixels + 128
            Image.fromarray(pixels.astype(np.uint8)).save(base / folder / f"{i:04d}.png")
    return base
