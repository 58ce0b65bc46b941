"""The trainer callback contract (Lightning's ``Callback``, reduced to what a GAN loop needs).

A callback is any object with some of the hook methods below; the trainer calls the ones it
has, in the order the callbacks were given. Every built-in behaviour of the loop that is not the
GAN step itself (progress bar, tensorboard, sample grids, EMA, evaluation, checkpoints,
learning-rate schedules, the non-finite guard) is a callback, so a plugin can replace or extend
any of them. A callback reads the trainer's public attributes: ``step`` (finished steps),
``epoch``, ``batch_in_epoch``, ``out_dir``, ``models`` / ``model_names`` (the models by name,
also attributes of the trainer), ``optimizers``, ``ema``, ``data_loader``, ``dist`` (rank
information), ``losses_for_display()`` / ``loss_scalars()`` (the latest detached losses) and
``logger`` (the tensorboard writer and sample/metric files).

A callback with ``state_dict()`` / ``load_state_dict(state)`` is saved in every checkpoint under
its registered name and restored by ``--resume``; the state must be plain data or tensors (the
checkpoint is read with ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback", "CALLBACK_HOOKS"]

#: The hook methods a callback may implement, in the order a run calls them.
CALLBACK_HOOKS = (
    "setup",
    "on_train_start",
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_train_end",
)


class Callback:
    """Base class with every hook as a no-op (subclassing it is optional: duck typing works).

    Hooks, each called with the trainer:

    * ``setup(trainer)``: once, when the trainer is built (models and optimizers exist; before
      a checkpoint is restored). Add state to the trainer here (e.g. EMA copies).
    * ``on_train_start(trainer)``: once per ``train`` call, before the first step.
    * ``on_train_epoch_start(trainer)``: at the start of each (possibly resumed) epoch.
    * ``on_train_batch_start(trainer)``: after the batch is on the device, before the step.
    * ``on_train_batch_end(trainer)``: after each step (``trainer.step`` already counts it).
    * ``on_train_epoch_end(trainer)``: after a whole epoch (``trainer.epoch`` already counts it).
    * ``on_train_end(trainer)``: once, after the last step (also after a stop by signal).

    Example:
        >>> class PrintEvery(Callback):
        ...     def __init__(self, every=100):
        ...         self.every = every
        ...
        ...     def on_train_batch_end(self, trainer):
        ...         if trainer.step % self.every == 0:
        ...             print(trainer.step)
        >>> from types import SimpleNamespace
        >>> callback = PrintEvery(10)
        >>> for step in (9, 10, 11, 20):
        ...     callback.on_train_batch_end(SimpleNamespace(step=step))
        10
        20
        >>> callback.on_train_start(SimpleNamespace(step=0))  # the other hooks are no-ops
    """

    def setup(self, trainer: Any) -> None:
        """Called once when the trainer is built."""

    def on_train_start(self, trainer: Any) -> None:
        """Called before the first step of a ``train`` call."""

    def on_train_epoch_start(self, trainer: Any) -> None:
        """Called at the start of every epoch."""

    def on_train_batch_start(self, trainer: Any) -> None:
        """Called before every step."""

    def on_train_batch_end(self, trainer: Any) -> None:
        """Called after every step."""

    def on_train_epoch_end(self, trainer: Any) -> None:
        """Called after every whole epoch."""

    def on_train_end(self, trainer: Any) -> None:
        """Called after the last step."""
