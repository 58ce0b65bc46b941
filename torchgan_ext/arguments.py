"""Checks of a config entry's ``args`` against the signature of the component they build.

:func:`check_arguments` reports, as one-line :class:`~torchgan_ext.errors.ConfigError` naming the
config key: unknown arguments (with a did-you-mean), missing required ones, values of the wrong
scalar type (with the YAML ``2e-4`` hint), lists of the wrong length where the default is a tuple
of numbers (``betas``), and the value ranges of the torch optimizers and schedulers the built-in
plugin registers. Used by :func:`torchgan_ext.build.build` before anything is constructed.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from .config import describe_value, string_number_message
from .errors import ConfigError, did_you_mean

__all__ = ["check_arguments", "signature_or_none"]


# --------------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------------
def signature_or_none(obj: Any) -> inspect.Signature | None:
    """The signature of ``obj``, or None where Python cannot tell it (some builtins)."""
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


def _check_sequence(param: inspect.Parameter, value: Any, key: str) -> None:
    """A parameter whose default is a tuple of numbers (``betas=(0.9, 0.999)``) takes a list of
    as many numbers."""
    default = param.default
    if not isinstance(default, tuple) or not default or value is None:
        return
    if not all(isinstance(d, int | float) and not isinstance(d, bool) for d in default):
        return
    n = len(default)
    example = "[" + ", ".join(repr(d) for d in default) + "]"
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"expected a list of {n} numbers like {example}, got {describe_value(value)}", key
        )
    if len(value) != n:
        raise ConfigError(
            f"expected a list of {n} numbers like {example}, got {len(value)}: {list(value)!r}",
            key,
        )
    for i, v in enumerate(value):
        if isinstance(v, str) and string_number_message(v):
            raise ConfigError(string_number_message(v) or "", f"{key}.{i}")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"expected a number, got {describe_value(v)}", f"{key}.{i}")


# Value ranges of the torch optimizers and schedulers the built-in plugin registers: torch
# checks some of them with raw messages ("list index out of range") and others not at all
# (a step_size of 0 divides by zero at the first scheduler step, mid-run).
# {qualified class name: {argument: (check, what is valid)}}
def _unit_interval(v: Any) -> bool:
    return 0.0 <= v < 1.0


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


_RANGE_TEXT = {
    _unit_interval: "a number in [0, 1)",
    _positive: "a number > 0",
    _non_negative: "a number >= 0",
    _positive_int: "an integer >= 1 (a period of 0 would divide by zero)",
}
_ADAM = {"eps": _non_negative, "weight_decay": _non_negative, "betas": _unit_interval}
_ARGUMENT_RANGES: dict[str, dict[str, Any]] = {
    "torch.optim.adam.Adam": _ADAM,
    "torch.optim.adamw.AdamW": _ADAM,
    "torch.optim.sgd.SGD": {"momentum": _non_negative, "weight_decay": _non_negative},
    "torch.optim.rmsprop.RMSprop": {
        "alpha": _non_negative,
        "eps": _non_negative,
        "momentum": _non_negative,
        "weight_decay": _non_negative,
    },
    "torch.optim.lr_scheduler.StepLR": {"step_size": _positive_int, "gamma": _positive},
    "torch.optim.lr_scheduler.MultiStepLR": {"milestones": _positive_int, "gamma": _positive},
    "torch.optim.lr_scheduler.ExponentialLR": {"gamma": _positive},
    "torch.optim.lr_scheduler.CosineAnnealingLR": {
        "T_max": _positive_int,
        "eta_min": _non_negative,
    },
}


def _check_ranges(obj: Any, args: Mapping[str, Any], key: str) -> None:
    """The value ranges of :data:`_ARGUMENT_RANGES` (elements of lists are checked each)."""
    rules = _ARGUMENT_RANGES.get(
        f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    )
    if not rules:
        return
    for name, check in rules.items():
        if name not in args or args[name] is None:
            continue
        value = args[name]
        items = list(enumerate(value)) if isinstance(value, list | tuple) else [(None, value)]
        if check is _positive_int and name == "milestones" and not isinstance(value, list | tuple):
            raise ConfigError(
                f"expected a list of step (or epoch) numbers like [30, 80], got "
                f"{describe_value(value)}",
                f"{key}.{name}",
            )
        for i, v in items:
            where = f"{key}.{name}" if i is None else f"{key}.{name}.{i}"
            if isinstance(v, bool) or not isinstance(v, int | float):
                if check is _positive_int:
                    raise ConfigError(
                        f"expected {_RANGE_TEXT[check]}, got {describe_value(v)}", where
                    )
                continue  # the type checks report it
            if not check(v):
                raise ConfigError(f"must be {_RANGE_TEXT[check]}, got {v!r}", where)


def _check_scalar(kind: type | None, value: Any, key: str) -> None:
    if kind is None or value is None:
        return
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {describe_value(value)}", key)
    elif kind in (int, float):
        if isinstance(value, str):
            message = string_number_message(value)
            if message is not None:
                raise ConfigError(message, key)
        if isinstance(value, bool) or (
            not isinstance(value, int | float) and not isinstance(value, list | tuple)
        ):
            raise ConfigError(f"expected a number, got {describe_value(value)}", key)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"expected an integer, got {value!r}", key)


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
    sig = signature_or_none(obj)
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
        _check_scalar(_param_kind(by_name[name], hints), value, f"{key}.{name}")
        _check_sequence(by_name[name], value, f"{key}.{name}")
    _check_ranges(obj, args, key)
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
