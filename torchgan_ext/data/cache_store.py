"""The files of a decoded dataset cache: the folder layout, building and publishing it.

A cache is one folder per dataset (``<data.cache.dir>/train``, ``.../val``)::

    meta.json      format version, key, the parts of the key (for messages), shapes, dtypes
    listing.tsv    the source listing the cache was built from: path, size, mtime (ns)
    image.npy      uint8 [N, H, W, C] (with mirrored flips: [N, 2, H, W, C], [:, 1] mirrored)
    target.npy     (datasets with a pixel target, e.g. Cityscapes label maps) same layout
    labels.npy     per-item labels (CelebA attributes, folder classes), when the dataset has them

The arrays are ``.npy`` files (NumPy's format: a small header, then the raw array), read with
``numpy.load(mmap_mode="r")``: every process maps the same pages, nothing is copied per worker.

Safety: the key hashes the source listing (every file's relative name, size and modification
time), every argument that changes the stored pixels (the dataset's :class:`CachePlan`), the
layout and the torch/torchvision versions that decoded and resized
(:mod:`torchgan_ext.data.cache_key`). A build writes into a hidden temporary folder beside the
cache and renames it into place only when complete (a killed build leaves no folder that looks
like a cache; the next build removes the leftover of a dead process). Opening checks the key,
the header of each array and its exact file size.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .cache_key import (
    CachePlan,
    cache_key,
    check_cache,
    key_parts,
    listing,
    needed_bytes,
    stale_message,
)

__all__ = ["CacheInfo", "build_cache"]

#: Free space kept beyond the cache's own size when building.
SPACE_MARGIN = 64 * 2**20


@dataclass(frozen=True)
class CacheInfo:
    """The outcome of :func:`build_cache`."""

    path: Path
    items: int
    nbytes: int
    built: bool
    seconds: float = 0.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_builds(path: Path) -> None:
    """Delete temporary folders of builds of ``path`` whose process died on this host."""
    prefix = f".{path.name}.building-{socket.gethostname()}-"
    for entry in path.parent.glob(f"{prefix}*"):
        pid = entry.name[len(prefix) :]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


class _Items(torch.utils.data.Dataset):
    """The plan's deterministic items, loaded (in DataLoader workers when asked)."""

    def __init__(self, load: Callable[[int], Mapping[str, torch.Tensor]], n: int) -> None:
        self.load, self.n = load, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v.permute(1, 2, 0).contiguous() for k, v in self.load(i).items()}


def _write(
    tmp: Path,
    plan: CachePlan,
    parts: Mapping[str, Any],
    rows: Sequence[str],
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    layout = parts["layout"]
    arrays = {
        name: np.lib.format.open_memmap(
            tmp / f"{name}.npy", mode="w+", dtype=layout["dtypes"][name], shape=tuple(shape)
        )
        for name, shape in layout["shapes"].items()
    }
    n = len(plan)
    # its own generator: an iterator draws its workers' base seed from it, which would
    # otherwise move the global RNG (and a run that builds its cache would initialise its
    # models differently from every later run that finds the cache)
    loader = torch.utils.data.DataLoader(
        _Items(plan.load, n),
        batch_size=None,
        num_workers=workers,
        shuffle=False,
        generator=torch.Generator(),
    )
    step = max(1, n // 10)
    for i, item in enumerate(loader):
        for name, array in arrays.items():
            hwc = item[name].numpy()
            expected = tuple(plan.fields[name][0])
            if hwc.shape != expected:
                raise ValueError(
                    f"dir: item {i} ({plan.files[i] if i < len(plan.files) else i}) has "
                    f"{name} shape {hwc.shape} (height, width, channels), the cache stores "
                    f"{expected}: the dataset's images must all have the configured size"
                )
            if layout["mirror"]:
                array[i, 0] = hwc
                array[i, 1] = hwc[:, ::-1]
            else:
                array[i] = hwc
        if progress is not None and (i + 1) % step == 0:
            progress(i + 1, n)
    for array in arrays.values():
        array.flush()
    meta: dict[str, Any] = {"key": cache_key(parts), "parts": dict(parts), "items": n}
    if plan.labels is not None:
        labels = np.ascontiguousarray(plan.labels.numpy())
        np.save(tmp / "labels.npy", labels)
        meta.update(labels_shape=list(labels.shape), labels_dtype=labels.dtype.str)
    (tmp / "listing.tsv").write_text("\n".join(rows) + "\n")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))  # last: marks completeness


def build_cache(
    plan: CachePlan,
    path: str | os.PathLike,
    *,
    on_stale: str = "error",
    mirror: bool = True,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> CacheInfo:
    """Make sure ``path`` holds a valid cache of ``plan``: check it, or build it.

    Args:
        plan: The dataset's :class:`CachePlan`.
        path: The cache folder (created; its parent must be writable when building).
        on_stale: ``error`` (a one-line error naming the folder and what changed) or
            ``rebuild`` (replace it) when the folder holds a cache built from other data.
        mirror: With random flips, also store each image mirrored (2x the bytes; a flip is
            then a plain copy, where flipping HWC pixels costs 3-7x a copy).
        workers: DataLoader worker processes decoding during the build.
        progress: Called as ``progress(done, total)`` about 10 times during a build.

    Raises:
        ValueError: A stale cache with ``on_stale: error``; a corrupt cache file; an item of
            another size than the configured one.
        OSError: The folder is not writable, or the disk lacks the space (checked first).
    """
    path = Path(path).expanduser()
    rows = listing(plan)
    parts = key_parts(plan, mirror, rows)
    state = check_cache(path, parts, rows)
    if state is None:
        return CacheInfo(path, len(plan), needed_bytes(parts), built=False)
    if state.startswith("stale") and on_stale != "rebuild":
        raise ValueError(stale_message(path, state))
    if state == "missing" and path.exists() and any(path.iterdir()):
        raise ValueError(
            f"dir: {path} exists and is not a cache (no meta.json); give an empty or new folder"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_builds(path)
        tmp = path.parent / f".{path.name}.building-{socket.gethostname()}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise PermissionError(
            f"dir: cannot write the cache in {path.parent}: {e.strerror or e} (read-only or "
            "no permission); choose a writable data.cache.dir"
        ) from e
    need = needed_bytes(parts) + SPACE_MARGIN
    free = shutil.disk_usage(tmp).free
    if free < need:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OSError(
            f"dir: the cache of {len(plan)} items needs {need / 2**30:.2f} GiB in {path.parent}, "
            f"only {free / 2**30:.2f} GiB are free"
        )
    start = time.perf_counter()
    try:
        _write(tmp, plan, parts, rows, workers, progress)
        _publish(tmp, path, parts, rows)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return CacheInfo(path, len(plan), needed_bytes(parts), True, time.perf_counter() - start)


def _publish(tmp: Path, path: Path, parts: Mapping[str, Any], rows: Sequence[str]) -> None:
    """Rename the finished ``tmp`` into place (the old cache, if any, moved away first)."""
    old = None
    if path.exists():
        old = path.parent / f".{path.name}.old-{socket.gethostname()}-{os.getpid()}"
        os.replace(path, old)
    try:
        os.rename(tmp, path)
    except OSError:
        # another process (a rank on another machine sharing the folder) finished first
        if check_cache(path, parts, rows) is not None:
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
