"""The run directory of ``torchgan-run``: creating ``out_dir``, clearing a previous run for
``--overwrite``, checking a checkpoint against the built trainer for ``--resume`` (before anything
is written), writing ``config.yaml`` atomically, and wording where a run stands
(:func:`run_position`, shared by the ``resuming from`` and ``done:`` lines). Used by
:func:`torchgan_ext.runner.run`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Config
from .errors import ConfigError, ConfigErrors
from .trainer.checkpoint import load_newest_checkpoint
from .trainer.resume import ResumeMismatch
from .trainer.trainer import Trainer

__all__ = [
    "RUN_ARTIFACTS",
    "RunResult",
    "check_resume",
    "clear_previous_run",
    "prepare_out_dir",
    "run_position",
    "write_text_atomic",
]


def run_position(step: int, epoch: int, batch_in_epoch: int) -> str:
    """Where a run stands, in completed work: ``"step 10, 2 epochs + 2 batches completed"``.

    The ``resuming from`` line and the ``done:`` line both use it, so a run that ends with
    ``done: step 8, 2 epochs completed`` resumes with ``(step 8, 2 epochs completed)``.
    ``epoch`` is the trainer's count of finished epochs, ``batch_in_epoch`` the steps done in the
    unfinished one.
    """
    text = f"step {step}, {epoch} epoch{'' if epoch == 1 else 's'}"
    if batch_in_epoch:
        text += f" + {batch_in_epoch} batch{'' if batch_in_epoch == 1 else 'es'}"
    return f"{text} completed"


def prepare_out_dir(config: Config, resume: bool, overwrite: bool) -> Path:
    """Create ``config.out_dir``; refuse one that holds a run unless resuming or overwriting."""
    out = Path(config.out_dir)
    existing = out / "config.yaml"
    if existing.exists() and not (resume or overwrite):
        raise ConfigError(
            f"{out} already holds a run ({existing}); pass --resume to continue it, "
            "--overwrite to start again in it, or choose another out_dir",
            key="out_dir",
            file=config.source,
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create {out}: {e.strerror or e}", key="out_dir", file=config.source
        ) from e
    return out


#: What ``--overwrite`` removes from an existing run directory (nothing else is touched).
RUN_ARTIFACTS = (
    "checkpoints",
    "samples",
    "tensorboard",
    "metrics.jsonl",
    "metrics.json",
    "generated",
)


def clear_previous_run(out: Path) -> list[str]:
    """Remove the artifacts of a previous run in ``out`` (for ``--overwrite``)."""
    removed = []
    for name in RUN_ARTIFACTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


def _resume_key(mismatch: ResumeMismatch, trainer: Trainer, config: Config) -> str:
    """The config key of a :class:`ResumeMismatch`."""
    if mismatch.model is None:  # a loss, keyed by class name in the trainer
        names = list(trainer.losses)
        if mismatch.field in names:
            return f"losses.{names.index(mismatch.field)}"
        return "losses"
    if mismatch.model not in config.models:
        return "models"
    key = f"models.{mismatch.model}"
    return f"{key}.{mismatch.field}" if mismatch.field else key


def check_resume(trainer: Trainer, config: Config) -> tuple[Path, dict[str, Any]] | None:
    """Read the newest readable checkpoint and compare it with the built trainer, before
    anything is written into ``out_dir``.

    Raises:
        ConfigErrors: One line per incompatibility, naming the config key.
    """
    found = load_newest_checkpoint(trainer.checkpoint_dir, map_location=trainer.device)
    if found is None:
        return None
    path, state = found
    mismatches = trainer.check_resume(state, f"the checkpoint {path.name}")
    if mismatches:
        raise ConfigErrors(
            [
                ConfigError(m.message, key=_resume_key(m, trainer, config), file=config.source)
                for m in mismatches
            ]
        )
    return found


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary name beside ``path`` and rename it (never half written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class RunResult:
    """What :func:`run` returns."""

    out_dir: Path
    step: int
    #: Finished epochs (``batch_in_epoch`` more steps were done in the unfinished one).
    epoch: int
    checkpoint: Path | None
    resumed_from: Path | None = None
    stopped_by_signal: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    #: The step ``metrics`` were computed at (the final step unless the run was stopped).
    metrics_step: int | None = None
    trainer: Trainer | None = field(default=None, repr=False)
    #: The fully resolved config of the run (what ``out_dir/config.yaml`` holds).
    config: Config | None = field(default=None, repr=False)
    #: Steps done in the unfinished epoch (0 when the run ended on an epoch boundary).
    batch_in_epoch: int = 0

    @property
    def position(self) -> str:
        """Where the run stopped, e.g. ``"step 8, 2 epochs completed"`` (:func:`run_position`)."""
        return run_position(self.step, self.epoch, self.batch_in_epoch)
