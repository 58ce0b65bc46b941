"""The pix2pix/CycleGAN jitter of image pairs, and its decoded-cache plan.

Isola et al. (https://arxiv.org/abs/1611.07004) and Zhu et al.
(https://arxiv.org/abs/1703.10593) resize both images of a pair to ``load_size`` (286 for 256
crops), cut the same random ``image_size`` crop and flip both at random on the training split;
other splits are resized to ``image_size``. Shared by
:class:`~torchgan_ext.data.paired.PairedImages` and
:class:`~torchgan_ext.data.cityscapes_pairs.CityscapesPairs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ._io import coin, random_crop_box, resize_image, resize_label
from .cache_key import CachePlan

__all__ = ["check_square_size", "jitter", "jitter_cache_plan", "load_size_of", "stored_side"]


def check_square_size(value: object, arg: str) -> int:
    """A positive int side (translation images are square, as in the papers)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{arg}: expected a positive integer side (e.g. 256), got {value!r}")
    return value


def jitter(
    images: Sequence[torch.Tensor],
    labels: Sequence[bool],
    size: int,
    load_size: int,
    train: bool,
    flip: bool = True,
) -> list[torch.Tensor]:
    """Resize every image to ``load_size`` squared, then (``train``) one random ``size`` crop
    and (``flip``) one random horizontal flip for all of them; label maps (``labels[i]``) use
    nearest neighbours. Other splits are resized to ``size`` only."""
    side = load_size if train else size
    out = [
        resize_label(x, (side, side)) if lab else resize_image(x, (side, side))
        for x, lab in zip(images, labels, strict=True)
    ]
    if not train:
        return out
    if side > size:
        top, left = random_crop_box(side, side, (size, size))
        out = [x[:, top : top + size, left : left + size] for x in out]
    if flip and coin():
        out = [x.flip(-1) for x in out]
    return out


def jitter_cache_plan(
    dataset: Any,
    kind: str,
    files: Sequence[Path | str],
    params: Mapping[str, Any],
    channels: Mapping[str, int],
) -> CachePlan:
    """The :class:`~torchgan_ext.data.cache_key.CachePlan` of a dataset of pairs made by
    :func:`jitter`: its ``_cache_load(i)`` returns every field squashed to ``load_size``
    (``image_size`` off the training splits), stored as ``uint8 side x side x
    channels[name]``; per step, on training splits, one random ``image_size`` crop (when
    ``load_size`` is larger) and one flip (``flip``) for all fields, then
    ``_cache_finish``. ``files`` key the cache; ``params`` (plus ``stored``: the side) are
    the arguments that change the stored pixels.

    Args:
        dataset: Has ``root``, ``image_size``, ``load_size``, ``train``, ``flip``, a length
            (the number of pairs), ``_cache_load`` and ``_cache_finish``.
        kind: The dataset's registry name.
        files: Every source file.
        params: The arguments besides the side that change the stored pixels.
        channels: Stored field name -> channels.
    """
    side = stored_side(dataset)
    size = dataset.image_size
    crop = dataset.train and side > size
    return CachePlan(
        kind=kind,
        root=Path(dataset.root),
        files=list(files),
        params={**params, "stored": side},
        fields={name: ((side, side, c), "uint8") for name, c in channels.items()},
        load=dataset._cache_load,
        finish=dataset._cache_finish,
        crop=(size, size) if crop else None,
        random_crop=crop,
        flip=dataset.train and dataset.flip,
        count=len(dataset),
    )


def load_size_of(load_size: object, image_size: int) -> int:
    """The ``load_size`` argument checked against ``image_size`` (default: ``image_size``)."""
    if load_size is None:
        return image_size
    side = check_square_size(load_size, "load_size")
    if side < image_size:
        raise ValueError(f"load_size: {side} is smaller than image_size {image_size}")
    return side


def stored_side(dataset: Any) -> int:
    """The side a pair dataset's images are squashed to (before a training split's random
    crop): ``load_size`` on training splits, ``image_size`` otherwise."""
    return dataset.load_size if dataset.train else dataset.image_size
