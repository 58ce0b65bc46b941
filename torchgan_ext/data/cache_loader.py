"""The DataLoader of the decoded cache: batches read several at a time, draws per epoch.

A batch of the decoded cache (:class:`~torchgan_ext.data.cache.DecodedCache`) is one gather of
about 1.5 MB (32 images of 128 px) at memory speed, 100-130 us on the 2-core test machine. That
copy flushes the CPU's caches, so every call made between two copies runs cold (a torch call
20-70 us instead of 1-2 us; ``benchmarks/cache_stages.py``): the DataLoader's per-batch work
(sampler, fetch, collate, its profiler annotation, wrapping the NumPy batch as tensors) cost a
quarter to a third of the copy, however little of it was left.

:class:`CacheLoader` is a :class:`~torch.utils.data.DataLoader` in every other respect (same
arguments, samplers, ``collate_fn``, ``pin_memory``, worker processes, the one draw from
``generator`` per iterator). Its in-process iterator (``num_workers: 0``):

* **reads ahead**: it takes the indices of several batches (``batches_per_read``; default as
  many as fit in :data:`READ_AHEAD_BYTES`) and reads them with one
  :meth:`DecodedCache.read <torchgan_ext.data.cache.DecodedCache.read>`: every batch's tensors
  are made first, from slices of one array per field, then the array is filled (one gather per
  field for whole stored images, a loop of item copies for crops), and the batches are handed
  out one by one. No two batches share pixels.
* **reuses memory only when nothing holds it** (:class:`Recycler`): a read's array is
  overwritten by a later read only once no tensor, view or array made from it is left (a weak
  reference to the array they all keep alive is dead), so a batch a user keeps never changes.
  A new array of several MB per read would come back from the allocator unmapped and cost its
  page faults.
* **draws per epoch**: the random crop offsets and flips of the item at position ``p`` of the
  epoch's order are row ``p`` of ``torch.rand(positions, draws)`` from a generator seeded with
  the iterator's base seed (the DataLoader's one draw from ``generator``, which
  ``torchgan-run`` reseeds every epoch). They depend neither on the read size nor on the
  batch size; a sampler with ``start`` (a resumed :class:`~torchgan_ext.data.ResumableSampler`)
  continues the epoch's draws where it starts, so ``--resume`` is exact; with
  ``num_replicas``/``rank`` the position is the one in the global order, so a run on 2
  processes flips and crops every item as one process would. The global generator is not
  touched beyond the base seed (as by the DataLoader). (Without batches, ``batch_size=None``,
  or with a sampler that has no length, the iterator reads batch by batch and
  ``DecodedCache.__getitems__`` draws from the global generator.)
* leaves out the DataLoader's per-batch :func:`torch.autograd.profiler.record_function`
  annotation (two operator calls), so :func:`torch.profiler.profile` traces show no
  ``enumerate(DataLoader)`` span for it.

With worker processes it is the DataLoader's own iterator: each worker builds its batches in
shared memory with ``DecodedCache.__getitems__`` (draws from the worker's generator, as any
random transform in a DataLoader worker).
"""

from __future__ import annotations

import itertools
import math
import weakref
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader

from .collate import Collated
from .sampler import ResumableSampler

__all__ = ["CacheLoader", "READ_AHEAD_BYTES", "Recycler"]

#: Default bytes read at once by :class:`CacheLoader` (whole batches, at least one; counted at
#: the larger of an item's stored and finished bytes). Measured (``benchmarks/cache_stages.py``,
#: 128 px batches of 32, 1.5 MB): reads of 7-10 batches (11-16 MB) came within 0.93-0.97 of the
#: bare gather, 12 batches (19 MB) fell to 0.73-0.84 on the 2-core test machine (two reads'
#: arrays no longer stay in the CPU's caches); 13 MiB is 8 such batches with their labels.
READ_AHEAD_BYTES = 13 << 20

try:  # the DataLoader's in-process iterator (torch-internal; present since torch 1.7)
    from torch.utils.data import _utils as _data_utils
    from torch.utils.data.dataloader import _SingleProcessDataLoaderIter
except ImportError:  # pragma: no cover - a torch without it: the DataLoader's own iterator
    _SingleProcessDataLoaderIter = None


class Recycler:
    """Memory for the reads of one loader, reused once nothing outside holds it.

    Each array handed out is a view of a fresh *owner* array over a pooled block of memory;
    every slice, view, tensor (``torch.from_numpy`` keeps its array) or ``batch.numpy()``
    array made from it keeps the owner alive. The block is reused only once the owner is gone
    (a weak reference to it is dead), so a batch a user keeps (or autograd saves) is never
    overwritten. Unlike a reference count, this does not depend on how the interpreter counts
    its own references. Reusing the memory saves its page faults: a new array of several MB
    per read comes back from the allocator unmapped (measured: 10.7 page faults per 128 px
    batch of 32, and reading ahead fell from 0.89-0.96 to 0.72-0.77 of the bare gather).

    (Only the arrays handed out and what is made from them count: the owner's memoryview,
    reachable as ``array.base.base``, does not keep the owner alive; an array built on it
    alone can see its pixels overwritten.)

    Args:
        keep: Free blocks kept for reuse after each call (blocks still held outside are
            kept besides).
    """

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._blocks: list[tuple[np.ndarray, weakref.ref | None]] = []

    def __call__(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` (see :data:`cache.Allocate`)."""
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        free = [i for i, (_, owner) in enumerate(self._blocks) if _free(owner)]
        fits = [i for i in free if self._blocks[i][0].nbytes >= nbytes]
        chosen = self._blocks[fits[0]][0] if fits else np.empty(max(nbytes, 1), np.uint8)
        # an owner whose base is a memoryview: NumPy collapses every view's base to it
        owner = np.frombuffer(memoryview(chosen), dtype=np.uint8, count=nbytes)
        entry = (chosen, weakref.ref(owner))
        if fits and len(free) - 1 <= self.keep:  # the common case: reuse, nothing to let go
            self._blocks[fits[0]] = entry
            return owner.view(dtype).reshape(shape)
        # the oldest free blocks beyond `keep` are let go (held ones stay listed)
        others = [i for i in free if self._blocks[i][0] is not chosen]
        drop = set(others[: max(0, len(others) - self.keep)])
        blocks = [b for j, b in enumerate(self._blocks) if j not in drop]
        if fits:
            blocks = [entry if b[0] is chosen else b for b in blocks]
        else:
            blocks.append(entry)
        self._blocks = blocks
        return owner.view(dtype).reshape(shape)


def _nbytes(value: Any) -> int:
    """Bytes of the tensors and arrays in a batch (nested lists, tuples, dicts)."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    return 0


def _free(owner: weakref.ref | None) -> bool:
    """No array made from the block is alive."""
    return owner is None or owner() is None


class _EpochDraws:
    """The uniform draws of one epoch, by position in the (global) order of the sampler.

    Rows are drawn at the start for every position the sampler will give; a batch sampler
    that gives more items than its sampler has (repeats) continues the same generator.
    """

    def __init__(self, sampler: Any, per_item: int, seed: int) -> None:
        resumable = isinstance(sampler, ResumableSampler)
        self.position = sampler.start if resumable else 0
        self.per_item = per_item
        self.world = sampler.num_replicas if resumable else 1
        self.rank = sampler.rank if resumable else 0
        self.table: np.ndarray | None = None
        if per_item:
            self.generator = torch.Generator()
            self.generator.manual_seed(seed)
            self.table = self._draw(self.position + len(sampler))

    def _draw(self, positions: int) -> np.ndarray:
        """The next ``positions`` rows of this rank (position q is global row q * world +
        rank)."""
        rows = torch.rand(positions * self.world, self.per_item, generator=self.generator)
        return rows[self.rank :: self.world].numpy()

    def take(self, n: int) -> np.ndarray | None:
        """The rows of the next ``n`` items."""
        start, self.position = self.position, self.position + n
        if self.table is None:
            return None
        if self.position > len(self.table):
            more = self._draw(self.position - len(self.table))
            self.table = np.concatenate([self.table, more])
        return self.table[start : self.position]


if _SingleProcessDataLoaderIter is not None:

    class _UnannotatedIterator(_SingleProcessDataLoaderIter):
        """The in-process iterator, without the per-batch profiler annotation."""

        def __next__(self) -> Any:
            data = self._next_data()  # may raise StopIteration
            self._num_yielded += 1
            return data

    class _ReadAheadIterator(_UnannotatedIterator):
        """Reads ``batches_per_read`` batches at once (see the module docstring)."""

        def __init__(self, loader: CacheLoader) -> None:
            super().__init__(loader)
            # None: the loader's first read is one batch, whose finished size sets the read
            # size of every later read (kept on the loader)
            self._loader = loader
            self._per_read = loader.batches_per_read or loader._read_size
            self._ready: list[Any] = []  # the batches read ahead, last first
            self._draws = _EpochDraws(loader.order_sampler, loader.dataset.draws, self._base_seed)
            self._allocate = loader.recycler
            # the item iterator of a plain BatchSampler (its batches taken with islice)
            plain = type(self._index_sampler) is BatchSampler
            self._items = iter(self._index_sampler.sampler) if plain else None

        def _next_data(self) -> Any:
            if not self._ready:
                self._read()  # may raise StopIteration
            return self._ready.pop()

        def _next_indices(self, count: int) -> tuple[list[int], list[int]]:
            """The indices of the next ``count`` batches, and their sizes."""
            if self._items is not None:  # a plain BatchSampler: the same batches, in C
                bs, drop_last = self._index_sampler.batch_size, self._index_sampler.drop_last
                indices = list(itertools.islice(self._items, bs * count))
                whole, rest = divmod(len(indices), bs)
                if rest and drop_last:
                    del indices[whole * bs :]
                return indices, [bs] * whole + ([rest] if rest and not drop_last else [])
            indices, sizes = [], []
            for _ in range(count):
                try:
                    batch = self._next_index()
                except StopIteration:
                    break
                indices.extend(batch)
                sizes.append(len(batch))
            return indices, sizes

        def _read(self) -> None:
            indices, sizes = self._next_indices(self._per_read or 1)
            if not sizes:
                raise StopIteration
            draws = self._draws.take(len(indices))
            batches = self._dataset.read(indices, draws, self._allocate, sizes)
            if self._per_read is None:  # what a finished item holds (one-hot maps: 20x more)
                self._per_read = self._loader.read_ahead(_nbytes(batches[0]) // sizes[0])
                self._loader._read_size = self._per_read
            batches = [self._collate_fn(Collated(batch)) for batch in reversed(batches)]
            if self._pin_memory:  # after collate, as the DataLoader pins
                pin, device = _data_utils.pin_memory.pin_memory, self._pin_memory_device
                batches = [pin(batch, device) for batch in batches]
            self._ready = batches


class CacheLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` for a
    :class:`~torchgan_ext.data.cache.DecodedCache`, whose in-process iterator reads several
    batches at once and draws the random windows per epoch (see the module docstring);
    ``torchgan-run`` uses it for datasets read from ``data.cache``.

    Args:
        *args: The DataLoader's arguments.
        batches_per_read: Batches the in-process iterator reads at once; ``None``: as many
            as fit in :data:`READ_AHEAD_BYTES` (at least one), at the bytes of an item as
            stored or as finished, whichever is larger (measured on the loader's first batch,
            which is read alone).
        **kwargs: The DataLoader's keyword arguments.

    Raises:
        ValueError: ``batches_per_read`` is not a positive integer.
    """

    def __init__(self, *args: Any, batches_per_read: int | None = None, **kwargs: Any) -> None:
        if batches_per_read is not None and (
            isinstance(batches_per_read, bool)
            or not isinstance(batches_per_read, int)
            or batches_per_read < 1
        ):
            raise ValueError(
                f"batches_per_read: must be a positive integer or None, got {batches_per_read!r}"
            )
        super().__init__(*args, **kwargs)
        self.batches_per_read = batches_per_read
        self.recycler = Recycler()
        self._read_size: int | None = None  # measured on the first read

    def can_read_ahead(self) -> bool:
        """The in-process iterator reads ahead: batches (``batch_size`` or a batch sampler),
        a dataset with ``read``, a sampler with a length."""
        if not self._auto_collation or not hasattr(self.dataset, "read"):
            return False
        try:
            len(self.order_sampler)
        except TypeError:
            return False
        return True

    def read_ahead(self, finished_bytes: int = 0) -> int:
        """Batches per read: ``batches_per_read``, or as many as fit in
        :data:`READ_AHEAD_BYTES` at the larger of an item's stored bytes and
        ``finished_bytes`` (what a batch's item holds after the dataset's finish)."""
        if self.batches_per_read is not None:
            return self.batches_per_read
        batch = self.batch_size or getattr(self.batch_sampler, "batch_size", None) or 1
        item = max(self.dataset.item_bytes, finished_bytes, 1)
        return max(1, READ_AHEAD_BYTES // (batch * item))

    @property
    def order_sampler(self) -> Any:
        """The sampler of the item order (the batch sampler's, where one was given)."""
        return getattr(self.batch_sampler, "sampler", self.sampler)

    def _get_iterator(self) -> Any:
        if self.num_workers == 0 and _SingleProcessDataLoaderIter is not None:
            if self.can_read_ahead():
                return _ReadAheadIterator(self)
            return _UnannotatedIterator(self)
        return super()._get_iterator()
