"""YAML config -> validated, frozen dataclasses.

The schema is the public contract of ``DESIGN.md`` section 2. Every problem is reported as a
one-line :class:`~torchgan_ext.errors.ConfigError` naming the file, the dotted key and what would
be valid: unknown keys (with "did you mean"), wrong types (including YAML 1.1 reading ``2e-4`` as a
string), unknown registry names and constructor arguments that do not exist.

Loading is two-phase: :func:`load_config` parses and type-checks the file (no plugins needed);
:func:`validate_components` then checks registry names and constructor arguments against the
loaded plugins.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import yaml

from ._registry import DATASETS, LOSSES, METRICS, MODELS, OPTIMIZERS, SCHEDULERS, Registry
from .errors import ConfigError, TorchganExtError, did_you_mean

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
    "validate_components",
    "check_arguments",
    "config_to_dict",
    "dump_config",
    "read_yaml",
]


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------
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
    init_from: str | None = None


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
class DataConfig:
    """The training dataset (a registered dataset) and its loader."""

    name: str
    args: dict[str, Any] = _mapping()
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    val: ValDataConfig | None = None
    skip_corrupt: bool = False


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
    seed: int = 0
    device: str = "auto"
    out_dir: str = "runs/run"
    plugins: tuple[str, ...] = ()
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    #: Where the config came from (not part of the YAML schema).
    source: str = field(default="<dict>", compare=False, metadata={"internal": True})


# --------------------------------------------------------------------------------------------
# Type checking of plain YAML data against the dataclasses
# --------------------------------------------------------------------------------------------
_FLOAT_HINT = (
    "YAML 1.1 reads exponent numbers without a dot as strings; write it as {fixed} "
    "(with a dot before the 'e')"
)


def _string_number_message(value: str) -> str:
    text = f"expected a number, got {_describe(value)}"
    if "e" in value.lower():
        return f"{text}; " + _FLOAT_HINT.format(fixed=_fixed_float(value))
    return f"{text}; remove the quotes"


def _number_string(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _fixed_float(value: str) -> str:
    mantissa, _, exponent = value.lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{exponent}" if exponent else mantissa


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (dict, Mapping) or dataclasses.is_dataclass(hint):
        return "a mapping"
    if origin in (tuple, list, Sequence):
        return "a list"
    return getattr(hint, "__name__", str(hint))


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _convert(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint``; return the (converted) value."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, key)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise ConfigError(f"expected {_type_name(hint)}, got {_describe(value)}", key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{_describe(value)} is not valid; {did_you_mean(str(value), choices)}", key
            )
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {_describe(value)}", key)
        key_type, value_type = typing.get_args(hint)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"keys must be strings, got {_describe(k)}", key)
            out[k] = _convert(value_type, v, f"{key}.{k}")
        return out
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"expected a list, got {_describe(value)}", key)
        (item_type, _ellipsis) = typing.get_args(hint)
        return tuple(_convert(item_type, v, f"{key}.{i}") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_describe(value)}", key)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                raise ConfigError(f"expected an integer, got {value!r}; write {int(value)}", key)
            raise ConfigError(f"expected an integer, got {_describe(value)}", key)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str) and _number_string(value) is not None:
                raise ConfigError(_string_number_message(value), key)
            raise ConfigError(f"expected a number, got {_describe(value)}", key)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_describe(value)}", key)
        return value
    raise TypeError(f"unsupported schema type {hint!r} at {key}")  # a bug in the schema


def _check_bounds(f: dataclasses.Field, value: Any, key: str) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"must be >= {lo}, got {value}", key)
    if hi is not None and value > hi:
        raise ConfigError(f"must be <= {hi}, got {value}", key)
    if f.metadata.get("nonzero") and value == 0:
        raise ConfigError(
            "must not be 0 (a positive n trains the discriminator n times per generator step; "
            "a negative n trains the generator |n| times per discriminator step)",
            key,
        )


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    where = prefix or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {_describe(data)}", prefix or None)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for k in data:
        if k not in fields:
            key = f"{prefix}.{k}" if prefix else str(k)
            raise ConfigError(f"unknown key {k!r} in {where}; {did_you_mean(str(k), fields)}", key)
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing required key {name!r} in {where}", key)
            continue
        value = _convert(hints[name], data[name], key)
        _check_bounds(f, value, key)
        kwargs[name] = value
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Reading files and overrides
# --------------------------------------------------------------------------------------------
def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; errors name the file and line."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError("is a directory, expected a YAML config file", file=path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError as e:
        raise ConfigError("config file not found", file=path) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", file=path) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"not a UTF-8 text file ({e.reason})", file=path) from e
    try:
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(
            f"{where}{e.problem}; only plain YAML is allowed (tags such as !!python/object "
            "are refused because they could run code)",
            file=path,
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"invalid YAML: {where}{problem}", file=path) from e
    if data is None:
        raise ConfigError("the config file is empty; see configs/quickstart.yaml", file=path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the config must be a YAML mapping (key: value), got {_describe(data)}", file=path
        )
    return data


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``--set KEY=VALUE`` items; values are YAML (``[A,B]``, ``1.0e-4``, ``null``)."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"expected KEY=VALUE with a dotted key, got {item!r} (e.g. --set trainer.epochs=1)",
                file="--set",
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"value of {key!r} is not valid YAML: {raw!r}", file="--set") from e
        out.append((key, value))
    return out


def apply_overrides(data: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys in a plain dict (lists are indexed by number: ``losses.0.args.x``)."""
    for key, value in overrides:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"{part!r} is not an index of this list (0..{len(node) - 1})",
                        key=here,
                        file="--set",
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(
                    f"cannot set a key inside {_describe(node)}", key=here, file="--set"
                )
    return data


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Config:
    """Type-check a plain dict (already parsed YAML) into a :class:`Config`."""
    try:
        config = _build(Config, dict(data), "")
    except ConfigError as e:
        raise e.with_context(file=source) from None
    if not config.models:
        raise ConfigError("at least one model is needed", key="models", file=source)
    if not config.losses:
        raise ConfigError("at least one loss is needed", key="losses", file=source)
    for name, model in config.models.items():
        if model.optimizer is None:
            raise ConfigError(
                "missing; every model under `models` is trained and needs an optimizer, "
                "e.g. {name: adam, args: {lr: 2.0e-4}}",
                key=f"models.{name}.optimizer",
                file=source,
            )
    _check_device(config.device, source)
    return dataclasses.replace(config, source=source)


def _check_device(device: str, source: str) -> None:
    import torch

    if device in ("auto", "cpu", "cuda") or device.startswith("cuda:"):
        try:
            torch.device("cpu" if device == "auto" else device)
            return
        except RuntimeError:
            pass
    raise ConfigError(
        f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N", key="device", file=source
    )


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    data: Mapping[str, Any] | None = None,
) -> Config:
    """Read, override and type-check a config (registry names are checked separately).

    Args:
        path: The YAML file. Either ``path`` or ``data`` is given.
        overrides: ``--set`` items, ``"trainer.epochs=1"``.
        data: An already parsed mapping (used for the embedded quickstart).

    Raises:
        ConfigError: One line naming the file, the dotted key and what would be valid.
    """
    source = os.fspath(path) if path is not None else "<embedded quickstart>"
    raw = read_yaml(path) if path is not None else _deepcopy(dict(data or {}))
    parsed = parse_overrides(overrides)
    apply_overrides(raw, parsed)
    try:
        return config_from_dict(raw, source)
    except ConfigError as e:
        _blame_override(e, parsed)
        raise


def _blame_override(error: ConfigError, parsed: Sequence[tuple[str, Any]]) -> None:
    """Point an error at ``--set`` when the offending key came from an override."""
    for key, _ in parsed:
        if error.key and (error.key == key or error.key.startswith(key + ".")):
            error.file = f"--set {key}"


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_deepcopy(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Checking names and constructor arguments against the registries
# --------------------------------------------------------------------------------------------
def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def _param_kind(param: inspect.Parameter, hints: Mapping[str, Any]) -> type | None:
    """The scalar type a parameter expects, from its annotation or default (None: unknown)."""
    hint = hints.get(param.name)
    if hint in (int, float, bool):
        return hint
    default = param.default
    if default is not inspect.Parameter.empty and type(default) in (int, float, bool):
        return type(default)
    return None


def check_arguments(
    obj: Any,
    args: Mapping[str, Any],
    key: str,
    what: str,
    *,
    provided: Sequence[str] = (),
    skip_first: int = 0,
) -> None:
    """Check keyword ``args`` against the signature of the callable ``obj``.

    Args:
        obj: A class or function.
        args: The ``args`` mapping of the config.
        key: Dotted path of the ``args`` mapping, for messages.
        what: ``"model 'dcgan_generator'"``, for messages.
        provided: Parameter names filled in by the launcher (not required from the user).
        skip_first: Number of leading positional parameters filled by the launcher
            (the optimizer's ``params``, the scheduler's ``optimizer``).

    Raises:
        ConfigError: Unknown argument (did-you-mean), missing required argument or a value of
            the wrong scalar type (with the YAML ``2e-4`` hint).
    """
    sig = _signature(obj)
    if sig is None:
        return
    params = [
        p
        for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    params = params[skip_first:]
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    by_name = {p.name: p for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    try:
        target = obj.__init__ if inspect.isclass(obj) else obj
        hints = typing.get_type_hints(target)
    except (NameError, TypeError, AttributeError):  # unresolvable third-party annotations
        hints = {}
    for name, value in args.items():
        if name not in by_name:
            if accepts_kwargs:
                continue
            raise ConfigError(
                f"unknown argument {name!r} for {what}; {did_you_mean(name, by_name)}",
                key=f"{key}.{name}",
            )
        kind = _param_kind(by_name[name], hints)
        _check_scalar(kind, value, f"{key}.{name}")
    missing = [
        p.name
        for p in by_name.values()
        if p.default is inspect.Parameter.empty and p.name not in args and p.name not in provided
    ]
    if missing:
        raise ConfigError(
            f"missing required argument(s) {', '.join(repr(m) for m in missing)} for {what}",
            key=key,
        )


def _check_scalar(kind: type | None, value: Any, key: str) -> None:
    if kind is None or value is None:
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_describe(value)}", key)
    elif kind in (int, float):
        if isinstance(value, str) and _number_string(value) is not None:
            raise ConfigError(_string_number_message(value), key)
        if isinstance(value, bool) or (
            not isinstance(value, int | float) and not isinstance(value, list | tuple)
        ):
            raise ConfigError(f"expected a number, got {_describe(value)}", key)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"expected an integer, got {value!r}", key)


def _lookup(registry: Registry, name: str, key: str) -> Any:
    try:
        return registry.get(name)
    except ConfigError as e:
        raise e.with_context(key=key) from None


DATA_ALL = ("channels", "image_size", "num_classes", "attributes", "num_attributes", "scale")


def validate_components(config: Config, data_provided: Sequence[str] = ()) -> None:
    """Check every registry name and constructor argument of ``config``.

    Args:
        config: A type-checked config.
        data_provided: Dataset attributes known to exist (default: assume all may exist;
            the launcher checks again once the dataset is built).

    Raises:
        ConfigError: Naming the file, the dotted key and the valid names/arguments.
    """
    from .launch import data_derived_arguments

    src = config.source
    try:
        dataset = _lookup(DATASETS, config.data.name, "data.name")
        check_arguments(dataset, config.data.args, "data.args", f"dataset {config.data.name!r}")
        if config.data.val is not None:
            merged = {**config.data.args, **config.data.val.args}
            check_arguments(dataset, merged, "data.val.args", f"dataset {config.data.name!r}")
        for mname, m in config.models.items():
            base = f"models.{mname}"
            model_cls = _lookup(MODELS, m.name, f"{base}.name")
            # parameters the dataset may fill are checked again once it is built
            provided = data_derived_arguments(model_cls, m.args, data_provided or DATA_ALL)
            check_arguments(
                model_cls, m.args, f"{base}.args", f"model {m.name!r}", provided=provided
            )
            assert m.optimizer is not None
            opt_cls = _lookup(OPTIMIZERS, m.optimizer.name, f"{base}.optimizer.name")
            check_arguments(
                opt_cls,
                m.optimizer.args,
                f"{base}.optimizer.args",
                f"optimizer {m.optimizer.name!r}",
                skip_first=1,
            )
            if m.scheduler is not None:
                sched_cls = _lookup(SCHEDULERS, m.scheduler.name, f"{base}.scheduler.name")
                check_arguments(
                    sched_cls,
                    m.scheduler.args,
                    f"{base}.scheduler.args",
                    f"scheduler {m.scheduler.name!r}",
                    skip_first=1,
                )
        for kind, registry, items in (
            ("loss", LOSSES, config.losses),
            ("metric", METRICS, config.metrics),
        ):
            for i, item in enumerate(items):
                base = f"{kind}es.{i}" if kind == "loss" else f"{kind}s.{i}"
                cls = _lookup(registry, item.name, f"{base}.name")
                check_arguments(
                    cls,
                    item.args,
                    f"{base}.args",
                    f"{kind} {item.name!r}",
                )
    except ConfigError as e:
        raise e.with_context(file=src) from None


# --------------------------------------------------------------------------------------------
# Writing configs back
# --------------------------------------------------------------------------------------------
def config_to_dict(config: Any) -> Any:
    """A plain-YAML dict of a config (dataclasses -> dicts, tuples -> lists)."""
    if dataclasses.is_dataclass(config):
        return {
            f.name: config_to_dict(getattr(config, f.name))
            for f in dataclasses.fields(config)
            if not f.metadata.get("internal")
        }
    if isinstance(config, dict):
        return {k: config_to_dict(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [config_to_dict(v) for v in config]
    return config


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML text (what ``out_dir/config.yaml`` holds)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)


# A ConfigError raised by a constructor keeps its own key; everything else is wrapped by the
# launcher. Re-exported for type checkers.
_ = TorchganExtError
