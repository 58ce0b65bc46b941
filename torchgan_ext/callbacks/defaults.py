"""The built-in callbacks a run gets from the ``trainer:`` and ``logging:`` keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .checkpoint import Checkpoint
from .ema import EMA
from .evaluation import Evaluation
from .nonfinite import NonFiniteGuard
from .progress import ProgressBarCallback
from .samples import SampleGrids
from .schedulers import LRSchedulers
from .tensorboard import TensorBoard

__all__ = ["default_callbacks"]


def default_callbacks(
    *,
    sample_every: int | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    eval_every: int | None = None,
    ema: Mapping[str, Any] | None = None,
    progress: bool = True,
    tensorboard: bool = True,
    refresh_rate: int = 10,
    log_every: int = 50,
    grad_norms: bool = True,
) -> dict[str, Any]:
    """The built-in callbacks by registered name, in the order the trainer calls them.

    This is what ``torchgan-run`` builds from the ``trainer:`` and ``logging:`` keys and what a
    :class:`Trainer` gets when it is given no ``callbacks``.
    """
    callbacks: dict[str, Any] = {"lr_schedulers": LRSchedulers()}
    if ema is not None:
        callbacks["ema"] = EMA(**dict(ema))
    if tensorboard:
        callbacks["tensorboard"] = TensorBoard(log_every, grad_norms)
    if progress:
        callbacks["progress_bar"] = ProgressBarCallback(refresh_rate, log_every)
    callbacks["nonfinite_guard"] = NonFiniteGuard(refresh_rate)
    callbacks["sample_grids"] = SampleGrids(sample_every)
    callbacks["evaluation"] = Evaluation(eval_every)
    callbacks["checkpoint"] = Checkpoint(checkpoint_every, keep_checkpoints)
    return callbacks
