"""Cityscapes street scenes with paired targets (label ids, train ids, colours, instances).

`Cityscapes <https://www.cityscapes-dataset.com/>`_ (Cordts et al., CVPR 2016) is the standard
set for semantic image synthesis and image-to-image translation (pix2pix, SPADE) and a common
source of high-resolution crops for super-resolution. This loader reads the official layout,
applies the same random crop and flip to the image and its target (nearest-neighbour for label
maps) and maps the 34 label ids to the 19 training classes (255 = ignore).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torchvision.datasets import VisionDataset

from ._io import (
    center_crop_box,
    check_bool,
    check_choice,
    coin,
    dataset_root,
    random_crop_box,
    read_image,
    resize_image,
    resize_label,
    single_threaded,
    size_pair,
    to_unit_range,
)
from .cache_key import CachePlan

__all__ = [
    "Cityscapes",
    "CityscapesClass",
    "CITYSCAPES_CLASSES",
    "IGNORE_INDEX",
    "TRAIN_CLASS_NAMES",
    "label_ids_to_train_ids",
    "train_ids_to_color",
    "label_ids_to_color",
]

IGNORE_INDEX = 255


class CityscapesClass(NamedTuple):
    """One row of the official label table (``cityscapesscripts/helpers/labels.py``)."""

    name: str
    id: int
    train_id: int
    category: str
    category_id: int
    has_instances: bool
    ignore_in_eval: bool
    color: tuple[int, int, int]


def _c(name, id_, train_id, category, cat_id, inst, ignore, color) -> CityscapesClass:
    return CityscapesClass(name, id_, train_id, category, cat_id, inst, ignore, color)


#: The 34 label ids (plus ``license plate``, id -1) with train ids and colours.
CITYSCAPES_CLASSES: tuple[CityscapesClass, ...] = (
    _c("unlabeled", 0, 255, "void", 0, False, True, (0, 0, 0)),
    _c("ego vehicle", 1, 255, "void", 0, False, True, (0, 0, 0)),
    _c("rectification border", 2, 255, "void", 0, False, True, (0, 0, 0)),
    _c("out of roi", 3, 255, "void", 0, False, True, (0, 0, 0)),
    _c("static", 4, 255, "void", 0, False, True, (0, 0, 0)),
    _c("dynamic", 5, 255, "void", 0, False, True, (111, 74, 0)),
    _c("ground", 6, 255, "void", 0, False, True, (81, 0, 81)),
    _c("road", 7, 0, "flat", 1, False, False, (128, 64, 128)),
    _c("sidewalk", 8, 1, "flat", 1, False, False, (244, 35, 232)),
    _c("parking", 9, 255, "flat", 1, False, True, (250, 170, 160)),
    _c("rail track", 10, 255, "flat", 1, False, True, (230, 150, 140)),
    _c("building", 11, 2, "construction", 2, False, False, (70, 70, 70)),
    _c("wall", 12, 3, "construction", 2, False, False, (102, 102, 156)),
    _c("fence", 13, 4, "construction", 2, False, False, (190, 153, 153)),
    _c("guard rail", 14, 255, "construction", 2, False, True, (180, 165, 180)),
    _c("bridge", 15, 255, "construction", 2, False, True, (150, 100, 100)),
    _c("tunnel", 16, 255, "construction", 2, False, True, (150, 120, 90)),
    _c("pole", 17, 5, "object", 3, False, False, (153, 153, 153)),
    _c("polegroup", 18, 255, "object", 3, False, True, (153, 153, 153)),
    _c("traffic light", 19, 6, "object", 3, False, False, (250, 170, 30)),
    _c("traffic sign", 20, 7, "object", 3, False, False, (220, 220, 0)),
    _c("vegetation", 21, 8, "nature", 4, False, False, (107, 142, 35)),
    _c("terrain", 22, 9, "nature", 4, False, False, (152, 251, 152)),
    _c("sky", 23, 10, "sky", 5, False, False, (70, 130, 180)),
    _c("person", 24, 11, "human", 6, True, False, (220, 20, 60)),
    _c("rider", 25, 12, "human", 6, True, False, (255, 0, 0)),
    _c("car", 26, 13, "vehicle", 7, True, False, (0, 0, 142)),
    _c("truck", 27, 14, "vehicle", 7, True, False, (0, 0, 70)),
    _c("bus", 28, 15, "vehicle", 7, True, False, (0, 60, 100)),
    _c("caravan", 29, 255, "vehicle", 7, True, True, (0, 0, 90)),
    _c("trailer", 30, 255, "vehicle", 7, True, True, (0, 0, 110)),
    _c("train", 31, 16, "vehicle", 7, True, False, (0, 80, 100)),
    _c("motorcycle", 32, 17, "vehicle", 7, True, False, (0, 0, 230)),
    _c("bicycle", 33, 18, "vehicle", 7, True, False, (119, 11, 32)),
    _c("license plate", -1, -1, "vehicle", 7, False, True, (0, 0, 142)),
)

_ID_TO_TRAIN = torch.full((256,), IGNORE_INDEX, dtype=torch.int64)
_ID_TO_COLOR = torch.zeros((256, 3), dtype=torch.uint8)
_TRAIN_TO_COLOR = torch.zeros((256, 3), dtype=torch.uint8)
for _cls in CITYSCAPES_CLASSES:
    if _cls.id >= 0:
        _ID_TO_TRAIN[_cls.id] = _cls.train_id
        _ID_TO_COLOR[_cls.id] = torch.tensor(_cls.color, dtype=torch.uint8)
    if 0 <= _cls.train_id < IGNORE_INDEX:
        _TRAIN_TO_COLOR[_cls.train_id] = torch.tensor(_cls.color, dtype=torch.uint8)

#: Names of the 19 training classes, indexed by train id.
TRAIN_CLASS_NAMES = tuple(
    c.name for c in sorted(CITYSCAPES_CLASSES, key=lambda c: c.train_id) if 0 <= c.train_id < 255
)


def label_ids_to_train_ids(label_ids: torch.Tensor) -> torch.Tensor:
    """Map label ids (0..33) to train ids (0..18); every other value becomes 255."""
    return _ID_TO_TRAIN.to(label_ids.device)[label_ids.long().clamp(0, 255)]


def _colorize(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    rgb = table.to(ids.device)[ids.long().clamp(0, 255)]  # [..., H, W, 3]
    return to_unit_range(rgb.movedim(-1, -3))


def train_ids_to_color(train_ids: torch.Tensor) -> torch.Tensor:
    """Colour a train-id map ``[..., H, W]`` with the official palette -> ``[..., 3, H, W]`` in
    [-1, 1] (ignored pixels black), ready for a sample grid."""
    return _colorize(_TRAIN_TO_COLOR, train_ids)


def label_ids_to_color(label_ids: torch.Tensor) -> torch.Tensor:
    """Colour a label-id map ``[..., H, W]`` -> ``[..., 3, H, W]`` in [-1, 1]."""
    return _colorize(_ID_TO_COLOR, label_ids)


_MODES = {"fine": "gtFine", "coarse": "gtCoarse"}
_SPLITS = {"fine": ("train", "val", "test"), "coarse": ("train", "train_extra", "val")}
_TRAIN_SPLITS = ("train", "train_extra")
_TARGETS = ("none", "semantic", "train_ids", "color", "instance")
_SUFFIX = {
    "semantic": "labelIds.png",
    "train_ids": "labelIds.png",
    "color": "color.png",
    "instance": "instanceIds.png",
}
_IMAGE_SUFFIX = "_leftImg8bit.png"
_LAYOUT = (
    "leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png and "
    "gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_{labelIds,color,instanceIds}.png "
    "(root may be cityscapes/ itself or the folder holding it)"
)


def _png_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` from a PNG header, or ``None`` if it is not a PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")


class Cityscapes(VisionDataset):
    """Cityscapes images, alone or paired with a target map.

    Expected layout (``root`` may be ``cityscapes/`` or the folder holding it)::

        cityscapes/
          leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png
          gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png
                                                               _gtFine_color.png
                                                               _gtFine_instanceIds.png
          gtCoarse/{train,train_extra,val}/...                  _gtCoarse_labelIds.png ...

    Files are sorted by city and name; other files in the split folders are ignored. Every
    image's target must exist (checked at construction). The image (and target) is resized,
    cropped (at random on ``train``/``train_extra``, centred otherwise) and flipped at random
    on training splits, always with the same window for image and target; label maps use
    nearest-neighbour interpolation.

    Args:
        root: The ``cityscapes/`` directory or its parent.
        split: ``train``, ``val``, ``test`` (``mode: fine``) or ``train``, ``train_extra``,
            ``val`` (``mode: coarse``).
        mode: ``fine`` (``gtFine``) or ``coarse`` (``gtCoarse``) annotations.
        target: ``none`` (yield the image alone), ``semantic`` (label ids 0..33, ``int64``
            ``[H, W]``), ``train_ids`` (0..18, 255 = ignore), ``color`` (the colour map,
            ``[3, H, W]`` in [-1, 1]) or ``instance`` (instance ids, ``int64``).
        image_size: Resize first: an int sets the shorter side (aspect kept), ``[h, w]`` an
            exact size; ``None`` keeps 1024x2048.
        crop_size: Crop after resizing, an int (square) or ``[h, w]``; ``None`` for no crop.
        flip: Random horizontal flips on training splits.

    Attributes:
        channels: 3.
        image_size: The output size (an int when square, else ``(h, w)``).
        num_classes: 19 for ``train_ids``, 34 for ``semantic``.
        classes: The official label table (:data:`CITYSCAPES_CLASSES`).
        ignore_index: 255.
        images, targets: The file paths (``targets`` is empty for ``target: none``).
    """

    classes = CITYSCAPES_CLASSES
    ignore_index = IGNORE_INDEX

    def __init__(
        self,
        root: str,
        split: str = "train",
        mode: str = "fine",
        target: str = "none",
        image_size: int | Sequence[int] | None = None,
        crop_size: int | Sequence[int] | None = None,
        flip: bool = True,
    ) -> None:
        check_choice(mode, tuple(_MODES), "mode", "mode")
        check_choice(split, _SPLITS[mode], "split", f"split for mode {mode!r}")
        check_choice(target, _TARGETS, "target", "target")
        self.resize_to: int | None = None  # shorter side
        self.size: tuple[int, int] | None = None  # exact size
        if isinstance(image_size, int) and not isinstance(image_size, bool):
            size_pair(image_size, "image_size")  # checks > 0
            self.resize_to = image_size
        else:
            self.size = size_pair(image_size, "image_size")
        self.crop = size_pair(crop_size, "crop_size")
        self.flip = check_bool(flip, "flip") and split in _TRAIN_SPLITS
        self.random_crop = split in _TRAIN_SPLITS
        base = dataset_root(root, "cityscapes", ("leftImg8bit",), _LAYOUT)
        super().__init__(os.fspath(base))
        self.split, self.mode, self.target = split, mode, target
        self.images, self.targets = self._collect(base)
        self.channels = 3
        self.num_classes = {"train_ids": 19, "semantic": 34}.get(target)
        out = self.crop or self._resized_size()
        self.image_size = None if out is None else (out[0] if out[0] == out[1] else tuple(out))

    def _collect(self, base: Path) -> tuple[list[Path], list[Path]]:
        image_dir = base / "leftImg8bit" / self.split
        if not image_dir.is_dir():
            raise FileNotFoundError(
                f"split: missing image folder {image_dir} for split {self.split!r}; "
                f"expected {_LAYOUT}"
            )
        images: list[Path] = []
        for city in sorted(p for p in image_dir.iterdir() if p.is_dir()):
            images += sorted(
                p for p in city.iterdir() if p.name.endswith(_IMAGE_SUFFIX) and p.is_file()
            )
        if not images:
            raise FileNotFoundError(f"no *{_IMAGE_SUFFIX} files in the city folders of {image_dir}")
        if self.target == "none":
            return images, []
        gt = _MODES[self.mode]
        target_dir = base / gt / self.split
        if not target_dir.is_dir():
            raise FileNotFoundError(
                f"target: missing target folder {target_dir} (target {self.target!r}, mode "
                f"{self.mode!r}); expected {_LAYOUT}, or set target: none"
            )
        targets, missing = [], []
        listing: dict[str, set[str]] = {}
        for image in images:
            city = image.parent.name
            if city not in listing:
                folder = target_dir / city
                listing[city] = set(os.listdir(folder)) if folder.is_dir() else set()
            stem = image.name[: -len(_IMAGE_SUFFIX)]
            name = f"{stem}_{gt}_{_SUFFIX[self.target]}"
            path = target_dir / city / name
            if name not in listing[city]:
                missing.append(path)
            targets.append(path)
        if missing:
            raise FileNotFoundError(
                f"target: {len(missing)} of {len(images)} images in {image_dir} have no "
                f"{self.target!r} target (first missing: {missing[0]})"
            )
        return images, targets

    def _resized_size(self) -> tuple[int, int] | None:
        if self.size is not None:
            return self.size
        native = _png_size(self.images[0])
        if native is None or self.resize_to is None:
            return native
        return self._shorter_side(native, self.resize_to)

    @staticmethod
    def _shorter_side(size: Sequence[int], side: int) -> tuple[int, int]:
        h, w = size
        if h <= w:
            return side, max(1, int(side * w / h))
        return max(1, int(side * h / w)), side

    def __len__(self) -> int:
        return len(self.images)

    def _load_target(self, index: int, image_shape: torch.Size) -> torch.Tensor:
        path = self.targets[index]
        if self.target == "color":
            target = read_image(path, 3)
        else:
            target = read_image(path, unchanged=True)
            if target.shape[0] != 1:
                raise ValueError(
                    f"{path} has {target.shape[0]} channels; a {self.target} map has one"
                )
            target = target.to(torch.int32 if self.target == "instance" else torch.uint8)
        if target.shape[-2:] != image_shape[-2:]:
            raise ValueError(
                f"{path} is {tuple(target.shape[-2:])} but its image {self.images[index]} is "
                f"{tuple(image_shape[-2:])} (height, width)"
            )
        return target

    def _load(self, index: int, crop: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Image and target resized; with ``crop`` also cropped (at random on training
        splits, which is the only random draw)."""
        image = read_image(self.images[index], 3)
        target = None if self.target == "none" else self._load_target(index, image.shape)
        size = self.size
        if size is None and self.resize_to is not None:
            size = self._shorter_side(image.shape[-2:], self.resize_to)
        if size is not None:
            image = resize_image(image, size)
            if target is not None:
                target = resize_label(target, size)
        if self.crop is not None:
            h, w = image.shape[-2:]
            if self.crop[0] > h or self.crop[1] > w:
                raise ValueError(
                    f"crop_size: image {self.images[index]} is {h}x{w} (height x width) after "
                    f"resizing, smaller than crop_size {self.crop[0]}x{self.crop[1]}"
                )
        if self.crop is not None and crop:
            box = random_crop_box if self.random_crop else center_crop_box
            top, left = box(image.shape[-2], image.shape[-1], self.crop)
            image = image[:, top : top + self.crop[0], left : left + self.crop[1]]
            if target is not None:
                target = target[:, top : top + self.crop[0], left : left + self.crop[1]]
        return image, target

    @single_threaded
    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        image, target = self._load(index, crop=True)
        if self.flip and coin():
            image = image.flip(-1)
            if target is not None:
                target = target.flip(-1)
        image = to_unit_range(image)
        if target is None:
            return image
        if self.target == "color":
            return image, to_unit_range(target)
        target = target[0].long()
        if self.target == "train_ids":
            target = label_ids_to_train_ids(target)
        return image, target

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: image and target
        resized (and center-cropped off the training splits); random crops and flips stay
        per step, with the same window for image and target."""
        stored = self._resized_size()
        if stored is None:
            raise ValueError(f"dir: cannot read the size of {self.images[0]} (not a PNG)")
        if self.crop is not None and not self.random_crop:
            stored = self.crop
        h, w = stored
        fields = {"image": ((h, w, 3), "uint8")}
        if self.target == "color":
            fields["target"] = ((h, w, 3), "uint8")
        elif self.target == "instance":
            fields["target"] = ((h, w, 1), "int32")
        elif self.target != "none":
            fields["target"] = ((h, w, 1), "uint8")
        return CachePlan(
            kind="cityscapes",
            root=Path(self.root),
            files=[*self.images, *self.targets],
            params={
                "image_size": self.size or self.resize_to,
                "stored": [h, w],
                "target": self.target,
            },
            fields=fields,
            load=self._cache_load,
            finish=self._cache_finish,
            crop=self.crop if self.random_crop else None,
            random_crop=self.random_crop,
            flip=self.flip,
            count=len(self.images),
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        image, target = self._load(index, crop=not self.random_crop)
        return {"image": image} if target is None else {"image": image, "target": target}

    def _cache_finish(self, fields: dict[str, torch.Tensor], labels: object) -> object:
        image = fields["image"]
        if self.target == "none":
            return image
        target = fields["target"]
        if self.target == "color":
            return [image, target]
        target = target[:, 0].long()
        if self.target == "train_ids":
            target = label_ids_to_train_ids(target)
        return [image, target]

    @staticmethod
    def colorize(target: torch.Tensor, kind: str = "train_ids") -> torch.Tensor:
        """Colour a ``train_ids`` or ``semantic`` map ``[..., H, W]`` for a sample grid."""
        if kind == "train_ids":
            return train_ids_to_color(target)
        if kind == "semantic":
            return label_ids_to_color(target)
        raise ValueError(f"kind must be 'train_ids' or 'semantic', got {kind!r}")

    def extra_repr(self) -> str:
        return (
            f"Split: {self.split}, mode: {self.mode}, target: {self.target}\n"
            f"Resize: {self.size or self.resize_to}, crop: {self.crop}, flip: {self.flip}"
        )
