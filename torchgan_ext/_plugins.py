"""Plugin manager: built-in plugins, the ``torchgan_ext`` entry-point group, ``-p`` options.

Plugins are loaded in this order, so a duplicate name always names the earlier registrant:

1. the built-in plugins (:data:`BUILTIN_PLUGINS`),
2. installed entry points of the group :data:`ENTRY_POINT_GROUP` (skipped when the environment
   variable :data:`DISABLE_AUTOLOAD_ENV` is set to a non-empty value other than ``0``),
3. modules named with ``-p MODULE`` on the command line or in the config's ``plugins:`` list.

``-p no:NAME`` blocks a plugin by its name (entry-point name, built-in name, or module name),
exactly as in pytest.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from . import _hookspecs
from ._registry import REGISTRIES, Registry, RegistryView
from .errors import PluginError

__all__ = [
    "ENTRY_POINT_GROUP",
    "DISABLE_AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "load_plugins",
]

ENTRY_POINT_GROUP = "torchgan_ext"
DISABLE_AUTOLOAD_ENV = "TORCHGAN_EXT_DISABLE_PLUGIN_AUTOLOAD"

#: Built-in plugins as ``(name, module)``; blockable with ``-p no:NAME`` like any other.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("torchgan", "torchgan_ext.plugins.torchgan_components"),
    ("builtin", "torchgan_ext.plugins.builtin"),
)

# hook name -> registry it fills
_REGISTER_HOOKS: dict[str, Registry] = {
    f"torchgan_ext_register_{kind}": registry for kind, registry in REGISTRIES.items()
}

_state: dict[str, pluggy.PluginManager | None] = {"pm": None}


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "") not in ("", "0")


def _split_specs(specs: Iterable[str]) -> tuple[list[str], set[str]]:
    modules, blocked = [], set()
    for spec in specs:
        spec = str(spec).strip()
        if spec.startswith("no:"):
            blocked.add(spec[3:])
        elif spec:
            modules.append(spec)
    return modules, blocked


def _import_plugin(module_name: str, origin: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as e:  # any import-time error of third-party code, reported with its cause
        raise PluginError(
            f"plugin {module_name!r} ({origin}) failed to import: {type(e).__name__}: {e}"
        ) from e


def _unmarked_hooks(module: ModuleType) -> list[str]:
    """Functions of ``module`` named like a hook but not marked as one."""
    prefix = f"{_hookspecs.PROJECT_NAME}_"
    return sorted(n for n, v in vars(module).items() if n.startswith(prefix) and callable(v))


def load_plugins(
    plugins: Sequence[str] = (), *, autoload: bool | None = None
) -> pluggy.PluginManager:
    """(Re)load plugins and refill every registry.

    Args:
        plugins: ``-p`` style specs: module names to load and ``"no:NAME"`` to block a plugin.
        autoload: Load entry-point plugins; defaults to on unless :data:`DISABLE_AUTOLOAD_ENV`
            is set.

    Returns:
        The pluggy plugin manager (also kept as the current one).

    Raises:
        PluginError: A plugin failed to import (the original error is chained) or implements
            a hook that does not exist.
        DuplicateComponentError: Two plugins registered the same name.
    """
    modules, blocked = _split_specs(plugins)
    if autoload is None:
        autoload = not _autoload_disabled()

    pm = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
    pm.add_hookspecs(_hookspecs)
    for name in blocked:
        pm.set_blocked(name)

    def register(module: ModuleType, name: str) -> None:
        if pm.is_blocked(name) or pm.is_blocked(module.__name__):
            return
        if pm.is_registered(module):
            return
        try:
            pm.register(module, name=name)
        except pluggy.PluginValidationError as e:
            raise PluginError(f"plugin {name!r} ({module.__name__}) is invalid: {e}") from e

    for name, module_name in BUILTIN_PLUGINS:
        if name not in blocked and module_name not in blocked:
            register(_import_plugin(module_name, f"built-in plugin {name!r}"), name)

    if autoload:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            if ep.name in blocked or ep.value in blocked:
                continue
            dist = getattr(ep, "dist", None)
            dist_name = getattr(dist, "name", None) or "unknown distribution"
            try:
                module = ep.load()
            except Exception as e:  # third-party import error: report it, never hide it
                raise PluginError(
                    f"plugin {ep.name!r} (entry point {ep.value!r} of {dist_name}) failed to "
                    f"import: {type(e).__name__}: {e}"
                ) from e
            if not isinstance(module, ModuleType):
                raise PluginError(
                    f"entry point {ep.name!r} of {dist_name} must name a plugin module, "
                    f"got {ep.value!r}"
                )
            register(module, ep.name)

    for module_name in modules:
        if module_name in blocked:
            continue
        module = _import_plugin(module_name, "-p / plugins:")
        register(module, module_name)
        if pm.is_registered(module) and not pm.get_hookcallers(module):
            unmarked = _unmarked_hooks(module)
            found = (
                f"{', '.join(unmarked)} lack the @torchgan_ext.hookimpl marker"
                if unmarked
                else f"valid hooks: {', '.join(sorted(_REGISTER_HOOKS))}"
            )
            raise PluginError(
                f"module {module_name!r} (-p / plugins:) is not a plugin: it implements no "
                f"hook ({found}); see docs/plugins.md"
            )

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        raise PluginError(
            f"plugin {e.plugin!r} implements a hook that does not exist: {e}; "
            f"valid hooks: {', '.join(sorted(_REGISTER_HOOKS))}"
        ) from e

    _fill_registries(pm)
    _state["pm"] = pm
    return pm


def _fill_registries(pm: pluggy.PluginManager) -> None:
    for registry in REGISTRIES.values():
        registry.clear()
        registry._set_loader(None)
    for hook_name, registry in _REGISTER_HOOKS.items():
        hook = getattr(pm.hook, hook_name)
        # get_hookimpls() is in registration order: built-ins first, then entry points, then -p.
        for impl in hook.get_hookimpls():
            module_name = getattr(impl.plugin, "__name__", impl.plugin_name)
            impl.function(registry=RegistryView(registry, module_name))


def _lazy_default_load() -> None:
    if _state["pm"] is None:
        load_plugins()


for _registry in REGISTRIES.values():
    _registry._set_loader(_lazy_default_load)
