"""Registry names -> objects: the one function that builds a component of a config entry.

:func:`build` looks a name up in a registry, fills the arguments the dataset provides
(data-derived arguments, metadata of the registry entry), checks the arguments against the
constructor's signature and constructs the object. Every error becomes a one-line
:class:`~torchgan_ext.errors.ConfigError` naming the config key: components raise standard
``ValueError`` / ``TypeError`` / ``FileNotFoundError`` and know nothing of the config; when the
message starts with one of the constructor's argument names (``"root: ..."``), the key names that
argument (``data.args.root``).

Registered components that hold other registered components (a metric's feature extractor, a
loss's content network) declare them as *model arguments* of their registry entry
(``model_args={"extractor": "extractor_args"}``): a registered model name there is built here,
with the arguments of the paired key, and the component receives the ``nn.Module``. A
parameter whose value is a whole ``{name, args}`` entry of another registry (the source
dataset of ``super_resolution``) is a *component argument*
(``component_args={"dataset": "datasets"}``).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._registry import (
    CALLBACKS,
    DATASETS,
    LOSSES,
    METRICS,
    MODELS,
    OPTIMIZERS,
    REGISTRIES,
    SCHEDULERS,
    Registry,
    RegistryEntry,
)
from .config import Config, blame_override, describe_value, string_number_message
from .errors import ConfigError, TorchganExtError, did_you_mean

__all__ = [
    "DATA_ATTRIBUTES",
    "build",
    "check_arguments",
    "component_error",
    "construct",
    "data_derived_arguments",
    "data_info",
    "lookup",
    "validate_names",
]

#: Dataset attributes that models can take over (the values of a registry entry's
#: ``data_args``): ``{"out_size": "image_size"}`` fills ``out_size`` from ``dataset.image_size``.
DATA_ATTRIBUTES = (
    "channels",
    "channels_a",
    "channels_b",
    "image_size",
    "num_classes",
    "attributes",
    "num_attributes",
    "scale",
)


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


def data_derived_arguments(
    entry: RegistryEntry, args: Mapping[str, Any], info: Mapping[str, Any] | Sequence[str]
) -> list[str]:
    """Constructor parameters of ``entry`` that the dataset fills (when not in ``args``)."""
    return [p for p, attr in entry.data_args.items() if p not in args and attr in info]


def lookup(registry: Registry, name: str, key: str) -> RegistryEntry:
    """The registry entry of ``name``; an unknown name names ``key`` and close matches."""
    try:
        return registry.entry(name)
    except ConfigError as e:
        raise e.with_context(key=key) from None


# --------------------------------------------------------------------------------------------
# signatures
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


# --------------------------------------------------------------------------------------------
# construction
# --------------------------------------------------------------------------------------------
def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        text = e.args[0]
    return text.splitlines()[0] if text else type(e).__name__


def component_error(
    e: BaseException, key: str, what: str, names: Sequence[str] = ()
) -> ConfigError:
    """A component's standard exception as a :class:`ConfigError` naming the config key.

    A message that starts with one of ``names`` (the component's arguments) followed by
    ``": "`` or ``".<index>: "`` names that argument: ``"root: not found"`` raised while
    building ``data.args`` becomes ``data.args.root: not found``.
    """
    if isinstance(e, ConfigError):
        return e.with_context(key=key)
    line = _first_line(e)
    head, sep, rest = line.partition(": ")
    if sep and head.split(".")[0] in names and " " not in head:
        return ConfigError(rest, key=f"{key}.{head}")
    return ConfigError(f"building {what} failed: {line}" if what else line, key=key)


def construct(
    factory: Callable[..., Any],
    args: Mapping[str, Any],
    key: str,
    what: str,
    positional: Sequence[Any] = (),
) -> Any:
    """Call ``factory(*positional, **args)``; its errors become a ConfigError naming ``key``."""
    try:
        return factory(*positional, **dict(args))
    except ConfigError as e:
        raise e.with_context(key=key) from e
    except TorchganExtError:
        raise
    except Exception as e:  # third-party constructors raise bare Exception/AssertionError
        sig = _signature(factory)
        names = [*args, *(sig.parameters if sig is not None else ())]
        raise component_error(e, key, what, names) from e


def _model_arguments(entry: RegistryEntry, args: dict[str, Any], key: str) -> dict[str, Any]:
    """Build the registered models named in ``entry.model_args`` (see the module docs)."""
    for arg, args_arg in entry.model_args.items():
        value = args.get(arg)
        if not isinstance(value, str) or value not in MODELS:
            continue
        sub_args = args.pop(args_arg, None) or {}
        args[arg] = build(MODELS, value, sub_args, key=f"{key}.{args_arg}", data={})
    return args


def _component_arguments(entry: RegistryEntry, args: dict[str, Any], key: str) -> dict[str, Any]:
    """Build the ``{name, args}`` entries named in ``entry.component_args`` (module docs)."""
    for arg, kind in entry.component_args.items():
        spec = args.get(arg)
        if not isinstance(spec, Mapping):
            continue
        sub = f"{key}.{arg}"
        if "name" not in spec:
            what = kind[:-1]
            raise ConfigError(
                f"expected {{name: <{what}>, args: {{...}}}}, got {dict(spec)!r}", sub
            )
        extra = sorted(set(spec) - {"name", "args"})
        if extra:
            raise ConfigError(f"unknown keys {extra}; expected name and args", key=sub)
        registry = REGISTRIES[kind]
        if spec["name"] == entry.name and registry.entry(entry.name).obj is entry.obj:
            raise ConfigError(f"a {entry.name} cannot be nested in itself", key=f"{sub}.name")
        nested = spec.get("args") or {}
        if not isinstance(nested, Mapping):
            raise ConfigError(f"expected a mapping, got {describe_value(nested)}", f"{sub}.args")
        args[arg] = build(registry, spec["name"], nested, key=f"{sub}.args")
    return args


def build(
    registry: Registry,
    name: str,
    args: Mapping[str, Any] | None = None,
    *,
    key: str,
    data: Mapping[str, Any] | None = None,
    positional: Sequence[Any] = (),
) -> Any:
    """Build the component ``name`` of ``registry`` with the config ``args``.

    Args:
        registry: The registry (``MODELS``, ``LOSSES``, ...).
        name: The registered name.
        args: The config entry's ``args``.
        key: The dotted config path of ``args`` (``models.generator.args``), for messages;
            an unknown ``name`` is reported at ``<key without .args>.name``.
        data: The dataset's attributes (:func:`data_info`): data-derived arguments missing
            from ``args`` are taken from it.
        positional: Leading positional arguments filled by the caller (an optimizer's
            parameters, a scheduler's optimizer).

    Raises:
        ConfigError: Unknown name, unknown/missing/mistyped argument, or the constructor's
            own error, naming the key.

    Example:
        >>> import torch
        >>> from torchgan_ext import MODELS
        >>> g = build(MODELS, "dcgan_generator", {"step_channels": 8}, key="models.g.args",
        ...           data={"image_size": 16, "channels": 1})
        >>> g(torch.randn(2, 100)).shape
        torch.Size([2, 1, 16, 16])
    """
    base = key[: -len(".args")] if key.endswith(".args") else key
    entry = lookup(registry, name, f"{base}.name")
    full = dict(args or {})
    info = data or {}
    for param in data_derived_arguments(entry, full, info):
        full[param] = info[entry.data_args[param]]
    what = f"{registry.kind[:-1] if registry.kind != 'losses' else 'loss'} {name!r}"
    check_arguments(entry.obj, full, key, what, skip_first=len(positional))
    full = _model_arguments(entry, full, key)
    full = _component_arguments(entry, full, key)
    try:
        return construct(entry.obj, full, key, what, positional)
    except ConfigError as e:
        for arg in entry.model_args:  # a name that is neither built in nor a registered model
            if e.key == f"{key}.{arg}" and isinstance(full.get(arg), str):
                e.message += f"; registered models: {did_you_mean(full[arg], MODELS.list())}"
        raise


# --------------------------------------------------------------------------------------------
# every name and argument of a config, before any dataset exists
# --------------------------------------------------------------------------------------------
def validate_names(config: Config, data_provided: Sequence[str] = ()) -> None:
    """Check every registry name and constructor argument of ``config``.

    Args:
        config: A type-checked config.
        data_provided: Dataset attributes known to exist (default: assume all may exist;
            :func:`build` checks again once the dataset is built).

    Raises:
        ConfigError: Naming the file, the dotted key and the valid names/arguments.
    """
    try:
        data = lookup(DATASETS, config.data.name, "data.name")
        what = f"dataset {config.data.name!r}"
        check_arguments(data.obj, config.data.args, "data.args", what)
        if config.data.val is not None:
            merged = {**config.data.args, **config.data.val.args}
            check_arguments(data.obj, merged, "data.val.args", what)
        for mname, m in config.models.items():
            base = f"models.{mname}"
            model = lookup(MODELS, m.name, f"{base}.name")
            # parameters the dataset may fill are checked again once it is built
            provided = data_derived_arguments(model, m.args, data_provided or DATA_ATTRIBUTES)
            check_arguments(
                model.obj, m.args, f"{base}.args", f"model {m.name!r}", provided=provided
            )
            assert m.optimizer is not None
            opt = lookup(OPTIMIZERS, m.optimizer.name, f"{base}.optimizer.name")
            check_arguments(
                opt.obj,
                m.optimizer.args,
                f"{base}.optimizer.args",
                f"optimizer {m.optimizer.name!r}",
                skip_first=1,
            )
            if m.scheduler is not None:
                sched = lookup(SCHEDULERS, m.scheduler.name, f"{base}.scheduler.name")
                check_arguments(
                    sched.obj,
                    m.scheduler.args,
                    f"{base}.scheduler.args",
                    f"scheduler {m.scheduler.name!r}",
                    skip_first=1,
                )
        for kind, plural, registry, items in (
            ("loss", "losses", LOSSES, config.losses),
            ("metric", "metrics", METRICS, config.metrics),
            ("callback", "callbacks", CALLBACKS, config.callbacks),
        ):
            for i, item in enumerate(items):
                entry = lookup(registry, item.name, f"{plural}.{i}.name")
                check_arguments(entry.obj, item.args, f"{plural}.{i}.args", f"{kind} {item.name!r}")
    except ConfigError as e:
        raise blame_override(e.with_context(file=config.source), config) from None
