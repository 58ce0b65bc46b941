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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchgan.models import Generator
from torchgan.trainer import Trainer as TorchganTrainer
from torchgan.trainer.base_trainer import BaseTrainer

from ..callbacks import ModelEMA
from ..callbacks.defaults import default_callbacks
from ..logging.logger import Logger
from .acceleration import PRECISIONS, compile_model, to_channels_last
from .batch import prepare_batch, resolve_device
from .distributed import DistInfo, GradientAverager, broadcast_parameters
from .loop import TrainingLoop
from .preemption import (
    StopRequest,
)
from .reporting import Reporting
from .resume import ResumeChecks
from .state import CheckpointState

__all__ = ["Trainer"]


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


#: Keyword arguments of :func:`default_callbacks` a :class:`Trainer` without ``callbacks``
#: accepts (the built-in behaviours' switches).
_DEFAULT_CALLBACK_SWITCHES = (
    "sample_every",
    "checkpoint_every",
    "keep_checkpoints",
    "eval_every",
    "ema",
    "progress",
    "tensorboard",
    "log_every",
    "grad_norms",
)


class _StopRequest(StopRequest):
    """SIGINT/SIGTERM handler: finish the current step, checkpoint, exit cleanly (see
    :mod:`torchgan_ext.trainer.preemption`)."""


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


class Trainer(TrainingLoop, CheckpointState, ResumeChecks, Reporting, TorchganTrainer):
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
            :func:`default_callbacks`, configured by the keyword arguments ``sample_every``,
            ``checkpoint_every``, ``keep_checkpoints``, ``eval_every``, ``ema``, ``progress``,
            ``tensorboard``, ``log_every`` and ``grad_norms`` (a ``TypeError`` when they are
            given together with ``callbacks``).
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
        # the built-in behaviours' switches of earlier versions: they configure the default
        # callbacks, and cannot be combined with an explicit callbacks list
        switches = {k: kwargs.pop(k) for k in _DEFAULT_CALLBACK_SWITCHES if k in kwargs}
        if switches and callbacks is not None:
            raise TypeError(
                f"{', '.join(sorted(switches))}: configure the callbacks you pass instead "
                "(e.g. callbacks=default_callbacks(...)); these switches only apply to the "
                "default callbacks"
            )
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
        #: The step ``last_metrics`` were computed at (``None`` before the first evaluation).
        self.last_metrics_step: int | None = None
        self._logged_protocols: dict[str, dict[str, Any]] = {}

        #: EMA copies of models by name (filled by the ``ema`` callback).
        self.ema: dict[str, ModelEMA] = {}
        if callbacks is None:
            switches.setdefault("refresh_rate", refresh_rate)
            callbacks = default_callbacks(**switches)
        self.callbacks: dict[str, Any] = _callback_dict(callbacks)
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

    def complete(self, **kwargs: Any) -> None:
        """Close the logger (torchgan API; the final checkpoint is written by ``train``)."""
        self.logger.close()
