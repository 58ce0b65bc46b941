"""A synthetic in-memory dataset for benchmarks and tests (a plugin module).

Load it with ``-p torchgan_ext.testing.synthetic`` (or list the module under ``plugins:``) to
get the dataset ``synthetic``: random images in [-1, 1] of any size, optionally with class
labels, attribute vectors, or low-resolution inputs, so that a paper config can be timed without
its dataset on disk. It is never registered by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._hookspecs import hookimpl

__all__ = ["Synthetic"]


class Synthetic(Dataset):
    """Random images from a fixed pool (deterministic per index).

    Args:
        image_size: Side length of the (high-resolution) images.
        channels: Image channels.
        length: Number of items.
        num_classes: Yield ``(image, class)`` with classes in ``[0, num_classes)``.
        attributes: Yield ``(image, 0/1 float vector)``; a list of names or a count.
        scale: Yield ``(lr, hr)`` with ``lr`` bicubic-downscaled by ``scale``.
        pairs: Yield ``(a, b)``, two different images of the same size (translation
            datasets; ``channels_a`` = ``channels_b`` = ``channels``).
        pool: Number of distinct images kept in memory.
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        length: int = 1024,
        num_classes: int | None = None,
        attributes: list[str] | int | None = None,
        scale: int | None = None,
        pairs: bool = False,
        pool: int = 64,
    ) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(pool, channels, image_size, image_size, generator=g) * 2 - 1
        self.length = length
        self.channels = channels
        self.image_size = image_size
        self.num_classes = num_classes
        if isinstance(attributes, int):
            attributes = [f"attr_{i}" for i in range(attributes)]
        self.attributes = attributes
        self.scale = scale
        self.pairs = pairs
        self.channels_a = self.channels_b = channels if pairs else None
        self.lr = None
        if scale:
            self.lr = F.interpolate(
                self.images, scale_factor=1 / scale, mode="bicubic", antialias=True
            ).clamp(-1, 1)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        i = index % len(self.images)
        if self.lr is not None:
            return self.lr[i], self.images[i]
        if self.pairs:
            return self.images[i], self.images[(i + 1) % len(self.images)]
        if self.attributes:
            g = torch.Generator().manual_seed(index)
            return self.images[i], torch.randint(0, 2, (len(self.attributes),), generator=g).float()
        label = index % self.num_classes if self.num_classes else 0
        return self.images[i], torch.tensor(label)


@hookimpl
def torchgan_ext_register_datasets(registry):
    registry.register("synthetic", Synthetic)
