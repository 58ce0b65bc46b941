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
  ``ToTensor``, ``Normalize``), 0 workers.

Prints images/s and the ratios ``pipeline / raw decode`` (goal >= 0.9) and
``pipeline / PIL``; for the in-process passes also the rate by CPU time (robust when other
processes share the cores), and a per-stage cost breakdown of one item.

The main process runs with ``--threads`` intra-op threads (default 1, like every DataLoader
worker and like the single-threaded decoder): on a machine whose cores are shared, splitting
tiny per-image and per-batch tensor ops over threads measures scheduler contention instead of
the pipeline.

    python benchmarks/data_loading.py [--images 300] [--size 128] [--repeats 5] [--batch 32]
        [--workers 0 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from torchgan_ext.data import CelebA, collate
from torchgan_ext.data._io import single_threaded
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=300)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of this process")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    photos, content = _photos()
    with tempfile.TemporaryDirectory() as tmp:
        fake = write_celeba(tmp, args.images, size=(218, 178), draw=make_draw(photos), seed=0)
        paths = [fake.root / "img_align_celeba" / f for f in fake.filenames]
        mean_kb = sum(os.path.getsize(q) for q in paths) / len(paths) / 1024
        dataset = CelebA(fake.root, split="all", image_size=args.size, flip=True)
        n = len(dataset)

        loaders = {}
        for w in args.workers:
            kw = {"persistent_workers": True} if w > 0 else {}
            loaders[f"celeba, {w} workers"] = DataLoader(
                dataset, batch_size=args.batch, num_workers=w, collate_fn=collate, **kw
            )
        as_uint8 = CelebA(fake.root, split="all", image_size=args.size, flip=True, output="uint8")
        for w in args.workers:
            kw = {"persistent_workers": True} if w > 0 else {}
            loaders[f"celeba uint8, {w} workers"] = DataLoader(
                as_uint8, batch_size=args.batch, num_workers=w, collate_fn=collate, **kw
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
        loaders["celeba 178 px (no resize), 0 workers"] = DataLoader(
            crop_only, batch_size=args.batch
        )
        loaders["PIL reference, 0 workers"] = DataLoader(
            PILCelebA(paths, args.size), batch_size=args.batch
        )

        rates: dict[str, list[tuple[float, float]]] = {"raw decode_jpeg": []}
        rates.update({name: [] for name in loaders})
        raw_decode_pass(paths)  # warm the page cache
        for loader in loaders.values():
            loader_pass(loader, n)  # start persistent workers, warm up
        for _ in range(args.repeats):  # interleaved, so machine noise hits all equally
            rates["raw decode_jpeg"].append(raw_decode_pass(paths))
            for name, loader in loaders.items():
                rates[name].append(loader_pass(loader, n))
        stages = stage_costs(dataset, paths, args.size, args.repeats)

    wall = {k: statistics.median(r[0] for r in v) for k, v in rates.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in rates.items()}
    raw, raw_cpu = wall["raw decode_jpeg"], cpu["raw decode_jpeg"]
    pil = wall["PIL reference, 0 workers"]
    print(
        f"{n} JPEGs 218x178 ({mean_kb:.1f} KiB mean, {content}); output {args.size}x{args.size}, "
        f"batch {args.batch}; torch {torch.__version__}, {torch.get_num_threads()} intra-op "
        f"threads here, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        f"median of {args.repeats} interleaved passes"
    )
    print(
        f"{'pipeline':<40}{'images/s':>9}{'/ raw':>7}{'/ PIL':>7}{'CPU-time img/s':>16}{'/ raw':>7}"
    )
    for name, value in wall.items():
        in_process = "workers" not in name or name.endswith(" 0 workers")
        c = f"{cpu[name]:>16.0f}{cpu[name] / raw_cpu:>7.2f}" if in_process else f"{'-':>16}{'-':>7}"
        print(f"{name:<40}{value:>9.0f}{value / raw:>7.2f}{value / pil:>7.2f}{c}")
    print(f"{'':<40}main-process CPU per image with workers (receiving batches), microseconds:")
    for name in wall:
        if "workers" in name and not name.endswith(" 0 workers"):
            print(f"  {name:<38}{1e6 / cpu[name]:>8.1f}")
    print("CPU cost of one item, microseconds (median):")
    for name, us in stages.items():
        print(f"  {name:<28}{us:>8.1f}")
    for name in wall:
        if name.startswith("celeba"):
            ratio = wall[name] / raw
            verdict = "meets" if ratio >= 0.9 else "misses"
            print(f"{name}: {ratio:.2f} of the raw decode rate ({verdict} the 0.9 goal)")


if __name__ == "__main__":
    main()
