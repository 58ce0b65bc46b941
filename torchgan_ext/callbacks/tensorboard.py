"""``tensorboard``: loss, learning-rate, gradient-norm and speed scalars (tensorboardX)."""

from __future__ import annotations

from typing import Any

from .base import Callback

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Writes ``loss/*``, ``lr/*``, ``grad_norm/*`` and ``perf/it_per_s`` every ``log_every``
    steps to ``out_dir/tensorboard`` and switches the trainer's logger to tensorboard, so sample
    grids and metrics are written there too. Only rank 0 writes.

    Gradient norms are one fused ``torch._foreach_norm`` per model, computed only on logging
    steps (torchgan does one ``.item()`` per parameter per step).

    Args:
        log_every: Steps between scalar writes (loss tensors are read only then).
        grad_norms: Also log gradient norms.
    """

    def __init__(self, log_every: int = 50, grad_norms: bool = True) -> None:
        if log_every < 1:
            raise ValueError(f"log_every: must be >= 1, got {log_every}")
        self.log_every, self.grad_norms = log_every, grad_norms

    def setup(self, trainer: Any) -> None:
        trainer.logger.tensorboard = bool(trainer.dist.is_main)

    def on_train_batch_start(self, trainer: Any) -> None:
        trainer.logger.grad_log.active = (
            self.grad_norms
            and trainer.logger.tensorboard
            and (trainer.step + 1) % self.log_every == 0
        )

    def on_train_batch_end(self, trainer: Any) -> None:
        if trainer.logger.tensorboard and trainer.step % self.log_every == 0:
            trainer.logger.log_scalars(
                trainer.step, trainer.loss_scalars(), trainer.learning_rates()
            )

    def on_train_end(self, trainer: Any) -> None:
        trainer.logger.flush()
