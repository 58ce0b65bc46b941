"""Reading YAML files (safely, refusing duplicate keys), ``--set`` overrides, writing configs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from ..errors import ConfigError, ConfigErrors
from .checking import config_from_dict, describe_value
from .schema import Config


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML lets the later
    one win silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConfigError(
                    f"duplicate key {key!r} (lines {first} and {line}); YAML would silently "
                    "keep the later value: remove one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _safe_load(text: str) -> Any:
    """``yaml.safe_load`` refusing duplicate keys and input nested too deeply."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise ConfigError(
            "nested too deeply to read (more than a few hundred levels of lists or mappings); "
            "a config needs only a few levels"
        ) from None


def read_text(path: str | os.PathLike) -> str:
    """The text of a config file, read exactly once (so ``<(...)`` and pipes work)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError("is a directory, expected a YAML config file", file=path)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError as e:
        raise ConfigError("config file not found", file=path) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", file=path) from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"not a UTF-8 text file ({e.reason})", file=path) from e


def read_yaml(path: str | os.PathLike, text: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; errors name the file and line.

    Args:
        path: The file (named in messages).
        text: Its text when already read (a pipe can be read only once).
    """
    path = os.fspath(path)
    if text is None:
        text = read_text(path)
    try:
        data = _safe_load(text)
    except ConfigError as e:
        raise e.with_context(file=path) from None
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(
            f"{where}{e.problem}; only plain YAML is allowed (tags such as !!python/object "
            "are refused because they could run code)",
            file=path,
        ) from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"invalid YAML: {where}{problem}", file=path) from e
    if data is None:
        raise ConfigError("the config file is empty; see configs/quickstart.yaml", file=path)
    if not isinstance(data, dict):
        raise ConfigError(
            f"the config must be a YAML mapping (key: value), got {describe_value(data)}", file=path
        )
    return data


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse ``--set KEY=VALUE`` items; values are YAML (``[A,B]``, ``1.0e-4``, ``null``)."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"expected KEY=VALUE with a dotted key, got {item!r} (e.g. --set trainer.epochs=1)",
                file="--set",
            )
        try:
            value = _safe_load(raw) if raw.strip() else None
        except ConfigError as e:
            raise ConfigError(f"{e.message}", file=f"--set {key}") from None
        except yaml.YAMLError as e:
            raise ConfigError(
                f"value is not valid YAML: {raw!r} (quote strings with ':' or '#' in them)",
                file=f"--set {key}",
            ) from e
        out.append((key, value))
    return out


def apply_overrides(data: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys in a plain dict (lists are indexed by number: ``losses.0.args.x``)."""
    for key, value in overrides:
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) > len(node):
                    raise ConfigError(
                        f"{part!r} is not an index of this list (0..{len(node) - 1}, or "
                        f"{len(node)} to append)",
                        key=here,
                        file=f"--set {key}",
                    )
                if int(part) == len(node):  # one past the end appends
                    node.append(None if last else {})
                if last:
                    node[int(part)] = value
                else:
                    if node[int(part)] is None:
                        node[int(part)] = [] if parts[i + 1].isdigit() else {}
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:  # a list when the next part is an index
                        node[part] = [] if parts[i + 1].isdigit() else {}
                    node = node[part]
            else:
                raise ConfigError(
                    f"cannot set a key inside {describe_value(node)}",
                    key=here,
                    file=f"--set {key}",
                )
    return data


def load_config(
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    *,
    data: Mapping[str, Any] | None = None,
    text: str | None = None,
) -> Config:
    """Read, override and type-check a config (registry names are checked separately).

    Args:
        path: The YAML file. Either ``path`` or ``data`` is given.
        overrides: ``--set`` items, ``"trainer.epochs=1"``.
        data: An already parsed mapping (used for the embedded quickstart).
        text: The text of ``path`` when already read (a pipe can be read only once).

    Raises:
        ConfigError: One line naming the file, the dotted key and what would be valid.
    """
    source = os.fspath(path) if path is not None else "<embedded quickstart>"
    raw = read_yaml(path, text) if path is not None else _deepcopy(dict(data or {}))
    parsed = parse_overrides(overrides)
    keys = tuple(k for k, _ in parsed)
    apply_overrides(raw, parsed)
    try:
        config = config_from_dict(raw, source)
    except ConfigErrors as e:
        for error in e.errors:
            blame_override(error, keys)
        raise
    except ConfigError as e:
        raise blame_override(e, keys) from e.__cause__
    return dataclasses.replace(config, overrides=keys)


def blame_override(error: ConfigError, overrides: Sequence[str] | Config) -> ConfigError:
    """Point ``error`` at ``--set KEY`` when its key came from an override.

    An error at or below an overridden key names ``--set KEY``; an error at a key above one
    (``models.g.args`` when ``--set models.g.args.size=3`` was given) names the file and the
    override both. Returns ``error``.
    """
    keys = overrides.overrides if isinstance(overrides, Config) else overrides
    if isinstance(error, ConfigErrors):
        for e in error.errors:
            blame_override(e, keys)
        return error
    if not error.key:
        return error
    for key in reversed(keys):  # the last --set of a key wins
        if error.key == key or error.key.startswith(key + "."):
            error.file = f"--set {key}"
            return error
    for key in reversed(keys):
        if key.startswith(error.key + ".") and error.file and "--set" not in error.file:
            error.file = f"{error.file} (with --set {key})"
            return error
    return error


def _deepcopy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _deepcopy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_deepcopy(v) for v in obj]
    return obj


def config_to_dict(config: Any) -> Any:
    """A plain-YAML dict of a config (dataclasses -> dicts, tuples -> lists)."""
    if dataclasses.is_dataclass(config):
        return {
            f.name: config_to_dict(getattr(config, f.name))
            for f in dataclasses.fields(config)
            if not f.metadata.get("internal")
        }
    if isinstance(config, dict):
        return {k: config_to_dict(v) for k, v in config.items()}
    if isinstance(config, list | tuple):
        return [config_to_dict(v) for v in config]
    return config


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML text (what ``out_dir/config.yaml`` holds)."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=None)
