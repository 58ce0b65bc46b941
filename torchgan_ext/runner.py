"""A validated config -> a torchgan Trainer, its loader, and a run (launcher side).

:func:`build_trainer` builds everything of a config once: dataset, loaders, models (with their
data-derived arguments), optimizers, schedulers, losses, metrics and callbacks, each through
:func:`torchgan_ext.build.build`; then :func:`torchgan_ext.preflight.preflight` checks the run
before the first step. :func:`run` trains it end to end in ``out_dir``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._registry import CALLBACKS, LOSSES, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, Registry
from .build import build, data_info, validate_names
from .callbacks.defaults import default_callbacks
from .callbacks.ema import EMA
from .config import ComponentConfig, Config, ModelConfig, blame_override, dump_config
from .errors import CheckpointError, ConfigError
from .loaders import build_dataset, build_loader, fixed_batch, seed_everything
from .preflight import compile_checks, preflight
from .run_dir import (
    RunResult,
    check_resume,
    clear_previous_run,
    prepare_out_dir,
    run_position,
    write_text_atomic,
)
from .trainer.batch import resolve_device
from .trainer.checkpoint import load_checkpoint
from .trainer.distributed import init_distributed
from .trainer.trainer import Trainer

__all__ = ["RunResult", "build_callbacks", "build_trainer", "run"]


# ------------------------------------------------------------------------------------------
# models, losses, metrics, callbacks
# ------------------------------------------------------------------------------------------
def _model_spec(name: str, m: ModelConfig, info: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """torchgan's model dict entry of ``m`` (factories that build through :func:`build`) and
    the resolved constructor arguments (with the data-derived ones)."""
    key = f"models.{name}"
    model = build(MODELS, m.name, m.args, key=f"{key}.args", data=info)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {m.name!r} did not build an nn.Module", key=f"{key}.args")
    entry = MODELS.entry(m.name)
    resolved = {**{p: info[a] for p, a in entry.data_args.items() if a in info}, **m.args}
    assert m.optimizer is not None
    opt = m.optimizer

    def make_optimizer(params: Any) -> torch.optim.Optimizer:
        return build(
            OPTIMIZERS, opt.name, opt.args, key=f"{key}.optimizer.args", positional=[params]
        )

    spec: dict[str, Any] = {"name": model, "optimizer": {"name": make_optimizer}}
    if m.scheduler is not None:
        sched = m.scheduler

        def make_scheduler(optimizer: Any) -> Any:
            return build(
                SCHEDULERS,
                sched.name,
                sched.args,
                key=f"{key}.scheduler.args",
                positional=[optimizer],
            )

        spec["scheduler"] = {"name": make_scheduler, "interval": sched.interval}
    return spec, resolved


def _build_list(
    items: Sequence[ComponentConfig],
    registry: Registry,
    plural: str,
    data: Mapping[str, Any] | None = None,
) -> list[Any]:
    out, seen = [], {}
    for i, item in enumerate(items):
        obj = build(registry, item.name, item.args, key=f"{plural}.{i}.args", data=data)
        cls_name = type(obj).__name__
        if cls_name in seen:
            raise ConfigError(
                f"{item.name!r} appears twice (also {plural}.{seen[cls_name]}); torchgan keys "
                f"{plural} by class, so each may be listed once",
                key=f"{plural}.{i}.name",
            )
        seen[cls_name] = i
        out.append(obj)
    return out


def build_callbacks(config: Config) -> dict[str, Any]:
    """The run's callbacks by name: the built-ins switched by ``trainer:`` / ``logging:``, then
    those of ``callbacks:`` (before ``checkpoint``, so their state in a checkpoint is current).
    """
    t, log = config.trainer, config.logging
    builtin = default_callbacks(
        sample_every=t.sample_every,
        checkpoint_every=t.checkpoint_every,
        keep_checkpoints=t.keep_checkpoints,
        eval_every=t.eval_every,
        ema=dataclasses.asdict(t.ema) if t.ema is not None else None,
        progress=log.progress,
        tensorboard=log.tensorboard,
        refresh_rate=log.refresh_rate,
        log_every=log.log_every,
        grad_norms=log.grad_norms,
    )
    slots = list(default_callbacks(ema={}, progress=True, tensorboard=True))  # canonical order
    checkpoint = builtin.pop("checkpoint")
    listed: dict[str, Any] = {}
    for i, item in enumerate(config.callbacks):
        if item.name in builtin or item.name in listed or item.name == "checkpoint":
            raise ConfigError(
                f"callback {item.name!r} is already in the run (built-in callbacks are "
                "switched by the trainer: and logging: keys; a callback may be listed once)",
                key=f"callbacks.{i}.name",
            )
        listed[item.name] = build(CALLBACKS, item.name, item.args, key=f"callbacks.{i}.args")
    # a built-in given under callbacks: (e.g. ema) runs in its own slot, so samples, metrics
    # and checkpoints of a step see its update; plugin callbacks run after the built-ins
    callbacks = {n: builtin.get(n, listed.get(n)) for n in slots if n in builtin or n in listed}
    callbacks.update((n, cb) for n, cb in listed.items() if n not in callbacks)
    callbacks.pop("checkpoint", None)
    callbacks["checkpoint"] = checkpoint
    return callbacks


def _init_from(trainer: Trainer, config: Config) -> None:
    for name, m in config.models.items():
        if not m.init_from:
            continue
        key = f"models.{name}.init_from"
        if Path(m.init_from).is_dir():
            raise ConfigError(
                f"{m.init_from} is a directory; give a checkpoint file (out_dir/checkpoints/"
                "ckpt-<step>.pt of a run)",
                key=key,
            )
        try:
            state = load_checkpoint(m.init_from, map_location=trainer.device)
        except CheckpointError as e:
            raise ConfigError(str(e), key=key) from e
        weights = state.get("models", {}).get(name) if "models" in state else state
        if weights is None:
            found = ", ".join(sorted(state.get("models", {})))
            raise ConfigError(
                f"checkpoint {m.init_from} has no model {name!r} (it has: {found})", key=key
            )
        try:
            getattr(trainer, name).load_state_dict(weights)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ConfigError(
                f"weights in {m.init_from} do not fit model {m.name!r}: {first}", key=key
            ) from e


# ------------------------------------------------------------------------------------------
# the trainer
# ------------------------------------------------------------------------------------------
@dataclass
class _Built:
    trainer: Trainer
    loader: DataLoader
    resolved: Config


def build_trainer(config: Config, *, device: str | None = None) -> tuple[Trainer, DataLoader]:
    """Build dataset, loader, models, losses, metrics and callbacks of ``config`` into a
    Trainer and check the run (:func:`~torchgan_ext.preflight.preflight`).

    Raises:
        ConfigError: Anything wrong in the config, found before training starts.
    """
    built = _build(config, device)
    return built.trainer, built.loader


def _build(config: Config, device: str | None, *, names_checked: bool = False) -> _Built:
    try:
        if not names_checked:
            validate_names(config)
        return _build_run(config, device)
    except ConfigError as e:
        raise blame_override(e.with_context(file=config.source), config) from e.__cause__


def _check_names(config: Config) -> None:
    try:
        validate_names(config)
    except ConfigError as e:
        raise blame_override(e.with_context(file=config.source), config) from e.__cause__


def _build_run(config: Config, device_override: str | None) -> _Built:
    """Everything after the registry names are known to be right (:func:`validate_names`)."""
    device = resolve_device(device_override or config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "CUDA is not available on this machine; use device: auto or cpu", key="device"
        )
    dist_info = init_distributed(device)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    t = config.trainer
    if t.sync_batchnorm and device.type != "cuda":
        raise ConfigError(
            "SyncBatchNorm needs CUDA devices; set trainer.sync_batchnorm: false on CPU",
            key="trainer.sync_batchnorm",
        )
    seed_everything(config.seed)
    dataset = build_dataset(config.data)
    info = data_info(dataset)
    loader = build_loader(dataset, config, device, dist_info=dist_info)
    val_loader = None
    sample_source: Dataset = dataset
    if config.data.val is not None:
        val_set = build_dataset(config.data, val=True)
        val_loader = build_loader(
            val_set, config, device, train=False, batch_size=config.data.val.batch_size
        )
        sample_source = val_set
    sample_batch = fixed_batch(sample_source, t.sample_size, config.seed)

    losses = _build_list(config.losses, LOSSES, "losses")
    metrics = _build_list(config.metrics, METRICS, "metrics", info) or None
    models, resolved_args = {}, {}
    for name, m in config.models.items():
        models[name], resolved_args[name] = _model_spec(name, m, info)
    try:
        trainer = Trainer(
            models,
            losses,
            metrics,
            device=device,
            ncritic=t.ncritic,
            epochs=t.epochs,
            sample_size=t.sample_size,
            nrow=t.nrow,
            out_dir=config.out_dir,
            max_steps=t.max_steps,
            refresh_rate=config.logging.refresh_rate,
            callbacks=build_callbacks(config),
            sample_batch=sample_batch,
            val_loader=val_loader,
            seed=config.seed,
            nonfinite=t.nonfinite,
            max_nonfinite_skips=t.max_nonfinite_skips,
            precision=t.precision,
            channels_last=t.channels_last,
            distributed=dist_info,
            sync_batchnorm=t.sync_batchnorm,
        )
    except ValueError as e:  # e.g. a loss asks for a value the run does not provide
        if isinstance(e, ConfigError):
            raise
        text = str(e).strip().splitlines()[0]
        raise ConfigError(text, key="losses") from e
    trainer.metric_names = {
        type(m).__name__: c.name for m, c in zip(metrics or [], config.metrics, strict=True)
    }
    _init_from(trainer, config)  # a later --resume overrides these weights
    if any(m.init_from for m in config.models.values()):
        for callback in trainer.callbacks.values():  # averages start from the loaded weights
            if isinstance(callback, EMA):
                callback.averages.clear()
                callback.setup(trainer)
        trainer.eval_generator = trainer.eval_models().get("generator")
    trainer.set_batch(sample_batch)
    trainer.data_loader = loader  # metrics check their reference split in preflight
    try:
        preflight(trainer, config)
        if t.compile:
            trainer.compile_models(compile_checks(trainer))
    finally:
        trainer.batch = trainer.real_inputs = trainer.labels = None
    if dist_info.enabled:  # every rank draws its own noise from here on
        torch.manual_seed(config.seed + 1 + dist_info.rank)
    resolved = dataclasses.replace(
        config,
        models={n: dataclasses.replace(m, args=resolved_args[n]) for n, m in config.models.items()},
    )
    return _Built(trainer, loader, resolved)


# ------------------------------------------------------------------------------------------
# a run
# ------------------------------------------------------------------------------------------
def run(
    config: Config,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str | None = None,
    stream: Any = None,
) -> RunResult:
    """Train ``config`` end to end and return where it stopped.

    Args:
        config: A loaded config (:func:`~torchgan_ext.config.load_config`).
        resume: Continue from the newest readable checkpoint in ``out_dir/checkpoints``.
        overwrite: Allow starting a new run in an ``out_dir`` that already holds one.
        device: Overrides ``config.device``.
        stream: Where status lines go (default stdout).
    """
    stream = stream or sys.stdout
    main_process = int(os.environ.get("RANK", "0")) == 0

    def say(*args: Any, **kwargs: Any) -> None:
        if main_process:
            print(*args, **kwargs)

    _check_names(config)  # names and arguments first, once
    out = Path(config.out_dir)
    if main_process:  # other ranks must not race with rank 0's config.yaml
        out = prepare_out_dir(config, resume, overwrite)
    previous_run = main_process and overwrite and not resume and (out / "config.yaml").exists()
    built = _build(config, device, names_checked=True)
    trainer, loader = built.trainer, built.loader
    if previous_run:  # only now that the new config has been checked
        removed = clear_previous_run(out)
        trainer.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        Path(trainer.logger.samples_dir).mkdir(parents=True, exist_ok=True)
        if removed:
            say(f"--overwrite: removed {', '.join(removed)} of the previous run in {out}")
    resolved = built.resolved
    if device:
        resolved = dataclasses.replace(resolved, device=device)
    resumed_from = None
    if resume:  # checked and restored in memory before anything is written into out_dir
        found = check_resume(trainer, config)
        if found is not None:
            resumed_from = trainer.load_model(found[0], state=found[1])
    if main_process:
        write_text_atomic(out / "config.yaml", dump_config(resolved))
    if resume:
        if trainer.dist.enabled:  # the checkpoint holds rank 0's RNG; decorrelate the ranks
            torch.manual_seed(config.seed + 1 + trainer.dist.rank + 7919 * trainer.step)
        if resumed_from is None:
            say(f"no checkpoint in {trainer.checkpoint_dir}; starting from step 0", file=stream)
        else:
            position = run_position(trainer.step, trainer.epoch, trainer.batch_in_epoch)
            say(f"resuming from {resumed_from} ({position})", file=stream)
    total = trainer.total_steps(loader)
    say(f"training on {trainer.device}: {total} steps, writing to {out}", file=stream)
    try:
        trainer.train(loader)
    finally:
        trainer.complete()
    ckpts = sorted((out / "checkpoints").glob("ckpt-*.pt"))
    skipped = getattr(loader.dataset, "skipped", None)
    if skipped:
        say(f"skipped {skipped} corrupt samples (data.skip_corrupt: true)", file=stream)
    if trainer.skipped_steps:
        steps = sorted({s for s, _ in trainer.skipped_steps})
        shown = ", ".join(str(s) for s in steps[:10]) + (", ..." if len(steps) > 10 else "")
        say(
            f"skipped {len(trainer.skipped_steps)} optimizer steps with non-finite gradients "
            f"at steps {shown} (trainer.nonfinite: skip)",
            file=stream,
        )
    if trainer.stopped_by_signal is not None:
        say(
            f"stopped by signal {trainer.stopped_by_signal} at step {trainer.step}; "
            "resume with --resume",
            file=stream,
        )
    return RunResult(
        out_dir=out,
        step=trainer.step,
        epoch=trainer.epoch,
        batch_in_epoch=trainer.batch_in_epoch,
        checkpoint=trainer.last_checkpoint_path or (ckpts[-1] if ckpts else None),
        resumed_from=resumed_from,
        stopped_by_signal=trainer.stopped_by_signal,
        metrics=dict(trainer.last_metrics),
        metrics_step=trainer.last_metrics_step,
        trainer=trainer,
        config=resolved,
    )
