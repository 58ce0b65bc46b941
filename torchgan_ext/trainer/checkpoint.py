"""Checkpoint files: state dicts only, written atomically, loaded with ``weights_only=True``.

torchgan 0.1.0 pickles whole loss and metric objects (so ``torch.load`` fails under
``weights_only=True``, the default since torch 2.6), hides the cause behind a bare ``except:``,
overwrites files in place and resumes from the next slot to write instead of the newest. Here:

* a checkpoint holds tensors, numbers, strings and containers only;
* it is written to a temporary file in the same directory, flushed, fsynced and renamed, so a
  crash or a full disk never leaves a half-written ``ckpt-*.pt``;
* files are named by step (``ckpt-00001000.pt``); the newest is the highest step that can be
  read; the newest ``keep`` readable checkpoints are kept;
* a newer file that cannot be read (truncated, corrupt, a foreign file under a checkpoint
  name) is skipped with a warning naming it: it is neither loaded nor counted by pruning, so it
  never gets a valid checkpoint deleted.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checkfiles import unreadable_checkpoint
from ..errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "list_checkpoints",
    "load_newest_checkpoint",
    "prune_checkpoints",
    "get_rng_state",
    "set_rng_state",
    "checkpoint_path",
    "check_checkpoint",
    "nonfinite_tensors",
]

#: 1: the first format; 2: adds ``meta`` (class names of models, optimizers, schedulers and
#: losses, for the resume compatibility check). Both load.
CHECKPOINT_FORMAT = 2
_NAME_RE = re.compile(r"^ckpt-(\d{8,})\.pt$")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    """``directory/ckpt-{step:08d}.pt``."""
    return Path(directory) / f"ckpt-{step:08d}.pt"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not support fsync on directories
    finally:
        os.close(fd)


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename).

    Raises:
        CheckpointError: The write failed (e.g. disk full); the previous checkpoints are intact
            and the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            torch.save(dict(state), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise CheckpointError(
            f"could not write checkpoint {path}: {e.strerror or e}; the previous checkpoints "
            f"in {path.parent} are intact"
        ) from e
    _fsync_dir(path.parent)
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", *, mmap: bool = False
) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)``.

    Args:
        path: The file.
        map_location: Where tensors go.
        mmap: Map the tensors instead of reading them (to check a file cheaply).

    Raises:
        CheckpointError: Missing, truncated or corrupt file, or a file holding pickled objects
            (which ``weights_only`` refuses because loading them could run code).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many types for corrupt files; always keep the cause
        not_a_checkpoint = unreadable_checkpoint(path)  # empty, cut off, not a torch file
        if not_a_checkpoint is not None:
            raise CheckpointError(not_a_checkpoint) from e
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            reason = (
                "it contains pickled Python objects, which are refused because loading them "
                f"could run code ({reason})"
            )
        raise CheckpointError(f"cannot load checkpoint {path}: {reason}") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a dict of state")
    return state


def check_checkpoint(state: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Check that a loaded file is a trainer checkpoint (a dict with ``step`` and ``models``).

    Raises:
        CheckpointError: It is some other file saved under a checkpoint name.
    """
    if not isinstance(state, dict) or not isinstance(state.get("models"), Mapping):
        raise CheckpointError(f"{path} is not a trainer checkpoint (it has no 'models')")
    if not isinstance(state.get("step"), int):
        raise CheckpointError(f"{path} is not a trainer checkpoint (it has no integer 'step')")
    return state


def _read_valid(path: Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    return check_checkpoint(load_checkpoint(path, map_location, mmap=mmap), path)


def nonfinite_tensors(state: Any, prefix: str = "") -> list[str]:
    """Dotted paths of the floating-point tensors in ``state`` (nested dicts, lists, tuples)
    that hold a NaN or an infinity; ``[]`` when all are finite.

    One host sync for all tensors of one device; the paths are only collected on failure.
    """
    found: list[tuple[str, torch.Tensor]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() or value.is_complex():
                found.append((path, value))
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{path}.{i}" if path else str(i))

    walk(state, prefix)
    if not found:
        return []
    by_device: dict[torch.device, list[int]] = {}
    for i, (_, t) in enumerate(found):
        by_device.setdefault(t.device, []).append(i)
    bad: list[int] = []
    for idxs in by_device.values():
        flags = torch.stack([torch.isfinite(found[i][1].detach()).all() for i in idxs])
        if not bool(flags.all()):
            bad.extend(i for i, ok in zip(idxs, flags.tolist(), strict=True) if not ok)
    return [found[i][0] for i in sorted(bad)]


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoints in ``directory`` sorted by step, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        m = _NAME_RE.match(p.name)
        if m and p.is_file():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def load_newest_checkpoint(
    directory: str | os.PathLike, map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """Load the newest readable checkpoint; unreadable newer ones are skipped with a warning.

    Returns:
        ``(path, state)`` or ``None`` when the directory holds no checkpoint at all.

    Raises:
        CheckpointError: Checkpoints exist but none of them can be read.
    """
    paths = list_checkpoints(directory)
    if not paths:
        return None
    errors = []
    for path in reversed(paths):
        try:
            return path, _read_valid(path, map_location)
        except CheckpointError as e:
            errors.append(e)
            warnings.warn(f"skipping unreadable checkpoint: {e}", RuntimeWarning, stacklevel=2)
    raise CheckpointError(
        f"none of the {len(paths)} checkpoints in {directory} can be read; newest error: "
        f"{errors[0]}"
    ) from errors[0]


def prune_checkpoints(
    directory: str | os.PathLike,
    keep: int,
    *,
    protect: str | os.PathLike | None = None,
    known: dict[Path, tuple[tuple[int, int], bool]] | None = None,
) -> list[Path]:
    """Delete all but the newest ``keep`` *readable* checkpoints (and temporary files left by a
    killed process); returns the deleted checkpoint paths.

    A file is only deleted when ``keep`` newer checkpoints that can be read exist. A newer file
    that cannot be read (truncated, corrupt, not a checkpoint) is neither counted nor deleted;
    a warning names it.

    Args:
        directory: The checkpoint directory.
        keep: How many readable checkpoints to keep.
        protect: A checkpoint that is never deleted (the one just written).
        known: A cache ``{path: ((mtime_ns, size), readable)}`` kept by the caller, so each
            file is read (memory-mapped) once and warned about once; files the caller wrote
            can be entered as readable.
    """
    for stale in Path(directory).glob(".ckpt-*.pt.tmp-*"):
        if not stale.name.endswith(f".tmp-{os.getpid()}"):
            try:
                stale.unlink()
            except FileNotFoundError:
                pass
    known = {} if known is None else known
    protected = Path(protect) if protect is not None else None
    valid_newer = 0
    doomed = []
    for p in reversed(list_checkpoints(directory)):
        if valid_newer >= keep:
            if p != protected:
                doomed.append(p)
            continue
        if _is_readable(p, known):
            valid_newer += 1
    for p in doomed:
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        known.pop(p, None)
    return doomed


def _is_readable(path: Path, known: dict[Path, tuple[tuple[int, int], bool]]) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    stamp = (st.st_mtime_ns, st.st_size)
    cached = known.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        try:
            _read_valid(path, mmap=True)
        except CheckpointError:  # e.g. an old, non-zip file: read it whole
            _read_valid(path)
        ok = True
    except CheckpointError as e:
        ok = False
        warnings.warn(
            f"{e}; it is not counted as a checkpoint and not deleted (move it away: "
            "--resume skips it)",
            RuntimeWarning,
            stacklevel=3,
        )
    known[path] = (stamp, ok)
    return ok


def get_rng_state() -> dict[str, Any]:
    """Every RNG state a training step can touch, as ``weights_only``-loadable data."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    torch.set_rng_state(state["torch"].cpu())
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
