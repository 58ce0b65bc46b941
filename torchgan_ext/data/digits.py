"""The embedded default dataset: scikit-learn's 1797 handwritten digits (8x8, bundled, offline).

The images ship inside the scikit-learn wheel (``sklearn.datasets.load_digits``), so the
quickstart runs on a machine with no network and no data directory.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_choice, check_int

__all__ = ["Digits"]

_SPLITS = ("train", "test", "all")


class Digits(Dataset):
    """scikit-learn's handwritten digits as a GAN dataset, yielding ``(image, label)``.

    Images are upsampled (bilinear, antialiased) from 8x8 to ``image_size`` and scaled to
    [-1, 1]. The last 297 images (one sixth) form the ``test`` split.

    Args:
        image_size: Output side length (>= 8).
        channels: 1 (grey) or 3 (the grey image repeated).
        split: ``train`` (1500 images), ``test`` (297) or ``all`` (1797).
        digits: Keep only these classes (default all ten).

    Attributes:
        channels, image_size, num_classes: Taken over by models (``out_channels`` ...).
    """

    num_test = 297

    def __init__(
        self,
        image_size: int = 16,
        channels: int = 1,
        split: str = "train",
        digits: list[int] | None = None,
    ) -> None:
        from sklearn.datasets import load_digits

        check_choice(split, "split", _SPLITS, "split")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels: must be 1 or 3, got {channels!r}")
        check_int(image_size, "image_size", minimum=8)
        bunch = load_digits()
        images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
        labels = torch.from_numpy(bunch.target).long()
        n = len(labels)
        if split == "train":
            sel = slice(0, n - self.num_test)
        elif split == "test":
            sel = slice(n - self.num_test, n)
        else:
            sel = slice(0, n)
        images, labels = images[sel], labels[sel]
        if digits is not None:
            bad = [d for d in digits if d not in range(10)]
            if bad:
                raise ValueError(f"digits: must be in 0..9, got {bad}")
            keep = torch.isin(labels, torch.tensor(digits))
            images, labels = images[keep], labels[keep]
        if image_size != 8:
            images = F.interpolate(
                images,
                size=(image_size, image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            ).clamp_(0.0, 1.0)
        images = images.mul_(2.0).sub_(1.0)
        if channels == 3:
            images = images.repeat(1, 3, 1, 1)
        self.images = images.contiguous()
        self.labels = labels
        self.image_size = image_size
        self.channels = channels
        self.num_classes = 10

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]
