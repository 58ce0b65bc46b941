"""A tqdm progress bar for the torchgan Trainer, with Lightning's ``TQDMProgressBar`` contract.

The trainer calls ``on_train_start``, ``on_epoch_start``, ``on_batch_end``, ``on_epoch_end`` and
``on_train_end``. Loss values are read only every ``refresh_rate`` steps (reading a CUDA tensor
is a host sync), so the bar never slows training down. When stdout is not a terminal (CI logs,
``nohup``, cluster job files) the bar degrades to one plain log line every ``log_every`` steps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from tqdm.auto import tqdm

__all__ = ["ProgressBar", "format_losses", "format_eta"]


def _to_float(value: Any) -> float:
    if hasattr(value, "item"):
        return float(value.item())
    return float(value)


def format_losses(losses: Mapping[str, Any]) -> str:
    """``"g 0.693 d 1.386"``-style text of a mapping of short names to loss values."""
    return " ".join(f"{name} {_to_float(v):.4g}" for name, v in losses.items() if v is not None)


def format_eta(seconds: float) -> str:
    """``h:mm:ss`` of a duration in seconds."""
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """Progress bar (or periodic log lines) showing step/total, it/s, ETA and the latest losses.

    Args:
        refresh_rate: Update the bar (and read the losses) every this many steps.
        log_every: Without a terminal, print a line every this many steps.
        enabled: ``False`` turns the bar and the log lines off.
        per_epoch: One bar per epoch (``True``) or one bar for the whole run (``False``,
            used when the run is bounded by ``max_steps``).
        stream: Where to write (default ``sys.stdout``).
        force_tty: Override terminal detection (``True``: bar, ``False``: log lines).
    """

    def __init__(
        self,
        refresh_rate: int = 10,
        log_every: int = 50,
        enabled: bool = True,
        per_epoch: bool = True,
        stream: IO[str] | None = None,
        force_tty: bool | None = None,
    ) -> None:
        if refresh_rate < 1:
            raise ValueError(f"refresh_rate must be >= 1, got {refresh_rate}")
        self.refresh_rate = refresh_rate
        self.log_every = max(1, log_every)
        self.enabled = enabled
        self.per_epoch = per_epoch
        self.stream = stream if stream is not None else sys.stdout
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.use_bar = bool(force_tty if force_tty is not None else is_tty)
        self._bar: tqdm | None = None
        self._total_steps = 0
        self._epochs = 0
        self._start_time = 0.0
        self._start_step = 0
        self._epoch_start_step = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def on_train_start(self, start_step: int, total_steps: int, epochs: int) -> None:
        """Called once before the first step (``start_step`` > 0 when resuming)."""
        self._total_steps = total_steps
        self._epochs = epochs
        self._start_time = time.perf_counter()
        self._start_step = start_step
        if self.enabled and self.use_bar and not self.per_epoch:
            self._open_bar(total_steps, start_step, "train")

    def on_epoch_start(self, epoch: int, epoch_steps: int, done_in_epoch: int, step: int) -> None:
        """Called at the start of each epoch (``done_in_epoch`` > 0 when resuming mid-epoch)."""
        self._epoch_start_step = step - done_in_epoch
        if self.enabled and self.use_bar and self.per_epoch:
            self._open_bar(epoch_steps, done_in_epoch, f"epoch {epoch + 1}/{self._epochs}")

    def on_batch_end(self, step: int, losses: Callable[[], Mapping[str, Any]]) -> None:
        """Called after every step; ``losses`` is only called (synced) at the refresh rate."""
        if not self.enabled:
            return
        if self.use_bar:
            if self._bar is not None and step % self.refresh_rate == 0:
                self._bar.n = step - (self._epoch_start_step if self.per_epoch else 0)
                self._bar.set_postfix_str(format_losses(losses()), refresh=False)
                self._bar.refresh()
        elif step % self.log_every == 0:
            self.stream.write(self.log_line(step, losses()) + "\n")
            self.stream.flush()

    def on_epoch_end(self, step: int) -> None:
        """Called when an epoch is finished."""
        if self.enabled and self.use_bar and self.per_epoch:
            self._close_bar(step - self._epoch_start_step)

    def on_train_end(self, step: int, losses: Mapping[str, Any] | None = None) -> None:
        """Called once after the last step."""
        if not self.enabled:
            return
        if self.use_bar:
            end = step - (self._epoch_start_step if self.per_epoch else 0)
            self._close_bar(end)
        elif losses is not None and step % self.log_every != 0:
            self.stream.write(self.log_line(step, losses) + "\n")
            self.stream.flush()

    # -- helpers -----------------------------------------------------------------------------
    def rate(self, step: int) -> float:
        """Steps per second since training (re)started."""
        elapsed = time.perf_counter() - self._start_time
        return (step - self._start_step) / elapsed if elapsed > 0 else 0.0

    def log_line(self, step: int, losses: Mapping[str, Any]) -> str:
        """The plain text line written when there is no terminal."""
        total = max(self._total_steps, 1)
        rate = self.rate(step)
        eta = format_eta((self._total_steps - step) / rate) if rate > 0 else "?"
        text = (
            f"step {step}/{self._total_steps} ({100.0 * step / total:.1f}%) | "
            f"{rate:.2f} it/s | eta {eta}"
        )
        loss_text = format_losses(losses)
        return f"{text} | {loss_text}" if loss_text else text

    def _open_bar(self, total: int, initial: int, desc: str) -> None:
        self._close_bar(None)
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            file=self.stream,
            dynamic_ncols=True,
            leave=True,
            mininterval=0.0,
            miniters=1,
        )

    def _close_bar(self, n: int | None) -> None:
        if self._bar is not None:
            if n is not None:
                self._bar.n = n
                self._bar.refresh()
            self._bar.close()
            self._bar = None
