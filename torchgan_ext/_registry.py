"""Name -> component registries (models, losses, metrics, datasets, optimizers, schedulers,
callbacks).

Registries are filled by plugins through the hooks in :mod:`torchgan_ext._hookspecs`; the
project's own components go through the very same path (see :mod:`torchgan_ext.plugins.builtin`).
They are filled lazily: the first lookup loads the default plugins (built-ins plus the
``torchgan_ext`` entry-point group) unless :func:`torchgan_ext.load_plugins` was called before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DuplicateComponentError, UnknownComponentError, did_you_mean

__all__ = [
    "Registry",
    "RegistryEntry",
    "MODELS",
    "LOSSES",
    "METRICS",
    "DATASETS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "CALLBACKS",
    "REGISTRIES",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered component, the plugin module that registered it, and how to build it.

    Attributes:
        name: The registered name.
        obj: The class or factory.
        registered_by: The plugin module.
        data_args: Constructor parameters the dataset fills when the config leaves them out,
            as ``{parameter: dataset attribute}`` (``{"out_size": "image_size"}``).
        model_args: Parameters that may name a registered model, built by the launcher and
            passed as an ``nn.Module``, as ``{parameter: parameter holding its arguments}``
            (``{"extractor": "extractor_args"}``).
        component_args: Parameters whose config value is a ``{name, args}`` entry of another
            registry, built by the launcher and passed as the object, as
            ``{parameter: registry kind}`` (``{"dataset": "datasets"}``).
    """

    name: str
    obj: Any
    registered_by: str
    data_args: Mapping[str, str] = field(default_factory=dict)
    model_args: Mapping[str, str] = field(default_factory=dict)
    component_args: Mapping[str, str] = field(default_factory=dict)


class Registry:
    """A mapping of lowercase snake_case names to components.

    Args:
        kind: Plural noun shown in messages and accepted by ``torchgan-run --list`` (``"models"``).

    Example:
        >>> from torchgan_ext import MODELS
        >>> generator_cls = MODELS.get("dcgan_generator")
        >>> generator_cls.__name__
        'DCGANGenerator'
        >>> "dcgan_generator" in MODELS
        True
        >>> MODELS.get("dcgan_generater")
        Traceback (most recent call last):
            ...
        torchgan_ext.errors.UnknownComponentError: ...did you mean 'dcgan_generator'...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = {}
        self._loader: Callable[[], None] | None = None

    # -- filling ---------------------------------------------------------------------------
    def register(
        self,
        name: str,
        obj: Any,
        *,
        registered_by: str = "<python>",
        data_args: Mapping[str, str] | None = None,
        model_args: Mapping[str, str] | None = None,
        component_args: Mapping[str, str] | None = None,
    ) -> Any:
        """Register ``obj`` under ``name``.

        Args:
            name: Lowercase snake_case name.
            obj: The class or factory.
            registered_by: The plugin module (for duplicate messages).
            data_args: See :class:`RegistryEntry`; default: the ``data_arguments`` attribute
                of ``obj`` when it has one.
            model_args: See :class:`RegistryEntry`.
            component_args: See :class:`RegistryEntry`.

        Raises:
            ValueError: If ``name`` is not lowercase snake_case.
            DuplicateComponentError: If ``name`` is taken; the message names both registrants.
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"{self.kind} name {name!r} (from {registered_by}) must be lowercase snake_case"
            )
        if name in self._entries:
            first = self._entries[name].registered_by
            raise DuplicateComponentError(
                f"{self.kind[:-1]} {name!r} is registered twice: first by {first}, "
                f"again by {registered_by}"
            )
        if data_args is None:
            data_args = getattr(obj, "data_arguments", None) or {}
        self._entries[name] = RegistryEntry(
            name,
            obj,
            registered_by,
            dict(data_args),
            dict(model_args or {}),
            dict(component_args or {}),
        )
        return obj

    def clear(self) -> None:
        """Forget every entry (used when plugins are reloaded)."""
        self._entries.clear()

    def _set_loader(self, loader: Callable[[], None] | None) -> None:
        self._loader = loader

    def _ensure_loaded(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    # -- lookup ----------------------------------------------------------------------------
    def get(self, name: str) -> Any:
        """Return the component registered under ``name``.

        Raises:
            UnknownComponentError: With close matches or the list of valid names.
        """
        return self.entry(name).obj

    def entry(self, name: str) -> RegistryEntry:
        """Return the :class:`RegistryEntry` (component and registrant) of ``name``."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except (KeyError, TypeError) as e:
            raise UnknownComponentError(
                f"unknown {self.kind[:-1]} {name!r}; {did_you_mean(name, self._entries)}"
            ) from e

    def list(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by an ``fnmatch`` pattern (``"*gan*"``)."""
        self._ensure_loaded()
        names = sorted(self._entries)
        return fnmatch.filter(names, pattern) if pattern else names

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


class RegistryView:
    """What a hook implementation receives: ``register(name, obj)`` bound to its plugin.

    Plugins never see the registry itself, so every entry records which plugin module made it
    and duplicates can name both.
    """

    def __init__(self, registry: Registry, registered_by: str) -> None:
        self._registry = registry
        self.registered_by = registered_by
        self.kind = registry.kind

    def register(
        self,
        name: str,
        obj: Any,
        *,
        data_args: Mapping[str, str] | None = None,
        model_args: Mapping[str, str] | None = None,
        component_args: Mapping[str, str] | None = None,
    ) -> Any:
        """Register ``obj`` under ``name`` (returns ``obj``); see :meth:`Registry.register`."""
        return self._registry.register(
            name,
            obj,
            registered_by=self.registered_by,
            data_args=data_args,
            model_args=model_args,
            component_args=component_args,
        )

    def __contains__(self, name: object) -> bool:
        return name in self._registry._entries


MODELS = Registry("models")
LOSSES = Registry("losses")
METRICS = Registry("metrics")
DATASETS = Registry("datasets")
OPTIMIZERS = Registry("optimizers")
SCHEDULERS = Registry("schedulers")
CALLBACKS = Registry("callbacks")

#: Every registry by the kind name used on the command line (``--list KIND``).
REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (MODELS, LOSSES, METRICS, DATASETS, OPTIMIZERS, SCHEDULERS, CALLBACKS)
}
