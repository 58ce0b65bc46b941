"""The plugin contract: pluggy hook specifications of the ``torchgan_ext`` project.

A plugin is a Python *module* with functions decorated by :data:`torchgan_ext.hookimpl` whose
names are the hooks below. Installed distributions expose plugin modules through the
``torchgan_ext`` entry-point group::

    [options.entry_points]
    torchgan_ext =
        my_plugin = my_package.my_plugin_module

Each ``register`` hook receives a registry handle with one method, ``register(name, obj)``.
Names are lowercase snake_case and unique per registry; a duplicate raises and names the plugin
module that registered the name first. The project's own components are registered by a built-in
plugin through these very hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from ._registry import RegistryView

__all__ = ["hookspec", "hookimpl", "PROJECT_NAME"]

PROJECT_NAME = "torchgan_ext"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def torchgan_ext_register_models(registry: RegistryView) -> None:
    """Register model classes (torchgan ``Generator`` / ``Discriminator`` subclasses).

    The class is built with the ``args`` mapping of the config entry as keyword arguments::

        @hookimpl
        def torchgan_ext_register_models(registry):
            registry.register("my_generator", MyGenerator)
    """


@hookspec
def torchgan_ext_register_losses(registry: RegistryView) -> None:
    """Register loss classes (torchgan ``GeneratorLoss`` / ``DiscriminatorLoss`` subclasses).

    The trainer calls ``loss.train_ops`` with arguments looked up by parameter name on the
    trainer (``generator``, ``discriminator``, ``optimizer_generator``, ``real_inputs``,
    ``labels``, ``batch``, ``device``, ``batch_size``, ``step``, ...).
    """


@hookspec
def torchgan_ext_register_metrics(registry: RegistryView) -> None:
    """Register metric classes (torchgan ``EvaluationMetric`` subclasses)."""


@hookspec
def torchgan_ext_register_datasets(registry: RegistryView) -> None:
    """Register dataset classes or factories (``torch.utils.data.Dataset`` subclasses).

    A dataset yields a tensor, or a tuple ``(inputs, labels, ...)``. It may define the
    attributes ``channels``, ``image_size``, ``num_classes`` and ``attributes`` that models
    can take over from the data (see ``Trainer`` docs, "data-derived arguments").
    """


@hookspec
def torchgan_ext_register_optimizers(registry: RegistryView) -> None:
    """Register optimizer classes (``torch.optim.Optimizer`` subclasses) by name."""


@hookspec
def torchgan_ext_register_schedulers(registry: RegistryView) -> None:
    """Register learning-rate scheduler classes (``torch.optim.lr_scheduler.LRScheduler``)."""


@hookspec
def torchgan_ext_register_callbacks(registry: RegistryView) -> None:
    """Register trainer callbacks (classes; see :class:`torchgan_ext.callbacks.Callback`).

    A callback implements any of ``setup``, ``on_train_start``, ``on_train_epoch_start``,
    ``on_train_batch_start``, ``on_train_batch_end``, ``on_train_epoch_end`` and
    ``on_train_end`` (each takes the trainer), and optionally ``state_dict()`` /
    ``load_state_dict(state)``, saved in every checkpoint under its registered name. It is
    used from YAML as ``callbacks: [{name: my_callback, args: {...}}]``::

        @hookimpl
        def torchgan_ext_register_callbacks(registry):
            registry.register("csv_logger", CSVLogger)
    """
