"""The config schema: frozen dataclasses, one per section of the YAML file (``docs/config.md``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

#: The largest seed: torch, NumPy and the loader's generator all take 0..2**63-1.
SEED_MAX = 2**63 - 1


def _opt(default: Any = None, **meta: Any) -> Any:
    return field(default=default, metadata=meta)


def _mapping() -> Any:
    return field(default_factory=dict)


@dataclass(frozen=True)
class ComponentConfig:
    """A registry name and the keyword arguments of its constructor."""

    name: str
    args: dict[str, Any] = _mapping()


@dataclass(frozen=True)
class OptimizerConfig(ComponentConfig):
    """An optimizer from the ``optimizers`` registry (``adam``, ``adamw``, ``sgd``, ``rmsprop``)."""


@dataclass(frozen=True)
class SchedulerConfig(ComponentConfig):
    """A learning-rate scheduler; ``interval`` says whether it steps per ``step`` or ``epoch``."""

    interval: Literal["epoch", "step"] = "epoch"


@dataclass(frozen=True)
class ModelConfig(ComponentConfig):
    """One model of ``models:``; every model is trained and needs an optimizer."""

    optimizer: OptimizerConfig | None = None
    scheduler: SchedulerConfig | None = None
    init_from: str | None = _opt(None, nonempty=True)


@dataclass(frozen=True)
class LoaderConfig:
    """Keyword arguments of the training ``DataLoader``."""

    batch_size: int = _opt(64, min=1)
    num_workers: int = _opt(0, min=0)
    shuffle: bool = True
    drop_last: bool = True
    pin_memory: bool | None = None  # None: on when training on CUDA
    persistent_workers: bool = False
    prefetch_factor: int | None = _opt(None, min=1)


@dataclass(frozen=True)
class ValDataConfig:
    """The validation/reference split: ``args`` are merged over ``data.args``."""

    args: dict[str, Any] = _mapping()
    batch_size: int | None = _opt(None, min=1)


@dataclass(frozen=True)
class CacheConfig:
    """The decoded dataset cache (``docs/datasets.md``): ``dir/train`` and ``dir/val``."""

    dir: str = _opt(dataclasses.MISSING, nonempty=True)
    on_stale: Literal["error", "rebuild"] = "error"
    mirror: bool = True


@dataclass(frozen=True)
class DataConfig:
    """The training dataset (a registered dataset) and its loader."""

    name: str = _opt(dataclasses.MISSING, nonempty=True)
    args: dict[str, Any] = _mapping()
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    val: ValDataConfig | None = None
    skip_corrupt: bool = False
    cache: CacheConfig | None = None
    decode: Literal["cpu", "cuda"] = "cpu"


@dataclass(frozen=True)
class EMAConfig:
    """Exponential moving average of the generator weights (used for samples and metrics)."""

    decay: float = _opt(0.999, min=0.0, max=1.0)
    start_step: int = _opt(0, min=0)
    every: int = _opt(1, min=1)


@dataclass(frozen=True)
class TrainerConfig:
    """Training schedule. ``epochs`` is the total; ``max_steps`` (iterations) stops earlier."""

    epochs: int = _opt(1, min=1)
    max_steps: int | None = _opt(None, min=1)
    ncritic: int = _opt(1, nonzero=True)
    sample_every: int | None = _opt(None, min=1)
    checkpoint_every: int | None = _opt(None, min=1)
    keep_checkpoints: int = _opt(3, min=1)
    sample_size: int = _opt(64, min=1)
    nrow: int | None = _opt(None, min=1)
    eval_every: int | None = _opt(None, min=1)
    ema: EMAConfig | None = None
    nonfinite: Literal["stop", "skip"] = "stop"
    max_nonfinite_skips: int = _opt(10, min=0)
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    compile: bool = False
    sync_batchnorm: bool = False


@dataclass(frozen=True)
class LoggingConfig:
    """Console, progress bar and tensorboard settings."""

    progress: bool = True
    tensorboard: bool = True
    refresh_rate: int = _opt(10, min=1)
    log_every: int = _opt(50, min=1)
    grad_norms: bool = True


@dataclass(frozen=True)
class Config:
    """A whole run: the fully validated contents of one YAML file."""

    data: DataConfig
    models: dict[str, ModelConfig]
    losses: tuple[ComponentConfig, ...]
    metrics: tuple[ComponentConfig, ...] = ()
    callbacks: tuple[ComponentConfig, ...] = ()
    seed: int = _opt(0, min=0, max=SEED_MAX)
    device: str = "auto"
    out_dir: str = _opt("runs/run", nonempty=True)
    plugins: tuple[str, ...] = ()
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    #: Where the config came from (not part of the YAML schema).
    source: str = field(default="<dict>", compare=False, metadata={"internal": True})
    #: The dotted keys set with ``--set`` (errors at or below them name ``--set KEY``).
    overrides: tuple[str, ...] = field(default=(), compare=False, metadata={"internal": True})
