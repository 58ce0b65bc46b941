"""Skip samples whose files cannot be read or decoded, and count them (``data.skip_corrupt``)."""

from __future__ import annotations

import multiprocessing
import warnings
from typing import Any

from torch.utils.data import Dataset

__all__ = ["SkipCorrupt"]


class SkipCorrupt(Dataset):
    """Wrap a dataset so that an item raising :class:`OSError` or :class:`ValueError` (a missing,
    unreadable or corrupt file; the datasets name it in the message) is replaced by the next
    readable item; every skip is counted and warned about with the file's name.

    The counter is shared with DataLoader worker processes (created before they fork).

    Args:
        dataset: The wrapped dataset.
        max_consecutive: Give up (raise) after this many unreadable items in a row.
    """

    def __init__(self, dataset: Dataset, max_consecutive: int = 100) -> None:
        self.dataset = dataset
        self.max_consecutive = max_consecutive
        self._skipped = multiprocessing.Value("l", 0)

    @property
    def skipped(self) -> int:
        """Number of items skipped so far (all workers)."""
        return int(self._skipped.value)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        # dataset attributes (channels, image_size, ...) stay visible through the wrapper
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int) -> Any:
        n = len(self.dataset)
        last: Exception | None = None
        for k in range(min(n, self.max_consecutive)):
            try:
                return self.dataset[(index + k) % n]
            except (OSError, ValueError) as e:
                last = e
                with self._skipped.get_lock():
                    self._skipped.value += 1
                warnings.warn(f"skipping corrupt sample: {e}", RuntimeWarning, stacklevel=2)
        raise RuntimeError(
            f"{self.max_consecutive} unreadable samples in a row from index {index}; last: {last}"
        ) from last
