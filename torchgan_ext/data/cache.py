"""A decoded dataset cache: decode, crop and resize every image once, then read memory.

A GAN step on a small image costs less than decoding its JPEG, and every epoch decodes and
resizes every image again. :class:`DecodedCache` wraps any dataset that describes itself with a
``cache_plan()`` (:class:`~torchgan_ext.data.cache_store.CachePlan`): the deterministic part of
each item (decode, crop, resize at the configured size) is stored once in memory-mapped
``uint8`` arrays ``N x H x W x C`` with the labels beside them
(:mod:`~torchgan_ext.data.cache_store`), and a batch is read as slices of those arrays. The
random part (flip, random crop) still happens per step, on the ``uint8`` data, read with the
batch (see "Random draws" below).

The peers made the same move with a tool of its own: StudioGAN loads datasets into memory or
HDF5, mmagic reads LMDB, the StyleGAN2-ADA tools convert datasets into pre-resized archives.
Here it is a wrapper and a config key (``data.cache``); nothing else changes.

Items: images are ``uint8`` (``[C, H, W]``, batches channels-last), as with ``output: uint8``;
the trainer turns them into [-1, 1] on the device, so a model sees exactly the values of the
uncached dataset. Batches are built by ``__getitems__`` (one call per batch, which
:class:`torch.utils.data.DataLoader` uses) or :meth:`DecodedCache.read` and handed through
:func:`~torchgan_ext.data.collate` as they are. The random draws differ from the uncached
dataset's: same distribution, reproducible for a seed, exactly resumable.

Speed: whole stored images are gathered with one :func:`numpy.take` per field (mirrored flips
pick the stored mirror image's row), and ``torchgan-run`` iterates with
:class:`~torchgan_ext.data.cache_loader.CacheLoader`, which reads several batches at once: each
gather flushes the CPU's caches, so every call made between two gathers runs cold, and the
fewer there are per batch the closer the loader comes to a bare gather loop
(``benchmarks/cache_stages.py``).

Random draws: :meth:`DecodedCache.read` takes them as ``[items, draws]`` uniforms (crop top,
crop left, flip); ``__getitems__`` (a plain DataLoader, worker processes) draws them from the
global generator, :class:`~torchgan_ext.data.cache_loader.CacheLoader` per epoch by position.

Workers: the arrays are opened lazily in each process (``numpy.load(mmap_mode="r")``); worker
processes map the same pages and copy only the batch they build, into shared memory.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .cache_key import CachePlan, check_cache, key_parts, listing, stale_message
from .collate import Collated, empty_batch

__all__ = ["Allocate", "DecodedCache", "cache_plan_of"]


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
            "cached: celeba, cityscapes, cityscapes_pairs, image_folder, paired_images, "
            "super_resolution with crop: center)"
        )
    return plan_fn()


#: ``allocate(shape, dtype)``: an uninitialised array for :meth:`DecodedCache.read` to fill.
Allocate = Callable[[tuple[int, ...], np.dtype], np.ndarray]

_TORCH_DTYPES = {"|u1": torch.uint8, "<i4": torch.int32, "<f4": torch.float32}


def _checked_rows(indices: Sequence[int], n: int) -> np.ndarray:
    """``indices`` as an index array in [0, n) (negative ones counted from the end).

    Raises:
        IndexError: An index is out of range.
        TypeError: The indices are not integers (a float or bool would silently pick an
            item).
    """
    if not len(indices):
        return np.empty(0, dtype=np.intp)
    rows = np.asarray(indices)
    if rows.dtype.kind not in "iu" or rows.ndim != 1:
        raise TypeError(f"indices must be a sequence of integers, got {rows.dtype} {rows.shape}")
    rows = rows.astype(np.intp, copy=False)
    low, high = rows.min(), rows.max()
    if low < -n or high >= n:
        bad = next(int(i) for i in rows if not -n <= i < n)
        raise IndexError(f"index {bad} out of range for {n} items")
    return rows % n if low < 0 else rows


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
    @property
    def draws(self) -> int:
        """Uniform draws per item that :meth:`read` takes: the random crop's top and left (2),
        then the flip (1)."""
        plan = self.plan
        return 2 * int(plan.crop is not None and plan.random_crop) + int(plan.flip)

    @property
    def item_bytes(self) -> int:
        """Bytes of one item as a batch holds it (every field, cropped)."""
        total = 0
        for (h, w, c), dtype in self.plan.fields.values():
            ch, cw = self.plan.crop or (h, w)
            total += ch * cw * c * np.dtype(dtype).itemsize
        return total

    def _windows(
        self, b: int, uniforms: np.ndarray | None
    ) -> tuple[list[int], list[int], list[bool]]:
        """Per item of a batch: top, left of the crop and whether it is flipped, from the
        items' ``[b, draws]`` uniforms (a crop's offset is ``floor(u * (positions))``)."""
        plan = self.plan
        shape = next(iter(plan.fields.values()))[0]
        tops, lefts, flips = [0] * b, [0] * b, [False] * b
        if plan.crop is not None:
            h, w = shape[0] - plan.crop[0], shape[1] - plan.crop[1]
            if plan.random_crop:
                tops = np.minimum((uniforms[:, 0] * (h + 1)).astype(np.intp), h).tolist()
                lefts = np.minimum((uniforms[:, 1] * (w + 1)).astype(np.intp), w).tolist()
            else:
                tops, lefts = [int(round(h / 2.0))] * b, [int(round(w / 2.0))] * b
        if plan.flip:
            flips = (uniforms[:, -1] < 0.5).tolist()
        return tops, lefts, flips

    def read(
        self,
        indices: Sequence[int],
        uniforms: np.ndarray | None = None,
        allocate: Allocate | None = None,
        sizes: Sequence[int] | None = None,
    ) -> Any:
        """The batch of the items ``indices`` with their random windows and flips taken from
        ``uniforms`` (``[len(indices), draws]``, values in [0, 1); ``None`` when
        :attr:`draws` is 0), as the dataset's collated batch; with ``sizes``, the list of
        batches of consecutive runs of ``indices`` of those sizes.

        In the main process the pixels go into one array per field from
        ``allocate(shape, dtype)`` (default :func:`numpy.empty`; the read overwrites it
        whole), whole stored images with one :func:`numpy.take` per field (a mirrored flip
        picks the stored mirror image's row); the batches' tensors are made from slices of it
        (no two batches share pixels) before the copy: every call made after a copy of a few
        MB runs with cold CPU caches. Inside a DataLoader worker the batch is built in shared
        memory.

        Raises:
            IndexError: An index is out of range.
            ValueError: ``uniforms`` does not have one row of :attr:`draws` values per item,
                or ``sizes`` do not add up to the number of indices.
        """
        arrays = self._arrays if self._arrays is not None else self._open()
        b, d = len(indices), self.draws
        if d and (uniforms is None or uniforms.shape != (b, d)):
            got = None if uniforms is None else tuple(uniforms.shape)
            raise ValueError(f"uniforms: expected shape ({b}, {d}), got {got}")
        parts = [b] if sizes is None else list(sizes)
        if sum(parts) != b:
            raise ValueError(f"sizes: {parts} add up to {sum(parts)}, not {b} indices")
        spans = list(zip(itertools.accumulate(parts, initial=0), itertools.accumulate(parts)))
        items = _checked_rows(indices, self._n)
        in_worker = get_worker_info() is not None
        whole = self._whole and not in_worker  # one gather per field
        rows = items
        if whole and self.mirror:  # item j at row 2j, its mirror image at 2j + 1
            rows = 2 * items + (uniforms[:, -1] < 0.5)
        fields: list[dict[str, torch.Tensor]] = [{} for _ in parts]
        copies = []
        for name, src in arrays.items():
            (h, w, c), _ = self.plan.fields[name]
            ch, cw = self.plan.crop or (h, w)
            if in_worker:  # in shared memory: handing the batch over copies nothing
                out = empty_batch((b, ch, cw, c), _TORCH_DTYPES[src.dtype.str])
                dst, views = out.numpy(), [out[i:j].permute(0, 3, 1, 2) for i, j in spans]
            else:
                dst = (allocate or np.empty)((b, ch, cw, c), src.dtype)
                views = [torch.from_numpy(dst[i:j].transpose(0, 3, 1, 2)) for i, j in spans]
            for batch, view in zip(fields, views, strict=True):
                batch[name] = view
            copies.append((dst, self._rows[name] if whole else src))
        labels: list[torch.Tensor | None] = [None] * len(parts)
        if self._labels is not None:
            taken = self._labels.take(items, axis=0)
            labels = [torch.from_numpy(taken[i:j]) for i, j in spans]
        if whole:
            for dst, src in copies:
                src.take(rows, axis=0, out=dst, mode="wrap")  # checked above; unbuffered
        else:
            tops, lefts, flips = self._windows(b, uniforms)
            for dst, src in copies:
                _copy_items(dst, src, indices, tops, lefts, flips, self.mirror)
        # the dataset's batch structure; may compute from the pixels
        batches = [self.plan.finish(f, y) for f, y in zip(fields, labels, strict=True)]
        return batches if sizes is not None else batches[0]

    def __getitems__(self, indices: Sequence[int]) -> Collated:
        """The batch of ``indices`` (what :class:`~torch.utils.data.DataLoader` calls), its
        random windows and flips drawn as ``torch.rand(len(indices), draws)`` from the global
        generator (inside a worker: the worker's, seeded by the DataLoader).
        :class:`~torchgan_ext.data.cache_loader.CacheLoader` reads through :meth:`read` with
        per-epoch draws instead."""
        uniforms = torch.rand(len(indices), self.draws).numpy() if self.draws else None
        return Collated(self.read(indices, uniforms))

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
