"""``nonfinite_guard``: stops a run whose losses became NaN or infinite."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["NonFiniteGuard"]


class NonFiniteGuard(Callback):
    """Checks the latest losses every ``every`` steps (one host sync each time) and raises
    :class:`~torchgan_ext.errors.NonFiniteLossError` through ``trainer.check_finite``; every
    checkpoint is checked too, so no non-finite checkpoint is ever written.

    Args:
        every: Steps between checks (the launcher uses ``logging.refresh_rate``).
    """

    def __init__(self, every: int = 10) -> None:
        if every < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.every = every

    def on_train_batch_end(self, trainer: Any) -> None:
        if trainer.step % self.every == 0:
            trainer.check_finite("during training")
