"""A generated attribute dataset in CelebA format: coloured handwritten digits.

Small enough to train StarGAN and its judge on a CPU in minutes, with attributes that are
visible, exact and independent of the identity (the digit):

* ``Black_Hair`` / ``Blond_Hair`` / ``Brown_Hair`` (an exclusive group, exactly one is set):
  the stroke colour, red / green / blue;
* ``Male``: the background, mid grey instead of near black;
* ``Young``: a light one-pixel frame around the image.

The digits are scikit-learn's 1797 bundled 8x8 images (offline), upsampled to ``size``; image
``i`` shows digit image ``i % 1797``. Images are written as PNG (JPEG's chroma subsampling
would smear one-pixel colours at 16x16) in the official CelebA layout, so the ``celeba``
dataset reads them (``crop_size: null``).

Example:
    >>> from torchgan_ext.testing import write_attribute_digits
    >>> fake = write_attribute_digits(tmp_path, num_images=20)  # data.args.root
    >>> fake.attributes
    ['Black_Hair', 'Blond_Hair', 'Brown_Hair', 'Male', 'Young']
    >>> fake.labels[:, :3].sum(axis=1).tolist() == [1] * 20  # exactly one hair colour
    True
    >>> sorted(p.name for p in (tmp_path / "celeba" / "img_align_celeba").iterdir())[:2]
    ['000001.png', '000002.png']
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .celeba import FakeCelebA, write_celeba

__all__ = [
    "ATTRIBUTE_DIGITS_ATTRIBUTES",
    "STROKE_COLORS",
    "attribute_digit_labels",
    "draw_attribute_digit",
    "write_attribute_digits",
]

#: Attribute names, in file order (the StarGAN CelebA selection).
ATTRIBUTE_DIGITS_ATTRIBUTES: tuple[str, ...] = (
    "Black_Hair",
    "Blond_Hair",
    "Brown_Hair",
    "Male",
    "Young",
)
#: Stroke colour of each hair attribute (RGB).
STROKE_COLORS: dict[str, tuple[int, int, int]] = {
    "Black_Hair": (235, 45, 45),
    "Blond_Hair": (45, 215, 70),
    "Brown_Hair": (55, 95, 245),
}
_BACKGROUND = {False: (15, 15, 15), True: (125, 125, 125)}
_FRAME = (235, 235, 235)
_DIGITS: torch.Tensor | None = None


def _digits() -> torch.Tensor:
    global _DIGITS
    if _DIGITS is None:
        from sklearn.datasets import load_digits

        _DIGITS = torch.from_numpy(load_digits().images).float().div_(16.0)
    return _DIGITS


def attribute_digit_labels(num_images: int, seed: int = 0) -> np.ndarray:
    """Random labels ``[num_images, 5]`` (int8 0/1): one hair colour, ``Male`` and ``Young``
    each with probability 1/2."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((num_images, len(ATTRIBUTE_DIGITS_ATTRIBUTES)), dtype=np.int8)
    labels[np.arange(num_images), rng.integers(0, 3, num_images)] = 1
    labels[:, 3:] = rng.random((num_images, 2)) < 0.5
    return labels


def draw_attribute_digit(
    index: int, attributes: Mapping[str, bool], size: tuple[int, int]
) -> np.ndarray:
    """The ``uint8 [H, W, 3]`` image of row ``index`` with the given attributes (a
    :func:`~torchgan_ext.testing.write_celeba` ``draw`` function)."""
    digits = _digits()
    stroke = digits[index % len(digits)][None, None]
    stroke = F.interpolate(stroke, size=size, mode="bilinear", antialias=True, align_corners=False)
    s = stroke[0, 0].clamp(0, 1)[..., None]
    hair = [a for a in STROKE_COLORS if attributes.get(a)]
    if len(hair) != 1:
        raise ValueError(f"image {index}: exactly one hair colour must be set, got {hair}")
    colour = torch.tensor(STROKE_COLORS[hair[0]], dtype=torch.float32)
    background = torch.tensor(_BACKGROUND[bool(attributes.get("Male"))], dtype=torch.float32)
    image = background * (1 - s) + colour * s
    if attributes.get("Young"):
        frame = torch.tensor(_FRAME, dtype=torch.float32)
        image[0, :] = image[-1, :] = frame
        image[:, 0] = image[:, -1] = frame
    return image.round().clamp(0, 255).to(torch.uint8).numpy()


def write_attribute_digits(
    root: str | os.PathLike,
    num_images: int = 1797,
    size: int = 16,
    seed: int = 0,
    partition: Sequence[int] | None = (8, 1, 1),
    subdir: str | None = "celeba",
) -> FakeCelebA:
    """Write the coloured-digits attribute dataset in CelebA format under ``root/subdir``.

    Args:
        root: Where to write (``data.args.root``).
        num_images: Number of images (``1797`` uses every bundled digit once).
        size: Image side (a multiple of 4 for StarGAN).
        seed: Seed of the labels.
        partition: Relative train/valid/test sizes (contiguous, in file order).
        subdir: Folder created under ``root``.
    """
    return write_celeba(
        root,
        num_images,
        attributes=ATTRIBUTE_DIGITS_ATTRIBUTES,
        labels=attribute_digit_labels(num_images, seed),
        size=(size, size),
        partition=partition,
        subdir=subdir,
        extra_files=False,
        draw=draw_attribute_digit,
        image_format="png",
    )
