"""Checks of input files that need neither torch nor the config (standard library only).

``torch.load(weights_only=True)`` reports a file that is not a checkpoint at all (empty,
truncated, a text file) as "Weights only load failed", which reads as if the file held code;
:func:`unreadable_checkpoint` names the real problem.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

__all__ = ["unreadable_checkpoint"]


def _not_a_checkpoint(path: Path) -> str | None:
    """Why ``path`` cannot be a ``torch.save`` file at all, or ``None`` when it may be one."""
    hint = "truncated, corrupt or not a file written by torch.save"
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as e:
        return f"cannot read it: {e.strerror or e}"
    if size == 0:
        return f"the file is empty ({hint})"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError) as e:
            return f"broken zip archive: {e} ({hint})"
        if not any(n.endswith("data.pkl") for n in names):
            return f"a zip archive without data.pkl ({hint})"
        return None
    if head.startswith(b"PK"):
        return f"the zip archive is cut off ({hint})"
    if head.startswith(b"\x80"):  # a legacy (pre-zip) torch file or a bare pickle
        return None
    return f"it starts with {head[:4]!r} ({hint})"


def unreadable_checkpoint(path: str | os.PathLike) -> str | None:
    """``"<path> is not a readable checkpoint: <why>"`` when ``path`` cannot be a
    ``torch.save`` file (empty, truncated, not a zip archive with a pickle in it, not a legacy
    pickle), else ``None`` (also for a missing file: the loader reports that).

    ``torch.load(weights_only=True)`` reports such files as "Weights only load failed", which
    reads as if the file held code; this names the real problem.
    """
    path = Path(path)
    if not path.is_file():
        return None
    why = _not_a_checkpoint(path)
    return f"{path} is not a readable checkpoint: {why}" if why else None
