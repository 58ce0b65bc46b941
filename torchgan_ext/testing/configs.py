"""Tiny, fast configs for tests."""

from __future__ import annotations

import copy
import os
from typing import Any

__all__ = ["tiny_config", "set_dotted"]

_TINY: dict[str, Any] = {
    "seed": 0,
    "device": "cpu",
    "data": {
        "name": "digits",
        "args": {"image_size": 16, "channels": 1, "split": "test"},
        "loader": {"batch_size": 16, "num_workers": 0, "shuffle": True, "drop_last": True},
    },
    "models": {
        "generator": {
            "name": "dcgan_generator",
            "args": {"encoding_dims": 8, "step_channels": 4},
            "optimizer": {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.5, 0.999]}},
        },
        "discriminator": {
            "name": "dcgan_discriminator",
            "args": {"step_channels": 4},
            "optimizer": {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.5, 0.999]}},
        },
    },
    "losses": [{"name": "minimax_generator"}, {"name": "minimax_discriminator"}],
    "trainer": {"epochs": 1, "max_steps": 4, "sample_size": 4},
    "logging": {"progress": False, "tensorboard": False},
}


def tiny_config(out_dir: str | os.PathLike, **sections: Any) -> dict[str, Any]:
    """A config dict for a tiny DCGAN on 16x16 digits that trains a few steps in a second.

    Args:
        out_dir: The run directory.
        **sections: Top-level sections to replace (``trainer={...}``); ``None`` deletes one.
    """
    config = copy.deepcopy(_TINY)
    config["out_dir"] = os.fspath(out_dir)
    for key, value in sections.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def set_dotted(config: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set the dotted ``key`` of a plain config dict (list items by number), creating the
    mappings on the way; returns ``config``.

    Example:
        >>> set_dotted({"losses": [{"name": "x"}]}, "losses.0.args.weight", 2.0)
        {'losses': [{'name': 'x', 'args': {'weight': 2.0}}]}
    """
    node: Any = config
    parts = key.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value
    return config
