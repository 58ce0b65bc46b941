"""The duck-typed hooks of torchgan-ext, as ``typing.Protocol`` classes.

Models, losses, metrics and callbacks opt into behaviour of the trainer and the launcher by
defining methods with these names; nothing needs to be imported or subclassed (third-party
plugins stay independent of this project). The protocols are ``runtime_checkable`` so tests and
type checkers can state what a component implements::

    >>> from torchgan_ext.protocols import Validates
    >>> class MyLoss:
    ...     def validate(self, trainer):
    ...         pass
    >>> isinstance(MyLoss(), Validates)
    True

This module imports only the standard library (the launcher's lowest layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - annotations only
    import torch

__all__ = [
    "Validates",
    "LogsScalars",
    "ProvidesTrainingCodes",
    "HasSampleGrid",
    "HasDecisionGrid",
    "HasInputSpec",
    "Stateful",
    "TrainerCallback",
]


@runtime_checkable
class Validates(Protocol):
    """A loss, metric or callback that checks the built run before the first step.

    ``validate(trainer)`` is called once, with the first batch loaded (``trainer.batch``,
    ``real_inputs``, ``labels``) and every model built. It raises ``ValueError`` (or
    ``TypeError``) describing what does not fit; the launcher reports it as a config error
    naming ``losses.<i>`` / ``metrics.<i>`` / ``callbacks.<i>`` (or ``losses.<i>.args.<arg>``
    when the message starts with ``"<arg>: "``). When the fix is an argument of a model or of
    the dataset, it raises :class:`~torchgan_ext.errors.ArgumentMismatchError` naming it, and
    the error names ``models.<name>.args.<arg>`` / ``data.args.<arg>``.
    """

    def validate(self, trainer: Any) -> None: ...


@runtime_checkable
class LogsScalars(Protocol):
    """A loss or callback with extra values for tensorboard (e.g. the terms of a combined
    loss, ADA's probability).

    ``log_scalars()`` returns ``{tag: detached tensor or float}``; it is read only on logging
    steps, so tensors stay on the device until then.
    """

    def log_scalars(self) -> Mapping[str, Any]: ...


@runtime_checkable
class ProvidesTrainingCodes(Protocol):
    """A generator whose losses need per-iteration inputs besides noise (InfoGAN's codes).

    ``training_codes(batch_size, device)`` returns ``{name: tensor}``; the trainer sets each
    as an attribute before every step, so losses can request them by parameter name.
    """

    def training_codes(self, batch_size: int, device: torch.device) -> Mapping[str, Any]: ...


@runtime_checkable
class HasSampleGrid(Protocol):
    """A generator whose input is not just noise (super-resolution, translation).

    ``sample_grid(batch, noise)`` returns ``(images in [-1, 1], images per row)`` for the
    sample grid, from a fixed real ``batch`` on the device and the fixed sampler output. A
    ``sample_grid`` that also has a ``models`` parameter receives the run's models by name
    (EMA copies where kept), for grids that need another model (CycleGAN's cycles).
    """

    def sample_grid(self, batch: Any, noise: Any) -> tuple[torch.Tensor, int]: ...


@runtime_checkable
class HasDecisionGrid(Protocol):
    """A discriminator with a spatial decision (U-Net per-pixel maps), shown beside samples.

    ``decision_grid(images)`` returns ``(images in [-1, 1], images per row)``.
    """

    def decision_grid(self, images: torch.Tensor) -> tuple[torch.Tensor, int]: ...


@runtime_checkable
class HasInputSpec(Protocol):
    """A feature network that says how it wants its images (see
    :class:`torchgan_ext.metrics.features.InputSpec`; a mapping of its fields works too)."""

    input_spec: Any


@runtime_checkable
class Stateful(Protocol):
    """A callback (or loss) whose state is saved in checkpoints and restored by ``--resume``.

    The state holds plain data and tensors only (``torch.load(weights_only=True)``).
    """

    def state_dict(self) -> Mapping[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@runtime_checkable
class TrainerCallback(Protocol):
    """A trainer callback: any subset of the hooks of
    :class:`torchgan_ext.callbacks.Callback`; this protocol names the most common one."""

    def on_train_batch_end(self, trainer: Any) -> None: ...
