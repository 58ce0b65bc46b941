"""The trainer's state: checkpoints written atomically, only when finite, and restored."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..callbacks.ema import EMA
from ..errors import CheckpointError, NonFiniteLossError
from .checkpoint import (
    CHECKPOINT_FORMAT,
    check_checkpoint,
    checkpoint_path,
    get_rng_state,
    list_checkpoints,
    load_checkpoint,
    load_newest_checkpoint,
    nonfinite_tensors,
    prune_checkpoints,
    save_checkpoint,
    set_rng_state,
)
from .distributed import any_rank

__all__ = ["CheckpointState"]


class CheckpointState:
    """Trainer mixin: ``state_dict`` / ``load_state_dict`` and torchgan's ``save_model`` /
    ``load_model`` on state-dict checkpoints (see :mod:`torchgan_ext.trainer.checkpoint`)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as ``weights_only``-loadable data."""
        info = {
            k: float(v) if isinstance(v, torch.Tensor) else v
            for k, v in self.loss_information.items()
        }
        return {
            "format": CHECKPOINT_FORMAT,
            "meta": self._meta(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "models": {n: getattr(self, n).state_dict() for n in self.model_names},
            "optimizers": {n: getattr(self, n).state_dict() for n in self.optimizer_names},
            "schedulers": [s.state_dict() for s in self.schedulers + self.step_schedulers],
            "losses": {
                name: loss.state_dict()
                for name, loss in self.losses.items()
                if isinstance(loss, nn.Module)
            },
            "loss_information": info,
            "callbacks": {
                name: cb.state_dict()
                for name, cb in self.callbacks.items()
                if callable(getattr(cb, "state_dict", None))
            },
            "sample_noise": self.sample_noise,
            "rng": get_rng_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any], restore_rng: bool = True) -> None:
        """Restore what :meth:`state_dict` returned (check it with :meth:`check_resume`
        first: a checkpoint that does not fit raises :class:`CheckpointError`)."""
        try:
            self._load_state_dict(state, restore_rng)
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise CheckpointError(
                f"the checkpoint does not fit this run: {type(e).__name__}: {text}"
            ) from e

    def _load_state_dict(self, state: Mapping[str, Any], restore_rng: bool) -> None:
        for n in self.model_names:
            getattr(self, n).load_state_dict(state["models"][n])
        for n in self.optimizer_names:
            getattr(self, n).load_state_dict(state["optimizers"][n])
        for sched, sd in zip(
            self.schedulers + self.step_schedulers, state["schedulers"], strict=True
        ):
            sched.load_state_dict(sd)
        for name, sd in state.get("losses", {}).items():
            if name in self.losses and isinstance(self.losses[name], nn.Module):
                self.losses[name].load_state_dict(sd)
        saved = dict(state.get("callbacks", {}))
        if "ema" in state and "ema" not in saved:  # checkpoints written before callbacks
            saved["ema"] = state["ema"]
        for name, callback in self.callbacks.items():
            if name in saved:
                if callable(getattr(callback, "load_state_dict", None)):
                    callback.load_state_dict(saved[name])
            elif isinstance(callback, EMA):  # EMA added on resume: average the loaded weights
                callback.setup(self)
        self.loss_information.update(state["loss_information"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.start_epoch = self.epoch
        noise = state.get("sample_noise") or {}
        self.sample_noise = {k: [t.to(self.device) for t in v] for k, v in noise.items()}
        if restore_rng:
            set_rng_state(state["rng"])

    def newest_good_checkpoint(self) -> str:
        """``"the newest good checkpoint is <path> (step N)"``, or that there is none: the
        newest file of ``checkpoint_dir`` that can be read and holds only finite tensors
        (used in error messages)."""
        for path in reversed(list_checkpoints(self.checkpoint_dir)):
            try:
                state = check_checkpoint(load_checkpoint(path, mmap=True), path)
            except CheckpointError:
                try:
                    state = check_checkpoint(load_checkpoint(path), path)
                except CheckpointError:
                    continue
            if not nonfinite_tensors({k: v for k, v in state.items() if k != "rng"}):
                return f"the newest good checkpoint is {path} (step {state['step']})"
        return f"there is no good checkpoint in {self.checkpoint_dir}"

    def save_model(
        self, epoch: int | None = None, save_items: Any = None, *, keep: int = 3
    ) -> Path | None:
        """Write a checkpoint of the current step atomically and keep the newest ``keep``
        readable ones.

        A checkpoint is written only when every floating-point tensor in it (weights, buffers
        such as batch-norm statistics, EMA copies, optimizer and loss state) is finite;
        otherwise :class:`NonFiniteLossError` names the tensor, the step and the newest good
        checkpoint on disk. (torchgan's signature is kept; ``epoch`` and ``save_items`` are
        ignored because the checkpoint always holds the trainer's whole state.)
        """
        self.check_finite("before writing a checkpoint")
        state = self.state_dict()
        bad = nonfinite_tensors({k: v for k, v in state.items() if k != "rng"})
        if any_rank(bool(bad), self.dist, self.device):
            if bad:
                what = bad[0] + (f" (and {len(bad) - 1} more tensors)" if len(bad) > 1 else "")
            else:
                what = "a tensor of another rank"
            raise NonFiniteLossError(
                f"{what} is not finite at step {self.step}, so no checkpoint was written; "
                f"{self.newest_good_checkpoint()}. Lower the learning rate or check the data"
            )
        self.last_checkpoint_step = self.step
        if not self.dist.is_main:
            return None
        path = save_checkpoint(state, checkpoint_path(self.checkpoint_dir, self.step))
        st = path.stat()
        self._checked_files[path] = ((st.st_mtime_ns, st.st_size), True)
        self.last_checkpoint_path = path
        prune_checkpoints(self.checkpoint_dir, keep, protect=path, known=self._checked_files)
        return path

    def load_model(
        self,
        load_path: str | os.PathLike = "",
        load_items: Any = None,
        *,
        state: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Load the given checkpoint, or the newest readable one of ``out_dir/checkpoints``.

        Args:
            load_path: A checkpoint file; default: the newest readable one.
            load_items: Ignored (torchgan's signature).
            state: The already loaded content of ``load_path`` (not read again).

        Returns:
            The path loaded, or ``None`` when there is no checkpoint to resume from.
        """
        if load_path and state is not None:
            path = Path(load_path)
        elif load_path:
            path = Path(load_path)
            state = check_checkpoint(load_checkpoint(path, map_location=self.device), path)
        else:
            found = load_newest_checkpoint(self.checkpoint_dir, map_location=self.device)
            if found is None:
                return None
            path, state = found
        try:
            self.load_state_dict(state)
        except CheckpointError as e:
            raise CheckpointError(f"cannot resume from {path}: {e}") from e.__cause__
        self.last_checkpoint_step = self.step
        self.last_checkpoint_path = path
        return path
