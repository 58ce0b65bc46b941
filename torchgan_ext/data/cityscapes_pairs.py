"""Cityscapes label map -> photo pairs, the translation benchmark of pix2pix and CycleGAN.

pix2pix (https://arxiv.org/abs/1611.07004) and CycleGAN (https://arxiv.org/abs/1703.10593)
translate Cityscapes semantic label maps into street photos, at 256x256 (each 2048x1024 frame
squashed to a square, as the authors' prepared archive). This dataset reads the official
layout through :class:`~torchgan_ext.data.cityscapes.Cityscapes` and yields
``(label_input, photo)``:

* ``label_input``: the label map as the network's input, either the official colour map
  (``label_format: color``, 3 channels in [-1, 1], the papers' choice) or the 19 training
  classes one-hot (``onehot``: 19 channels of 0/1, all zero at ignored pixels);
* ``photo``: the photo resized to the label map's grid, float in [-1, 1].

Label maps are resized with nearest neighbours (no blended colours or ids).

Both get the same random crop and flip on training splits (``load_size: 286`` for the papers'
286 -> 256 jitter). With ``unpaired: true`` (CycleGAN) the photo of item ``i`` is a random
photo of the split, cropped and flipped on its own.

The decoded cache (``data.cache``, :class:`~torchgan_ext.data.cache.DecodedCache`) stores the
paired items' label map (colours, or label ids for ``onehot``) and photo squashed to
``load_size`` (``image_size`` off the training splits); the random crop and flip stay per step,
one window for both. Unpaired items are not cached (their pairing is the random part).
"""

from __future__ import annotations

import os

import torch
from torchvision.datasets import VisionDataset

from ._io import (
    check_bool,
    check_choice,
    read_image,
    resize_image,
    single_threaded,
    to_unit_range,
)
from .cache_key import CachePlan
from .cityscapes import IGNORE_INDEX, Cityscapes, label_ids_to_train_ids
from .jitter import check_square_size, jitter, jitter_cache_plan, stored_side
from .jitter import load_size_of as _load_size

__all__ = [
    "CityscapesPairs",
    "LABEL_FORMATS",
    "label_ids_to_onehot",
    "read_label_ids",
    "train_ids_to_onehot",
    "NUM_TRAIN_IDS",
]

#: Values of ``label_format``.
LABEL_FORMATS = ("color", "onehot")
#: Number of Cityscapes training classes.
NUM_TRAIN_IDS = 19
#: Largest official label id (0..33).
_MAX_LABEL_ID = 33
#: Label id (any byte) -> train id (255: ignored), as bytes.
_TRAIN_IDS_U8 = label_ids_to_train_ids(torch.arange(256)).to(torch.uint8)


def train_ids_to_onehot(train_ids: torch.Tensor, num_classes: int = NUM_TRAIN_IDS) -> torch.Tensor:
    """``[..., H, W]`` train ids -> ``[..., num_classes, H, W]`` float32 0/1 (contiguous);
    ignored pixels (255, any id outside ``[0, num_classes)``, negative ones included) are all
    zero.

    Raises:
        ValueError: ``num_classes`` is not in 1-255.
    """
    if not 0 < num_classes < 256:
        raise ValueError(f"num_classes: expected 1-255, got {num_classes}")
    ids = train_ids
    if ids.dtype != torch.uint8:
        ids = torch.where((ids >= 0) & (ids < num_classes), ids, 255).to(torch.uint8)
    # one uint8 comparison per class written straight into the float output: 2.5x faster
    # than torch's one_hot (int64 [..., H, W, classes] moved to channels first) on 256 px
    # maps, the same values
    classes = torch.arange(num_classes, dtype=torch.uint8, device=ids.device)
    shape = (*ids.shape[:-2], num_classes, *ids.shape[-2:])
    out = torch.empty(shape, dtype=torch.float32, device=ids.device)
    return torch.eq(ids.unsqueeze(-3), classes.view(-1, 1, 1), out=out)


def read_label_ids(path: str | os.PathLike) -> torch.Tensor:
    """A ``_gtFine_labelIds.png`` map as ``uint8 [1, H, W]``, checked against the label table.

    Raises:
        ValueError: The file has several channels or an id outside 0-33 (names the file).
    """
    ids = read_image(path, unchanged=True)
    if ids.shape[0] != 1:
        raise ValueError(f"{path}: has {ids.shape[0]} channels; a labelIds map has one")
    top = int(ids.max())
    if top > _MAX_LABEL_ID:
        raise ValueError(
            f"{path}: label id {top} is not in the Cityscapes table (valid ids 0-"
            f"{_MAX_LABEL_ID}, see cityscapesscripts labels.py)"
        )
    return ids


def label_ids_to_onehot(label_ids: torch.Tensor) -> torch.Tensor:
    """``[..., 1, H, W]`` label ids -> the ``onehot`` label input ``[..., 19, H, W]`` (0/1;
    ignored pixels all zero): an item's map, or a batch of them (the decoded cache)."""
    ids = label_ids.select(-3, 0).long()
    if label_ids.dtype != torch.uint8:
        ids = ids.clamp(0, 255)
    return train_ids_to_onehot(_TRAIN_IDS_U8.to(ids.device)[ids])


class CityscapesPairs(VisionDataset):
    """Cityscapes ``(label_input, photo)`` pairs for label -> photo translation.

    Args:
        root: The ``cityscapes/`` directory or its parent (official layout, ``gtFine``).
        split: ``train``, ``val`` or ``test``.
        label_format: ``color`` (the official colour maps, 3 channels) or ``onehot`` (19
            train-id channels, built from the ``labelIds`` maps).
        image_size: Side of the square output (256).
        load_size: Side both images are squashed to before the random crop on the training
            split (286: the papers' jitter); default ``image_size``.
        flip: The same random horizontal flip of both on the training split.
        unpaired: Pair every label map with a random photo (CycleGAN's unaligned sampling).

    Attributes:
        label_format: ``color`` or ``onehot``.
        channels_a: 3 (colour) or 19 (one-hot); channels_b, channels: 3.
        image_size: The output side.
        num_classes, ignore_index: 19 and 255.
    """

    num_classes = NUM_TRAIN_IDS
    ignore_index = IGNORE_INDEX

    def __init__(
        self,
        root: str,
        split: str = "train",
        label_format: str = "color",
        image_size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        unpaired: bool = False,
    ) -> None:
        self.label_format = check_choice(label_format, LABEL_FORMATS, "label_format", "format")
        target = "color" if label_format == "color" else "semantic"
        self.source = Cityscapes(root, split=split, target=target, flip=False)
        super().__init__(self.source.root)
        self.split = split
        self.image_size = check_square_size(image_size, "image_size")
        self.load_size = _load_size(load_size, self.image_size)
        self.flip = check_bool(flip, "flip")
        self.unpaired = check_bool(unpaired, "unpaired")
        self.train = split in ("train", "train_extra")
        self.channels_a = 3 if label_format == "color" else NUM_TRAIN_IDS
        self.channels_b = self.channels = 3

    def __len__(self) -> int:
        return len(self.source)

    def _label(self, index: int) -> torch.Tensor:
        path = self.source.targets[index]
        if self.label_format == "color":
            return read_image(path, 3)
        return read_label_ids(path)

    def _finish_label(self, label: torch.Tensor) -> torch.Tensor:
        if self.label_format == "color":
            return to_unit_range(label)
        return label_ids_to_onehot(label)

    @single_threaded
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        label = self._label(index)
        photo_index = index
        if self.unpaired:
            photo_index = int(torch.randint(len(self.source), ()))
        photo = read_image(self.source.images[photo_index], 3)
        args = (self.image_size, self.load_size, self.train, self.flip)
        if self.unpaired:
            (label,) = jitter([label], [True], *args)
            (photo,) = jitter([photo], [False], *args)
        else:
            # the photo on the label map's grid, then one crop and flip for both
            photo = resize_image(photo, label.shape[-2:])
            label, photo = jitter([label, photo], [True, False], *args)
        return self._finish_label(label), to_unit_range(photo)

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: the ``uint8`` label map
        (colours, or label ids for ``onehot``) and the photo on its grid, both squashed to
        ``load_size`` (``image_size`` off the training splits); the random ``image_size``
        crop and the flip stay per step, one window for both.

        Raises:
            ValueError: ``unpaired: true``: the random pairing is not a stored array.
        """
        if self.unpaired:
            raise ValueError(
                "dir: cityscapes_pairs with unpaired: true pairs every label map with a random "
                "photo; cannot be cached (set unpaired: false, or remove data.cache)"
            )
        return jitter_cache_plan(
            self,
            "cityscapes_pairs",
            [*self.source.images, *self.source.targets],
            {"label_format": self.label_format},
            {"label": 3 if self.label_format == "color" else 1, "photo": 3},
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        label = self._label(index)
        photo = resize_image(read_image(self.source.images[index], 3), label.shape[-2:])
        # the deterministic part of jitter(): the squash (no crop, no flip)
        label, photo = jitter(
            [label, photo], [True, False], stored_side(self), stored_side(self), False
        )
        return {"label": label, "photo": photo}

    def _cache_finish(self, fields: dict[str, torch.Tensor], labels: object) -> list:
        label, photo = fields["label"], fields["photo"]
        if self.label_format == "onehot":  # float 0/1, as the items; images stay uint8
            label = label_ids_to_onehot(label)
        return [label, photo]
