"""torchgan-ext: plugins, a YAML launcher and modern GAN components for torchgan.

The public API is small::

    from torchgan_ext import hookimpl, MODELS, load_config, run

    config = load_config("configs/quickstart.yaml", ["trainer.epochs=1"])
    result = run(config)

Importing the package, its registries and :mod:`torchgan_ext.config` does not import torch:
``run``, ``build_trainer``, ``RunResult``, ``Trainer``, ``load_run`` and ``LoadedRun`` load on
first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._hookspecs import hookimpl
from ._plugins import load_plugins
from ._registry import (
    CALLBACKS,
    DATASETS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    SCHEDULERS,
    Registry,
)
from .config import Config, load_config
from .errors import (
    CheckpointError,
    ConfigError,
    DuplicateComponentError,
    PluginError,
    TorchganExtError,
    UnknownComponentError,
)

__version__ = "0.1.0"

#: Names loaded on first use (they import torch), by the module that defines them.
_LAZY = {
    "run": "runner",
    "build_trainer": "runner",
    "RunResult": "runner",
    "Trainer": "trainer",
    "load_run": "inference",
    "LoadedRun": "inference",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "CALLBACKS",
    "Config",
    "load_config",
    "run",
    "build_trainer",
    "RunResult",
    "Trainer",
    "load_run",
    "LoadedRun",
    "TorchganExtError",
    "ConfigError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "CheckpointError",
]
