"""Name -> component registries (models, losses, metrics, datasets, optimizers, schedulers).

Registries are filled by plugins through the hooks in :mod:`torchgan_ext._hookspecs`; the
project's own components go through the very same path (see :mod:`torchgan_ext.plugins.builtin`).
They are filled lazily: the first lookup loads the default plugins (built-ins plus the
``torchgan_ext`` entry-point group) unless :func:`torchgan_ext.load_plugins` was called before.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    "REGISTRIES",
]

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered component and the plugin module that registered it."""

    name: str
    obj: Any
    registered_by: str


class Registry:
    """A mapping of lowercase snake_case names to components.

    Args:
        kind: Plural noun shown in messages and accepted by ``torchgan-run --list`` (``"models"``).

    Example:
        >>> from torchgan_ext import MODELS
        >>> generator_cls = MODELS.get("dcgan_generator")
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = {}
        self._loader: Callable[[], None] | None = None

    # -- filling ---------------------------------------------------------------------------
    def register(self, name: str, obj: Any, *, registered_by: str = "<python>") -> Any:
        """Register ``obj`` under ``name``.

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
        self._entries[name] = RegistryEntry(name, obj, registered_by)
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

    def register(self, name: str, obj: Any) -> Any:
        """Register ``obj`` under ``name`` (returns ``obj`` so it can be used as a decorator)."""
        return self._registry.register(name, obj, registered_by=self.registered_by)

    def __contains__(self, name: object) -> bool:
        return name in self._registry._entries


MODELS = Registry("models")
LOSSES = Registry("losses")
METRICS = Registry("metrics")
DATASETS = Registry("datasets")
OPTIMIZERS = Registry("optimizers")
SCHEDULERS = Registry("schedulers")

#: Every registry by the kind name used on the command line (``--list KIND``).
REGISTRIES: dict[str, Registry] = {
    r.kind: r for r in (MODELS, LOSSES, METRICS, DATASETS, OPTIMIZERS, SCHEDULERS)
}
