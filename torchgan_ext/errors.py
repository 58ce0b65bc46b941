"""Exception hierarchy of torchgan-ext.

Every error a user can cause with a config file, a command line flag or a plugin derives from
:class:`TorchganExtError`. The command line maps :class:`ConfigError` (and its subclasses) to exit
code 2 with a one-line message; anything else raised during training maps to exit code 1.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._validation import close_matches

__all__ = [
    "TorchganExtError",
    "ConfigError",
    "ConfigErrors",
    "ArgumentMismatchError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginError",
    "CheckpointError",
    "DataError",
    "MissingWeightsError",
    "NonFiniteLossError",
    "did_you_mean",
]


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a short ``"did you mean ..."`` hint or the list of valid choices.

    Args:
        name: The unknown value the user wrote.
        choices: The valid values.
        n: Maximum number of close matches to show.

    Returns:
        ``"did you mean 'x'?"`` when there are close matches, else ``"valid: a, b, c"``.
    """
    return close_matches(name, choices, n, empty="nothing is registered")


class TorchganExtError(Exception):
    """Base class of every error raised on purpose by torchgan-ext."""


class ConfigError(TorchganExtError, ValueError):
    """A configuration value is wrong. Exit code 2.

    Args:
        message: What is wrong and what would be valid.
        key: The dotted path of the offending key (``models.generator.args.out_size``).
        file: The config file (or ``--set`` / ``--device``) the value came from.
    """

    def __init__(self, message: str, key: str | None = None, file: str | None = None):
        self.message = message
        self.key = key
        self.file = file
        super().__init__(message)

    def with_context(self, key: str | None = None, file: str | None = None) -> ConfigError:
        """Fill in the key/file if they are still unknown; returns ``self`` for chaining."""
        if self.key is None and key is not None:
            self.key = key
        if self.file is None and file is not None:
            self.file = file
        return self

    def __str__(self) -> str:
        key = None if self.file == f"--set {self.key}" else self.key  # named once
        parts = [p for p in (self.file, key) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigErrors(ConfigError):
    """Several configuration errors of one file, reported together (one line each).

    ``key`` and ``file`` are those of the first error; ``errors`` holds them all.
    """

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, key=first.key, file=first.file)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class ArgumentMismatchError(TorchganExtError, ValueError):
    """A component's check found that an argument of *another* part of the run must change:
    a model's (``model`` is its name in the run, e.g. ``generator``) or the dataset's
    (``model`` is ``None``). Raised by ``validate(trainer)`` hooks, e.g. when a model's size
    disagrees with ``progressive_growing``; the launcher reports it as a config error naming
    ``models.<model>.args.<argument>`` / ``data.args.<argument>`` instead of the component.

    Args:
        message: What is wrong and what would be valid.
        argument: The argument to change (``out_size``).
        model: The model's name in the run, or ``None`` for the dataset.
    """

    def __init__(self, message: str, argument: str, model: str | None = None) -> None:
        self.argument = argument
        self.model = model
        super().__init__(message)


class UnknownComponentError(ConfigError, KeyError):
    """A registry name is not registered (the message lists close matches)."""

    __str__ = ConfigError.__str__


class DuplicateComponentError(TorchganExtError):
    """Two plugins registered the same name in one registry."""


class PluginError(ConfigError):
    """A plugin could not be imported, is blocked wrongly or does not follow the hook specs."""


class CheckpointError(TorchganExtError):
    """A checkpoint cannot be read or written (names the file)."""


class DataError(ConfigError):
    """A dataset directory or file is missing or malformed (names the file)."""


class MissingWeightsError(ConfigError):
    """Pretrained weights are not on disk; the message names the file and where to put it."""


class NonFiniteLossError(TorchganExtError):
    """A loss became NaN or infinite; the message names the loss and the step."""
