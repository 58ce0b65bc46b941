"""YAML config -> validated, frozen dataclasses.

The schema is the public contract documented in ``docs/config.md``. Every problem is reported as a
one-line :class:`~torchgan_ext.errors.ConfigError` naming the file, the dotted key and what would
be valid: unknown keys (with "did you mean"), wrong types (including YAML 1.1 reading ``2e-4`` as a
string), unknown registry names and constructor arguments that do not exist.

This module is pure: it imports nothing of the project but :mod:`torchgan_ext.errors` (and
neither torch nor the plugins), so every schema error of a file (unknown keys, wrong types,
missing keys) is reported at once, in well under a second. Registry names and constructor
arguments are checked afterwards, once the plugins are loaded, by :mod:`torchgan_ext.build`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import yaml

from .errors import ConfigError, ConfigErrors, did_you_mean

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


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------
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
class DataConfig:
    """The training dataset (a registered dataset) and its loader."""

    name: str = _opt(dataclasses.MISSING, nonempty=True)
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


# --------------------------------------------------------------------------------------------
# Type checking of plain YAML data against the dataclasses
# --------------------------------------------------------------------------------------------
_FLOAT_HINT = (
    "YAML 1.1 reads exponent numbers without a dot or without a sign after the 'e' as "
    "strings; write it as {fixed}"
)


def string_number_message(value: str) -> str | None:
    """The message for a number written as a YAML string (``"2e-4"``), else ``None``."""
    if _number_string(value) is None:
        return None
    text = f"expected a number, got {describe_value(value)}"
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
    """The YAML 1.1 float spelling of a number string: ``2e-4`` -> ``2.0e-4``,
    ``1.0e30`` -> ``1.0e+30`` (YAML 1.1 needs a dot and a signed exponent)."""
    mantissa, _, exponent = value.strip().lower().partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent and exponent[0] not in "+-":
        exponent = "+" + exponent
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


def describe_value(value: Any) -> str:
    """How a YAML value is named in messages (``the string 'x'``, ``a list``, ``int 3``)."""
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


def _convert(hint: Any, value: Any, key: str, errors: list[ConfigError]) -> Any:
    """Check ``value`` against the type ``hint``; return the (converted) value.

    Errors inside mappings are appended to ``errors`` (so all of them are reported);
    a value that is wrong as a whole raises.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:
            return _convert(real[0], value, key, errors)
        for option in real:
            try:
                return _convert(option, value, key, [])
            except ConfigError:
                continue
        raise ConfigError(f"expected {_type_name(hint)}, got {describe_value(value)}", key)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise ConfigError(
                f"{describe_value(value)} is not valid; {did_you_mean(str(value), choices)}", key
            )
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, errors)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"expected a mapping, got {describe_value(value)}", key)
        key_type, value_type = typing.get_args(hint)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"keys must be strings, got {describe_value(k)}", key)
            out[k] = _convert(value_type, v, f"{key}.{k}", errors)
        return out
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"expected a list, got {describe_value(value)}", key)
        (item_type, _ellipsis) = typing.get_args(hint)
        return tuple(_convert(item_type, v, f"{key}.{i}", errors) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {describe_value(value)}", key)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                raise ConfigError(f"expected an integer, got {value!r}; write {int(value)}", key)
            raise ConfigError(f"expected an integer, got {describe_value(value)}", key)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            message = string_number_message(value) if isinstance(value, str) else None
            raise ConfigError(message or f"expected a number, got {describe_value(value)}", key)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {describe_value(value)}", key)
        return value
    raise TypeError(f"unsupported schema type {hint!r} at {key}")  # a bug in the schema


def _check_bounds(f: dataclasses.Field, value: Any, key: str) -> None:
    if f.metadata.get("nonempty") and isinstance(value, str) and not value.strip():
        if f.default is dataclasses.MISSING:
            raise ConfigError("must not be empty", key)
        hint = "leave the key out" + (f" (default: {f.default})" if f.default else "")
        raise ConfigError(f"must not be empty; {hint} or give a value", key)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    lo, hi = f.metadata.get("min"), f.metadata.get("max")
    if lo is not None and value < lo:
        raise ConfigError(f"must be >= {lo}, got {value}", key)
    if hi is not None and value > hi:
        if lo is not None:
            raise ConfigError(f"must be in {lo}..{hi}, got {value}", key)
        raise ConfigError(f"must be <= {hi}, got {value}", key)
    if f.metadata.get("nonzero") and value == 0:
        raise ConfigError(
            "must not be 0 (a positive n trains the discriminator n times per generator step; "
            "a negative n trains the generator |n| times per discriminator step)",
            key,
        )


def _build(cls: type, data: Any, prefix: str, errors: list[ConfigError]) -> Any:
    """A ``cls`` instance from a YAML mapping; problems are appended to ``errors`` (then the
    result is ``None``)."""
    if data is None:
        data = {}
    where = prefix or "the top level"
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping, got {describe_value(data)}", prefix or None)
    before = len(errors)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for k in data:
        if k not in fields:
            key = f"{prefix}.{k}" if prefix else str(k)
            errors.append(
                ConfigError(f"unknown key {k!r} in {where}; {did_you_mean(str(k), fields)}", key)
            )
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                errors.append(ConfigError(f"missing required key {name!r} in {where}", key))
            continue
        try:
            value = _convert(hints[name], data[name], key, errors)
            _check_bounds(f, value, key)
        except ConfigError as e:
            errors.append(e)
            continue
        kwargs[name] = value
    if len(errors) > before:
        return None
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Reading files and overrides
# --------------------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML lets the later
    one win silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConfigError(
                    f"duplicate key {key!r} (lines {first} and {line}); YAML would silently "
                    "keep the later value: remove one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` refusing duplicate keys and input nested too deeply."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise ConfigError(
            "nested too deeply to read (more than a few hundred levels of lists or mappings); "
            "a config needs only a few levels"
        ) from None


def read_text(path: str | os.PathLike) -> str:
    """The text of a config file, read exactly once (so ``<(...)`` and pipes work)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError("is a directory, expected a YAML config file", file=path)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError as e:
        raise ConfigError("config file not found", file=path) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", file=path) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"not a UTF-8 text file ({e.reason})", file=path) from e


def read_yaml(path: str | os.PathLike, text: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; errors name the file and line.

    Args:
        path: The file (named in messages).
        text: Its text when already read (a pipe can be read only once).
    """
    path = os.fspath(path)
    if text is None:
        text = read_text(path)
    try:
        data = _safe_load(text)
    except ConfigError as e:
        raise e.with_context(file=path) from None
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
            f"the config must be a YAML mapping (key: value), got {describe_value(data)}", file=path
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
            value = _safe_load(raw) if raw.strip() else None
        except ConfigError as e:
            raise ConfigError(f"{e.message}", file=f"--set {key}") from None
        except yaml.YAMLError as e:
            raise ConfigError(
                f"value is not valid YAML: {raw!r} (quote strings with ':' or '#' in them)",
                file=f"--set {key}",
            ) from e
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
                if not part.isdigit() or int(part) > len(node):
                    raise ConfigError(
                        f"{part!r} is not an index of this list (0..{len(node) - 1}, or "
                        f"{len(node)} to append)",
                        key=here,
                        file=f"--set {key}",
                    )
                if int(part) == len(node):  # one past the end appends
                    node.append(None if last else {})
                if last:
                    node[int(part)] = value
                else:
                    if node[int(part)] is None:
                        node[int(part)] = [] if parts[i + 1].isdigit() else {}
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:  # a list when the next part is an index
                        node[part] = [] if parts[i + 1].isdigit() else {}
                    node = node[part]
            else:
                raise ConfigError(
                    f"cannot set a key inside {describe_value(node)}",
                    key=here,
                    file=f"--set {key}",
                )
    return data


def config_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Config:
    """Type-check a plain dict (already parsed YAML) into a :class:`Config`.

    Raises:
        ConfigError: The only problem, or :class:`~torchgan_ext.errors.ConfigErrors` listing
            every problem of the file (one line each).
    """
    errors: list[ConfigError] = []
    try:
        config = _build(Config, dict(data), "", errors)
    except ConfigError as e:
        errors.append(e)
        config = None
    except RecursionError:
        errors.append(ConfigError("nested too deeply; a config needs only a few levels"))
        config = None
    raw_models = data.get("models")
    if isinstance(raw_models, dict):
        if not raw_models:
            errors.append(ConfigError("at least one model is needed", key="models"))
        for name, model in raw_models.items():
            if isinstance(model, dict) and model.get("optimizer") is None:
                errors.append(
                    ConfigError(
                        "missing; every model under `models` is trained and needs an optimizer, "
                        "e.g. {name: adam, args: {lr: 2.0e-4}}",
                        key=f"models.{name}.optimizer",
                    )
                )
    if isinstance(data.get("losses"), list) and not data["losses"]:
        errors.append(ConfigError("at least one loss is needed", key="losses"))
    device = data.get("device", "auto")
    if isinstance(device, str):
        try:
            check_device(device)
        except ConfigError as e:
            errors.append(e)
    if errors:
        for e in errors:
            e.with_context(file=source)
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    assert config is not None
    return dataclasses.replace(config, source=source)


_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device(device: str, source: str | None = None) -> str:
    """Check a device string (``auto``, ``cpu``, ``cuda``, ``cuda:N``) without importing torch."""
    if not _DEVICE_RE.match(device):
        raise ConfigError(
            f"unknown device {device!r}; valid: auto, cpu, cuda, cuda:N", key="device", file=source
        )
    return device


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    data: Mapping[str, Any] | None = None,
    text: str | None = None,
) -> Config:
    """Read, override and type-check a config (registry names are checked separately).

    Args:
        path: The YAML file. Either ``path`` or ``data`` is given.
        overrides: ``--set`` items, ``"trainer.epochs=1"``.
        data: An already parsed mapping (used for the embedded quickstart).
        text: The text of ``path`` when already read (a pipe can be read only once).

    Raises:
        ConfigError: One line naming the file, the dotted key and what would be valid.
    """
    source = os.fspath(path) if path is not None else "<embedded quickstart>"
    raw = read_yaml(path, text) if path is not None else _deepcopy(dict(data or {}))
    parsed = parse_overrides(overrides)
    keys = tuple(k for k, _ in parsed)
    apply_overrides(raw, parsed)
    try:
        config = config_from_dict(raw, source)
    except ConfigErrors as e:
        for error in e.errors:
            blame_override(error, keys)
        raise
    except ConfigError as e:
        raise blame_override(e, keys) from e.__cause__
    return dataclasses.replace(config, overrides=keys)


def blame_override(error: ConfigError, overrides: Sequence[str] | Config) -> ConfigError:
    """Point ``error`` at ``--set KEY`` when its key came from an override.

    An error at or below an overridden key names ``--set KEY``; an error at a key above one
    (``models.g.args`` when ``--set models.g.args.size=3`` was given) names the file and the
    override both. Returns ``error``.
    """
    keys = overrides.overrides if isinstance(overrides, Config) else overrides
    if isinstance(error, ConfigErrors):
        for e in error.errors:
            blame_override(e, keys)
        return error
    if not error.key:
        return error
    for key in reversed(keys):  # the last --set of a key wins
        if error.key == key or error.key.startswith(key + "."):
            error.file = f"--set {key}"
            return error
    for key in reversed(keys):
        if key.startswith(error.key + ".") and error.file and "--set" not in error.file:
            error.file = f"{error.file} (with --set {key})"
            return error
    return error


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_deepcopy(v) for v in obj]
    return obj


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
