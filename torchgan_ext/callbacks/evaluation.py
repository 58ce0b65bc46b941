"""``evaluation``: runs the trainer's metrics during training."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["Evaluation"]


class Evaluation(Callback):
    """Runs every metric (see :meth:`Trainer.run_metrics`) every ``every`` steps, or after every
    epoch when ``every`` is ``None``; values go to tensorboard and ``metrics.jsonl``.

    Args:
        every: Steps between evaluations; ``None``: after every epoch.
    """

    def __init__(self, every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every: must be >= 1 or null, got {every}")
        self.every = every

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.every and trainer.step % self.every == 0:
            trainer.run_metrics()

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self.every is None:
            trainer.run_metrics()
