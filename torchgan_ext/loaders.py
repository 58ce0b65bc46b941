"""Datasets and DataLoaders of a config (launcher side).

The dataset is built through :func:`torchgan_ext.build.build`; the loader gets a
:class:`~torchgan_ext.data.ResumableSampler` (exact resume, distributed sharding), its own RNG
(creating an iterator never draws from the global RNG) and seeded workers.
"""

from __future__ import annotations

import os
import random
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ._registry import DATASETS
from .build import build, component_error, validate_names
from .config import Config, DataConfig
from .errors import ConfigError
from .trainer.distributed import DistInfo
from .trainer.preemption import GUARD_ATTRIBUTE, ignore_stop_signals_in_worker

__all__ = [
    "build_dataset",
    "build_caches",
    "build_cache_command",
    "build_loader",
    "fixed_batch",
    "seed_everything",
    "worker_init_fn",
]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_dataset(data: DataConfig, val: bool = False) -> Dataset:
    """Build the training (or, with ``val``, the validation) dataset of ``data``."""
    args = dict(data.args)
    key = "data.args"
    if val:
        if data.val is None:
            raise ValueError("no validation split configured (data.val)")
        args.update(data.val.args)
    own = data.val.args if val and data.val is not None else {}
    try:
        dataset = build(DATASETS, data.name, args, key=key)
    except ConfigError as e:
        # point at data.val.args when the value came from the validation split's overrides
        if val and e.key and e.key.startswith("data.args."):
            arg, dot, rest = e.key[len("data.args.") :].partition(".")
            e.key = f"data.val.args.{arg}{dot}{rest}" if arg in own else e.key
        elif val and e.key == "data.args":
            e.key = "data.val.args"
        raise
    try:
        n = len(dataset)
    except TypeError as e:
        raise ConfigError(f"dataset {data.name!r} has no length", key="data.name") from e
    if n == 0:
        where = "data.val.args" if val else "data.args"
        raise ConfigError(f"dataset {data.name!r} is empty with these arguments", key=where)
    if data.cache is not None:
        if data.skip_corrupt:
            raise ConfigError(
                "cannot be combined with data.cache: the cache build reads every file once "
                "and names an unreadable one; fix or remove it, or leave data.cache out",
                key="data.skip_corrupt",
            )
        dataset = _cached(dataset, data, "val" if val else "train")
    if data.skip_corrupt:
        from .data.skip_corrupt import SkipCorrupt

        dataset = SkipCorrupt(dataset)
    return dataset


def _cache_error(e: BaseException) -> ConfigError:
    return component_error(e, "data.cache", "", names=("dir",))


def _progress(path: Path) -> Any:
    def report(done: int, total: int) -> None:
        if total < 1000:  # small sets build in a blink
            return
        print(f"torchgan-run: building cache {path}: {done}/{total}", file=sys.stderr, flush=True)

    return report


def _build_one(dataset: Dataset, data: DataConfig, path: Path) -> Any:
    """Build (or check) the cache of ``dataset`` at ``path``; errors name ``data.cache``."""
    from .data.cache import cache_plan_of
    from .data.cache_store import build_cache

    assert data.cache is not None
    try:
        return build_cache(
            cache_plan_of(dataset),
            path,
            on_stale=data.cache.on_stale,
            mirror=data.cache.mirror,
            workers=data.loader.num_workers,
            progress=_progress(path),
        )
    except (ValueError, TypeError, OSError) as e:
        raise _cache_error(e) from e


def _cached(dataset: Dataset, data: DataConfig, split: str) -> Dataset:
    """``dataset`` read from its decoded cache ``data.cache.dir/split``, built first if
    needed: by this process, or under torchrun by local rank 0 of each machine while the
    other ranks wait (a failure on the builder is reported by every rank)."""
    import torch.distributed as dist

    from .data.cache import DecodedCache

    assert data.cache is not None
    path = Path(data.cache.dir).expanduser() / split
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        error: ConfigError | None = None
        if int(os.environ.get("LOCAL_RANK", "0")) == 0:
            try:
                _build_one(dataset, data, path)
            except ConfigError as e:
                error = e
        reports: list[str | None] = [None] * dist.get_world_size()
        dist.all_gather_object(reports, None if error is None else str(error))
        if error is not None:
            raise error
        failed = next((r for r in reports if r), None)
        if failed is not None:
            raise ConfigError(f"building the cache failed on another rank: {failed}")
    else:
        _build_one(dataset, data, path)
    try:
        return DecodedCache(dataset, path, mirror=data.cache.mirror)
    except (ValueError, TypeError, OSError) as e:
        raise _cache_error(e) from e


def build_caches(data: DataConfig) -> list[Any]:
    """Build (or check) the decoded caches of ``data`` (training split, and the validation
    split when configured): what ``torchgan-run CONFIG --build-cache`` does. Returns the
    :class:`~torchgan_ext.data.cache_store.CacheInfo` of each."""
    if data.cache is None:
        raise ConfigError(
            "--build-cache needs data.cache in the config, e.g. --set data.cache.dir=PATH",
            key="data.cache",
        )
    out = []
    for val in (False, True) if data.val is not None else (False,):
        plain = DataConfig(name=data.name, args=data.args, loader=data.loader, val=data.val)
        dataset = build_dataset(plain, val=val)
        path = Path(data.cache.dir).expanduser() / ("val" if val else "train")
        out.append(_build_one(dataset, data, path))
    return out


def build_cache_command(config: Config) -> int:
    """``torchgan-run CONFIG --build-cache``: build or check the caches of ``data.cache``, one
    line each; returns the exit code (0)."""
    try:
        validate_names(config)
        infos = build_caches(config.data)
    except ConfigError as e:
        raise e.with_context(file=config.source) from e.__cause__
    for info in infos:
        size = f"{info.items} items, {info.nbytes / 2**30:.2f} GiB"
        if info.built:
            per = info.seconds / max(info.items, 1) * 1e3
            print(f"cache {info.path}: built, {size} in {info.seconds:.1f} s ({per:.2f} ms/item)")
        else:
            print(f"cache {info.path}: up to date, {size}")
    return 0


def _decode_on_device(dataset: Dataset, data: DataConfig, device: torch.device) -> Dataset:
    """``data.decode: cuda``: loader workers read JPEG bytes, the device decodes each batch
    (:mod:`torchgan_ext.data.jpeg_batches`); where that cannot run, a warning and the CPU."""
    from .data.jpeg_batches import JpegFiles, cuda_jpeg_unavailable

    if data.cache is not None or data.skip_corrupt:
        other = "data.cache (the cache holds decoded images)" if data.cache else "skip_corrupt"
        raise ConfigError(f"cuda cannot be combined with {other}; use decode: cpu", "data.decode")
    reason = cuda_jpeg_unavailable(device)
    if reason is not None:
        warnings.warn(
            f"data.decode: cuda is unavailable ({reason}); decoding on the CPU in the loader "
            "workers",
            stacklevel=2,
        )
        return dataset
    try:
        return JpegFiles(dataset)
    except (ValueError, TypeError, OSError) as e:
        raise component_error(e, "data", "", names=("decode",)) from e


def worker_init_fn(worker_id: int) -> None:
    """Leave SIGINT/SIGTERM to the main process (see :mod:`torchgan_ext.trainer.preemption`),
    then seed NumPy and Python in each DataLoader worker from torch's per-worker seed."""
    ignore_stop_signals_in_worker()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


setattr(worker_init_fn, GUARD_ATTRIBUTE, True)


def build_loader(
    dataset: Dataset,
    config: Config,
    device: torch.device,
    *,
    train: bool = True,
    batch_size: int | None = None,
    dist_info: DistInfo | None = None,
) -> DataLoader:
    """A DataLoader with a :class:`~torchgan_ext.data.ResumableSampler` and seeded workers."""
    from .data.cache import DecodedCache
    from .data.cache_loader import CacheLoader
    from .data.collate import collate
    from .data.sampler import ResumableSampler

    lc = config.data.loader
    if train and config.data.decode == "cuda":
        dataset = _decode_on_device(dataset, config.data, device)
    bs = batch_size or lc.batch_size
    n = len(dataset)
    if train and lc.drop_last and n < bs:
        raise ConfigError(
            f"the dataset has {n} samples, fewer than one batch of {bs} with drop_last: true; "
            "lower data.loader.batch_size or set data.loader.drop_last: false",
            key="data.loader.batch_size",
            file=config.source,
        )
    info = dist_info if (dist_info is not None and train) else DistInfo()
    sampler = ResumableSampler(
        n,
        shuffle=lc.shuffle and train,
        seed=config.seed,
        num_replicas=info.world_size,
        rank=info.rank,
        drop_last=info.enabled,
    )
    pin = lc.pin_memory if lc.pin_memory is not None else device.type == "cuda"
    kwargs: dict[str, Any] = {}
    if lc.num_workers > 0:
        kwargs["persistent_workers"] = lc.persistent_workers
        if lc.prefetch_factor is not None:
            kwargs["prefetch_factor"] = lc.prefetch_factor
    # Own generator: creating an iterator must not draw from the global RNG (exact resume);
    # the trainer reseeds it per epoch so worker seeds are reproducible.
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    # the decoded cache's batches are one memory copy: the in-process iterator without the
    # per-batch profiler annotation (data.cache_loader), otherwise the plain DataLoader
    loader_class = CacheLoader if isinstance(dataset, DecodedCache) else DataLoader
    if loader_class is CacheLoader and lc.num_workers > 0:
        warnings.warn(
            f"data.loader.num_workers: {lc.num_workers} with data.cache: handing a batch over "
            "from a worker costs more than reading it in the main process (0.05 of "
            "num_workers: 0 in docs/performance.md); set num_workers: 0 unless the cache is "
            "on a slow disk",
            stacklevel=2,
        )
    return loader_class(
        dataset,
        batch_size=bs,
        sampler=sampler,
        generator=generator,
        num_workers=lc.num_workers,
        drop_last=lc.drop_last and train,
        pin_memory=pin,
        collate_fn=collate,
        worker_init_fn=worker_init_fn if lc.num_workers > 0 else None,
        **kwargs,
    )


def fixed_batch(dataset: Dataset, n: int, seed: int) -> Any:
    """The first ``n`` items (by index) as one collated batch, drawn without touching the
    global RNG (the trainer moves it to its device)."""
    from .data.collate import collate

    n = min(n, len(dataset))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        items = []
        for i in range(n):
            try:
                items.append(dataset[i])
            except ConfigError:
                raise
            except Exception as e:  # a corrupt or missing file, found before training
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                if not isinstance(e, OSError | ValueError):  # the type says more than the text
                    first = f"{type(e).__name__}: {first}" if first else type(e).__name__
                raise ConfigError(f"reading item {i} for the sample grid: {first}", "data") from e
    return collate(items)
