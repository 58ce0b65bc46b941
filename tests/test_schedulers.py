"""StarGAN's two learning-rate schedules: the paper's (linear_decay) and the released code's."""

from __future__ import annotations

import pytest
import torch

from torchgan_ext._registry import SCHEDULERS
from torchgan_ext.trainer.schedulers import LinearDecayLR, StepwiseDecayLR

pytestmark = pytest.mark.filterwarnings("ignore:Detected call of")  # no optimizer steps here


def _optimizer(lr: float = 1e-4) -> torch.optim.Optimizer:
    return torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=lr)


def _released_code_lrs(lr0: float, num_iters: int, num_iters_decay: int, update_step: int):
    """The lr of every iteration, as the loop of yunjey/stargan's solver.py computes it."""
    lr, lrs = lr0, []
    for i in range(num_iters):
        lrs.append(lr)  # the rate iteration i trains with
        if (i + 1) % update_step == 0 and (i + 1) > (num_iters - num_iters_decay):
            lr -= lr0 / float(num_iters_decay)
    return lrs, lr


def _scheduler_lrs(sched: torch.optim.lr_scheduler.LRScheduler, n: int) -> list[float]:
    lrs = []
    for _ in range(n):
        lrs.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return lrs


def test_stepwise_decay_follows_the_released_code_step_by_step():
    # the released loop scaled down 100x in length (same arithmetic: lr0 / decay per decrement)
    expected, final = _released_code_lrs(1e-4, 2000, 1000, 10)
    sched = StepwiseDecayLR(_optimizer(), total=2000, decay=1000, every=10, decrement=1e-3)
    got = _scheduler_lrs(sched, 2000)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(final)
    assert final == pytest.approx(0.9 * 1e-4)  # 100 decrements of 1e-3


def test_stepwise_decay_at_full_size_ends_at_9_99e_5():
    _, final = _released_code_lrs(1e-4, 200_000, 100_000, 1000)
    assert final == pytest.approx(9.99e-5, rel=1e-9)
    sched = StepwiseDecayLR(_optimizer(), total=200_000, decay=100_000, every=1000, decrement=1e-5)
    for t, lr in {100_999: 1e-4, 101_000: 1e-4 * (1 - 1e-5), 200_000: 9.99e-5}.items():
        sched.last_epoch = t - 1
        sched.step()
        assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(lr, rel=1e-12)
    sched.last_epoch = 300_000  # no decrements after the end
    sched.step()
    assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(9.99e-5, rel=1e-12)


def test_linear_decay_is_the_papers_line_to_zero():
    sched = LinearDecayLR(_optimizer(), total=200, start=100)
    got = _scheduler_lrs(sched, 201)
    paper = [1e-4 * min(1.0, 1 - (t - 100) / 100) for t in range(201)]
    assert got == pytest.approx(paper, rel=1e-12, abs=1e-18)
    assert got[-1] == 0.0


def test_stepwise_decay_default_decrement_is_a_staircase_to_zero():
    sched = StepwiseDecayLR(_optimizer(1.0), total=8, decay=4, every=2)
    assert _scheduler_lrs(sched, 9) == pytest.approx([1, 1, 1, 1, 1, 1, 0.5, 0.5, 0.0])
    assert SCHEDULERS.get("stepwise_decay") is StepwiseDecayLR


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"total": 0}, ValueError, "total: must be a positive integer"),
        ({"total": 10, "decay": 11}, ValueError, "decay: must be <= total=10"),
        ({"total": 10, "every": 0}, ValueError, "every: must be a positive integer"),
        ({"total": 10, "decrement": 2.0}, ValueError, r"decrement: must be in \[0, 1\]"),
        ({"total": 10, "decrement": "x"}, TypeError, "decrement: must be a number"),
    ],
)
def test_stepwise_decay_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        StepwiseDecayLR(_optimizer(), **kwargs)
