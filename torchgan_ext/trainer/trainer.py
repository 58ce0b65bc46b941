"""A thin subclass of torchgan's ``Trainer`` that runs on today's torch and torchvision.

The training step itself is torchgan's (``BaseTrainer.train_iter`` calling each loss's
``train_ops``, ``ncritic`` scheduling, argument mapping by name, ``eval_ops``). What changes,
and why:

* **Logging**: torchgan's ``Logger`` crashes at the end of the first epoch (``make_grid(range=)``
  on torchvision >= 0.17), reads tensorboard switches from the environment at import and does
  one ``.item()`` per parameter per step. :class:`~torchgan_ext.logging.Logger` keeps its API.
* **Checkpoints**: state dicts only (loadable with ``weights_only=True``), written atomically
  every ``checkpoint_every`` steps and at the end; resume restores models, optimizers,
  schedulers, loss state, counters, the data order and every RNG state, and continues to the
  configured end (``epochs`` is a total, never "more epochs").
* **Schedule**: ``max_steps`` bounds a run in iterations; schedulers step per ``epoch`` (as in
  torchgan) or per ``step``; an optional EMA of the generator is used for samples and metrics.
* **Device**: defaults to CUDA when available, else CPU (torchgan defaults to ``cuda:0``).
* **Batches**: every tensor of a tuple/list/dict batch is moved to the device (torchgan leaves
  dicts on the host); the whole batch is available to losses as ``batch``.

Losses request values by parameter name from the trainer. Besides torchgan's names
(``generator``, ``discriminator``, ``optimizer_generator``, ``real_inputs``, ``labels``,
``device``, ``batch_size``) this trainer offers ``batch`` (the whole batch), ``step`` (the
number of finished steps), ``epoch`` and ``eval_generator`` (the EMA generator when enabled).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchgan.losses import DiscriminatorLoss, GeneratorLoss
from torchgan.models import Generator
from torchgan.trainer import Trainer as TorchganTrainer
from torchgan.trainer.base_trainer import BaseTrainer

from ..callbacks import (
    EMA,
    Checkpoint,
    Evaluation,
    LRSchedulers,
    ModelEMA,
    NonFiniteGuard,
    ProgressBarCallback,
    SampleGrids,
    TensorBoard,
)
from ..errors import CheckpointError, NonFiniteLossError
from ..logging.logger import Logger
from ..logging.visualize import render_samples
from .acceleration import PRECISIONS, autocast, compile_model, to_channels_last
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
from .distributed import DistInfo, GradientAverager, any_rank, broadcast_parameters
from .preemption import (
    StopRequest,
    guard_workers,
    report_dead_workers,
    shutdown_workers,
    stop_signals_blocked,
)

__all__ = [
    "Trainer",
    "ResumeMismatch",
    "default_callbacks",
    "resolve_device",
    "move_to_device",
    "prepare_batch",
]


@dataclass(frozen=True)
class ResumeMismatch:
    """One way a checkpoint does not fit the trainer it is resumed into.

    Attributes:
        model: The model (key of the trainer's ``models`` dict) it concerns, ``None`` for a
            loss.
        field: Where in that model's entry (``"name"``, ``"args"``, ``"optimizer.name"``,
            ``"optimizer.args.lr"``, ``"scheduler"``, ``"scheduler.name"``,
            ``"scheduler.interval"``; ``""`` for the model as a whole), or the loss's key
            (class name) when ``model`` is ``None``.
        message: One line: what the checkpoint holds, what the trainer has, and the rule.
    """

    model: str | None
    field: str
    message: str


def _plain(value: Any) -> Any:
    """A hyperparameter value as comparable plain data (tensors -> floats, tuples -> lists)."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> ``cuda`` when available else ``cpu``; anything else as given."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def move_to_device(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor of a (nested) tuple/list/dict batch to ``device``."""
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, tuple | list):
        return type(data)(move_to_device(d, device, non_blocking) for d in data)
    if isinstance(data, dict):
        return {k: move_to_device(v, device, non_blocking) for k, v in data.items()}
    return data


def prepare_batch(
    data: Any, device: torch.device, non_blocking: bool = False, channels_last: bool = False
) -> Any:
    """Move a batch to ``device``; ``uint8`` image batches (``[B, C, H, W]``) become float
    in [-1, 1] there (datasets with ``output: uint8`` send 4x fewer bytes); with
    ``channels_last`` image batches are laid out NHWC."""
    if isinstance(data, torch.Tensor):
        out = data.to(device, non_blocking=non_blocking)
        if out.dim() == 4:
            layout = torch.channels_last if channels_last else torch.contiguous_format
            if out.dtype == torch.uint8:
                # the loader's uint8 batches may be channels-last (data.collate): the cast
                # copies anyway, so it lays the batch out as the run wants for free
                out = out.to(torch.float32, memory_format=layout).div_(127.5).sub_(1.0)
            elif channels_last:
                out = out.contiguous(memory_format=layout)
        return out
    if isinstance(data, tuple | list):
        return type(data)(prepare_batch(d, device, non_blocking, channels_last) for d in data)
    if isinstance(data, dict):
        return {k: prepare_batch(v, device, non_blocking, channels_last) for k, v in data.items()}
    return data


#: Values every run offers to ``train_ops`` by name, besides the models and optimizers.
_LOSS_INPUTS = (
    "real_inputs",
    "labels",
    "batch",
    "device",
    "batch_size",
    "step",
    "epoch",
    "eval_generator",
)


class _StopRequest(StopRequest):
    """SIGINT/SIGTERM handler: finish the current step, checkpoint, exit cleanly (see
    :mod:`torchgan_ext.trainer.preemption`)."""


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


def _callback_dict(callbacks: Mapping[str, Any] | list[Any]) -> dict[str, Any]:
    if isinstance(callbacks, Mapping):
        return dict(callbacks)
    out: dict[str, Any] = {}
    for cb in callbacks:
        name = getattr(cb, "name", None) or type(cb).__name__
        if name in out:
            raise ValueError(f"callbacks: two callbacks are named {name!r}; pass a dict")
        out[name] = cb
    return out


class Trainer(TorchganTrainer):
    """torchgan ``Trainer`` with callbacks, checkpoints, exact resume and ``max_steps``.

    The loop is: load a batch, torchgan's ``train_iter``, call the callbacks. Everything else
    (schedules, EMA, progress bar, tensorboard, samples, metrics, checkpoints) is a callback
    (:mod:`torchgan_ext.callbacks`).

    Args:
        models: torchgan's model dict: ``{name: {"name": cls, "args": {...}, "optimizer":
            {"name": optim_cls, "args": {...}, "var": optional attribute name,
            "scheduler": {"name": sched_cls, "args": {...}, "interval": "epoch" | "step"}}}}``.
        losses_list: Loss objects (torchgan ``GeneratorLoss``/``DiscriminatorLoss``).
        metrics_list: Metric objects (torchgan ``EvaluationMetric``) or ``None``.
        device: ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
        ncritic: Discriminator steps per generator step (negative: the reverse).
        epochs: Total number of epochs.
        sample_size: Number of images in each sample grid.
        nrow: Images per grid row (default: square grid).
        out_dir: Run directory: ``checkpoints/``, ``samples/``, ``tensorboard/``.
        max_steps: Stop after this many iterations in total.
        refresh_rate: In a distributed run, the ranks agree on a stop signal every this many
            steps.
        callbacks: Callbacks by name (their checkpoint key) or as a list (keyed by their
            ``name`` attribute or class name), called in this order; default
            :func:`default_callbacks`.
        sample_batch: A fixed batch of real data for sample grids of conditional models.
        val_loader: A validation loader, available to metrics as ``val_loader``.
        seed: Seed of the data order (see :class:`~torchgan_ext.data.ResumableSampler`).
        nonfinite: ``"stop"``: a NaN/inf loss stops the run (checked by the
            ``nonfinite_guard`` callback and before every checkpoint, so no bad checkpoint is
            written); ``"skip"``: an optimizer step whose gradients are not finite is skipped
            (one host sync per step), up to ``max_nonfinite_skips`` times, then the run stops.
        max_nonfinite_skips: See ``nonfinite``.
        precision: ``"fp32"`` or ``"bf16"`` (autocast around the training step; parameters,
            gradients and optimizer state stay fp32).
        channels_last: Store models and image batches as NHWC.
        distributed: This process's place in a torchrun job (see
            :mod:`torchgan_ext.trainer.distributed`); only rank 0 writes checkpoints, samples,
            tensorboard, metrics and the progress bar.
        sync_batchnorm: Convert batch norms to ``SyncBatchNorm`` (CUDA, distributed only).
        **kwargs: Stored on the trainer, as in torchgan (available to losses by name).
    """

    def __init__(
        self,
        models: Mapping[str, Mapping[str, Any]],
        losses_list: list[nn.Module],
        metrics_list: list[Any] | None = None,
        device: str | torch.device | None = "auto",
        ncritic: int = 1,
        epochs: int = 1,
        sample_size: int = 64,
        nrow: int | None = None,
        *,
        out_dir: str | os.PathLike = "runs/run",
        max_steps: int | None = None,
        callbacks: Mapping[str, Any] | list[Any] | None = None,
        refresh_rate: int = 10,
        sample_batch: Any = None,
        val_loader: DataLoader | None = None,
        seed: int = 0,
        nonfinite: str = "stop",
        max_nonfinite_skips: int = 10,
        precision: str = "fp32",
        channels_last: bool = False,
        distributed: DistInfo | None = None,
        sync_batchnorm: bool = False,
        **kwargs: Any,
    ) -> None:
        self.out_dir = Path(out_dir)
        device = resolve_device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        self.channels_last = channels_last
        self.dist = distributed or DistInfo()
        self.sync_batchnorm = sync_batchnorm
        BaseTrainer.__init__(
            self,
            losses_list,
            metrics_list=metrics_list,
            device=device,
            ncritic=ncritic,
            epochs=epochs,
            sample_size=sample_size,
            checkpoints=str(self.out_dir / "checkpoints" / "ckpt"),
            recon=str(self.out_dir / "samples"),
            log_dir=str(self.out_dir / "tensorboard"),
            test_noise=None,
            nrow=nrow,
            **kwargs,
        )
        self.checkpoint_dir = self.out_dir / "checkpoints"
        self.nrow = nrow
        self.max_steps = max_steps
        self.seed = seed
        self.refresh_rate = refresh_rate

        # Values losses and metrics may request by name (they must exist before the arg maps).
        self.batch: Any = None
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.val_loader = val_loader
        self.data_loader: DataLoader | None = None

        self.model_names: list[str] = []
        self.optimizer_names: list[str] = []
        self.schedulers: list[Any] = []  # stepped per epoch (torchgan's semantics)
        self.step_schedulers: list[Any] = []
        self._scheduler_owner: dict[int, str] = {}
        self._optimizer_owner: dict[str, str] = {}
        for key, spec in models.items():
            self._build_model(key, spec)

        self.logger = Logger(self.model_names, losses_list, metrics_list, self.out_dir)
        self.sample_batch = (
            prepare_batch(sample_batch, device, channels_last=channels_last)
            if sample_batch is not None
            else None
        )
        self.sample_noise: dict[str, list[torch.Tensor]] = {}
        self._stop = _StopRequest()
        self.stopped_by_signal: int | None = None
        #: The step of the newest checkpoint written or loaded by this trainer.
        self.last_checkpoint_step: int | None = None
        #: The newest checkpoint written or loaded by this trainer.
        self.last_checkpoint_path: Path | None = None
        # {path: ((mtime_ns, size), readable)}: each file of checkpoint_dir is read once
        self._checked_files: dict[Path, tuple[tuple[int, int], bool]] = {}

        if nonfinite not in ("stop", "skip"):
            raise ValueError(f"nonfinite must be 'stop' or 'skip', got {nonfinite!r}")
        self.nonfinite = nonfinite
        self.max_nonfinite_skips = max_nonfinite_skips
        self.nonfinite_skips = 0
        #: ``(step, optimizer name)`` of every optimizer step skipped by ``nonfinite: skip``.
        self.skipped_steps: list[tuple[int, str]] = []
        if self.dist.enabled:  # averaged gradients first, then the finiteness check
            averager = GradientAverager(self.dist)
            for name in self.optimizer_names:
                getattr(self, name).register_step_pre_hook(averager)
        if nonfinite == "skip":
            for name in self.optimizer_names:
                getattr(self, name).register_step_pre_hook(self._skip_nonfinite_step)

        #: Display names of the metrics (torchgan keys them by class name); the launcher sets
        #: the registry names of the config here.
        self.metric_names: dict[str, str] = {}
        self.last_metrics: dict[str, float] = {}

        #: EMA copies of models by name (filled by the ``ema`` callback).
        self.ema: dict[str, ModelEMA] = {}
        self.callbacks: dict[str, Any] = _callback_dict(
            default_callbacks() if callbacks is None else callbacks
        )
        self._call("setup")
        self.eval_generator = self.eval_models().get("generator")

        # per-iteration inputs some generators provide to losses (InfoGAN's latent codes)
        self._set_training_codes()
        self._store_loss_maps()
        self._store_metric_maps()

    def _call(self, hook: str) -> None:
        """Call ``hook(self)`` on every callback that has it, in order."""
        for callback in self.callbacks.values():
            method = getattr(callback, hook, None)
            if method is not None:
                method(self)

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

    # ------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------
    def _build_model(self, key: str, spec: Mapping[str, Any]) -> None:
        factory = spec["name"]
        if isinstance(factory, nn.Module):  # already built (torchgan-run builds models itself)
            model = factory
        else:
            model = factory(**dict(spec.get("args", {})))
        model = model.to(self.device)
        if self.sync_batchnorm and self.dist.enabled:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if self.channels_last:
            model = to_channels_last(model)
        broadcast_parameters(model, self.dist)
        setattr(self, key, model)
        self.model_names.append(key)
        opt = spec["optimizer"]
        opt_name = opt.get("var", f"optimizer_{key}")
        optimizer = opt["name"](model.parameters(), **dict(opt.get("args", {})))
        setattr(self, opt_name, optimizer)
        self.optimizer_names.append(opt_name)
        self._optimizer_owner[opt_name] = key
        sched = opt.get("scheduler", spec.get("scheduler"))
        if sched is not None:
            scheduler = sched["name"](optimizer, **dict(sched.get("args", {})))
            self._scheduler_owner[id(scheduler)] = key
            if sched.get("interval", "epoch") == "step":
                self.step_schedulers.append(scheduler)
            else:
                self.schedulers.append(scheduler)

    def eval_models(self) -> dict[str, nn.Module]:
        """The models to sample and evaluate with: the EMA copy where one is kept."""
        return {
            name: self.ema[name].module if name in self.ema else getattr(self, name)
            for name in self.model_names
        }

    @property
    def models(self) -> dict[str, nn.Module]:
        """The trained models by name."""
        return {name: getattr(self, name) for name in self.model_names}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers by attribute name."""
        return {name: getattr(self, name) for name in self.optimizer_names}

    # ------------------------------------------------------------------------------------------
    # checkpoints
    # ------------------------------------------------------------------------------------------
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

    def _schedulers_by_model(self) -> list[dict[str, str]]:
        out = []
        for sched in self.schedulers + self.step_schedulers:
            interval = "step" if any(sched is s for s in self.step_schedulers) else "epoch"
            out.append(
                {
                    "model": self._scheduler_owner.get(id(sched), "?"),
                    "class": type(sched).__name__,
                    "interval": interval,
                }
            )
        return out

    def _meta(self) -> dict[str, Any]:
        """What the resume check compares: class names of models, optimizers, schedulers and
        losses (format 2; older checkpoints lack it and are compared by their state)."""
        return {
            "models": {n: type(getattr(self, n)).__name__ for n in self.model_names},
            "optimizers": {
                n: {"class": type(getattr(self, n)).__name__, "model": self._optimizer_owner[n]}
                for n in self.optimizer_names
            },
            "schedulers": self._schedulers_by_model(),
            "losses": [name for name, loss in self.losses.items() if isinstance(loss, nn.Module)],
        }

    def check_resume(self, state: Mapping[str, Any], source: str) -> list[ResumeMismatch]:
        """Compare a checkpoint with this trainer before anything is restored.

        What must match: the set of models, each model's class and the names and shapes of its
        parameters and buffers, each optimizer's class and hyperparameters (they are restored
        from the checkpoint, so a changed value would be silently ignored), the presence,
        class and interval of each scheduler, and the set of losses. Everything else (epochs,
        ``max_steps``, intervals, logging, callbacks added or removed) may change.

        Args:
            state: A loaded checkpoint (format 1 or 2).
            source: How messages name the checkpoint (e.g. ``"the checkpoint ckpt-10.pt"``).

        Returns:
            One :class:`ResumeMismatch` per incompatibility; ``[]`` when it fits.
        """
        out: list[ResumeMismatch] = []
        meta = state.get("meta") if isinstance(state.get("meta"), Mapping) else {}
        saved_models: Mapping[str, Any] = state.get("models", {})
        rule_model = "models cannot be added, removed or changed on --resume"
        for name in saved_models:
            if name not in self.model_names:
                out.append(
                    ResumeMismatch(
                        name,
                        "",
                        f"{source} has a model {name!r} that this run does not build; {rule_model}",
                    )
                )
        for name in self.model_names:
            if name not in saved_models:
                out.append(
                    ResumeMismatch(name, "", f"{source} has no model {name!r}; {rule_model}")
                )
                continue
            model = getattr(self, name)
            saved_cls = meta.get("models", {}).get(name)
            if saved_cls is not None and saved_cls != type(model).__name__:
                out.append(
                    ResumeMismatch(
                        name,
                        "name",
                        f"{source} was trained with {saved_cls}, this run builds "
                        f"{type(model).__name__}; a model cannot change on --resume",
                    )
                )
                continue
            diff = _state_shape_diff(saved_models[name], model.state_dict(), source)
            if diff:
                out.append(
                    ResumeMismatch(
                        name,
                        "args",
                        diff[0]
                        + (f" (and {len(diff) - 1} more differences)" if len(diff) > 1 else "")
                        + "; model arguments that change parameters cannot change on --resume",
                    )
                )
        out += self._check_optimizers(state, meta, source)
        out += self._check_schedulers(state, meta, source)
        saved_losses = list(meta.get("losses") or state.get("losses", {}))
        current = [n for n, loss in self.losses.items() if isinstance(loss, nn.Module)]
        for name in current:
            if name not in saved_losses:
                out.append(
                    ResumeMismatch(
                        None,
                        name,
                        f"{source} was trained without {name} (its losses: "
                        f"{', '.join(saved_losses) or 'none'}); losses cannot change on --resume",
                    )
                )
        for name in saved_losses:
            if name not in current:
                out.append(
                    ResumeMismatch(
                        None,
                        name,
                        f"{source} was trained with {name}, which this run does not have; "
                        "losses cannot change on --resume",
                    )
                )
        return out

    def _check_optimizers(
        self, state: Mapping[str, Any], meta: Mapping[str, Any], source: str
    ) -> list[ResumeMismatch]:
        out = []
        saved_all: Mapping[str, Any] = state.get("optimizers", {})
        for opt_name in self.optimizer_names:
            model = self._optimizer_owner[opt_name]
            if model not in state.get("models", {}):
                continue  # reported with the model
            optimizer = getattr(self, opt_name)
            current_cls = type(optimizer).__name__
            saved = saved_all.get(opt_name)
            if not isinstance(saved, Mapping) or "param_groups" not in saved:
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer",
                        f"{source} has no state for {opt_name}; an optimizer cannot change on "
                        "--resume",
                    )
                )
                continue
            saved_cls = (meta.get("optimizers", {}).get(opt_name) or {}).get("class")
            rule = "an optimizer cannot change on --resume"
            if saved_cls is not None and saved_cls != current_cls:
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer.name",
                        f"{source} was trained with {saved_cls}, this run builds {current_cls}; "
                        f"{rule}",
                    )
                )
                continue
            groups = optimizer.state_dict()["param_groups"]
            saved_groups = saved["param_groups"]
            ignore = {"params", "lr", "initial_lr"}
            current_keys = {k for g in groups for k in g} - ignore
            saved_keys = {k for g in saved_groups for k in g} - ignore
            # optimizers of another class have other settings (the check for format-1 files)
            if current_keys != saved_keys and not (
                current_keys <= saved_keys or saved_keys <= current_keys
            ):
                shown = ", ".join(sorted(saved_keys - current_keys))
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer.name",
                        f"{source} was trained with an optimizer with the settings {shown}, "
                        f"which {current_cls} does not have; {rule}",
                    )
                )
                continue
            if len(groups) != len(saved_groups) or any(
                len(a["params"]) != len(b["params"])
                for a, b in zip(groups, saved_groups, strict=False)
            ):
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer",
                        f"{source} has other parameter groups for {opt_name}; {rule}",
                    )
                )
                continue
            for g, sg in zip(groups, saved_groups, strict=True):
                lr_key = "initial_lr" if "initial_lr" in g and "initial_lr" in sg else "lr"
                for key in [lr_key, *sorted((set(g) & set(sg)) - ignore)]:
                    if not _same(g.get(key), sg.get(key)):
                        arg = "lr" if key == "initial_lr" else key
                        out.append(
                            ResumeMismatch(
                                model,
                                f"optimizer.args.{arg}",
                                f"{source} was trained with {arg}={_plain(sg.get(key))!r}, this "
                                f"run sets {_plain(g.get(key))!r}; optimizer settings are "
                                "restored from the checkpoint, so they cannot change on "
                                "--resume (start a new run with init_from instead)",
                            )
                        )
                break  # one group is enough to name the changed setting
        return out

    def _check_schedulers(
        self, state: Mapping[str, Any], meta: Mapping[str, Any], source: str
    ) -> list[ResumeMismatch]:
        out = []
        current = self._schedulers_by_model()
        saved_states = list(state.get("schedulers", []))
        rule = "a learning-rate scheduler cannot be added, removed or changed on --resume"
        if "schedulers" in meta:
            saved = {s["model"]: s for s in meta["schedulers"]}
            now = {s["model"]: s for s in current}
            for model in self.model_names:
                a, b = saved.get(model), now.get(model)
                if a is None and b is None:
                    continue
                if a is None:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler",
                            f"{source} was trained without a scheduler for {model}, this run "
                            f"adds {b['class']}; {rule}",
                        )
                    )
                elif b is None:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler",
                            f"{source} was trained with the scheduler {a['class']} for "
                            f"{model}, this run has none; {rule}",
                        )
                    )
                elif a["class"] != b["class"]:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler.name",
                            f"{source} was trained with {a['class']}, this run builds "
                            f"{b['class']}; {rule}",
                        )
                    )
                elif a["interval"] != b["interval"]:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler.interval",
                            f"{source} stepped {a['class']} per {a['interval']}, this run "
                            f"per {b['interval']}; {rule}",
                        )
                    )
            return out
        # format 1: only the scheduler states, in order
        if len(saved_states) != len(current):
            with_sched = [s["model"] for s in current]
            without = [m for m in self.model_names if m not in with_sched]
            model = (with_sched if len(current) > len(saved_states) else without or [None])[0]
            model = model or (self.model_names[0] if self.model_names else "?")
            out.append(
                ResumeMismatch(
                    model,
                    "scheduler",
                    f"{source} holds {len(saved_states)} learning-rate scheduler(s), this run "
                    f"builds {len(current)}; {rule}",
                )
            )
            return out
        sched_objs = self.schedulers + self.step_schedulers
        for info, sched, sd in zip(current, sched_objs, saved_states, strict=True):
            if isinstance(sd, Mapping) and set(sd) != set(sched.state_dict()):
                out.append(
                    ResumeMismatch(
                        info["model"],
                        "scheduler.name",
                        f"{source} holds a scheduler with other settings than "
                        f"{info['class']}; {rule}",
                    )
                )
        return out

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

    # ------------------------------------------------------------------------------------------
    # the training loop
    # ------------------------------------------------------------------------------------------
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

    def compile_models(self, check: Mapping[str, Any] | None = None) -> dict[str, bool]:
        """``torch.compile`` every model in place; a model whose check fails runs eagerly.

        Args:
            check: ``{model name: callable(model)}`` test forward passes (from the launcher).

        Returns:
            ``{model name: compiled?}``.
        """
        check = check or {}
        return {
            name: compile_model(getattr(self, name), check.get(name)) for name in self.model_names
        }

    def _set_training_codes(self) -> None:
        """Set the inputs that generators with a ``training_codes(batch_size, device)`` hook
        provide for this iteration (e.g. InfoGAN's ``dis_code`` / ``cont_code``)."""
        for name in self.model_names:
            hook = getattr(getattr(self, name), "training_codes", None)
            if callable(hook):
                for key, value in hook(self.batch_size, self.device).items():
                    setattr(self, key, value)

    def _store_loss_maps(self) -> None:
        """torchgan's argument maps, with a ``ValueError`` naming the loss when one requests a
        value this trainer does not have (torchgan raises a bare ``Exception``)."""
        self.loss_arg_maps = {}
        for name, loss in self.losses.items():
            for param in inspect.signature(loss.train_ops).parameters.values():
                wanted = loss.arg_map.get(param.name, param.name)
                if (
                    param.default is inspect.Parameter.empty
                    and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
                    and wanted not in self.__dict__
                ):
                    if wanted in ("dis_code", "cont_code"):
                        hint = "InfoGAN's latent codes: use infogan_generator"
                    else:
                        valid = [*self.model_names, *self.optimizer_names, *_LOSS_INPUTS]
                        hint = f"valid: {', '.join(valid)}"
                    raise ValueError(
                        f"loss {name} needs {wanted!r}, which this run does not provide ({hint})"
                    )
            self.loss_arg_maps[name] = self._get_argument_maps(loss.arg_map, loss.train_ops)

    def set_batch(self, data: Any) -> None:
        """Move a batch to the device and set ``batch``, ``real_inputs`` and ``labels``."""
        non_blocking = self.device.type == "cuda"
        batch = prepare_batch(data, self.device, non_blocking, self.channels_last)
        self.batch = batch
        if isinstance(batch, tuple | list):
            self.real_inputs = batch[0]
            self.labels = batch[1] if len(batch) > 1 else None
        else:
            self.real_inputs = batch
        self._set_training_codes()

    def _make_sample_noise(self) -> None:
        for name in self.model_names:
            model = getattr(self, name)
            if isinstance(model, Generator) and name not in self.sample_noise:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed + 12345)
                    self.sample_noise[name] = list(model.sampler(self.sample_size, self.device))

    def losses_for_display(self) -> dict[str, Any]:
        gen, dis = [], []
        for name, value in self.logger.get_loss_viz().latest().items():
            loss = self.losses.get(name)
            if isinstance(value, tuple):
                gen.append(value[0])
                dis.append(value[1])
            elif isinstance(loss, GeneratorLoss) and not isinstance(loss, DiscriminatorLoss):
                gen.append(value)
            else:
                dis.append(value)
        out = {}
        if gen:
            out["g"] = sum(gen)
        if dis:
            out["d"] = sum(dis)
        return out

    def loss_scalars(self) -> dict[str, Any]:
        """The latest losses as tensorboard scalars (``loss/<name>[/generator]``), detached."""
        out: dict[str, Any] = {}
        for name, value in self.logger.get_loss_viz().latest().items():
            if isinstance(value, tuple):
                out[f"loss/{name}/generator"] = value[0]
                out[f"loss/{name}/discriminator"] = value[1]
            else:
                out[f"loss/{name}"] = value
        for loss in self.losses.values():
            extra = getattr(loss, "log_scalars", None)
            if callable(extra):
                for k, v in extra().items():
                    out[k] = v
        return out

    def learning_rates(self) -> dict[str, float]:
        """The current learning rate of every optimizer."""
        return {
            name: float(getattr(self, name).param_groups[0]["lr"]) for name in self.optimizer_names
        }

    def check_finite(self, when: str) -> None:
        """Raise :class:`NonFiniteLossError` when a latest loss is NaN or infinite."""
        if self.nonfinite == "skip":
            return  # non-finite steps were skipped; the reported loss may still be NaN
        for name, value in self.logger.get_loss_viz().latest().items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                bad = (
                    (not torch.isfinite(v).all())
                    if isinstance(v, torch.Tensor)
                    else (not math.isfinite(float(v)))
                )
                if bad:
                    raise NonFiniteLossError(
                        f"loss {name} is not finite at step {self.step} ({when}); "
                        f"{self.newest_good_checkpoint()}. Lower the learning rate, check the "
                        "data range, or resume with --resume"
                    )

    def write_samples(self) -> list[str]:
        """Render and write the sample grids of the current step (rank 0)."""
        if not self.sample_noise or not self.dist.is_main:
            return []
        grids = render_samples(
            self.models, self.eval_models(), self.sample_batch, self.sample_noise, self.nrow
        )
        return self.logger.log_samples(grids, self.step)

    def run_metrics(self) -> dict[str, float]:
        """Evaluate every metric (torchgan's ``eval_ops``, rank 0) and log the new values."""
        if not self.metrics or not self.dist.is_main:
            return {}
        self.eval_generator = self.eval_models().get("generator")
        for name in self.model_names:
            getattr(self, name).eval()
        try:
            self.eval_ops()
        finally:
            for name in self.model_names:
                getattr(self, name).train()
        values = {}
        for name, log in self.logger.get_metric_viz().logs.items():
            if log:
                v = log[-1]
                label = self.metric_names.get(name, name)
                values[label] = float(v.item() if isinstance(v, torch.Tensor) else v)
        self.logger.log_metrics(values, self.step)
        self.last_metrics = values
        return values

    @property
    def done(self) -> bool:
        """Whether ``max_steps`` is reached."""
        return bool(self.max_steps and self.step >= self.max_steps)

    def train_step(self) -> None:
        """torchgan's ``train_iter`` on the current batch (under autocast), loss bookkeeping."""
        with autocast(self.device, self.precision):
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

    def complete(self, **kwargs: Any) -> None:
        """Close the logger (torchgan API; the final checkpoint is written by ``train``)."""
        self.logger.close()

    def __call__(self, data_loader: DataLoader, **kwargs: Any) -> None:
        self.train(data_loader, **kwargs)


def _state_shape_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], source: str
) -> list[str]:
    """The differences in names and shapes of two model state dicts, one phrase each."""
    out = []
    for key, value in current.items():
        if key not in saved:
            out.append(f"{key} of this run's model is missing from {source}")
        elif isinstance(value, torch.Tensor) and isinstance(saved[key], torch.Tensor):
            if tuple(value.shape) != tuple(saved[key].shape):
                out.append(
                    f"{key} has shape {list(saved[key].shape)} in {source}, this run builds "
                    f"{list(value.shape)}"
                )
    out += [
        f"{source} has {key}, which this run's model lacks" for key in saved if key not in current
    ]
    return out


def _detached(value: Any) -> Any:
    return value.detach() if isinstance(value, torch.Tensor) else value
