"""YAML config -> validated, frozen dataclasses.

The schema is the public contract documented in ``docs/config.md``. Every problem is reported as a
one-line :class:`~torchgan_ext.errors.ConfigError` naming the file, the dotted key and what would
be valid: unknown keys (with "did you mean"), wrong types (including YAML 1.1 reading ``2e-4`` as a
string), unknown registry names and constructor arguments that do not exist.

This package is pure: it imports nothing of the project but :mod:`torchgan_ext.errors` (and
neither torch nor the plugins), so every schema error of a file (unknown keys, wrong types,
missing keys) is reported at once, in well under a second. Registry names and constructor
arguments are checked afterwards, once the plugins are loaded, by :mod:`torchgan_ext.build`.
"""

from __future__ import annotations

from .checking import (
    check_device,
    config_from_dict,
    describe_value,
    string_number_message,
)
from .files import (
    apply_overrides,
    blame_override,
    config_to_dict,
    dump_config,
    load_config,
    parse_overrides,
    read_text,
    read_yaml,
)
from .schema import (
    SEED_MAX,
    ComponentConfig,
    Config,
    DataConfig,
    EMAConfig,
    LoaderConfig,
    LoggingConfig,
    ModelConfig,
    OptimizerConfig,
    SchedulerConfig,
    TrainerConfig,
    ValDataConfig,
)

__all__ = [
    "Config",
    "DataConfig",
    "LoaderConfig",
    "ValDataConfig",
    "ComponentConfig",
    "OptimizerConfig",
    "SchedulerConfig",
    "ModelConfig",
    "EMAConfig",
    "TrainerConfig",
    "LoggingConfig",
    "load_config",
    "config_from_dict",
    "parse_overrides",
    "apply_overrides",
    "check_device",
    "config_to_dict",
    "describe_value",
    "string_number_message",
    "dump_config",
    "read_yaml",
    "read_text",
    "blame_override",
    "SEED_MAX",
]
