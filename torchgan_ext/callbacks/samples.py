"""``sample_grids``: PNG sample grids (and tensorboard images) from fixed noise."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["SampleGrids"]


class SampleGrids(Callback):
    """Writes ``samples/step{step:08d}_{tag}.png`` every ``every`` steps, after every epoch and
    after the last step (see :meth:`Trainer.write_samples`).

    Args:
        every: Steps between grids; ``None``: only after epochs and at the end.
    """

    def __init__(self, every: int | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every: must be >= 1 or null, got {every}")
        self.every = every
        self._last_step: int | None = None

    def _write(self, trainer: Any) -> None:
        self._last_step = trainer.step
        trainer.write_samples()

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.every and trainer.step % self.every == 0:
            self._write(trainer)

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self._last_step != trainer.step:
            self._write(trainer)

    def on_train_end(self, trainer: Any) -> None:
        if self._last_step != trainer.step:
            self._write(trainer)
