"""The plan a dataset gives the decoded cache, and the key and checks derived from it.

See :mod:`torchgan_ext.data.cache_store` for the layout of a cache folder and
:mod:`torchgan_ext.data.cache` for reading one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CachePlan",
    "FORMAT_VERSION",
    "listing",
    "key_parts",
    "cache_key",
    "needed_bytes",
    "check_cache",
    "stale_message",
]

#: Bumped whenever the layout or the meaning of a cache changes (old caches are then stale).
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CachePlan:
    """What a dataset tells the cache (its ``cache_plan()``); see :mod:`torchgan_ext.data.cache`.

    Attributes:
        kind: The dataset kind (``"celeba"``), part of the key and of messages.
        root: The folder the source listing is relative to.
        files: Every source file whose name, size and modification time key the cache.
        params: Every argument that changes the stored arrays (JSON-serialisable values).
        fields: Stored arrays: name -> (per-item shape ``(H, W, C)``, NumPy dtype name).
        load: Item index -> ``{field: tensor [C, H, W]}``: the deterministic part of the item
            (decoded, cropped and resized at the configured size, no random draw).
        labels: Per-item labels stored beside the arrays (``[N, ...]``), or ``None``.
        count: The number of items when ``files`` holds more than one file per item.
        decoder: Extra versions that change decoded pixels (part of the key).
        crop: ``(h, w)`` window cut from the stored ``(H, W)`` per step, or ``None``.
        random_crop: Cut ``crop`` at random (else centred).
        flip: Random horizontal flips per step.
        finish: ``(fields: {name: [B, C, h, w] tensor}, labels or None) -> batch``, the batch
            as :func:`torchgan_ext.data.collate` would build it from the dataset's items.
    """

    kind: str
    root: Path
    files: Sequence[Path]
    params: Mapping[str, Any]
    fields: Mapping[str, tuple[tuple[int, int, int], str]]
    load: Callable[[int], Mapping[str, torch.Tensor]]
    finish: Callable[[Mapping[str, torch.Tensor], torch.Tensor | None], Any]
    labels: torch.Tensor | None = None
    crop: tuple[int, int] | None = None
    random_crop: bool = False
    flip: bool = False
    count: int | None = None
    decoder: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.files) if self.count is None else self.count


def _versions() -> dict[str, str]:
    import torchvision

    return {"torch": torch.__version__.split("+")[0], "torchvision": torchvision.__version__}


def listing(plan: CachePlan) -> list[str]:
    """``relative path<TAB>size<TAB>mtime_ns`` of every source file (one ``stat`` each)."""
    rows = []
    for path in plan.files:
        try:
            st = os.stat(path)
        except OSError as e:
            raise FileNotFoundError(f"dir: cannot read source file {path}: {e.strerror}") from e
        try:
            rel = os.path.relpath(path, plan.root)
        except ValueError:  # another drive (Windows)
            rel = os.fspath(path)
        rows.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")
    return rows


def _layout(plan: CachePlan, mirror: bool) -> dict[str, Any]:
    n = len(plan)
    shapes = {
        name: [n, *([2] if mirror and plan.flip else []), *shape]
        for name, (shape, _) in plan.fields.items()
    }
    dtypes = {name: dtype for name, (_, dtype) in plan.fields.items()}
    return {"shapes": shapes, "dtypes": dtypes, "mirror": bool(mirror and plan.flip)}


def key_parts(plan: CachePlan, mirror: bool, rows: Sequence[str]) -> dict[str, Any]:
    """The parts hashed into the key (kept in ``meta.json`` to explain a stale key)."""
    labels = None
    if plan.labels is not None:
        labels = hashlib.sha256(plan.labels.contiguous().numpy().tobytes()).hexdigest()[:16]
    return {
        "format": FORMAT_VERSION,
        "kind": plan.kind,
        "params": json.loads(json.dumps(dict(plan.params), default=list)),
        "layout": _layout(plan, mirror),
        "labels": labels,
        "files": len(rows),
        "listing": hashlib.sha256("\n".join(rows).encode()).hexdigest(),
        "versions": {**_versions(), **plan.decoder},
    }


def cache_key(parts: Mapping[str, Any]) -> str:
    """The hex key of :func:`key_parts`."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def _describe_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """What differs between a cache's key parts and the requested ones, in a few words."""
    for part in ("format", "kind"):
        if old.get(part) != new[part]:
            return f"{part} {old.get(part)!r} -> {new[part]!r}"
    op, np_ = old.get("params", {}), new["params"]
    for k in sorted(set(op) | set(np_)):
        if op.get(k) != np_.get(k):
            return f"{k} {op.get(k)!r} -> {np_.get(k)!r}"
    if old.get("listing") != new["listing"]:
        return "the source files changed since the build"
    if old.get("labels") != new["labels"]:
        return "the labels changed (attribute or class files)"
    if old.get("layout") != new["layout"]:
        return f"layout {old.get('layout')} -> {new['layout']}"
    for k, v in new["versions"].items():
        if old.get("versions", {}).get(k) != v:
            return f"{k} {old.get('versions', {}).get(k)} -> {v} (decoding may differ)"
    return "the key differs"


def _diff_listing(path: Path, rows: Sequence[str]) -> str:
    try:
        old = (path / "listing.tsv").read_text().splitlines()
    except OSError:
        return ""
    before = {r.split("\t")[0]: r for r in old}
    now = {r.split("\t")[0]: r for r in rows}
    added = [n for n in now if n not in before]
    removed = [n for n in before if n not in now]
    changed = [n for n in now if n in before and now[n] != before[n]]
    for what, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            return f"{len(names)} file(s) {what}, first {names[0]}"
    return ""


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` from a ``.npy`` header (ValueError if none)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        read = np.lib.format.read_array_header_1_0
        if version != (1, 0):
            read = np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fh)
        if fortran:
            raise ValueError("Fortran order")
        return tuple(shape), np.dtype(dtype), fh.tell()


def check_cache(path: Path, parts: Mapping[str, Any], rows: Sequence[str]) -> str | None:
    """``None`` if ``path`` holds a complete cache with these key parts, else why not.

    Raises:
        ValueError: A cache file is truncated or corrupt (the message names it).
    """
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        return "missing"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(
            f"dir: cache file {meta_path} is unreadable or corrupt ({e}); delete {path} and "
            "build the cache again"
        ) from e
    if meta.get("key") != cache_key(parts):
        change = _describe_change(meta.get("parts", {}), parts)
        detail = _diff_listing(path, rows) if "source files" in change else ""
        return f"stale: {change}" + (f": {detail}" if detail else "")
    layout = parts["layout"]
    names = [*layout["shapes"], *(["labels"] if meta.get("labels_shape") else [])]
    for name in names:
        file = path / f"{name}.npy"
        if name == "labels":
            want_shape, want_dtype = tuple(meta["labels_shape"]), np.dtype(meta["labels_dtype"])
        else:
            want_shape, want_dtype = tuple(layout["shapes"][name]), np.dtype(layout["dtypes"][name])
        try:
            shape, dtype, offset = _npy_header(file)
            size = file.stat().st_size
        except (OSError, ValueError) as e:
            raise ValueError(
                f"dir: cache file {file} is missing or has no valid header ({e}); delete {path} "
                "and build the cache again"
            ) from e
        expected = offset + int(np.prod(want_shape)) * want_dtype.itemsize
        if shape != want_shape or dtype != want_dtype or size != expected:
            raise ValueError(
                f"dir: cache file {file} is truncated or corrupt ({size} bytes, shape {shape} "
                f"{dtype}; expected {expected} bytes, {want_shape} {want_dtype}); delete {path} "
                "and build the cache again"
            )
    return None


def stale_message(path: Path, state: str) -> str:
    """The one-line error for a stale cache (``state`` from :func:`check_cache`)."""
    return (
        f"dir: the cache {path} was built from other data ({state.removeprefix('stale: ')}); "
        "delete it, or rebuild it with on_stale: rebuild (data.cache.on_stale)"
    )


def needed_bytes(parts: Mapping[str, Any]) -> int:
    """Bytes the arrays of a cache take."""
    layout = parts["layout"]
    return sum(
        int(np.prod(s)) * np.dtype(layout["dtypes"][k]).itemsize
        for k, s in layout["shapes"].items()
    )
