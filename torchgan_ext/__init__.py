"""torchgan-ext: plugins, a YAML launcher and modern GAN components for torchgan.

The public API is small::

    from torchgan_ext import hookimpl, MODELS, load_config, run

    config = load_config("configs/quickstart.yaml", ["trainer.epochs=1"])
    result = run(config)
"""

from ._hookspecs import hookimpl
from ._plugins import load_plugins
from ._registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, Registry
from .config import Config, load_config
from .errors import (
    CheckpointError,
    ConfigError,
    DuplicateComponentError,
    PluginError,
    TorchganExtError,
    UnknownComponentError,
)
from .launch import RunResult, build_trainer, run
from .trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "hookimpl",
    "load_plugins",
    "Registry",
    "MODELS",
    "LOSSES",
    "METRICS",
    "DATASETS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "Config",
    "load_config",
    "run",
    "build_trainer",
    "RunResult",
    "Trainer",
    "TorchganExtError",
    "ConfigError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "CheckpointError",
]
