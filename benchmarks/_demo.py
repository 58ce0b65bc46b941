"""What the CPU demo benchmarks share: a fresh run of a shipped config, and the report."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any


def demo_parser(description: str, config: str, out: str, steps: str) -> argparse.ArgumentParser:
    """The flags every CPU demo takes: ``--config``, ``--out``, ``--steps`` (help: ``steps``),
    ``--device``, ``--threads`` and ``--json``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", default=config)
    p.add_argument("--out", default=out)
    p.add_argument("--steps", type=int, default=None, help=steps)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    return p


def train_fresh(
    config_path: str, overrides: list[str], steps: int | None, device: str
) -> tuple[Any, Any, float]:
    """Train ``config_path`` (with ``overrides``; ``steps`` replaces max_steps and the
    checkpoint interval) in an emptied ``out_dir``; returns ``(result, config, seconds)``."""
    from torchgan_ext import load_config, run

    if steps is not None:
        overrides = [*overrides, f"trainer.max_steps={steps}", f"trainer.checkpoint_every={steps}"]
    cfg = load_config(config_path, overrides)
    if Path(cfg.out_dir).is_dir():
        shutil.rmtree(cfg.out_dir)
    start = time.perf_counter()
    result = run(cfg, overwrite=True, device=device, stream=sys.stderr)
    return result, cfg, time.perf_counter() - start


def report(figures: dict, json_path: str | None) -> dict:
    """Print ``figures`` as JSON (and write them to ``json_path``)."""
    text = json.dumps(figures, indent=2)
    print(text)
    if json_path:
        Path(json_path).write_text(text)
    return figures
