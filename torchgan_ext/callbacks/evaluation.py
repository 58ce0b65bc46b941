"""``evaluation``: runs the trainer's metrics during training and on the final generator."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["Evaluation"]


class Evaluation(Callback):
    """Runs every metric (see :meth:`Trainer.run_metrics`) every ``every`` steps, or after every
    epoch when ``every`` is ``None``, and once more on the final generator when the run ends
    at a step that was not evaluated yet; values go to tensorboard and ``metrics.jsonl``.

    The final evaluation does not depend on ``every``: a run of 20 steps with
    ``eval_every: 100`` still ends with its metrics. It is skipped after a stop by signal (the
    run is not finished; ``--resume`` continues it and evaluates at its real end). The step of
    the latest evaluation is saved in checkpoints, so resuming a finished run does not
    evaluate the same weights twice.

    Args:
        every: Steps between evaluations; ``None``: after every epoch.
        final: Evaluate the final generator at the end of the run.
    """

    def __init__(self, every: int | None = None, final: bool = True) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every: must be >= 1 or null, got {every}")
        self.every = every
        self.final = bool(final)
        #: The step of the latest evaluation (``None`` before the first).
        self.last_step: int | None = None

    def _evaluate(self, trainer: Any) -> None:
        trainer.run_metrics()
        self.last_step = trainer.step

    def on_train_batch_end(self, trainer: Any) -> None:
        if self.every and trainer.step % self.every == 0:
            self._evaluate(trainer)

    def on_train_epoch_end(self, trainer: Any) -> None:
        if self.every is None:
            self._evaluate(trainer)

    def on_train_end(self, trainer: Any) -> None:
        if not self.final or not getattr(trainer, "metrics", None):
            return
        if getattr(trainer, "stopped_by_signal", None) is not None:
            return
        if self.last_step != trainer.step and trainer.step > 0:
            self._evaluate(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": -1 if self.last_step is None else int(self.last_step)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        step = int(state.get("last_step", -1))
        self.last_step = None if step < 0 else step
