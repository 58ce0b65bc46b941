"""Where a cached batch's time goes: the decoded cache's loader built up from the bare copy loop.

``benchmarks/data_loading.py`` compares the cached loader with a bare loop that copies the same
shuffled items out of the memory-mapped array into a batch buffer. This script splits the
difference, in one process and one run, as medians of interleaved passes (the same order of
the same 300 CelebA-format items ten times per pass, batch 32, 128 px), each row adding one
stage to the one before:

* ``bare copy loop``: the floor (``data_loading.memmap_pass``);
* ``+ loader``: the same loop as a dataset's ``__getitems__`` returning the NumPy batch,
  through :class:`torchgan_ext.data.CacheLoader` (sampler, fetch, collate, the iterator);
* ``+ torch batch``: the batch wrapped as a channels-last torch tensor (one
  ``torch.from_numpy`` per batch, and the tensor's release when the next batch replaces it);
* ``DecodedCache``: the real cached dataset (labels as a second tensor, the plan's batch);
* ``DecodedCache, plain DataLoader``: the same through :class:`torch.utils.data.DataLoader`,
  whose in-process iterator wraps every batch in a profiler annotation;
* with random flips: the bare loop over the stored mirror images (random rows of the
  ``[N * 2, H, W, C]`` array) and the cached dataset with flips.

Every timed pass follows an untimed one of the same row (the mirror array is twice the plain
one: a row after the other array's row would start with the CPU caches holding that array).

It also times one cheap torch call (``torch.empty(0)``) made right after a batch copy against
the same call in a loop of its own: the copy flushes the CPU's caches, so every call made
between two copies runs cold; that is the mechanism behind most rows above.

    python benchmarks/cache_stages.py [--images 300] [--repeats 21] [--epoch 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_loading import _photos, make_draw, memmap_pass

from torchgan_ext.data import CacheLoader, CelebA, DecodedCache, collate
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.data.collate import Collated
from torchgan_ext.testing import write_celeba


class CopyOnly(Dataset):
    """The bare copy loop as a dataset (``tensor``: wrap the batch as a torch tensor)."""

    def __init__(self, array: np.ndarray, tensor: bool) -> None:
        self.array, self.tensor = array, tensor

    def __len__(self) -> int:
        return len(self.array)

    def __getitems__(self, indices: list[int]) -> Collated:
        out = np.empty((len(indices), *self.array.shape[1:]), dtype=self.array.dtype)
        batch = torch.from_numpy(out.transpose(0, 3, 1, 2)) if self.tensor else out
        for i, j in enumerate(indices):
            out[i] = self.array[j]
        return Collated([batch, None])


def rows_pass(rows: np.ndarray, order: list[list[int]]) -> None:
    for chunk in order:
        out = np.empty((len(chunk), *rows.shape[1:]), dtype=rows.dtype)
        for i, j in enumerate(chunk):
            out[i] = rows[j]


def loader_pass(loader: DataLoader) -> None:
    for _ in loader:
        pass


def cold_call(array: np.ndarray, order: list[int], batch: int) -> tuple[float, float]:
    """Microseconds of ``torch.empty(0)`` after each batch copy, and in a loop of its own."""
    after = []
    for b in range(0, len(order), batch):
        out = np.empty((len(order[b : b + batch]), *array.shape[1:]), dtype=array.dtype)
        for i, j in enumerate(order[b : b + batch]):
            out[i] = array[j]
        start = time.perf_counter()
        torch.empty(0)
        after.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(1000):
        torch.empty(0)
    return statistics.median(after) * 1e6, (time.perf_counter() - start) * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--epoch", type=int, default=10, help="passes over the items per timed pass")
    args = p.parse_args()
    torch.set_num_threads(1)
    batch = 32
    with tempfile.TemporaryDirectory() as tmp:
        fake = write_celeba(tmp, args.images, size=(218, 178), draw=make_draw(_photos()[0]))
        plain = CelebA(fake.root, split="all", image_size=128, output="uint8")
        flipping = CelebA(fake.root, split="all", image_size=128, output="uint8")
        flipping.flip = True
        build_cache(plain.cache_plan(), Path(tmp) / "c")
        build_cache(flipping.cache_plan(), Path(tmp) / "f")
        cached, cached_flip = (
            DecodedCache(plain, Path(tmp) / "c"),
            DecodedCache(flipping, Path(tmp) / "f"),
        )
        array = np.asarray(np.load(Path(tmp) / "c" / "image.npy", mmap_mode="r"))
        mirror = np.asarray(np.load(Path(tmp) / "f" / "image.npy", mmap_mode="r"))
        mirror = mirror.reshape(-1, *mirror.shape[2:])
        g = torch.Generator().manual_seed(0)
        order = torch.cat([torch.randperm(len(array), generator=g) for _ in range(args.epoch)])
        order = order.tolist()
        rng = np.random.default_rng(0)
        flip_rows = [
            [2 * j + int(rng.integers(2)) for j in order[b : b + batch]]
            for b in range(0, len(order), batch)
        ]

        def through(dataset: Dataset, cls: type = CacheLoader) -> DataLoader:
            return cls(dataset, batch_size=batch, sampler=order, collate_fn=collate)

        stages = {
            "bare copy loop": lambda: memmap_pass(array, order, batch),
            "+ loader (CacheLoader, NumPy batch)": lambda: loader_pass(
                through(CopyOnly(array, False))
            ),
            "+ torch batch (from_numpy, release)": lambda: loader_pass(
                through(CopyOnly(array, True))
            ),
            "DecodedCache (+ labels, plan)": lambda: loader_pass(through(cached)),
            "DecodedCache, plain DataLoader": lambda: loader_pass(through(cached, DataLoader)),
            "bare copy loop, mirror rows": lambda: rows_pass(mirror, flip_rows),
            "DecodedCache + flips (mirror)": lambda: loader_pass(through(cached_flip)),
        }
        wall: dict[str, list[float]] = {k: [] for k in stages}
        cpu: dict[str, list[float]] = {k: [] for k in stages}
        for fn in stages.values():
            fn()  # warm up: page cache, mappings
        for _ in range(args.repeats):
            for name, fn in stages.items():
                fn()  # untimed: every row starts with its own array in the CPU caches
                w, c = time.perf_counter(), time.process_time()
                fn()
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
        cold, warm = cold_call(array, order, batch)
    batches = -(-len(order) // batch)
    print(
        f"{args.images} items x {args.epoch} per pass, batch {batch}, 128 px; torch "
        f"{torch.__version__}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"medians of {args.repeats} interleaved passes"
    )
    print(f"{'stage':<40}{'us/batch':>9}{'CPU us/batch':>13}{'/ bare':>8}{'CPU / bare':>11}")
    base = statistics.median(wall["bare copy loop"])
    base_cpu = statistics.median(cpu["bare copy loop"])
    for name in stages:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"{name:<40}{w / batches * 1e6:>9.1f}{c / batches * 1e6:>13.1f}"
            f"{base / w:>8.2f}{base_cpu / c:>11.2f}"
        )
    print(
        f"torch.empty(0) right after a batch copy: {cold:.1f} us; "
        f"in a loop of its own: {warm:.2f} us"
    )


if __name__ == "__main__":
    main()
