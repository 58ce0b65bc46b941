"""On-disk cache of real-image features, shared by FID and KID and reused across runs.

Extracting features of 10k real images through Inception V3 takes minutes; the real side does
not change between evaluations or runs, so it is computed once and stored as a float32 tensor
``(N, D)`` (FID takes its mean and covariance from it in float64, KID its kernel; the values
are exactly those of a fresh pass).

An entry is keyed by everything that determines it (:func:`cache_key`):

* the dataset: its class, length, simple attributes (``root``, ``image_size``, ...), the
  modification time of path attributes, and a SHA-256 of a few probe images spread over the
  dataset (so a different split, size, preprocessing or content is a different key);
* the split (``train`` / ``val``), the image shape, the feature extractor's fingerprint
  (network, output layer, SHA-256 of its weights), the number of real samples and the
  protocol version.

Any change of these is a new key, i.e. a miss. Entries are written atomically and loaded with
``weights_only=True``; an unreadable entry, or one whose stored key differs, is recomputed.
``recompute_real: true`` in a metric's args, :meth:`RealFeatureCache.invalidate` or deleting
the directory force a recomputation. Default directory: ``$TORCHGAN_EXT_CACHE_DIR``, else
``$XDG_CACHE_HOME/torchgan_ext/real_features`` (``~/.cache/...``).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CACHE_DIR_ENV",
    "CACHE_FORMAT",
    "PROTOCOL_VERSION",
    "RealFeatureCache",
    "cache_key",
    "dataset_fingerprint",
    "default_cache_dir",
    "item_image",
]

CACHE_DIR_ENV = "TORCHGAN_EXT_CACHE_DIR"
CACHE_FORMAT = 1
#: Bump when the way real features are produced changes (subset choice, image conversion).
PROTOCOL_VERSION = 1
_PROBES = 8
_SIMPLE = (str, int, float, bool, type(None))


def default_cache_dir() -> Path:
    """``$TORCHGAN_EXT_CACHE_DIR``, else ``$XDG_CACHE_HOME/torchgan_ext/real_features``."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "torchgan_ext" / "real_features"


def item_image(item: Any) -> torch.Tensor:
    """The image of a dataset item or batch: a tensor, or the first element of a tuple/list."""
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, tuple | list) and item and isinstance(item[0], torch.Tensor):
        return item[0]
    raise TypeError(
        "FID/KID read real images from dataset items that are a tensor or a tuple/list whose "
        f"first element is the image, got {type(item).__name__}"
    )


def _simple_attributes(dataset: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in sorted(getattr(dataset, "__dict__", {}).items()):
        if name.startswith("_"):
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, _SIMPLE):
            out[name] = value
            if isinstance(value, str) and os.sep in value and os.path.exists(value):
                out[f"{name}.mtime_ns"] = os.stat(value).st_mtime_ns
        elif (
            isinstance(value, list | tuple)
            and len(value) <= 100
            and all(isinstance(v, _SIMPLE) for v in value)
        ):
            out[name] = list(value)
    return out


def dataset_fingerprint(dataset: Any, probes: int = _PROBES) -> dict[str, Any]:
    """What identifies a dataset's images, cheaply (a few items are read).

    The probe items are read under a fixed seed so datasets with random augmentation give the
    same fingerprint every time (and the global RNG is left untouched).
    """
    n = len(dataset)
    idx = sorted({round(i * (n - 1) / max(1, probes - 1)) for i in range(min(probes, n))})
    digest = hashlib.sha256()
    shape: list[int] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for i in idx:
            image = item_image(dataset[i]).detach().cpu().contiguous()
            if not shape:
                shape = list(image.shape)
            digest.update(f"{i}:{image.dtype}:{tuple(image.shape)}".encode())
            digest.update(image.reshape(-1).view(torch.uint8).numpy().tobytes())
    cls = type(dataset)
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "length": n,
        "attributes": _simple_attributes(dataset),
        "content": digest.hexdigest(),
        "image_shape": shape,
    }


def cache_key(
    dataset: Any, split: str, extractor_fingerprint: str, num_samples: int
) -> dict[str, Any]:
    """The cache key of the real features of ``num_samples`` images of ``dataset``."""
    fp = dataset_fingerprint(dataset)
    return {
        "protocol": PROTOCOL_VERSION,
        "dataset": fp,
        "split": split,
        "image_shape": fp["image_shape"],
        "extractor": extractor_fingerprint,
        "num_samples": int(num_samples),
    }


def _digest(key: Mapping[str, Any]) -> str:
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _normalise(key: Mapping[str, Any]) -> Any:
    """The key as it reads back from JSON (tuples -> lists), for comparisons."""
    return json.loads(json.dumps(key, sort_keys=True, default=str))


class RealFeatureCache:
    """A directory of cached real-feature tensors.

    Args:
        directory: Where entries live (default :func:`default_cache_dir`).
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()

    def path(self, key: Mapping[str, Any]) -> Path:
        """The file of ``key`` (readable prefix + a digest of the whole key)."""
        dataset = str(key.get("dataset", {}).get("class", "data")).rsplit(".", 1)[-1].lower()
        name = f"{dataset}-{key.get('split')}-{key.get('num_samples')}-{_digest(key)}.pt"
        return self.directory / name

    def load(self, key: Mapping[str, Any]) -> torch.Tensor | None:
        """The cached features of ``key``, or ``None`` (miss, unreadable or stale entry)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            features = entry["features"]
            stored = entry["key"]
            fmt = entry["format"]
        except Exception as e:  # noqa: BLE001 - any unreadable entry is recomputed
            warnings.warn(
                f"ignoring unreadable real-feature cache entry {path}: {e}",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        stale = fmt != CACHE_FORMAT or stored != _normalise(key)
        if stale or not isinstance(features, torch.Tensor):
            warnings.warn(
                f"ignoring stale real-feature cache entry {path}", RuntimeWarning, stacklevel=2
            )
            return None
        if features.shape[0] != key.get("num_samples"):
            return None
        return features

    def save(self, key: Mapping[str, Any], features: torch.Tensor) -> Path:
        """Store ``features`` under ``key`` atomically; returns the file."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        entry = {
            "format": CACHE_FORMAT,
            "key": _normalise(key),
            "features": features.detach().to("cpu", torch.float32).contiguous(),
        }
        try:
            torch.save(entry, tmp)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def invalidate(self, key: Mapping[str, Any]) -> bool:
        """Delete the entry of ``key``; returns whether there was one."""
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> int:
        """Delete every entry; returns how many were deleted."""
        if not self.directory.is_dir():
            return 0
        n = 0
        for p in self.directory.glob("*.pt"):
            p.unlink()
            n += 1
        return n

    def __repr__(self) -> str:
        return f"RealFeatureCache({os.fspath(self.directory)!r})"
