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
from .arguments import check_arguments, signature_or_none
from .config import Config, blame_override, describe_value
from .errors import ConfigError, TorchganExtError, did_you_mean

__all__ = [
    "DATA_ATTRIBUTES",
    "build",
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
        sig = signature_or_none(factory)
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
