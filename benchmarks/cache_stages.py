"""Where a cached batch's time goes: the decoded cache's loader against the bare gather loop.

``benchmarks/data_loading.py`` compares the cached loader with a bare loop that gathers the same
shuffled items out of the memory-mapped array, one :func:`numpy.take` per batch. This script
shows, in one process and one run, as medians of interleaved passes (the same order of the same
300 CelebA-format items ten times per pass, batch 32, 128 px), what each part of the loader's
design is worth:

* ``bare gather`` (the floor, ``data_loading.memmap_pass``) and ``bare copy loop`` (a loop of
  item copies, the previous round's floor);
* ``DecodedCache, plain DataLoader``: one ``__getitems__`` per batch through
  :class:`torch.utils.data.DataLoader` (its per-batch profiler annotation included);
* ``CacheLoader, N batches per read``: :class:`torchgan_ext.data.CacheLoader` reading 1 (no
  read-ahead), 4, 8 (the default here, :data:`~torchgan_ext.data.cache_loader.READ_AHEAD_BYTES`),
  12 and 16 batches at once;
* ``... without memory reuse``: the default read size with a new array per read instead of the
  loader's :class:`~torchgan_ext.data.cache_loader.Recycler` (page faults per batch printed);
* with random flips: the bare gather of the stored mirror images' rows (random rows of the
  ``[N * 2, H, W, C]`` array) and the cached loader with flips.

Every timed pass follows an untimed one of the same row (the mirror array is twice the plain
one: a row after the other array's row would start with the CPU caches holding that array).

It also times one cheap torch call (``torch.empty(0)``) made right after a batch gather against
the same call in a loop of its own: the gather flushes the CPU's caches, so every call made
between two gathers runs cold; that is the mechanism the read-ahead amortises.

    python benchmarks/cache_stages.py [--images 300] [--repeats 21] [--epoch 10]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_loading import _photos, make_draw, memmap_copy_loop, memmap_pass

from torchgan_ext.data import CacheLoader, CelebA, DecodedCache, collate
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.testing import write_celeba


def loader_pass(loader: DataLoader) -> None:
    for _ in loader:
        pass


def cold_call(array: np.ndarray, order: list[int], batch: int) -> tuple[float, float]:
    """Microseconds of ``torch.empty(0)`` after each batch gather, and in a loop of its own."""
    after = []
    for b in range(0, len(order), batch):
        array.take(order[b : b + batch], axis=0)
        start = time.perf_counter()
        torch.empty(0)
        after.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(1000):
        torch.empty(0)
    return statistics.median(after) * 1e6, (time.perf_counter() - start) * 1e3


def faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


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
        coins = torch.randint(0, 2, (len(order),), generator=g).tolist()
        mirror_rows = [2 * j + c for j, c in zip(order, coins, strict=True)]

        def through(dataset: Dataset, per_read: int | None = None, cls: type = CacheLoader):
            kw = {} if cls is DataLoader else {"batches_per_read": per_read}
            return cls(dataset, batch_size=batch, sampler=order, collate_fn=collate, **kw)

        default = through(cached).read_ahead()
        fresh = through(cached)
        fresh.recycler = np.empty  # a new array per read
        stages = {
            "bare gather (numpy.take per batch)": lambda: memmap_pass(array, order, batch),
            "bare copy loop": lambda: memmap_copy_loop(array, order, batch),
            "DecodedCache, plain DataLoader": lambda: loader_pass(through(cached, cls=DataLoader)),
        }
        for k in sorted({1, 4, default, 12, 16}):
            label = " (default)" if k == default else ""
            loader = through(cached, k)
            stages[f"CacheLoader, {k} batches per read{label}"] = partial(loader_pass, loader)
        stages[f"CacheLoader, {default} per read, without memory reuse"] = partial(
            loader_pass, fresh
        )
        stages["bare gather, mirror rows"] = lambda: memmap_pass(mirror, mirror_rows, batch)
        stages["CacheLoader + flips (mirror)"] = partial(loader_pass, through(cached_flip))
        wall: dict[str, list[float]] = {k: [] for k in stages}
        cpu: dict[str, list[float]] = {k: [] for k in stages}
        flt: dict[str, list[int]] = {k: [] for k in stages}
        for fn in stages.values():
            fn()  # warm up: page cache, mappings
        for _ in range(args.repeats):
            for name, fn in stages.items():
                fn()  # untimed: every row starts with its own array in the CPU caches
                f, w, c = faults(), time.perf_counter(), time.process_time()
                fn()
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
                flt[name].append(faults() - f)
        cold, warm = cold_call(array, order, batch)
    batches = -(-len(order) // batch)
    print(
        f"{args.images} items x {args.epoch} per pass, batch {batch}, 128 px; torch "
        f"{torch.__version__}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"medians of {args.repeats} interleaved passes"
    )
    print(
        f"{'stage':<48}{'us/batch':>9}{'CPU us/batch':>13}{'/ bare':>8}{'CPU / bare':>11}"
        f"{'faults/batch':>13}"
    )
    base = statistics.median(wall["bare gather (numpy.take per batch)"])
    base_cpu = statistics.median(cpu["bare gather (numpy.take per batch)"])
    for name in stages:
        if name == "CacheLoader + flips (mirror)":  # its floor reads the mirror rows
            base = statistics.median(wall["bare gather, mirror rows"])
            base_cpu = statistics.median(cpu["bare gather, mirror rows"])
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"{name:<48}{w / batches * 1e6:>9.1f}{c / batches * 1e6:>13.1f}"
            f"{base / w:>8.2f}{base_cpu / c:>11.2f}{statistics.median(flt[name]) / batches:>13.1f}"
        )
    print("(the flips row is divided by the mirror rows' bare gather, the others by the plain one)")
    print(
        f"torch.empty(0) right after a batch gather: {cold:.1f} us; "
        f"in a loop of its own: {warm:.2f} us"
    )


if __name__ == "__main__":
    main()
