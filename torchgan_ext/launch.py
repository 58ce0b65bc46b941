"""Config -> torchgan Trainer + DataLoader, and a run (callable from Python and tests).

Everything is built and checked before the first step: the dataset, one batch, the models (a
dry forward pass compares the generator's output shape with the data), the losses and the
metrics. A mistake in the config therefore fails within seconds with a one-line
:class:`~torchgan_ext.errors.ConfigError`, not after an hour of training.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchgan.models import Discriminator, Generator

from ._registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, SCHEDULERS
from .config import (
    ComponentConfig,
    Config,
    DataConfig,
    ModelConfig,
    check_arguments,
    dump_config,
    validate_components,
)
from .errors import CheckpointError, ConfigError, TorchganExtError
from .trainer.checkpoint import load_checkpoint
from .trainer.distributed import DistInfo, init_distributed
from .trainer.trainer import Trainer, resolve_device

__all__ = [
    "RunResult",
    "DATA_ATTRIBUTES",
    "build_dataset",
    "build_loader",
    "build_trainer",
    "data_info",
    "data_derived_arguments",
    "dry_check",
    "run",
    "seed_everything",
]

#: Dataset attributes that models can take over (``data_arguments`` of a model class).
DATA_ATTRIBUTES = (
    "channels",
    "image_size",
    "num_classes",
    "attributes",
    "num_attributes",
    "scale",
)


@dataclass
class RunResult:
    """What :func:`run` returns."""

    out_dir: Path
    step: int
    epoch: int
    checkpoint: Path | None
    resumed_from: Path | None = None
    stopped_by_signal: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    trainer: Trainer | None = field(default=None, repr=False)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _construct(factory: Any, args: Mapping[str, Any], key: str, what: str) -> Any:
    """Call a registered constructor; its errors become a ConfigError naming the key."""
    try:
        return factory(**dict(args))
    except ConfigError as e:
        raise e.with_context(key=key) from e
    except TorchganExtError:
        raise
    except Exception as e:  # third-party constructors raise bare Exception/AssertionError
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"building {what} failed: {msg}", key=key) from e


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def build_dataset(data: DataConfig, val: bool = False) -> Dataset:
    """Build the training (or, with ``val``, the validation) dataset of ``data``."""
    cls = DATASETS.get(data.name)
    args = dict(data.args)
    key = "data.args"
    if val:
        if data.val is None:
            raise ValueError("no validation split configured (data.val)")
        args.update(data.val.args)
        key = "data.val.args"
    try:
        dataset = _construct(cls, args, key, f"dataset {data.name!r}")
    except ConfigError as e:
        # a dataset names its own argument (data.args.root); point at data.val.args when the
        # value came from the validation split's overrides
        if val and e.key and e.key.startswith("data.args."):
            arg = e.key[len("data.args.") :].split(".")[0]
            if data.val is not None and arg in data.val.args:
                e.key = "data.val.args." + e.key[len("data.args.") :]
        raise
    try:
        n = len(dataset)
    except TypeError as e:
        raise ConfigError(f"dataset {data.name!r} has no length", key="data.name") from e
    if n == 0:
        raise ConfigError(f"dataset {data.name!r} is empty with these arguments", key=key)
    return dataset


def data_info(dataset: Any) -> dict[str, Any]:
    """The dataset attributes models may take over (``channels``, ``image_size``, ...)."""
    info = {}
    for name in DATA_ATTRIBUTES:
        value = getattr(dataset, name, None)
        if value is not None:
            info[name] = value
    if "attributes" in info and "num_attributes" not in info:
        info["num_attributes"] = len(info["attributes"])
    return info


def _data_arguments(model_cls: Any) -> Mapping[str, str]:
    own = getattr(model_cls, "data_arguments", None)
    if own is not None:
        return own
    from .plugins.torchgan_components import TORCHGAN_DATA_ARGUMENTS

    return TORCHGAN_DATA_ARGUMENTS.get(model_cls, {})


def data_derived_arguments(
    model_cls: Any, args: Mapping[str, Any], info: Mapping[str, Any] | Sequence[str]
) -> list[str]:
    """Constructor parameters of ``model_cls`` that the dataset fills (when not in ``args``)."""
    mapping = _data_arguments(model_cls)
    return [p for p, attr in mapping.items() if p not in args and attr in info]


def worker_init_fn(worker_id: int) -> None:
    """Seed NumPy and Python in each DataLoader worker from torch's per-worker seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def build_loader(
    dataset: Dataset,
    config: Config,
    device: torch.device,
    *,
    train: bool = True,
    batch_size: int | None = None,
    dist_info: DistInfo | None = None,
) -> DataLoader:
    """A DataLoader with a :class:`~torchgan_ext.data.ResumableSampler` and seeded workers."""
    from .data.collate import collate
    from .data.sampler import ResumableSampler

    lc = config.data.loader
    bs = batch_size or lc.batch_size
    n = len(dataset)
    if train and lc.drop_last and n < bs:
        raise ConfigError(
            f"the dataset has {n} samples, fewer than one batch of {bs} with drop_last: true; "
            "lower data.loader.batch_size or set data.loader.drop_last: false",
            key="data.loader.batch_size",
            file=config.source,
        )
    info = dist_info if (dist_info is not None and train) else DistInfo()
    sampler = ResumableSampler(
        n,
        shuffle=lc.shuffle and train,
        seed=config.seed,
        num_replicas=info.world_size,
        rank=info.rank,
        drop_last=info.enabled,
    )
    pin = lc.pin_memory if lc.pin_memory is not None else device.type == "cuda"
    kwargs: dict[str, Any] = {}
    if lc.num_workers > 0:
        kwargs["persistent_workers"] = lc.persistent_workers
        if lc.prefetch_factor is not None:
            kwargs["prefetch_factor"] = lc.prefetch_factor
    # Own generator: creating an iterator must not draw from the global RNG (exact resume);
    # the trainer reseeds it per epoch so worker seeds are reproducible.
    generator = torch.Generator()
    generator.manual_seed(config.seed)
    return DataLoader(
        dataset,
        batch_size=bs,
        sampler=sampler,
        generator=generator,
        num_workers=lc.num_workers,
        drop_last=lc.drop_last and train,
        pin_memory=pin,
        collate_fn=collate,
        worker_init_fn=worker_init_fn if lc.num_workers > 0 else None,
        **kwargs,
    )


def _fixed_batch(dataset: Dataset, n: int, device: torch.device, seed: int) -> Any:
    """The first ``n`` items (by index) as one batch, drawn without touching the global RNG."""
    n = min(n, len(dataset))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        items = [dataset[i] for i in range(n)]
    from .data.collate import collate
    from .trainer.trainer import prepare_batch

    return prepare_batch(collate(items), device)


# ------------------------------------------------------------------------------------------
# models, losses, metrics
# ------------------------------------------------------------------------------------------
def _resolved_model_args(m: ModelConfig, info: Mapping[str, Any]) -> dict[str, Any]:
    cls = MODELS.get(m.name)
    args = dict(m.args)
    for param in data_derived_arguments(cls, args, info):
        args[param] = info[_data_arguments(cls)[param]]
    return args


def _model_spec(name: str, m: ModelConfig, args: Mapping[str, Any]) -> dict[str, Any]:
    key = f"models.{name}.args"
    cls = MODELS.get(m.name)

    def factory(**kw: Any) -> nn.Module:
        model = _construct(cls, kw, key, f"model {m.name!r}")
        if not isinstance(model, nn.Module):
            raise ConfigError(f"model {m.name!r} did not build an nn.Module", key=key)
        return model

    assert m.optimizer is not None
    opt_cls = OPTIMIZERS.get(m.optimizer.name)
    opt_key = f"models.{name}.optimizer.args"

    def make_optimizer(params: Any, **kw: Any) -> torch.optim.Optimizer:
        return _construct(
            lambda **a: opt_cls(params, **a), kw, opt_key, f"optimizer {m.optimizer.name!r}"
        )

    spec: dict[str, Any] = {
        "name": factory,
        "args": dict(args),
        "optimizer": {"name": make_optimizer, "args": dict(m.optimizer.args)},
    }
    if m.scheduler is not None:
        sched_cls = SCHEDULERS.get(m.scheduler.name)
        sched_key = f"models.{name}.scheduler.args"

        def make_scheduler(optimizer: Any, **kw: Any) -> Any:
            return _construct(
                lambda **a: sched_cls(optimizer, **a),
                kw,
                sched_key,
                f"scheduler {m.scheduler.name!r}",
            )

        spec["scheduler"] = {
            "name": make_scheduler,
            "args": dict(m.scheduler.args),
            "interval": m.scheduler.interval,
        }
    return spec


def _build_components(items: Sequence[ComponentConfig], registry: Any, kind: str) -> list[Any]:
    out, seen = [], {}
    plural = "losses" if kind == "loss" else "metrics"
    for i, item in enumerate(items):
        obj = _construct(
            registry.get(item.name), item.args, f"{plural}.{i}.args", f"{kind} {item.name!r}"
        )
        cls_name = type(obj).__name__
        if cls_name in seen:
            raise ConfigError(
                f"{kind} {item.name!r} appears twice (also {plural}.{seen[cls_name]}); torchgan "
                f"keys {plural} by class, so each may be listed once",
                key=f"{plural}.{i}.name",
            )
        seen[cls_name] = i
        out.append(obj)
    return out


def _init_from(trainer: Trainer, config: Config) -> None:
    for name, m in config.models.items():
        if not m.init_from:
            continue
        key = f"models.{name}.init_from"
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


def dry_check(trainer: Trainer, config: Config) -> None:
    """Forward a tiny batch through the models to catch impossible shapes before training.

    The generator's output is compared with the real images' shape; the discriminator must
    accept a real batch. Models with their own input format (``sample_grid``) skip the check.
    """
    real = trainer.real_inputs
    if not isinstance(real, torch.Tensor) or real.dim() != 4:
        return
    with torch.no_grad():
        for name in trainer.model_names:
            model = getattr(trainer, name)
            key = f"models.{name}.args"
            was_training = model.training
            model.eval()
            try:
                if isinstance(model, Generator) and not hasattr(model, "sample_grid"):
                    try:
                        inputs = model.sampler(2, trainer.device)
                        fake = model(*inputs)
                    except Exception as e:  # user-chosen shapes: report with the key
                        raise ConfigError(
                            f"a test forward pass of {config.models[name].name!r}"
                            f" failed: {_first_line(e)}",
                            key=key,
                        ) from e
                    if isinstance(fake, torch.Tensor) and fake.shape[1:] != real.shape[1:]:
                        raise ConfigError(
                            f"the generator makes images of shape {tuple(fake.shape[1:])} but "
                            f"dataset {config.data.name!r} yields {tuple(real.shape[1:])}; make "
                            "the generator's size/channels match data.args (or leave them out "
                            "to take them from the dataset)",
                            key=key,
                        )
                elif (
                    isinstance(model, Discriminator)
                    and getattr(model, "label_type", "none") == "none"
                ):
                    try:
                        model(real[:2])
                    except Exception as e:  # user-chosen shapes: report with the key
                        raise ConfigError(
                            f"the discriminator cannot take the dataset's images of shape "
                            f"{tuple(real.shape[1:])}: {_first_line(e)}",
                            key=key,
                        ) from e
            finally:
                model.train(was_training)


def _compile_checks(trainer: Trainer) -> dict[str, Any]:
    """Test forward passes that trigger compilation before training (fallback on failure)."""
    real = trainer.real_inputs
    checks: dict[str, Any] = {}
    for name in trainer.model_names:
        model = getattr(trainer, name)
        if isinstance(model, Generator) and not hasattr(model, "sample_grid"):

            def check_g(m: nn.Module) -> None:
                with torch.no_grad():
                    m(*m.sampler(2, trainer.device))

            checks[name] = check_g
        elif (
            isinstance(model, Discriminator)
            and isinstance(real, torch.Tensor)
            and getattr(model, "label_type", "none") == "none"
        ):

            def check_d(m: nn.Module) -> None:
                with torch.no_grad():
                    m(real[:2])

            checks[name] = check_d
    return checks


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _validate_components(
    components: Sequence[Any], section: str, trainer: Trainer, value_error: str | None = None
) -> None:
    """Run each component's optional ``validate(trainer)`` check; errors name ``section.<i>``.

    ``value_error``: also report a ``ValueError`` as a config error, with this prefix.
    """
    for i, component in enumerate(components):
        validate = getattr(component, "validate", None)
        if not callable(validate):
            continue
        try:
            validate(trainer)
        except ConfigError as e:
            raise e.with_context(key=f"{section}.{i}") from e
        except ValueError as e:
            if value_error is None:
                raise
            raise ConfigError(f"{value_error}: {_first_line(e)}", key=f"{section}.{i}") from e


def build_trainer(config: Config, *, device: str | None = None) -> tuple[Trainer, DataLoader]:
    """Build dataset, loader, models, losses and metrics of ``config`` into a Trainer.

    Raises:
        ConfigError: Anything wrong in the config, found before training starts.
    """
    src = config.source
    try:
        return _build_trainer(config, device)
    except ConfigError as e:
        raise e.with_context(file=src) from e.__cause__


def _build_trainer(config: Config, device_override: str | None) -> tuple[Trainer, DataLoader]:
    device = resolve_device(device_override or config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "CUDA is not available on this machine; use device: auto or cpu", key="device"
        )
    dist_info = init_distributed(device)
    if dist_info.enabled and device.type == "cuda":
        device = torch.device("cuda", dist_info.local_rank)
    if config.trainer.sync_batchnorm and device.type != "cuda":
        raise ConfigError(
            "SyncBatchNorm needs CUDA devices; set trainer.sync_batchnorm: false on CPU",
            key="trainer.sync_batchnorm",
        )
    seed_everything(config.seed)
    validate_components(config, data_provided=())
    dataset = build_dataset(config.data)
    if config.data.skip_corrupt:
        from .data.skip_corrupt import SkipCorrupt

        dataset = SkipCorrupt(dataset)
    info = data_info(dataset)
    # constructor arguments, now that the dataset can fill data-derived ones
    for name, m in config.models.items():
        cls = MODELS.get(m.name)
        check_arguments(
            cls,
            m.args,
            f"models.{name}.args",
            f"model {m.name!r}",
            provided=data_derived_arguments(cls, m.args, info),
        )
    loader = build_loader(dataset, config, device, dist_info=dist_info)
    val_loader = None
    sample_source: Dataset = dataset
    if config.data.val is not None:
        val_set = build_dataset(config.data, val=True)
        val_loader = build_loader(
            val_set, config, device, train=False, batch_size=config.data.val.batch_size
        )
        sample_source = val_set
    sample_batch = _fixed_batch(sample_source, config.trainer.sample_size, device, config.seed)

    resolved_args = {n: _resolved_model_args(m, info) for n, m in config.models.items()}
    models = {n: _model_spec(n, m, resolved_args[n]) for n, m in config.models.items()}
    losses = _build_components(config.losses, LOSSES, "loss")
    metrics = _build_components(config.metrics, METRICS, "metric") or None

    t = config.trainer
    ema = dataclasses.asdict(t.ema) if t.ema is not None else None
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
        sample_every=t.sample_every,
        checkpoint_every=t.checkpoint_every,
        keep_checkpoints=t.keep_checkpoints,
        eval_every=t.eval_every,
        ema=ema,
        progress=config.logging.progress,
        tensorboard=config.logging.tensorboard,
        refresh_rate=config.logging.refresh_rate,
        log_every=config.logging.log_every,
        grad_norms=config.logging.grad_norms,
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
    trainer.data_info = info
    trainer.metric_names = {
        type(m).__name__: c.name for m, c in zip(metrics or [], config.metrics, strict=True)
    }
    trainer.resolved_config = dataclasses.replace(
        config,
        models={n: dataclasses.replace(m, args=resolved_args[n]) for n, m in config.models.items()},
    )
    _validate_components(metrics or [], "metrics", trainer)  # checks of the run before training
    _init_from(trainer, config)  # a later --resume overrides these weights
    trainer._set_batch(sample_batch)
    _validate_components(losses, "losses", trainer, "cannot train these models")  # and a batch
    dry_check(trainer, config)
    if t.compile:
        trainer.compile_models(_compile_checks(trainer))
    if dist_info.enabled:  # every rank draws its own noise from here on
        torch.manual_seed(config.seed + 1 + dist_info.rank)
    trainer.batch = trainer.real_inputs = trainer.labels = None
    return trainer, loader


# ------------------------------------------------------------------------------------------
# a run
# ------------------------------------------------------------------------------------------
def _prepare_out_dir(config: Config, resume: bool, overwrite: bool) -> Path:
    out = Path(config.out_dir)
    existing = out / "config.yaml"
    if existing.exists() and not (resume or overwrite):
        raise ConfigError(
            f"{out} already holds a run ({existing}); pass --resume to continue it, "
            "--overwrite to start again in it, or choose another out_dir",
            key="out_dir",
            file=config.source,
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot create {out}: {e.strerror or e}", key="out_dir", file=config.source
        ) from e
    return out


#: What ``--overwrite`` removes from an existing run directory (nothing else is touched).
RUN_ARTIFACTS = ("checkpoints", "samples", "tensorboard", "metrics.jsonl", "metrics.json")


def _clear_previous_run(out: Path) -> list[str]:
    """Remove the artifacts of a previous run in ``out`` (for ``--overwrite``)."""
    import shutil

    removed = []
    for name in RUN_ARTIFACTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    return removed


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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

    out = Path(config.out_dir)
    if main_process:  # other ranks must not race with rank 0's config.yaml
        out = _prepare_out_dir(config, resume, overwrite)
    previous_run = main_process and overwrite and not resume and (out / "config.yaml").exists()
    trainer, loader = build_trainer(config, device=device)
    if previous_run:  # only now that the new config has been checked
        removed = _clear_previous_run(out)
        trainer.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        Path(trainer.logger.samples_dir).mkdir(parents=True, exist_ok=True)
        if removed:
            say(f"--overwrite: removed {', '.join(removed)} of the previous run in {out}")
    resolved = trainer.resolved_config
    if device:
        resolved = dataclasses.replace(resolved, device=device)
    if main_process:
        _write_text_atomic(out / "config.yaml", dump_config(resolved))
    resumed_from = None
    if resume:
        resumed_from = trainer.load_model()
        if trainer.dist.enabled:  # the checkpoint holds rank 0's RNG; decorrelate the ranks
            torch.manual_seed(config.seed + 1 + trainer.dist.rank + 7919 * trainer.step)
        if resumed_from is None:
            say(f"no checkpoint in {trainer.checkpoint_dir}; starting from step 0", file=stream)
        else:
            say(
                f"resuming from {resumed_from} (step {trainer.step}, epoch {trainer.epoch + 1})",
                file=stream,
            )
    total = trainer.total_steps(loader)
    say(f"training on {trainer.device}: {total} steps, writing to {out}", file=stream)
    try:
        trainer.train(loader)
    finally:
        trainer.complete()
    ckpts = sorted((out / "checkpoints").glob("ckpt-*.pt"))
    metric_values = dict(trainer.last_metrics)
    skipped = getattr(loader.dataset, "skipped", None)
    if skipped:
        say(f"skipped {skipped} corrupt samples (data.skip_corrupt: true)", file=stream)
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
        checkpoint=ckpts[-1] if ckpts else None,
        resumed_from=resumed_from,
        stopped_by_signal=trainer.stopped_by_signal,
        metrics=metric_values,
        trainer=trainer,
    )
