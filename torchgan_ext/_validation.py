"""Argument checks shared by the components (standard library only).

Components raise standard exceptions whose message starts with the constructor argument it is
about (``"split: unknown split 'tran'; did you mean 'train'?"``; a nested element uses a dotted
path relative to the argument: ``"photos.2: ..."``). They never know the config: the launcher
turns such an error into a config error naming ``data.args.split``.

Conventions: :class:`TypeError` for a value of the wrong type, :class:`ValueError` for a bad
value (unknown names included, with the close matches inline), :class:`FileNotFoundError` for a
missing file, directory or weights file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "close_matches",
    "check_int",
    "check_positive_int",
    "check_number",
    "check_choice",
    "check_bool",
]


def close_matches(
    name: Any, choices: Iterable[Any], n: int = 3, empty: str = "there is nothing to choose from"
) -> str:
    """A short ``"did you mean 'x'?"`` hint, or the list of valid choices.

    Args:
        name: The unknown value.
        choices: The valid values.
        n: Maximum number of close matches to show.
        empty: What to say when there are no choices at all.

    Returns:
        ``"did you mean 'x'?"`` when there are close matches, else ``"valid: a, b, c"``.
    """
    choices = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(name), choices, n=n, cutoff=0.6)
    key = str(name).lower()
    if not close and len(key) >= 3:  # an abbreviation: 'tiny' -> 'tiny_feature_extractor'
        close = [c for c in choices if key in c.lower()][:n]
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if not choices:
        return empty
    shown = ", ".join(choices[:25])
    more = f" (and {len(choices) - 25} more)" if len(choices) > 25 else ""
    return f"valid: {shown}{more}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(value: Any, arg: str, minimum: int = 0) -> int:
    """``value`` must be an integer ``>= minimum``.

    Raises:
        TypeError: Not an integer (``bool`` included).
        ValueError: Smaller than ``minimum``.
    """
    if not _is_int(value):
        raise TypeError(f"{arg}: must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{arg}: must be an integer >= {minimum}, got {value!r}")
    return value


def check_positive_int(value: Any, arg: str) -> int:
    """``value`` must be an integer ``>= 1``.

    Raises:
        TypeError: Not an integer (``bool`` included).
        ValueError: Zero or negative.
    """
    if not _is_int(value):
        raise TypeError(f"{arg}: must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{arg}: must be a positive integer, got {value!r}")
    return value


def check_number(value: Any, arg: str, minimum: float = 0.0) -> float:
    """``value`` must be a real number (int or float, not bool) ``>= minimum``.

    Raises:
        TypeError: Not a number.
        ValueError: Smaller than ``minimum`` (or NaN).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{arg}: must be a number >= {minimum:g}, got {value!r}")
    if not value >= minimum:  # NaN fails too
        raise ValueError(f"{arg}: must be a number >= {minimum:g}, got {value!r}")
    return value


def check_choice(value: Any, arg: str, choices: Iterable[Any], what: str = "value") -> Any:
    """``value`` must be one of ``choices``; the message lists the close matches.

    Args:
        value: The given value.
        arg: The argument name (message prefix).
        choices: The valid values.
        what: What a value is called in the message (``"unknown split 'tran'"``).

    Raises:
        ValueError: ``value`` is not one of ``choices``.
    """
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set-like
        ok = False
    if not ok:
        raise ValueError(f"{arg}: unknown {what} {value!r}; {close_matches(value, choices)}")
    return value


def check_bool(value: Any, arg: str) -> bool:
    """``value`` must be ``True`` or ``False``.

    Raises:
        TypeError: Anything else.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{arg}: expected true or false, got {value!r}")
    return value
