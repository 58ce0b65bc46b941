"""Any folder tree of images as a GAN dataset, with optional class labels from subfolders."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torchvision.datasets import VisionDataset

from ._io import (
    IMAGE_EXTENSIONS,
    center_crop_box,
    check_bool,
    coin,
    read_image,
    resize_image,
    single_threaded,
    size_pair,
    to_unit_range,
)
from .cache_key import CachePlan
from .jpeg_batches import JpegPlan

__all__ = ["ImageFolder", "list_images", "cover_size"]


def list_images(root: Path, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Image files below ``root`` (recursively, symlinks followed), sorted by path.

    Hidden files and folders (``.name``) are skipped.
    """
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith(".") and name.lower().endswith(tuple(extensions)):
                found.append(Path(folder) / name)
    return sorted(found)


def cover_size(size: Sequence[int], out: tuple[int, int]) -> tuple[int, int]:
    """The smallest size with the aspect ratio of ``size`` that covers ``out`` (h, w)."""
    h, w = size
    scale = max(out[0] / h, out[1] / w)
    return max(out[0], round(h * scale)), max(out[1], round(w * scale))


class ImageFolder(VisionDataset):
    """Images found anywhere below ``root``, optionally labelled by their top-level folder.

    Each image is resized (bilinear, antialiased, aspect kept) so that it covers
    ``image_size``, center-cropped to it, optionally flipped at random and scaled to [-1, 1] —
    the usual DCGAN preprocessing. Files are sorted by path; JPEG, PNG and WebP are read.

    Layout with ``labels: true`` (classes are the sorted folder names)::

        root/cat/0001.jpg  root/cat/more/0002.png  root/dog/0003.jpg ...

    Args:
        root: The folder.
        image_size: Output size, an int (square) or ``[height, width]``; ``None`` keeps each
            image's own size (then use batch size 1 unless all sizes agree).
        labels: Yield ``(image, class index)`` with classes from the first-level folders.
        channels: 3 (RGB) or 1 (grey).
        flip: Random horizontal flips (torch's RNG).
        extensions: File endings to read (default ``.jpg .jpeg .png .webp``).

    Attributes:
        channels, image_size: Taken over by models.
        num_classes, classes: With ``labels: true``: the number and names of the classes.
        files, targets: The image paths and (with labels) their class indices.
    """

    def __init__(
        self,
        root: str,
        image_size: int | Sequence[int] | None = 64,
        labels: bool = False,
        channels: int = 3,
        flip: bool = False,
        extensions: Sequence[str] | None = None,
    ) -> None:
        if root is None or not isinstance(root, str | os.PathLike):
            raise TypeError(f"root: expected a directory path, got {root!r}")
        base = Path(root).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(
                f"root: image folder {base} does not exist; expected a folder of images "
                "(with labels: one subfolder per class)"
            )
        super().__init__(os.fspath(base))
        self.size = size_pair(image_size, "image_size")
        self.labelled = check_bool(labels, "labels")
        self.flip = check_bool(flip, "flip")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels: must be 1 or 3, got {channels!r}")
        self.channels = channels
        exts = self._extensions(extensions)
        self.files = list_images(base, exts)
        if not self.files:
            raise FileNotFoundError(f"root: no images ({', '.join(exts)}) found below {base}")
        self.targets: list[int] = []
        self.classes: list[str] | None = None
        self.num_classes: int | None = None
        if self.labelled:
            loose = [f for f in self.files if f.parent == base]
            if loose:
                raise ValueError(
                    f"labels: {len(loose)} images lie directly in {base}, outside any class "
                    f"folder (first: {loose[0]}); move them into a class folder or set "
                    "labels: false"
                )
            rel = [f.relative_to(base).parts[0] for f in self.files]
            self.classes = sorted(set(rel))
            index = {c: i for i, c in enumerate(self.classes)}
            self.targets = [index[c] for c in rel]
            self.num_classes = len(self.classes)
        out = self.size
        self.image_size = None if out is None else (out[0] if out[0] == out[1] else out)

    @staticmethod
    def _extensions(extensions: Sequence[str] | None) -> tuple[str, ...]:
        if extensions is None:
            return IMAGE_EXTENSIONS
        if isinstance(extensions, str) or not all(isinstance(e, str) for e in extensions):
            raise TypeError(
                f"extensions: expected a list of file endings such as ['.jpg'], got {extensions!r}"
            )
        exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        unknown = [e for e in exts if e not in IMAGE_EXTENSIONS]
        if unknown:
            raise ValueError(
                f"extensions: cannot decode {', '.join(unknown)}; readable: "
                f"{', '.join(IMAGE_EXTENSIONS)}"
            )
        return exts

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> torch.Tensor:
        """The ``uint8`` image ``index`` resized and center-cropped (no flip)."""
        image = read_image(self.files[index], self.channels)
        if self.size is not None:
            image = resize_image(image, cover_size(image.shape[-2:], self.size))
            top, left = center_crop_box(image.shape[-2], image.shape[-1], self.size)
            image = image[:, top : top + self.size[0], left : left + self.size[1]]
        return image

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: the resized and
        center-cropped ``uint8`` images (and class indices); flips stay random per step."""
        if self.size is None:
            raise ValueError(
                "dir: image_folder with image_size: null keeps each image's own size; set "
                "image_size to cache it"
            )
        h, w = self.size
        return CachePlan(
            kind="image_folder",
            root=Path(self.root),
            files=list(self.files),
            params={"image_size": self.size, "channels": self.channels},
            fields={"image": ((h, w, self.channels), "uint8")},
            load=self._cache_load,
            finish=self._cache_finish,
            labels=torch.tensor(self.targets, dtype=torch.int64) if self.labelled else None,
            flip=self.flip,
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.load(index)}

    def jpeg_plan(self) -> JpegPlan:
        """How :class:`~torchgan_ext.data.jpeg_batches.JpegFiles` decodes the items on the
        training device (``data.decode: cuda``; RGB JPEG files)."""
        if self.size is None or self.channels != 3:
            raise ValueError(
                "decode: image_folder decodes on the GPU with channels: 3 and an image_size"
            )
        labels = torch.tensor(self.targets, dtype=torch.int64) if self.labelled else None
        files = [os.fspath(f) for f in self.files]
        return JpegPlan(files, labels, None, self.size, cover=True, flip=self.flip)

    @staticmethod
    def _cache_finish(fields: dict[str, torch.Tensor], labels: torch.Tensor | None) -> object:
        return fields["image"] if labels is None else [fields["image"], labels]

    @single_threaded
    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        image = self.load(index)
        if self.flip and coin():
            image = image.flip(-1)
        image = to_unit_range(image)
        if self.labelled:
            return image, torch.tensor(self.targets[index])
        return image
