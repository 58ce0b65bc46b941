"""Super-resolution pairs: high-resolution crops and their bicubic downscales.

The standard single-image super-resolution protocol (e.g. `SRGAN <https://arxiv.org/abs/1609.04802>`_,
Ledig et al., CVPR 2017): random ``crop_size`` crops of high-resolution images are the targets,
and the inputs are the same crops downscaled by ``scale`` with antialiased bicubic
interpolation (the ``imresize`` kernel, a = -0.5, that MATLAB and PIL use).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .._validation import check_int, check_positive_int
from ._io import (
    center_crop_box,
    check_bool,
    check_choice,
    coin,
    random_crop_box,
    read_image,
    single_threaded,
    to_unit_range,
)
from .cache_key import CachePlan
from .image_folder import list_images

__all__ = ["SuperResolution", "bicubic_downscale"]

_CROPS = ("random", "center", "none")


def bicubic_downscale(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale of ``[..., C, H, W]`` (float, [-1, 1]) by ``scale``.

    ``H`` and ``W`` must be multiples of ``scale``; the result is clamped to [-1, 1].
    """
    h, w = hr.shape[-2:]
    flat = hr.reshape(-1, *hr.shape[-3:])
    lr = F.interpolate(
        flat, size=(h // scale, w // scale), mode="bicubic", align_corners=False, antialias=True
    )
    return lr.clamp_(-1.0, 1.0).reshape(*hr.shape[:-2], h // scale, w // scale)


class SuperResolution(Dataset):
    """``(lr, hr)`` pairs cut from a folder of images or from another registered dataset.

    Args:
        root: A folder of high-resolution images (searched recursively; JPEG/PNG/WebP).
        dataset: Instead of ``root``: another dataset, whose images (the first element of
            each item) are the high-resolution source. In a config file it is written as
            ``{name: cityscapes, args: {...}}`` and the launcher builds it.
        scale: Downscaling factor (2, 3, 4, ...).
        crop_size: Side of the square high-resolution crop; a multiple of ``scale``.
            Default 96 (SRGAN).
        crop: ``random`` (training), ``center`` (a fixed validation crop) or ``none`` (whole
            images trimmed to a multiple of ``scale``; use batch size 1 unless sizes agree).
        flip: Random horizontal flips with ``crop: random``.
        repeats: Visit every image this many times per epoch (small sets such as DIV2K).

    Yields:
        ``(lr, hr)``: ``[C, crop/scale, crop/scale]`` and ``[C, crop, crop]``, both in [-1, 1].

    Attributes:
        channels: 3 (or the source dataset's).
        image_size: ``crop_size`` (``None`` with ``crop: none``).
        scale, lr_size: The factor and the low-resolution side.
    """

    def __init__(
        self,
        root: str | None = None,
        dataset: Dataset | dict[str, Any] | None = None,
        scale: int = 4,
        crop_size: int = 96,
        crop: str = "random",
        flip: bool = True,
        repeats: int = 1,
    ) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int):
            raise TypeError(f"scale: must be an integer >= 2 (2, 3 or 4 usually), got {scale!r}")
        if scale < 2:
            raise ValueError(f"scale: must be an integer >= 2 (2, 3 or 4 usually), got {scale!r}")
        self.mode = check_choice(crop, _CROPS, "crop", "crop")
        check_int(crop_size, "crop_size", minimum=scale)
        if crop_size % scale:
            raise ValueError(
                f"crop_size: {crop_size} is not a multiple of scale {scale} (try "
                f"{crop_size - crop_size % scale})"
            )
        check_positive_int(repeats, "repeats")
        self.flip = check_bool(flip, "flip") and self.mode == "random"
        self.scale, self.crop_size, self.repeats = scale, crop_size, repeats
        if (root is None) == (dataset is None):
            raise ValueError(
                "root: give exactly one of root (a folder of images) or dataset "
                "(a dataset; in a config {name: ..., args: {...}})"
            )
        self.source: Dataset | None = None
        self.files: list[Path] = []
        self.root: Path | None = None
        if dataset is not None:
            if isinstance(dataset, SuperResolution):
                raise ValueError("dataset: a super_resolution source cannot be nested")
            if (
                isinstance(dataset, str | bytes | dict)
                or not hasattr(dataset, "__getitem__")
                or not hasattr(dataset, "__len__")
            ):
                raise TypeError(
                    "dataset: expected a dataset (in a config {name: <dataset>, args: {...}}), "
                    f"got {dataset!r}"
                )
            self.source = dataset
            self.channels = getattr(self.source, "channels", 3)
        else:
            if not isinstance(root, str | os.PathLike):
                raise TypeError(f"root: expected a directory path, got {root!r}")
            base = Path(root).expanduser()
            if not base.is_dir():
                raise FileNotFoundError(
                    f"root: image folder {base} does not exist; expected a folder of "
                    "high-resolution images"
                )
            self.files = list_images(base)
            self.root = base
            if not self.files:
                raise FileNotFoundError(f"root: no images (.jpg, .png, .webp) found below {base}")
            self.channels = 3
        self.image_size = None if self.mode == "none" else crop_size
        self.lr_size = None if self.mode == "none" else crop_size // scale

    def __len__(self) -> int:
        n = len(self.source) if self.source is not None else len(self.files)
        return n * self.repeats

    def _where(self, index: int) -> str:
        if self.source is not None:
            return f"item {index} of the source dataset"
        return os.fspath(self.files[index])

    def _window(self, image: torch.Tensor, index: int) -> torch.Tensor:
        h, w = image.shape[-2:]
        if self.mode == "none":
            return image[:, : h - h % self.scale, : w - w % self.scale]
        c = self.crop_size
        if c > h or c > w:
            raise ValueError(
                f"crop_size: {self._where(index)} is {h}x{w} (height x width), smaller than "
                f"crop_size {c}"
            )
        box = random_crop_box if self.mode == "random" else center_crop_box
        top, left = box(h, w, (c, c))
        return image[:, top : top + c, left : left + c]

    @single_threaded
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index = index % (n // self.repeats)  # each image is visited `repeats` times
        if self.source is not None:
            item = self.source[index]
            image = item[0] if isinstance(item, tuple | list) else item
            hr = self._window(image, index)
        else:
            hr = to_unit_range(self._window(read_image(self.files[index], 3), index))
        if self.flip and coin():
            hr = hr.flip(-1)
        hr = hr.contiguous()
        return bicubic_downscale(hr, self.scale), hr

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: the ``uint8`` center
        crops of ``crop: center`` (a validation set); the low-resolution inputs are computed
        per batch from them, as without the cache.

        Random crops of whole images are not cached: high-resolution sets (DIV2K) hold images
        of different sizes, which do not fit one ``N x H x W x C`` array, and the crop is the
        random part; nor is a ``dataset:`` source (cache that dataset's own images instead).
        """
        if self.source is not None or self.mode != "center" or self.repeats != 1:
            raise ValueError(
                "dir: super_resolution is cached only with root, crop: center and repeats: 1 "
                "(the fixed crops of a validation set); random crops of whole images of "
                "different sizes do not fit one N x H x W x C array"
            )
        c = self.crop_size
        return CachePlan(
            kind="super_resolution",
            root=Path(self.root or "."),
            files=list(self.files),
            params={"crop_size": c, "scale": self.scale, "crop": self.mode},
            fields={"hr": ((c, c, 3), "uint8")},
            load=self._cache_load,
            finish=self._cache_finish,
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        return {"hr": self._window(read_image(self.files[index], 3), index)}

    def _cache_finish(self, fields: dict[str, torch.Tensor], labels: object) -> list:
        hr = to_unit_range(fields["hr"])
        return [bicubic_downscale(hr, self.scale), hr]
