"""A drop-in replacement of torchgan's ``Logger`` without its per-step host syncs.

torchgan's ``BaseTrainer.train_iter`` talks to its logger through three objects:
``get_loss_viz().logs[name].append(value)``, ``get_grad_viz().update_grads(name, model)`` and
``get_metric_viz().logs[name].append(value)``. torchgan's versions keep every loss value
forever, do one ``.item()`` per parameter per iteration for the gradient norms, zero the
gradients as a side effect, and decide what to log from environment variables read at import.

This logger keeps the same three objects (so ``train_iter`` and ``eval_ops`` run unchanged) but:
losses keep only their latest value (a tensor stays on the device until it is read), gradient
norms are computed with one fused ``torch._foreach_norm`` and only on logging steps, and
tensorboard is switched on or off by the config.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .visualize import SampleGrid, make_grid, save_grid

__all__ = ["Logger", "LastValue", "LossLog", "GradNorms", "MetricLog"]


def _loss_name(loss: Any) -> str:
    return type(loss).__name__


class LastValue(list):
    """A list that only keeps its last element (``append`` replaces it)."""

    def append(self, value: Any) -> None:
        if self:
            self[0] = value
        else:
            super().append(value)


class LossLog:
    """Latest value of every loss, by loss class name (torchgan's ``LossVisualize.logs``)."""

    def __init__(self, losses: Iterable[Any]) -> None:
        self.logs: dict[str, LastValue] = {_loss_name(loss): LastValue() for loss in losses}

    def latest(self) -> dict[str, Any]:
        """``{name: value}`` for losses that produced a value (tensors are not read)."""
        return {name: v[0] for name, v in self.logs.items() if v}


class GradNorms:
    """Gradient norms per model, computed only when ``active`` (on logging steps).

    ``update_grads(name, model)`` is what ``train_iter`` calls after each loss. The norm of all
    gradients of a model is one ``torch._foreach_norm`` plus one ``vector_norm``: no host sync.
    """

    def __init__(self, model_names: Iterable[str]) -> None:
        self.logs: dict[str, torch.Tensor | None] = dict.fromkeys(model_names)
        self.active = False

    def update_grads(self, name: str, model: nn.Module, eps: float = 1e-5) -> None:
        """Record the current L2 norm of ``model``'s gradients (when active)."""
        if not self.active:
            return
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        if grads:
            norms = torch._foreach_norm(grads)
            self.logs[name] = torch.linalg.vector_norm(torch.stack(norms))

    def take(self) -> dict[str, torch.Tensor]:
        """Return the recorded norms and forget them."""
        out = {k: v for k, v in self.logs.items() if v is not None}
        self.logs = dict.fromkeys(self.logs)
        return out


class MetricLog:
    """Metric values by metric class name (torchgan's ``MetricVisualize.logs``)."""

    def __init__(self, metrics: Iterable[Any]) -> None:
        self.logs: dict[str, list[Any]] = {_loss_name(m): [] for m in metrics}


class Logger:
    """Tensorboard, PNG and ``metrics.jsonl`` output of a :class:`~torchgan_ext.Trainer`, plus
    the three objects torchgan's ``train_iter`` and ``eval_ops`` write to.

    When each thing is written is decided by callbacks (``tensorboard``, ``sample_grids``,
    ``evaluation``); the logger only writes.

    Args:
        model_names: The trainer's model names.
        losses: The loss objects.
        metrics: The metric objects (or ``None``).
        out_dir: The run directory (``samples/`` and ``tensorboard/`` are created below it).
        tensorboard: Write tensorboardX event files (the ``tensorboard`` callback turns it on).
    """

    def __init__(
        self,
        model_names: Iterable[str],
        losses: Iterable[Any],
        metrics: Iterable[Any] | None,
        out_dir: str | os.PathLike,
        tensorboard: bool = False,
    ) -> None:
        self.out_dir = os.fspath(out_dir)
        self.samples_dir = os.path.join(self.out_dir, "samples")
        os.makedirs(self.samples_dir, exist_ok=True)
        self.loss_log = LossLog(losses)
        self.grad_log = GradNorms(model_names)
        self.metric_log = MetricLog(metrics or [])
        self.tensorboard = tensorboard
        self._writer: Any = None  # created on first use: a run that fails early leaves no file
        self._last_log_time = time.perf_counter()
        self._last_log_step = 0

    # -- the torchgan Logger API used by BaseTrainer ----------------------------------------
    def get_loss_viz(self) -> LossLog:
        return self.loss_log

    def get_grad_viz(self) -> GradNorms:
        return self.grad_log

    def get_metric_viz(self) -> MetricLog:
        return self.metric_log

    @property
    def writer(self) -> Any:
        """The tensorboardX ``SummaryWriter`` (``None`` when tensorboard is off)."""
        if self.tensorboard and self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(os.path.join(self.out_dir, "tensorboard"))
        return self._writer

    def close(self) -> None:
        """Flush and close the tensorboard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.tensorboard = False

    # -- writing -----------------------------------------------------------------------------
    def log_scalars(self, step: int, scalars: Mapping[str, Any], lrs: Mapping[str, float]) -> None:
        """Write loss scalars, learning rates, gradient norms and it/s (reads the tensors)."""
        if self.writer is None:
            return
        now = time.perf_counter()
        elapsed = now - self._last_log_time
        if elapsed > 0 and step > self._last_log_step:
            self.writer.add_scalar("perf/it_per_s", (step - self._last_log_step) / elapsed, step)
        self._last_log_time, self._last_log_step = now, step
        for name, value in scalars.items():
            self.writer.add_scalar(name, _as_float(value), step)
        for name, value in lrs.items():
            self.writer.add_scalar(f"lr/{name}", value, step)
        for name, norm in self.grad_log.take().items():
            self.writer.add_scalar(f"grad_norm/{name}", _as_float(norm), step)

    def log_samples(self, grids: Mapping[str, SampleGrid], step: int) -> list[str]:
        """Write sample grids as ``samples/step{step:08d}_{tag}.png`` and to tensorboard."""
        paths = []
        for tag, (images, nrow) in grids.items():
            grid = make_grid(images, nrow)
            safe = tag.replace("/", "_")
            path = os.path.join(self.samples_dir, f"step{step:08d}_{safe}.png")
            save_grid(grid, path)
            paths.append(path)
            if self.writer is not None:
                self.writer.add_image(f"samples/{tag}", grid, step)
        return paths

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        """Write metric values to tensorboard and append them to ``metrics.jsonl``."""
        if not values:
            return
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(f"metrics/{name}", value, step)
        with open(os.path.join(self.out_dir, "metrics.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")

    def log_text(self, tag: str, text: str, step: int) -> None:
        """Write a text (markdown) entry to tensorboard."""
        if self.writer is not None:
            self.writer.add_text(tag, text, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()


def _as_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.detach().float().cpu())
    return float(value)
