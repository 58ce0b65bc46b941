"""Data-loading speed of the ``celeba`` pipeline against the raw JPEG decode rate.

Writes a few hundred CelebA-format JPEGs of the official size (178x218, photo content cut from
scikit-image's bundled pictures so that decoding costs what a real photo costs), then measures
in one run, as medians of repeated full passes:

* ``raw decode``: read each file and ``torchvision.io.decode_jpeg`` it, nothing else (the
  floor every JPEG pipeline pays);
* ``celeba, N workers``: ``torchgan_ext.data.CelebA`` (decode, 178 center crop, antialiased
  resize to 128, random flip, [-1, 1] float) through a ``DataLoader`` with batches of 32,
  for 0 and 2 workers (persistent workers; their start-up is excluded);
* ``celeba uint8, N workers``: the same with ``output: uint8`` (the trainer converts to
  [-1, 1] on the device; 4x fewer bytes cross from the workers);
* every celeba loader collates with :func:`torchgan_ext.data.collate`, as ``torchgan-run``
  does (uint8 images stacked channels-last, without a transposing copy);
* ``raw decode_jpeg, N workers``: the bare decode in the same worker processes (with the
  largest worker count), which shows how far the machine's cores scale it;
* ``PIL reference``: the torchvision-datasets way (PIL open, ``CenterCrop``, ``Resize``,
  ``ToTensor``, ``Normalize``), 0 workers;
* the decoded cache (``torchgan_ext.data.DecodedCache``, ``data.cache`` of a config): its build
  time per image (decode, crop, resize, write once), and ``cached, N workers``: the same items
  read from the memory-mapped ``uint8`` array, in a shuffled order, for 0 and 2 workers (and
  with random flips read from the stored mirror images), through
  ``torchgan_ext.data.CacheLoader`` as ``torchgan-run`` builds it; once through a plain
  ``DataLoader`` (one ``__getitems__`` per batch); and once in file order (``shuffle: false``);
* ``bare memmap read``: the new floor: one ``numpy.take`` per batch gathering its items (same
  shuffled order) from the memory-mapped array into a new array, nothing else (the fastest
  gather found); the same as a loop of item copies into a batch array (the previous round's
  floor, 9-15% slower); contiguous slices (sequential order); and random rows of the flipping
  cache's ``[N * 2, H, W, C]`` array (item or mirror image at random): the floor of the
  loader with flips, which reads twice the memory.

Each timed pass over a cache array (bare or through a loader) follows an untimed pass over the
same array: otherwise the row after another array's row starts with the CPU caches holding the
other array (with 300 images the array fits in the last-level cache), a bias of several percent.
The passes run in four phases, each interleaved: the decoding pipelines without workers, with
the raw decode; the decoding pipelines with workers, with the raw decode; the raw decode, the
bare reads and the in-process cached loaders; the cached loaders with workers. Worker processes
end with their phase, so idle workers of one row never share the machine with another phase's
rows (the cached 2-worker loader's idle workers cost the in-process cached loader 3-5% when they
stayed alive). Each row's ``/ raw`` divides by the raw decode of its own phase (the cached rows
with workers: by the cache phase's).

Goals (one run): the cached loader >= 5x the raw decode rate and >= 0.9 of the bare memmap read.

Prints images/s and the ratios ``pipeline / raw decode`` (goal >= 0.9) and
``pipeline / PIL``; for the in-process passes also the rate by CPU time (robust when other
processes share the cores), and a per-stage cost breakdown of one item.

The main process runs with ``--threads`` intra-op threads (default 1, like every DataLoader
worker and like the single-threaded decoder): on a machine whose cores are shared, splitting
tiny per-image and per-batch tensor ops over threads measures scheduler contention instead of
the pipeline.

    python benchmarks/data_loading.py [--images 300] [--size 128] [--repeats 5] [--batch 32]
        [--workers 0 2] [--threads 1] [--cache-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from torchgan_ext.data import CacheLoader, CelebA, DecodedCache, collate
from torchgan_ext.data._io import single_threaded
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.testing import write_celeba

warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")


def _photos() -> tuple[list[np.ndarray], str]:
    try:
        from skimage import data
    except ImportError:
        rng = np.random.default_rng(0)
        noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        big = np.kron(noise, np.ones((8, 8, 1), np.uint8))
        return [big], "synthetic texture (scikit-image not installed)"
    pictures = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    return [
        p[..., :3] for p in pictures
    ], "scikit-image photos (astronaut, coffee, chelsea, rocket)"


def make_draw(photos: list[np.ndarray]):
    def draw(index: int, attributes, size: tuple[int, int]) -> np.ndarray:
        photo = photos[index % len(photos)]
        h, w = size
        rng = np.random.default_rng(index)
        top = int(rng.integers(0, photo.shape[0] - h + 1)) if photo.shape[0] > h else 0
        left = int(rng.integers(0, photo.shape[1] - w + 1)) if photo.shape[1] > w else 0
        crop = photo[top : top + h, left : left + w]
        if crop.shape[:2] != (h, w):  # a picture smaller than the face size: tile it
            reps = (-(-h // crop.shape[0]), -(-w // crop.shape[1]), 1)
            crop = np.tile(crop, reps)[:h, :w]
        return np.ascontiguousarray(crop if index % 2 == 0 else crop[:, ::-1])

    return draw


def raw_decode_pass(paths: list[Path]) -> tuple[float, float]:
    """(images/s by wall clock, images/s by CPU time) of read + decode_jpeg."""
    from torchvision.io import ImageReadMode, decode_jpeg

    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        decode_jpeg(torch.from_numpy(np.fromfile(path, dtype=np.uint8)), mode=ImageReadMode.RGB)
    return len(paths) / (time.perf_counter() - start), len(paths) / (time.process_time() - cpu)


def memmap_pass(array: np.ndarray, order: list[int], batch: int) -> tuple[float, float]:
    """(images/s by wall clock, by CPU time) of gathering each batch's items (``order``, Python
    ints as a sampler gives them) from the memory-mapped ``array`` into a new array with one
    :func:`numpy.take`: the floor of any shuffled cached loader (a loader hands out a new batch
    each step). The fastest gather found: 9-15% ahead of a loop of item copies into a batch
    (:func:`memmap_copy_loop`), far ahead of ``torch.index_select`` on ``uint8`` rows. The
    same items as the loaders, the last batch short when ``batch`` does not divide them."""
    n = len(order)
    start, cpu = time.perf_counter(), time.process_time()
    for b in range(0, n, batch):
        array.take(order[b : b + batch], axis=0)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def memmap_copy_loop(array: np.ndarray, order: list[int], batch: int) -> tuple[float, float]:
    """The same as a loop copying each item into a new batch array (the previous floor)."""
    n = len(order)
    start, cpu = time.perf_counter(), time.process_time()
    for b in range(0, n, batch):
        chunk = order[b : b + batch]
        out = np.empty((len(chunk), *array.shape[1:]), dtype=array.dtype)
        for i, j in enumerate(chunk):
            out[i] = array[j]
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def memmap_slice_pass(array: np.ndarray, batch: int, repeat: int) -> tuple[float, float]:
    """The same with contiguous slices (sequential order: one copy per batch)."""
    n = len(array) // batch * batch
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        for b in range(0, n, batch):
            np.array(array[b : b + batch])
    return n * repeat / (time.perf_counter() - start), n * repeat / (time.process_time() - cpu)


class RawDecode(Dataset):
    """Read + ``decode_jpeg`` only, for the same rate with worker processes (returns a size)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> int:
        from torchvision.io import ImageReadMode, decode_jpeg

        data = torch.from_numpy(np.fromfile(self.paths[i], dtype=np.uint8))
        return decode_jpeg(data, mode=ImageReadMode.RGB).shape[-1]


def count_batch(items: list[int]) -> tuple[list[int], None]:
    """Collate of :class:`RawDecode`: no tensor crosses from the workers."""
    return items, None


def loader_pass(loader: DataLoader, n: int) -> tuple[float, float]:
    """(images/s by wall clock, by this process's CPU time) of one pass over ``loader``."""
    start, cpu = time.perf_counter(), time.process_time()
    seen = 0
    for images, _ in loader:
        seen += len(images)
    assert seen == n, (seen, n)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def stage_costs(dataset: CelebA, paths: list[Path], size: int, repeats: int) -> dict[str, float]:
    """Median CPU microseconds per image of each stage of the celeba pipeline."""
    from torchgan_ext.data._io import read_bytes, read_image, resize_image, to_unit_range

    n = min(100, len(paths))
    data = [read_bytes(q) for q in paths[:n]]
    from torchvision.io import ImageReadMode, decode_jpeg

    decoded = [decode_jpeg(d, mode=ImageReadMode.RGB) for d in data]
    crops = [im[:, 20:198, :] for im in decoded]
    resized = [resize_image(c, (size, size)) for c in crops]
    stages = {
        "read file": lambda i: read_bytes(paths[i]),
        "decode_jpeg": lambda i: decode_jpeg(data[i], mode=ImageReadMode.RGB),
        "read_image (read+decode)": lambda i: read_image(paths[i]),
        "crop+resize": lambda i: resize_image(crops[i], (size, size)),
        "flip": lambda i: resized[i].flip(-1),
        "to [-1, 1] float": lambda i: to_unit_range(resized[i]),
        "whole item (dataset[i])": lambda i: dataset[i],
    }
    out: dict[str, list[float]] = {k: [] for k in stages}
    for _ in range(repeats):
        for name, fn in stages.items():
            start = time.process_time()
            for i in range(n):
                fn(i)
            out[name].append((time.process_time() - start) / n * 1e6)
    return {k: statistics.median(v) for k, v in out.items()}


class PILCelebA(Dataset):
    """The torchvision-datasets reference: PIL decode and PIL transforms."""

    def __init__(self, files: list[Path], size: int) -> None:
        from torchvision import transforms as T

        self.files = files
        self.transform = T.Compose(
            [
                T.CenterCrop(178),
                T.Resize(size),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        )

    def __len__(self) -> int:
        return len(self.files)

    @single_threaded  # as the celeba pipeline, so both get the same thread setting
    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.files[i]) as im:
            return self.transform(im.convert("RGB")), torch.zeros(1)


def decode_loaders(fake, paths: list[Path], args: argparse.Namespace) -> dict[str, DataLoader]:
    """The loaders that decode JPEGs every epoch (the celeba pipeline and its references)."""
    loaders = {}
    for output in ("float", "uint8"):
        dataset = CelebA(fake.root, split="all", image_size=args.size, flip=True, output=output)
        for w in args.workers:
            kw = {"persistent_workers": True} if w > 0 else {}
            name = f"celeba{' uint8' if output == 'uint8' else ''}, {w} workers"
            loaders[name] = DataLoader(
                dataset, batch_size=args.batch, num_workers=w, collate_fn=collate, **kw
            )
    raw_workers = max(args.workers)
    if raw_workers > 0:  # how far this machine scales the bare decode over processes
        loaders[f"raw decode_jpeg, {raw_workers} workers"] = DataLoader(
            RawDecode(paths),
            batch_size=args.batch,
            num_workers=raw_workers,
            collate_fn=count_batch,
            persistent_workers=True,
        )
    crop_only = CelebA(fake.root, split="all", image_size=None, flip=True)
    loaders["celeba 178 px (no resize), 0 workers"] = DataLoader(crop_only, batch_size=args.batch)
    loaders["PIL reference, 0 workers"] = DataLoader(
        PILCelebA(paths, args.size), batch_size=args.batch
    )
    return loaders


def cached_loaders(
    fake, tmp: str, args: argparse.Namespace, order: list[int]
) -> tuple[dict[str, DataLoader], dict[str, float], np.ndarray, np.ndarray]:
    """Build the decoded caches (timed) and their loaders, in the shuffled ``order``; the
    plain cache's image array, and the flipping cache's as ``[N * 2, H, W, C]`` rows."""
    plain = CelebA(fake.root, split="all", image_size=args.size, output="uint8")
    flipping = CelebA(fake.root, split="all", image_size=args.size, output="uint8")
    flipping.flip = True  # split "all" never flips; the benchmark wants the train behaviour
    builds, loaders = {}, {}
    for name, dataset in (("cache", plain), ("cache-flip", flipping)):
        for w in sorted({0, max(args.workers)}):
            path = Path(tmp) / f"{name}-{w}"
            cpu = time.process_time()
            info = build_cache(dataset.cache_plan(), path, workers=w)
            cpu = time.process_time() - cpu
            if name == "cache":
                builds[f"cache build, {w} workers"] = info.seconds / info.items * 1e6
                if w == 0:  # robust on a shared machine: this process did all the work
                    builds["cache build, 0 workers, CPU time"] = cpu / info.items * 1e6
        cached = DecodedCache(dataset, path)
        for w in args.workers if name == "cache" else [0]:
            kw = {"persistent_workers": True} if w > 0 else {}
            label = "cached uint8" + (" + flips (mirror)" if name == "cache-flip" else "")
            loaders[f"{label}, {w} workers"] = CacheLoader(  # as torchgan-run builds it
                cached,
                batch_size=args.batch,
                sampler=order,
                num_workers=w,
                collate_fn=collate,
                **kw,
            )
        if name == "cache":  # the same through a plain DataLoader (per-batch annotation)
            loaders["cached uint8, plain DataLoader, 0 workers"] = DataLoader(
                cached, batch_size=args.batch, sampler=order, collate_fn=collate
            )
            # in file order, epoch after epoch, against the bare sequential slices
            in_order = list(range(len(cached))) * (len(order) // len(cached))
            loaders["cached uint8, sequential order, 0 workers"] = CacheLoader(
                cached, batch_size=args.batch, sampler=in_order, collate_fn=collate
            )
    mapped = np.load(Path(tmp) / f"cache-{max(args.workers)}" / "image.npy", mmap_mode="r")
    array = np.asarray(mapped)  # a plain view: np.memmap's indexing hooks cost ~5 us an item
    mirror = np.asarray(np.load(Path(tmp) / "cache-flip-0" / "image.npy", mmap_mode="r"))
    return loaders, builds, array, mirror.reshape(-1, *mirror.shape[2:])


#: The raw decode timed beside the cache rows (the ``/ raw`` of every cache row), and beside
#: the decoding rows without and with worker processes (their ``/ raw``).
RAW = "raw decode_jpeg"
RAW_IN = {
    "decoding": "raw decode_jpeg (beside decoding)",
    "decoding, workers": "raw decode_jpeg (beside workers)",
}


def raw_for(name: str, wall: dict[str, float]) -> str:
    """The raw decode row a row is divided by: the one timed in the row's phase."""
    if name == RAW or name in RAW_IN.values():
        return name
    if name.startswith(("cached", "bare")) or RAW_IN["decoding"] not in wall:
        return RAW
    in_process = "workers" not in name or name.endswith(" 0 workers")
    return RAW_IN["decoding" if in_process else "decoding, workers"]


def _passes(loaders: dict[str, DataLoader]) -> dict[str, Callable[[], tuple[float, float]]]:
    """A timed pass over each loader (see :func:`loader_pass`)."""
    return {
        name: (lambda loader=loader: loader_pass(loader, len(loader.sampler)))
        for name, loader in loaders.items()
    }


def interleaved(
    rows: dict[str, Callable[[], tuple[float, float]]],
    repeats: int,
    rates: dict[str, list[tuple[float, float]]],
    untimed_first: Sequence[str] = (),
) -> None:
    """``repeats`` rounds of one timed pass of every row, appended to ``rates``; the rows in
    ``untimed_first`` get an untimed pass right before each timed one (a row over a cache
    array must not start with the CPU caches holding another row's data). One warm-up pass
    first (it starts persistent workers)."""
    for fn in rows.values():
        fn()
    for _ in range(repeats):  # interleaved, so machine noise hits all rows equally
        for name, fn in rows.items():
            if name in untimed_first:
                fn()
            rates.setdefault(name, []).append(fn())


def shut_down(loaders: dict[str, DataLoader]) -> None:
    """End the persistent worker processes of ``loaders`` (a DataLoader keeps them alive)."""
    for loader in loaders.values():
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        loader._iterator = None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of this process")
    p.add_argument("--cache-only", action="store_true", help="only raw decode and cache rows")
    p.add_argument(
        "--cache-epoch",
        type=int,
        default=10,
        help="cached loaders and bare reads pass over the images this many times per timed "
        "pass (a longer epoch, as in training; iterator start-up is amortised)",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    photos, content = _photos()
    with tempfile.TemporaryDirectory() as tmp:
        fake = write_celeba(tmp, args.images, size=(218, 178), draw=make_draw(photos), seed=0)
        paths = [fake.root / "img_align_celeba" / f for f in fake.filenames]
        mean_kb = sum(os.path.getsize(q) for q in paths) / len(paths) / 1024
        n = len(paths)
        generator = torch.Generator().manual_seed(0)
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(args.cache_epoch)])
        order = order.tolist()
        decoding = {} if args.cache_only else decode_loaders(fake, paths, args)
        cached, builds, array, mirror = cached_loaders(fake, tmp, args, order)
        coins = torch.randint(0, 2, (len(order),), generator=generator).tolist()
        mirror_rows = [2 * j + c for j, c in zip(order, coins, strict=True)]
        raw = {RAW: lambda: raw_decode_pass(paths)}
        bare = {
            "bare memmap read (shuffled)": lambda: memmap_pass(array, order, args.batch),
            "bare memmap read, mirror rows": lambda: memmap_pass(mirror, mirror_rows, args.batch),
            "bare memmap copy loop (shuffled)": lambda: memmap_copy_loop(array, order, args.batch),
            "bare memmap slices (sequential)": lambda: memmap_slice_pass(
                array, args.batch, args.cache_epoch
            ),
        }
        decode_0 = {k: v for k, v in decoding.items() if v.num_workers == 0}
        decode_w = {k: v for k, v in decoding.items() if v.num_workers > 0}
        in_process = {k: v for k, v in cached.items() if v.num_workers == 0}
        with_workers = {k: v for k, v in cached.items() if v.num_workers > 0}
        rates: dict[str, list[tuple[float, float]]] = {}
        raw_decode_pass(paths)  # warm the page cache
        # four phases, each of interleaved passes; a phase's worker processes end with it,
        # so that idle workers of one row never share the machine with another phase's rows
        # (measured: the cached 2-worker loader's idle workers cost the in-process cached
        # loader 3-5%, though no training run with num_workers: 0 has any). Each phase with
        # a decoding row times the raw decode beside it, under its own name.
        if decoding:
            interleaved({RAW_IN["decoding"]: raw[RAW], **_passes(decode_0)}, args.repeats, rates)
            beside = {RAW_IN["decoding, workers"]: raw[RAW]}
            interleaved({**beside, **_passes(decode_w)}, args.repeats, rates)
            shut_down(decode_w)
        cache_rows = {**raw, **bare, **_passes(in_process)}
        interleaved(cache_rows, args.repeats, rates, [*bare, *in_process])
        interleaved(_passes(with_workers), args.repeats, rates, [*with_workers])
        shut_down(with_workers)
        stages = {}
        if not args.cache_only:
            dataset = CelebA(fake.root, split="all", image_size=args.size, flip=True)
            stages = stage_costs(dataset, paths, args.size, args.repeats)
    report(args, rates, builds, stages, n, mean_kb, content)


def report(args, rates, builds, stages, n, mean_kb, content) -> None:
    wall = {k: statistics.median(r[0] for r in v) for k, v in rates.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in rates.items()}
    pil = wall.get("PIL reference, 0 workers")
    bare = wall["bare memmap read (shuffled)"]
    print(
        f"{n} JPEGs 218x178 ({mean_kb:.1f} KiB mean, {content}); output {args.size}x{args.size}, "
        f"batch {args.batch}; torch {torch.__version__}, {torch.get_num_threads()} intra-op "
        f"threads here, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"median of {args.repeats} interleaved passes"
    )
    print(
        f"{'pipeline':<40}{'images/s':>9}{'/ raw':>7}{'/ bare':>7}{'/ PIL':>7}"
        f"{'CPU-time img/s':>16}{'/ raw':>7}"
    )
    for name, value in wall.items():
        in_process = "workers" not in name or name.endswith(" 0 workers")
        raw, raw_cpu = wall[raw_for(name, wall)], cpu[raw_for(name, wall)]
        c = f"{cpu[name]:>16.0f}{cpu[name] / raw_cpu:>7.2f}" if in_process else f"{'-':>16}{'-':>7}"
        vs_pil = f"{value / pil:>7.2f}" if pil else f"{'-':>7}"
        print(f"{name:<40}{value:>9.0f}{value / raw:>7.2f}{value / bare:>7.2f}{vs_pil}{c}")
    print(f"{'':<40}main-process CPU per image with workers (receiving batches), microseconds:")
    for name in wall:
        if "workers" in name and not name.endswith(" 0 workers") and name not in RAW_IN.values():
            print(f"  {name:<38}{1e6 / cpu[name]:>8.1f}")
    print("cache build, microseconds per image (decode, crop, resize, write; wall unless CPU):")
    for name, us in builds.items():
        print(f"  {name:<38}{us:>8.1f}")
    if stages:
        print("CPU cost of one item, microseconds (median):")
        for name, us in stages.items():
            print(f"  {name:<28}{us:>8.1f}")
    for name in wall:
        if name.startswith("celeba"):
            ratio = wall[name] / wall[raw_for(name, wall)]
            verdict = "meets" if ratio >= 0.9 else "misses"
            print(f"{name}: {ratio:.2f} of the raw decode rate ({verdict} the 0.9 goal)")
    for name in wall:
        if name.startswith("cached"):
            # a loader with flips reads the stored mirror images, one in file order reads
            # consecutive items: their floors read the same way
            floor = "bare memmap read (shuffled)"
            if "flips" in name:
                floor = "bare memmap read, mirror rows"
            elif "sequential" in name:
                floor = "bare memmap slices (sequential)"
            floor_rate = wall[floor]
            r_raw, r_bare = wall[name] / wall[RAW], wall[name] / floor_rate
            goals = f"{'meets' if r_raw >= 5 else 'misses'} >= 5x, "
            goals += f"{'meets' if r_bare >= 0.9 else 'misses'} >= 0.9 of bare"
            print(f"{name}: {r_raw:.1f}x raw decode, {r_bare:.2f} of {floor} ({goals})")


if __name__ == "__main__":
    main()
