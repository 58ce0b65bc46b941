"""``lr_schedulers``: steps the learning-rate schedulers of the trainer's models."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["LRSchedulers"]


class LRSchedulers(Callback):
    """Steps ``trainer.step_schedulers`` after every step and ``trainer.schedulers`` (torchgan's
    per-epoch semantics) after every epoch. Their state is part of the trainer's checkpoint."""

    def on_train_batch_end(self, trainer: Any) -> None:
        for scheduler in trainer.step_schedulers:
            scheduler.step()

    def on_train_epoch_end(self, trainer: Any) -> None:
        for scheduler in trainer.schedulers:
            scheduler.step()
