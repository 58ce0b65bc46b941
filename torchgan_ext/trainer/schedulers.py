"""Learning-rate schedules that ``torch.optim`` lacks, written as state-dict friendly classes."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .._validation import check_int, check_number, check_positive_int

__all__ = ["LinearDecayLR", "StepwiseDecayLR"]


class LinearDecayLR(LRScheduler):
    r"""Constant learning rate, then a linear decay to ``final_factor`` times the base rate.

    This is the schedule of pix2pix, CycleGAN and the StarGAN paper (constant for the first half
    of the iterations, then linear decay to zero over the second half):

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


class StepwiseDecayLR(LRScheduler):
    r"""Subtract a fixed fraction of the base rate every ``every`` steps of the last ``decay``.

    The learning-rate decay of the authors' released StarGAN code
    (https://github.com/yunjey/stargan, ``solver.py``): after every ``lr_update_step`` = 1000-th
    iteration of the last ``num_iters_decay`` = 100k of 200k, the rate is lowered by
    ``lr / num_iters_decay``, i.e. :math:`10^{-5}` of the base rate each time, 100 times, and
    training ends at :math:`0.999\,\eta_0` (9.99e-5 for 1e-4). The paper (Choi et al., CVPR
    2018, https://arxiv.org/abs/1711.09020) describes a linear decay to 0 instead
    (:class:`LinearDecayLR`); ``decrement`` left out gives that line as a staircase.

    .. math::
        \eta_t = \eta_0 \cdot \max\!ig(0,\ 1 - \delta\, n(t)ig), \qquad
        n(t) = \#\{k \le t : k \equiv 0 \pmod{e},\ k > T - D\}

    Args:
        optimizer: The wrapped optimizer.
        total: :math:`T`, the step (or epoch) at which training ends.
        decay: :math:`D`, the length of the decay phase (the last :math:`D` of :math:`T`).
        every: :math:`e`, steps between two decrements (the released code: 1000).
        decrement: :math:`\delta`, the fraction of the base rate subtracted each time (the
            released code: ``1e-5``); default ``every / decay`` (reaches 0 at ``total``).
        last_epoch: As in ``torch.optim.lr_scheduler``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total: int,
        decay: int | None = None,
        every: int = 1,
        decrement: float | None = None,
        last_epoch: int = -1,
    ) -> None:
        check_positive_int(total, "total")
        decay = total // 2 if decay is None else check_positive_int(decay, "decay")
        if decay > total:
            raise ValueError(f"decay: must be <= total={total}, got {decay}")
        check_positive_int(every, "every")
        if decrement is None:
            decrement = every / decay
        check_number(decrement, "decrement")
        if decrement > 1.0:
            raise ValueError(f"decrement: must be in [0, 1], got {decrement}")
        self.total = total
        self.decay = decay
        self.every = every
        self.decrement = float(decrement)
        super().__init__(optimizer, last_epoch)

    def decrements(self, t: int) -> int:
        """:math:`n(t)`: decrements made after ``t`` steps (none after ``total``)."""
        first = self.total - self.decay  # decrements at multiples of `every` above this
        return max(0, min(t, self.total) // self.every - first // self.every)

    def get_lr(self) -> list[float]:
        f = max(0.0, 1.0 - self.decrement * self.decrements(self.last_epoch))
        return [base * f for base in self.base_lrs]
