"""``torchgan-run CONFIG --evaluate [CHECKPOINT]``: the metrics of a trained run (launcher side).

Builds the run's trainer from its config, loads the newest checkpoint of ``out_dir/checkpoints``
(or the one given), and runs every metric of ``metrics:`` exactly as training does (same
arguments, the EMA generator when the run keeps one, a ``truncation_psi`` set to 1). Prints a
table and the JSON, and writes the JSON to ``out_dir/metrics.json``. Evaluating never touches
the run's training state: no checkpoint, sample or tensorboard file is written, and
``metrics.jsonl`` (the training curve) is left alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .errors import CheckpointError, ConfigError
from .models.truncation import untruncated
from .runner import build_trainer
from .trainer.checkpoint import list_checkpoints, load_checkpoint, load_newest_checkpoint

__all__ = ["EvaluationResult", "evaluate", "evaluate_command", "format_table"]


@dataclass
class EvaluationResult:
    """What :func:`evaluate` returns (``as_dict`` is what ``metrics.json`` holds)."""

    checkpoint: Path
    step: int
    epoch: int
    device: str
    generator: str
    metrics: dict[str, float]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": os.fspath(self.checkpoint),
            "step": self.step,
            "epoch": self.epoch,
            "device": self.device,
            "generator": self.generator,
            "metrics": self.metrics,
            "details": self.details,
            "seconds": round(self.seconds, 3),
        }


def _find_checkpoint(config: Config, checkpoint: str | os.PathLike | None) -> Path | None:
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise ConfigError(f"checkpoint {path} does not exist", file="--evaluate")
        return path
    directory = Path(config.out_dir) / "checkpoints"
    if not list_checkpoints(directory):
        raise ConfigError(
            f"no checkpoint in {directory} to evaluate; train the run first (torchgan-run "
            f"{config.source}) or pass one: --evaluate PATH/TO/ckpt-00001000.pt",
            key="out_dir",
            file=config.source,
        )
    return None


def _json_value(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def evaluate(
    config: Config, checkpoint: str | os.PathLike | None = None, *, device: str | None = None
) -> EvaluationResult:
    """Run the metrics of ``config`` on a checkpoint of its run.

    Args:
        config: The run's config (its ``out_dir`` locates the checkpoints).
        checkpoint: A checkpoint file; default the newest readable one in
            ``out_dir/checkpoints``.
        device: Overrides ``config.device``.

    Raises:
        ConfigError: No metrics configured, no checkpoint, or a checkpoint that does not fit
            the config's models.
    """
    if not config.metrics:
        raise ConfigError(
            "nothing to evaluate: the config lists no metrics; add e.g. metrics: [{name: fid}]",
            key="metrics",
            file=config.source,
        )
    path = _find_checkpoint(config, checkpoint)
    quiet = dataclasses.replace(
        config, logging=dataclasses.replace(config.logging, progress=False, tensorboard=False)
    )
    trainer, loader = build_trainer(quiet, device=device)
    try:
        if path is not None:
            state = load_checkpoint(path, map_location=trainer.device)
        else:
            found = load_newest_checkpoint(trainer.checkpoint_dir, map_location=trainer.device)
            assert found is not None  # _find_checkpoint saw one
            path, state = found
    except CheckpointError as e:
        raise ConfigError(str(e), file="--evaluate") from e
    try:
        trainer.load_state_dict(state, restore_rng=False)
    except (KeyError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"checkpoint {path} does not fit the models of this config: {first}",
            file=config.source,
        ) from e
    trainer.data_loader = loader
    trainer.eval_generator = trainer.eval_models().get("generator")
    values: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    models = [getattr(trainer, n) for n in trainer.model_names]
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with untruncated(*models, *trainer.eval_models().values()):  # psi = 1, as training's
            for item, (cls_name, metric) in zip(
                config.metrics, trainer.metrics.items(), strict=True
            ):
                args = trainer._get_arguments(trainer.metric_arg_maps[cls_name])
                value = metric.metric_ops(**args)
                values[item.name] = float(_json_value(value))
        for item, metric in zip(config.metrics, trainer.metrics.values(), strict=True):
            detail = dict(getattr(metric, "last_result", {}) or {})
            protocol = trainer.metric_protocol(metric)  # with the generator (ema/raw)
            if protocol is not None:
                detail["protocol"] = protocol
            details[item.name] = _json_value(detail)
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    return EvaluationResult(
        checkpoint=path,
        step=trainer.step,
        epoch=trainer.epoch,
        device=str(trainer.device),
        generator="ema" if "generator" in trainer.ema else "generator",
        metrics=values,
        details=details,
        seconds=time.perf_counter() - start,
    )


def format_table(result: Any) -> str:
    """The metrics as an aligned text table (value, ± std where known, samples), then the
    protocol of each metric that records one (extractor, weights SHA-256, real reference,
    generated count, resize, generator, seed).

    ``result`` is an :class:`EvaluationResult` or a folder evaluation (no generator: the
    protocol's generator column then says ``folder``)."""
    generator = getattr(result, "generator", "folder")
    rows = [("metric", "value", "std", "samples")]
    for name, value in result.metrics.items():
        d = result.details.get(name, {})
        std = d.get("std")
        samples = d.get("num_fake")
        if samples is not None and d.get("num_real") is not None:
            samples = f"{samples} gen / {d['num_real']} {d.get('reference', 'real')}"
        rows.append(
            (
                name,
                f"{value:.6g}",
                f"{std:.3g}" if isinstance(std, int | float) else "",
                str(samples) if samples is not None else "",
            )
        )
    lines = _aligned(rows)
    protocols = [(name, d["protocol"]) for name, d in result.details.items() if d.get("protocol")]
    if protocols:
        head = ("metric", "extractor", "weights sha256", "reference", "generated", "resize")
        rows = [(*head, "generator", "seed")]
        for name, p in protocols:
            ref = p.get("reference") or {}
            reference = "-"
            if ref:
                count = f"{ref.get('count')}/{ref.get('split_size')}"
                reference = f"{ref.get('dataset')} {ref.get('split')} {count}"
            rows.append(
                (
                    name,
                    str(p.get("extractor")),
                    str(p.get("weights_sha256")),
                    reference,
                    str(p.get("num_samples")),
                    str(p.get("resize")),
                    str(p.get("generator", generator)),
                    str(p.get("seed")),
                )
            )
        lines += ["", "protocol", *_aligned(rows)]
    return "\n".join(lines)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def evaluate_command(
    config: Config,
    checkpoint: str | os.PathLike | None = None,
    *,
    device: str | None = None,
    stream: Any = None,
) -> int:
    """The ``--evaluate`` command: evaluate, print table and JSON, write ``metrics.json``.

    Returns:
        The exit code (0).
    """
    stream = stream or sys.stdout
    result = evaluate(config, checkpoint, device=device)
    data = result.as_dict()
    out = Path(config.out_dir) / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    print(
        f"evaluated {result.checkpoint} (step {result.step}, {result.generator} weights) on "
        f"{result.device} in {result.seconds:.1f} s",
        file=stream,
    )
    print(format_table(result), file=stream)
    print(json.dumps(data), file=stream)
    print(f"wrote {out}", file=stream)
    return 0
