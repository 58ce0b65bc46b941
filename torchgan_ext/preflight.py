"""Every check of a built run before its first step (launcher side).

A mistake in the config fails here within seconds with a one-line
:class:`~torchgan_ext.errors.ConfigError`, not after an hour of training: the components' own
``validate(trainer)`` checks (see :class:`torchgan_ext.protocols.Validates`), and a dry forward
pass that compares the generator's output shape with the data and feeds a real batch to the
discriminator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torchgan.models import Discriminator, Generator

from .build import component_error
from .config import Config
from .errors import ArgumentMismatchError, ConfigError

__all__ = [
    "compile_checks",
    "dry_check",
    "preflight",
    "validate_components",
]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def validate_components(
    components: Sequence[Any], section: str, trainer: Any, prefix: str | None = None
) -> None:
    """Run each component's optional ``validate(trainer)``; errors name ``section.<i>``
    (``section.<i>.args.<arg>`` for a message that starts with ``"<arg>: "``), or the model /
    data argument an :class:`~torchgan_ext.errors.ArgumentMismatchError` names.

    Args:
        components: Losses, metrics or callbacks, in config order (``None`` is skipped).
        section: ``"losses"``, ``"metrics"`` or ``"callbacks"``.
        trainer: The built trainer (holding the first batch).
        prefix: Put before the component's message (``"cannot train these models"``).
    """
    for i, component in enumerate(components):
        validate = getattr(component, "validate", None)
        if not callable(validate):
            continue
        try:
            validate(trainer)
        except ConfigError as e:
            raise e.with_context(key=f"{section}.{i}") from e
        except ArgumentMismatchError as e:  # another part's argument: name that key
            owner = "data" if e.model is None else f"models.{e.model}"
            message = f"{prefix}: {_first_line(e)}" if prefix else _first_line(e)
            raise ConfigError(message, key=f"{owner}.args.{e.argument}") from e
        except (ValueError, TypeError, OSError) as e:
            error = component_error(e, f"{section}.{i}.args", "", _arg_names(component))
            if error.key == f"{section}.{i}.args":
                error.key = f"{section}.{i}"
            if prefix:
                error.message = f"{prefix}: {error.message}"
            raise error from e


def _arg_names(component: Any) -> list[str]:
    import inspect

    try:
        return list(inspect.signature(type(component)).parameters)
    except (TypeError, ValueError):
        return []


def _generator_check(model: nn.Module, device: torch.device) -> Callable[[nn.Module], Any]:
    def check(m: nn.Module) -> Any:
        with torch.no_grad():
            return m(*m.sampler(2, device))

    return check


def _discriminator_check(real: torch.Tensor) -> Callable[[nn.Module], Any]:
    def check(m: nn.Module) -> Any:
        with torch.no_grad():
            return m(real[:2])

    return check


def _judged_images(trainer: Any, model: nn.Module) -> Any:
    """The images a discriminator judges: the batch's first element, or its second for one
    with ``judges == "b"`` (translation discriminators of the target domain)."""
    second = getattr(trainer, "labels", None)
    if getattr(model, "judges", None) == "b" and isinstance(second, torch.Tensor):
        return second
    return trainer.real_inputs


def _checks(trainer: Any) -> dict[str, tuple[str, Callable[[nn.Module], Any]]]:
    """``{model name: (kind, test forward)}`` for the models a dry forward can test."""
    checks: dict[str, tuple[str, Callable[[nn.Module], Any]]] = {}
    for name in trainer.model_names:
        model = getattr(trainer, name)
        images = _judged_images(trainer, model)
        if isinstance(model, Generator) and not hasattr(model, "sample_grid"):
            checks[name] = ("generator", _generator_check(model, trainer.device))
        elif (
            isinstance(model, Discriminator)
            and isinstance(images, torch.Tensor)
            and images.dim() == 4
            and getattr(model, "label_type", "none") == "none"
        ):
            checks[name] = ("discriminator", _discriminator_check(images))
    return checks


def compile_checks(trainer: Any) -> dict[str, Callable[[nn.Module], Any]]:
    """Test forward passes that trigger compilation before training (fallback on failure)."""
    return {name: check for name, (_, check) in _checks(trainer).items()}


def dry_check(trainer: Any, config: Config) -> None:
    """Forward a tiny batch through the models to catch impossible shapes before training.

    The generator's output is compared with the real images' shape; the discriminator must
    accept a real batch. Models with their own input format (``sample_grid``) skip the check.
    """
    real = trainer.real_inputs
    if not isinstance(real, torch.Tensor) or real.dim() != 4:
        return
    for name, (kind, check) in _checks(trainer).items():
        model = getattr(trainer, name)
        key = f"models.{name}.args"
        was_training = model.training
        model.eval()
        try:
            try:
                out = check(model)
            except Exception as e:  # user-chosen shapes: report with the key
                if kind == "generator":
                    message = f"a test forward pass of {config.models[name].name!r} failed"
                else:
                    shape = tuple(_judged_images(trainer, model).shape[1:])
                    message = f"the discriminator cannot take the dataset's images of shape {shape}"
                raise ConfigError(f"{message}: {_first_line(e)}", key=key) from e
            if kind == "generator" and isinstance(out, torch.Tensor):
                if out.shape[1:] != real.shape[1:]:
                    raise ConfigError(
                        f"the generator makes images of shape {tuple(out.shape[1:])} but "
                        f"dataset {config.data.name!r} yields {tuple(real.shape[1:])}; make "
                        "the generator's size/channels match data.args (or leave them out "
                        "to take them from the dataset)",
                        key=key,
                    )
        finally:
            model.train(was_training)


def preflight(trainer: Any, config: Config) -> None:
    """All checks of a built trainer that holds its first batch (``trainer.set_batch``):
    the metrics', losses' and listed callbacks' ``validate`` hooks and the dry forward pass.

    Raises:
        ConfigError: The first problem, naming its config key.
    """
    metrics = list(trainer.metrics.values()) if trainer.metrics else []
    validate_components(metrics, "metrics", trainer)
    losses = list(trainer.losses.values())
    validate_components(losses, "losses", trainer, "cannot train these models")
    # the callbacks of callbacks: in config order (a built-in listed there keeps its slot)
    listed = [trainer.callbacks.get(item.name) for item in config.callbacks]
    validate_components(listed, "callbacks", trainer)
    dry_check(trainer, config)
