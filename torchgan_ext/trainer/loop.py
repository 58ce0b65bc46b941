"""The training loop of :class:`~torchgan_ext.trainer.Trainer` (a mixin): epochs and
``max_steps``, resuming inside an epoch, the train step under autocast, the callbacks' hooks,
stop signals, dead DataLoader workers, and skipping optimizer steps with non-finite gradients.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..errors import NonFiniteLossError
from .acceleration import autocast
from .distributed import any_rank
from .preemption import (
    guard_workers,
    report_dead_workers,
    shutdown_workers,
    stop_signals_blocked,
)

__all__ = ["TrainingLoop"]


class TrainingLoop:
    """The loop part of :class:`~torchgan_ext.trainer.Trainer`; it uses the trainer's models,
    optimizers, callbacks and counters."""

    def _skip_nonfinite_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any):
        """Optimizer pre-hook: drop all gradients (so ``step`` changes nothing) when any is
        not finite."""
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return
        norms = torch._foreach_norm([p.grad for p in params])
        if bool(torch.stack(norms).isfinite().all()):
            return
        for p in params:
            p.grad = None
        self.nonfinite_skips += 1
        name = next((n for n in self.optimizer_names if getattr(self, n) is optimizer), "?")
        self.skipped_steps.append((self.step + 1, name))
        if self.nonfinite_skips > self.max_nonfinite_skips:
            first = self.skipped_steps[0][0]
            raise NonFiniteLossError(
                f"more than {self.max_nonfinite_skips} optimizer steps with non-finite "
                f"gradients were skipped (steps {first} to {self.step + 1}, last: {name}); "
                f"{self.newest_good_checkpoint()}. Lower the learning rate or check the data"
            )

    def steps_per_epoch(self, data_loader: DataLoader) -> int:
        """Number of batches of one whole epoch (independent of a resume offset)."""
        sampler = getattr(data_loader, "sampler", None)
        batch_size = data_loader.batch_size
        if hasattr(sampler, "num_samples") and batch_size:
            n = sampler.num_samples
            return n // batch_size if data_loader.drop_last else math.ceil(n / batch_size)
        return len(data_loader)

    def total_steps(self, data_loader: DataLoader) -> int:
        """Steps of the whole run: ``epochs`` epochs, bounded by ``max_steps``."""
        total = self.epochs * self.steps_per_epoch(data_loader)
        return min(total, self.max_steps) if self.max_steps else total

    @property
    def done(self) -> bool:
        """Whether ``max_steps`` is reached."""
        return bool(self.max_steps and self.step >= self.max_steps)

    def autocast(self) -> Any:
        """The autocast context of the run's ``precision`` (for callbacks that train)."""
        return autocast(self.device, self.precision)

    def train_step(self) -> None:
        """torchgan's ``train_iter`` on the current batch (under autocast), loss bookkeeping."""
        with self.autocast():
            lgen, ldis, gen_iter, dis_iter = self.train_iter()
        info = self.loss_information
        info["generator_losses"] += _detached(lgen)
        info["discriminator_losses"] += _detached(ldis)
        info["generator_iters"] += gen_iter
        info["discriminator_iters"] += dis_iter

    def train(self, data_loader: DataLoader, **kwargs: Any) -> None:
        """Train until ``epochs`` (total) or ``max_steps`` is reached, resuming where it stopped.

        The loop: load a batch, :meth:`train_step`, call the callbacks. Call
        :meth:`load_model` first to resume. SIGINT/SIGTERM finish the current step, end the
        run normally (the ``checkpoint`` callback writes the stop step), shut the loader's
        workers down and return (``stopped_by_signal`` is then set). DataLoader workers ignore
        these signals (:func:`~torchgan_ext.trainer.preemption.guard_workers`), so a SIGTERM to
        the whole process group stops the run the same way.
        """
        self.data_loader = data_loader
        self.batch_size = data_loader.batch_size or self.batch_size
        self._make_sample_noise()
        for name in self.optimizer_names:
            getattr(self, name).zero_grad(set_to_none=True)
        sampler = getattr(data_loader, "sampler", None)
        # workers leave SIGINT/SIGTERM to this process (a job's SIGTERM reaches them too)
        guard_workers(data_loader)
        guard_workers(self.val_loader)
        batches = None
        self._stop.install()
        try:
            self._call("on_train_start")
            while self.epoch < self.epochs and not self.done:
                for name in self.model_names:
                    getattr(self, name).train()
                skip = self._position_sampler(sampler, data_loader)
                epoch_steps = self.steps_per_epoch(data_loader)
                self._call("on_train_epoch_start")
                with stop_signals_blocked():  # no signal reaches a worker before it ignores it
                    batches = iter(data_loader)
                for i, data in enumerate(report_dead_workers(batches)):
                    if i < skip:
                        continue
                    self.set_batch(data)
                    self._call("on_train_batch_start")
                    self.train_step()
                    self.step += 1
                    self.batch_in_epoch += 1
                    self._call("on_train_batch_end")
                    if self.done or self._stop_requested():
                        break
                else:
                    self._end_epoch()
                    continue
                # stopped inside the epoch (max_steps or a signal)
                if self.batch_in_epoch >= epoch_steps:
                    self._end_epoch()
                break
            self.stopped_by_signal = self._stop.signal
            self._call("on_train_end")
            if self.stopped_by_signal is not None and batches is not None:
                shutdown_workers(data_loader, batches)  # persistent ones too, before exiting
        finally:
            self._stop.uninstall()

    def _stop_requested(self) -> bool:
        if not self.dist.enabled:
            return self._stop.signal is not None
        if self.step % self.refresh_rate != 0:  # ranks agree at the refresh rate
            return False
        return any_rank(self._stop.signal is not None, self.dist, self.device)

    def _position_sampler(self, sampler: Any, data_loader: DataLoader) -> int:
        """Select this epoch's order; return how many batches to skip by hand when resuming."""
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        generator = getattr(data_loader, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(self.seed + 1000003 * (self.epoch + 1))
        if self.batch_in_epoch == 0:
            return 0
        if hasattr(sampler, "set_start"):
            sampler.set_start(self.batch_in_epoch * (data_loader.batch_size or 1))
            return 0
        return self.batch_in_epoch

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.batch_in_epoch = 0
        self._call("on_train_epoch_end")

    def __call__(self, data_loader: DataLoader, **kwargs: Any) -> None:
        self.train(data_loader, **kwargs)


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value
