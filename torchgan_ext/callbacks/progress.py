"""``progress_bar``: the tqdm bar (plain log lines without a terminal) as a callback."""

from __future__ import annotations

from typing import IO, Any

from ..logging.progress import ProgressBar
from .base import Callback

__all__ = ["ProgressBarCallback"]


class ProgressBarCallback(Callback):
    """Shows step/total, it/s, ETA and the latest losses (Lightning's ``TQDMProgressBar``).

    Losses are read (a host sync) only every ``refresh_rate`` steps. Only rank 0 of a
    distributed run shows it. Replace it with a plugin's bar by ``logging.progress: false``
    plus the plugin's entry in ``callbacks:``.

    Args:
        refresh_rate: Update the bar every this many steps.
        log_every: Without a terminal, one log line every this many steps.
        per_epoch: One bar per epoch (default when the run is bounded by epochs) or one bar
            for the whole run (default with ``max_steps``).
        stream: Where to write (default ``sys.stdout``).
        force_tty: Override terminal detection.
    """

    def __init__(
        self,
        refresh_rate: int = 10,
        log_every: int = 50,
        per_epoch: bool | None = None,
        stream: IO[str] | None = None,
        force_tty: bool | None = None,
    ) -> None:
        if refresh_rate < 1:
            raise ValueError(f"refresh_rate: must be >= 1, got {refresh_rate}")
        if log_every < 1:
            raise ValueError(f"log_every: must be >= 1, got {log_every}")
        self.refresh_rate, self.log_every, self.per_epoch = refresh_rate, log_every, per_epoch
        self.stream, self.force_tty = stream, force_tty
        self.bar: ProgressBar | None = None

    def setup(self, trainer: Any) -> None:
        per_epoch = self.per_epoch if self.per_epoch is not None else trainer.max_steps is None
        self.bar = ProgressBar(
            self.refresh_rate,
            self.log_every,
            enabled=trainer.dist.is_main,
            per_epoch=per_epoch,
            stream=self.stream,
            force_tty=self.force_tty,
        )

    def on_train_start(self, trainer: Any) -> None:
        total = trainer.total_steps(trainer.data_loader)
        self.bar.on_train_start(trainer.step, total, trainer.epochs)

    def on_train_epoch_start(self, trainer: Any) -> None:
        epoch_steps = trainer.steps_per_epoch(trainer.data_loader)
        self.bar.on_epoch_start(trainer.epoch, epoch_steps, trainer.batch_in_epoch, trainer.step)

    def on_train_batch_end(self, trainer: Any) -> None:
        self.bar.on_batch_end(trainer.step, trainer.losses_for_display)

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.bar.on_epoch_end(trainer.step)

    def on_train_end(self, trainer: Any) -> None:
        self.bar.on_train_end(trainer.step, trainer.losses_for_display())
