"""Learning-rate schedules that ``torch.optim`` lacks, written as state-dict friendly classes."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .._validation import check_int, check_number, check_positive_int

__all__ = ["LinearDecayLR"]


class LinearDecayLR(LRScheduler):
    r"""Constant learning rate, then a linear decay to ``final_factor`` times the base rate.

    This is the schedule of pix2pix, CycleGAN and StarGAN (constant for the first half of the
    iterations, then linear decay to zero over the second half):

    .. math::
        \eta_t = \eta_0 \cdot \begin{cases} 1 & t < t_s \\
        1 - (1 - f)\,\min\!\left(1, \frac{t - t_s}{T - t_s}\right) & t \ge t_s \end{cases}

    Args:
        optimizer: The wrapped optimizer.
        total: :math:`T`, the step (or epoch) at which the decay ends.
        start: :math:`t_s`, the step (or epoch) at which the decay starts; default ``total // 2``.
        final_factor: :math:`f`, the factor reached at ``total`` (default 0).
        last_epoch: As in ``torch.optim.lr_scheduler``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total: int,
        start: int | None = None,
        final_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        check_positive_int(total, "total")
        start = total // 2 if start is None else check_int(start, "start")
        if not 0 <= start < total:
            raise ValueError(f"start: must be in [0, total={total}), got {start}")
        check_number(final_factor, "final_factor")
        if not 0.0 <= final_factor <= 1.0:
            raise ValueError(f"final_factor: must be in [0, 1], got {final_factor}")
        self.total = total
        self.start = start
        self.final_factor = final_factor
        super().__init__(optimizer, last_epoch)

    def _factor(self, t: int) -> float:
        if t < self.start:
            return 1.0
        frac = min(1.0, (t - self.start) / (self.total - self.start))
        return 1.0 - (1.0 - self.final_factor) * frac

    def get_lr(self) -> list[float]:
        f = self._factor(self.last_epoch)
        return [base * f for base in self.base_lrs]
