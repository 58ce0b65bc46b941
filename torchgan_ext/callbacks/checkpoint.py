"""``checkpoint``: writes the trainer's state to ``out_dir/checkpoints`` during and after a run."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["Checkpoint"]


class Checkpoint(Callback):
    """Checkpoints every ``every`` steps (after every epoch when ``None``) and after the last
    step, keeping the newest ``keep`` files (see :meth:`Trainer.save_model`).

    Args:
        every: Steps between checkpoints; ``None``: after every epoch.
        keep: How many of the newest checkpoints are kept.
    """

    def __init__(self, every: int | None = None, keep: int = 3) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every: must be >= 1 or null, got {every}")
        if keep < 1:
            raise ValueError(f"keep: must be >= 1, got {keep}")
        self.every, self.keep = every, keep

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.every and trainer.step % self.every == 0:
            trainer.save_model(keep=self.keep)

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self.every is None and not trainer.done:
            trainer.save_model(keep=self.keep)

    def on_train_end(self, trainer: Any) -> None:
        if trainer.last_checkpoint_step != trainer.step:
            trainer.save_model(keep=self.keep)
