"""Pretrained weights files: found on disk, checked, loaded; never downloaded.

Feature extractors of metrics (Inception) and loss networks (VGG19) read their weights from an
explicit path or ``$TORCH_HOME/hub/checkpoints/<file>`` (``torch.hub.get_dir()``). A missing
file raises ``FileNotFoundError`` naming the file and where to put it; a file that cannot be
read, is not the expected one (its SHA-256 does not start with the hash prefix of its standard
name) or does not fit the network raises ``ValueError``. There is no download and no fallback
to random weights. Messages start with the argument that named the file (``"weights: ..."``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "hub_checkpoint_dir",
    "load_state_dict_file",
    "load_weights_into",
    "module_digest",
    "resolve_weights",
    "sha256_file",
    "sha256_file_cached",
]


def hub_checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (where ``torch.hub`` keeps downloaded weights)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file_cached(path: str | os.PathLike) -> str:
    """SHA-256 of a file, computed once per process for the same path, size and mtime."""
    path = Path(path)
    stat = path.stat()
    memo_key = (os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _SHA256_MEMO:
        _SHA256_MEMO[memo_key] = sha256_file(path)
    return _SHA256_MEMO[memo_key]


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) == 8 and all(c in "0123456789abcdef" for c in tail) else None


def resolve_weights(
    filename: str,
    weights: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    argument: str = "weights",
    alternative: str | None = None,
) -> tuple[Path, str]:
    """Find a weights file on disk and check it; never downloads.

    Args:
        filename: The standard file name (``weights-inception-2015-12-05-6726825d.pth``).
        weights: An explicit path (file or directory holding ``filename``); default
            ``$TORCH_HOME/hub/checkpoints/filename``.
        url: Where the file can be downloaded on a machine with network (for the message).
        argument: The argument that names the file (messages start with it).
        alternative: What else the user can do (default: set ``argument`` to the file).

    Returns:
        ``(path, identity)``: the SHA-256 for files of the standard name (which is checked
        against the hash prefix in the name), else ``"path:size:mtime"``.

    Raises:
        FileNotFoundError: The file is missing.
        ValueError: Its SHA-256 does not start with the hash prefix of its standard name (a
            truncated or different file).
    """
    hub = hub_checkpoint_dir()
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            path = path / filename
        where = f"the path given ({weights})"
    else:
        path = hub / filename
        where = f"{hub} ($TORCH_HOME/hub/checkpoints)"
    if not path.is_file():
        fetch = f"download it on a machine with network ({url}) and " if url else ""
        hint = alternative or f"set the argument {argument} to its path"
        raise FileNotFoundError(
            f"{argument}: weights file {filename!r} not found in {where}; {fetch}copy it to "
            f"{hub / filename} or {hint}. torchgan-ext never downloads weights nor falls back "
            "to random weights (see docs/metrics.md)"
        )
    prefix = _hash_prefix(filename)
    if path.name == filename and prefix is not None:
        digest = sha256_file_cached(path)
        if not digest.startswith(prefix):
            raise ValueError(
                f"{argument}: {path} is not the expected {filename!r}: its SHA-256 starts with "
                f"{digest[:8]}, not {prefix} (a truncated copy or another file); copy the "
                "original file again"
            )
        return path, digest
    stat = path.stat()  # a file of another name is identified by path, size and time
    return path, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def load_state_dict_file(path: str | os.PathLike, argument: str = "weights") -> dict[str, Any]:
    """Read a state dict with ``torch.load(weights_only=True)`` (a ``{"state_dict": ...}``
    wrapper is unwrapped).

    Raises:
        ValueError: The file cannot be read or holds no state dict.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files; keep the cause
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{argument}: cannot read weights file {path}: {first}") from e
    if isinstance(state, Mapping) and "state_dict" in state and len(state) <= 3:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"{argument}: weights file {path} does not hold a state dict")
    return dict(state)


def load_weights_into(
    network: nn.Module,
    path: str | os.PathLike,
    what: str = "the network",
    argument: str = "weights",
) -> None:
    """Load the state dict file ``path`` into ``network`` (strict).

    Raises:
        ValueError: The file cannot be read or does not fit ``network``.
    """
    state = load_state_dict_file(path, argument)
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ValueError(f"{argument}: weights file {path} does not fit {what}: {first}") from e


def module_digest(module: nn.Module) -> str:
    """SHA-256 over a module's state dict (names, dtypes, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()
