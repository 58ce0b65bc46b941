"""Type checking of parsed YAML against the schema, every error of a file collected at once."""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

from ..errors import ConfigError, ConfigErrors, did_you_mean
from .schema import Config

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
