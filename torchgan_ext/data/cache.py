"""A decoded dataset cache: decode, crop and resize every image once, then read memory.

A GAN step on a small image costs less than decoding its JPEG, and every epoch decodes and
resizes every image again. :class:`DecodedCache` wraps any dataset that describes itself with a
``cache_plan()`` (:class:`~torchgan_ext.data.cache_store.CachePlan`): the deterministic part of
each item (decode, crop, resize at the configured size) is stored once in memory-mapped
``uint8`` arrays ``N x H x W x C`` with the labels beside them
(:mod:`~torchgan_ext.data.cache_store`), and a batch is read as slices of those arrays. The
random part (flip, random crop) is still drawn per step, on the ``uint8`` data, for the whole
batch at once.

The peers made the same move with a tool of its own: StudioGAN loads datasets into memory or
HDF5, mmagic reads LMDB, the StyleGAN2-ADA tools convert datasets into pre-resized archives.
Here it is a wrapper and a config key (``data.cache``); nothing else changes.

Items: images are ``uint8`` (``[C, H, W]``, batches channels-last), as with ``output: uint8``;
the trainer turns them into [-1, 1] on the device, so a model sees exactly the values of the
uncached dataset. Batches are built by ``__getitems__`` (one call per batch, which
:class:`torch.utils.data.DataLoader` uses) and handed through :func:`~torchgan_ext.data.collate`
as they are. The random draws differ from the uncached dataset's (one draw per batch instead of
one per item): same distribution, reproducible for a seed, exactly resumable.

Speed: a batch of whole stored images is one loop of item copies into a NumPy batch wrapped
once as a torch tensor (mirrored flips pick the stored mirror image's row), the labels are
gathered before the copies, and ``torchgan-run`` iterates with
:class:`~torchgan_ext.data.cache_loader.CacheLoader`: each batch copy flushes the CPU's caches,
so every call between two copies runs cold, and the fewer there are the closer the loader
comes to a bare copy loop (``benchmarks/cache_stages.py``).

Workers: the arrays are opened lazily in each process (``numpy.load(mmap_mode="r")``); worker
processes map the same pages and copy only the batch they build, into shared memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .cache_key import CachePlan, check_cache, key_parts, listing, stale_message
from .collate import Collated, empty_batch

__all__ = ["DecodedCache", "cache_plan_of"]


def cache_plan_of(dataset: Any) -> CachePlan:
    """The dataset's :class:`CachePlan` (``dataset.cache_plan()``).

    Raises:
        TypeError: The dataset has no ``cache_plan``.
        ValueError: The dataset cannot be cached with its arguments (the message says why).
    """
    plan_fn = getattr(dataset, "cache_plan", None)
    if plan_fn is None:
        raise TypeError(
            f"dir: dataset {type(dataset).__name__} cannot be cached (it has no cache_plan(); "
            "cached: celeba, cityscapes, image_folder, super_resolution with crop: center)"
        )
    return plan_fn()


_TORCH_DTYPES = {"|u1": torch.uint8, "<i4": torch.int32, "<f4": torch.float32}


def _mapped(path: Path) -> np.ndarray:
    """The ``.npy`` file at ``path`` memory-mapped read-only, as a plain ndarray view."""
    return np.asarray(np.load(path, mmap_mode="r"))


def _copy_items(
    dst: np.ndarray,
    src: np.ndarray,
    indices: Sequence[int],
    tops: Sequence[int],
    lefts: Sequence[int],
    flips: Sequence[bool],
    mirror: bool,
) -> None:
    """``dst[i] = src[indices[i]]`` cut to ``dst``'s window at ``tops``/``lefts``, mirrored
    where ``flips`` says (from the stored mirror image when ``mirror``)."""
    ch, cw = dst.shape[1:3]
    h, w = src.shape[-3:-1]
    if (ch, cw) == (h, w) and (mirror or not any(flips)):  # whole images: one copy each
        if mirror:  # stored as [N * 2] images: item j at 2j, its mirror image at 2j + 1
            flat = src.reshape(-1, *src.shape[2:])
            for i, j in enumerate(indices):
                dst[i] = flat[2 * j + 1 if flips[i] else 2 * j]
        else:
            for i, j in enumerate(indices):
                dst[i] = src[j]
        return
    for i, j in enumerate(indices):
        top, left, flip = tops[i], lefts[i], flips[i]
        if mirror:
            if flip:
                left = w - left - cw  # the window's place in the mirrored copy
            dst[i] = src[j, int(flip), top : top + ch, left : left + cw]
        elif flip:
            dst[i] = src[j, top : top + ch, left : left + cw][:, ::-1]
        else:
            dst[i] = src[j, top : top + ch, left : left + cw]


class DecodedCache(Dataset):
    """A dataset read from its decoded cache (built by
    :func:`~torchgan_ext.data.cache_store.build_cache`).

    Args:
        dataset: The source dataset (it provides ``cache_plan()``; its attributes such as
            ``channels`` and ``image_size`` stay visible through the wrapper).
        path: The cache folder.
        mirror: The cache stores mirrored copies for flips (as it was built).

    Raises:
        FileNotFoundError: No cache at ``path`` (build it first).
        ValueError: The cache is stale (built from other data or arguments) or corrupt; the
            message names the folder and what differs.
    """

    def __init__(self, dataset: Any, path: str | os.PathLike, mirror: bool = True) -> None:
        self.dataset = dataset
        self.plan = cache_plan_of(dataset)
        self.path = Path(path).expanduser()
        rows = listing(self.plan)
        parts = key_parts(self.plan, mirror, rows)
        state = check_cache(self.path, parts, rows)
        if state == "missing":
            raise FileNotFoundError(
                f"dir: no cache at {self.path}; build it with torchgan-run CONFIG --build-cache"
            )
        if state is not None:
            raise ValueError(stale_message(self.path, state))
        self.mirror = bool(parts["layout"]["mirror"])
        self._n = len(self.plan)
        # whole stored images (flips, if any, from the stored mirror images): every item of a
        # batch is one row of the arrays seen as [N, H, W, C] (mirrored: [N * 2, H, W, C])
        self._whole = self.plan.crop is None and (self.mirror or not self.plan.flip)
        self._arrays: dict[str, np.ndarray] | None = None
        self._rows: dict[str, np.ndarray] = {}
        self._draws: tuple[int, torch.Tensor] = (0, torch.empty(0))
        self._labels: np.ndarray | None = None

    # -- pickling: workers open their own mappings ----------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = None
        state["_rows"] = {}
        state["_labels"] = None
        return state

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "plan", "__setstate__") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            # plain ndarray views of the mappings: indexing a np.memmap costs ~5 us per item
            # in its subclass hooks, about as much as copying a 128 px image
            arrays = {n: _mapped(self.path / f"{n}.npy") for n in self.plan.fields}
            if self.plan.labels is not None:
                self._labels = _mapped(self.path / "labels.npy")
            self._rows = {n: a.reshape(-1, *a.shape[-3:]) for n, a in arrays.items()}
            self._arrays = arrays
        return self._arrays

    def __len__(self) -> int:
        return self._n

    # -- batches ---------------------------------------------------------------------------
    def _windows(self, b: int) -> tuple[list[int], list[int], list[bool]]:
        """Per item of a batch: top, left of the crop and whether it is flipped."""
        plan = self.plan
        shape = next(iter(plan.fields.values()))[0]
        tops, lefts = [0] * b, [0] * b
        if plan.crop is not None:
            h, w = shape[0] - plan.crop[0], shape[1] - plan.crop[1]
            if plan.random_crop:
                tops = torch.randint(0, h + 1, (b,)).tolist()
                lefts = torch.randint(0, w + 1, (b,)).tolist()
            else:
                tops, lefts = [int(round(h / 2.0))] * b, [int(round(w / 2.0))] * b
        flips = [u < 0.5 for u in self._uniform(b)] if plan.flip else [False] * b
        return tops, lefts, flips

    def _uniform(self, b: int) -> list[float]:
        """``torch.rand(b).tolist()``: the same draws from the global generator (``rand`` is
        ``empty(b).uniform_()``), into a kept buffer (measured: 15 instead of 34 us right
        after a batch copy)."""
        size, buffer = self._draws
        if size != b:
            buffer = torch.empty(b)
            self._draws = (b, buffer)
        return buffer.uniform_().tolist()

    def __getitems__(self, indices: Sequence[int]) -> Collated:
        # The labels and the batch tensors before the pixel copies, and as few calls as can be:
        # the copies flush the CPU's caches, and every torch, NumPy or Python call made between
        # two batches' copies runs cold (a torch call 20-70 us instead of 1-2 us; see
        # docs/performance.md).
        arrays = self._arrays if self._arrays is not None else self._open()
        labels = None
        if self._labels is not None:
            labels = torch.from_numpy(self._labels.take(indices, axis=0))  # 2x a fancy index
        b = len(indices)
        if self._whole and get_worker_info() is None:  # in-process: one copy per item
            rows = indices
            if self.mirror:  # the draws of _windows(b); item j at row 2j, mirrored at 2j + 1
                draws = self._uniform(b)
                rows = [2 * j + 1 if u < 0.5 else 2 * j for j, u in zip(indices, draws)]
            fields = {}
            for name, src in self._rows.items():
                dst = np.empty((b, *src.shape[1:]), dtype=src.dtype)
                fields[name] = torch.from_numpy(dst.transpose(0, 3, 1, 2))
                for i, j in enumerate(rows):
                    dst[i] = src[j]
            return Collated(self.plan.finish(fields, labels))
        tops, lefts, flips = self._windows(b)
        in_worker = get_worker_info() is not None
        fields, copies = {}, []
        for name, src in arrays.items():
            (h, w, c), _ = self.plan.fields[name]
            ch, cw = self.plan.crop or (h, w)
            if in_worker:  # in shared memory: handing the batch over copies nothing
                out = empty_batch((b, ch, cw, c), _TORCH_DTYPES[src.dtype.str])
                dst, fields[name] = out.numpy(), out.permute(0, 3, 1, 2)
            else:  # one torch call per field
                dst = np.empty((b, ch, cw, c), dtype=src.dtype)
                fields[name] = torch.from_numpy(dst.transpose(0, 3, 1, 2))
            copies.append((dst, src))
        for dst, src in copies:
            _copy_items(dst, src, indices, tops, lefts, flips, self.mirror)
        return Collated(self.plan.finish(fields, labels))  # may compute from the pixels

    def __getitem__(self, index: int) -> Any:
        n = self._n
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        batch = self.__getitems__([index % n]).value
        if isinstance(batch, torch.Tensor):
            return batch[0]
        return tuple(x[0] for x in batch)

    def extra_repr(self) -> str:
        return f"cache {self.path} of {type(self.dataset).__name__}"
