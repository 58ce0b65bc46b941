"""Running a script in several processes with torchrun, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

__all__ = ["torchrun"]


def torchrun(
    script: str | os.PathLike,
    *args: str | os.PathLike,
    nproc: int = 2,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``script args...`` in ``nproc`` processes on this machine (``torchrun
    --standalone``), one intra-op thread each unless ``env`` says otherwise; output captured.
    """
    environ = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        os.fspath(script),
        *map(os.fspath, args),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=timeout, check=False
    )
