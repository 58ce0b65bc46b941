"""A shuffling sampler that is reproducible per epoch and can resume in the middle of one.

The order of epoch ``e`` is a permutation drawn from a generator seeded with ``seed + e`` (the
scheme of ``DistributedSampler``), so a resumed run sees exactly the batches the uninterrupted
run would have seen: :meth:`ResumableSampler.set_start` skips the samples already consumed.
With ``num_replicas > 1`` each rank takes every ``num_replicas``-th index of the padded order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableSampler"]


class ResumableSampler(Sampler[int]):
    """Per-epoch seeded (optionally shuffled) sampler with a start offset.

    Args:
        length: Number of samples of the dataset.
        shuffle: Shuffle every epoch.
        seed: Base seed; epoch ``e`` uses ``seed + e``.
        num_replicas: Number of data-parallel processes.
        rank: This process's rank.
        drop_last: Drop the tail so that every rank gets the same number of samples
            (otherwise the order is padded by repeating its start).
    """

    def __init__(
        self,
        length: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.length = length
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.epoch = 0
        self.start = 0
        if drop_last:
            self.num_samples = length // num_replicas
        else:
            self.num_samples = math.ceil(length / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch`` (and reset the start offset)."""
        self.epoch = epoch
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` samples of this rank's order in the current epoch."""
        self.start = max(0, min(start, self.num_samples))

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        total = self.num_samples * self.num_replicas
        if total > len(order):
            reps = math.ceil(total / max(1, len(order)))
            order = (order * reps)[:total]
        else:
            order = order[:total]
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start
