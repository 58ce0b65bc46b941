"""The DataLoader of the decoded cache: in-process batches without per-batch annotation.

A batch read from the decoded cache (:class:`~torchgan_ext.data.cache.DecodedCache`) is one
copy of about 1.5 MB (32 images of 128 px) at memory speed, ~150 us. That copy flushes the
CPU's caches, so every torch call made between two copies runs cold: measured on the 2-core
machine of ``benchmarks/data_loading.py``, 20-70 us for a call that takes 1-2 us in a loop of
its own. :class:`torch.utils.data.DataLoader` wraps each in-process ``__next__`` in a
:func:`torch.autograd.profiler.record_function` annotation (two dispatched torch operator
calls), which then costs 60-110 us per batch, as much as half the copy.

:class:`CacheLoader` is a :class:`~torch.utils.data.DataLoader` in every other respect (same
arguments, samplers, ``collate_fn``, ``pin_memory``, worker processes, the one draw from
``generator`` per iterator); only its in-process iterator (``num_workers: 0``) leaves the
annotation out, so :func:`torch.profiler.profile` traces show no
``enumerate(DataLoader)`` span for it. With worker processes it is the DataLoader's own
iterator.
"""

from __future__ import annotations

from typing import Any

from torch.utils.data import DataLoader

__all__ = ["CacheLoader"]

try:  # the DataLoader's in-process iterator (torch-internal; present since torch 1.7)
    from torch.utils.data.dataloader import _SingleProcessDataLoaderIter
except ImportError:  # pragma: no cover - a torch without it: the DataLoader's own iterator
    _SingleProcessDataLoaderIter = None


if _SingleProcessDataLoaderIter is not None:

    class _UnannotatedIterator(_SingleProcessDataLoaderIter):
        """The in-process iterator, without the per-batch profiler annotation."""

        def __next__(self) -> Any:
            data = self._next_data()  # may raise StopIteration
            self._num_yielded += 1
            return data


class CacheLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` whose in-process iterator skips the per-batch
    profiler annotation (see the module docstring); ``torchgan-run`` uses it for datasets read
    from ``data.cache``. Takes the DataLoader's arguments."""

    def _get_iterator(self) -> Any:
        if self.num_workers == 0 and _SingleProcessDataLoaderIter is not None:
            return _UnannotatedIterator(self)
        return super()._get_iterator()
