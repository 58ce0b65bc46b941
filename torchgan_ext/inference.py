"""Load a trained run for inference: :func:`load_run` (launcher side).

A run directory holds everything needed to rebuild its models without the training data:
``config.yaml`` is the *resolved* config (the data-derived model arguments such as
``channels``, ``num_classes`` or ``scale`` are written into ``models.<name>.args`` when the run
starts), and ``checkpoints/ckpt-<step>.pt`` hold the weights as plain state dicts (read with
``torch.load(weights_only=True)``), the EMA averages under ``callbacks.ema``::

    from torchgan_ext import load_run

    run = load_run("runs/sagan_digits", device="cpu")   # newest checkpoint, EMA generator
    images = run.generator(*run.generator.sampler(16, run.device))

The models are built through the registries (:func:`torchgan_ext.build.build`, so a plugin's
model loads like a built-in one), loaded, put in eval mode and frozen (``requires_grad``
off).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._plugins import load_plugins
from ._registry import MODELS
from .build import build
from .config import Config, load_config
from .errors import CheckpointError, ConfigError
from .trainer.batch import resolve_device
from .trainer.checkpoint import check_checkpoint, list_checkpoints, load_checkpoint

__all__ = ["LoadedRun", "load_run", "find_run_checkpoint"]


@dataclass
class LoadedRun:
    """What :func:`load_run` returns: the built models of a run, ready for inference.

    Attributes:
        models: The models by their config name (``generator``, ``discriminator``, ...), on
            ``device``, in eval mode, with ``requires_grad`` off.
        weights: For every model, ``"ema"`` (the run's exponential moving average) or
            ``"raw"`` (the trained weights).
        config: The run's resolved config (``config.yaml``).
        checkpoint: The checkpoint file loaded.
        step: The training step of the checkpoint.
        epoch: The epoch of the checkpoint.
        device: Where the models are.
    """

    models: dict[str, nn.Module]
    weights: dict[str, str]
    config: Config
    checkpoint: Path
    step: int
    epoch: int
    device: torch.device
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def generator(self) -> nn.Module:
        """The model named ``generator`` (the one sampling and metrics use)."""
        if "generator" not in self.models:
            raise KeyError(
                f"the run has no model named 'generator' (it has: {', '.join(self.models)})"
            )
        return self.models["generator"]

    def __getitem__(self, name: str) -> nn.Module:
        return self.models[name]


def find_run_checkpoint(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(config.yaml, checkpoint)`` of a run directory (newest checkpoint) or of a
    checkpoint file inside ``<run>/checkpoints/``.

    Raises:
        ConfigError: The path does not exist, holds no checkpoint or no ``config.yaml``.
    """
    path = Path(path)
    if path.is_dir():
        checkpoints = list_checkpoints(path / "checkpoints")
        if not checkpoints:
            raise ConfigError(
                f"no checkpoint in {path / 'checkpoints'}; train the run first, or give a "
                "checkpoint file"
            )
        return path / "config.yaml", checkpoints[-1]
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist; give a run directory (out_dir) or a checkpoint file"
        )
    return path.parent.parent / "config.yaml", path


def _ema_weights(state: Mapping[str, Any]) -> Mapping[str, Any]:
    callbacks = state.get("callbacks") or {}
    ema = callbacks.get("ema") if isinstance(callbacks, Mapping) else None
    if ema is None:
        ema = state.get("ema")  # checkpoints written before callbacks
    return ema if isinstance(ema, Mapping) else {}


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    try:
        return check_checkpoint(load_checkpoint(path, map_location=device), path)
    except CheckpointError as e:
        raise ConfigError(str(e)) from e


def _names_known(config: Config) -> bool:
    return all(m.name in MODELS for m in config.models.values())


def load_run(
    path: str | os.PathLike,
    *,
    device: str | torch.device | None = None,
    ema: bool = True,
    models: Sequence[str] | None = None,
    config: str | os.PathLike | Config | None = None,
) -> LoadedRun:
    """Build the models of a trained run and load their weights, ready for inference.

    Args:
        path: A run directory (``out_dir``: its newest readable checkpoint is used) or a
            checkpoint file (``out_dir/checkpoints/ckpt-<step>.pt``).
        device: Where the models go (default: ``cuda`` when available, else ``cpu``).
        ema: Load the EMA weights of every model the run averaged (the generator of a run
            with ``trainer.ema``); ``False``: the raw trained weights. Models without an
            average always get their trained weights (see :attr:`LoadedRun.weights`).
        models: Names of the models to build (default all, e.g. ``["generator"]``).
        config: The run's config (default ``config.yaml`` of the run directory, which holds
            the resolved model arguments); give it for a checkpoint moved out of its run.

    Returns:
        A :class:`LoadedRun`; ``run.generator`` is the generator in eval mode.

    Raises:
        ConfigError: No checkpoint or config, a model name not in the run, or weights that do
            not fit the models (one line naming the file).

    Example:
        >>> run = load_run("runs/quickstart", device="cpu")  # doctest: +SKIP
        >>> z = run.generator.sampler(8, run.device)  # doctest: +SKIP
        >>> images = run.generator(*z)  # [8, C, H, W] in [-1, 1]  # doctest: +SKIP
    """
    if config is None:
        config_path, ckpt_path = find_run_checkpoint(path)
        if not config_path.is_file():
            raise ConfigError(
                f"no config.yaml at {config_path} (the run directory's resolved config); pass "
                "config= the run's config.yaml"
            )
        config = config_path
    else:
        ckpt_path = find_run_checkpoint(path)[1]
    cfg = config if isinstance(config, Config) else load_config(config)
    if not _names_known(cfg) and cfg.plugins:
        load_plugins(cfg.plugins)  # the run's plugins: (entry points load by themselves)
    names = list(cfg.models) if models is None else list(models)
    unknown = [n for n in names if n not in cfg.models]
    if unknown:
        raise ConfigError(
            f"the run has no model {unknown[0]!r}; its models: {', '.join(cfg.models)}",
            file=cfg.source,
        )
    dev = resolve_device(device)
    state = _read_checkpoint(ckpt_path, dev)
    averages = _ema_weights(state) if ema else {}
    built: dict[str, nn.Module] = {}
    weights: dict[str, str] = {}
    for name in names:
        m = cfg.models[name]
        # the resolved config holds the data-derived arguments: no dataset is built
        try:
            model = build(MODELS, m.name, m.args, key=f"models.{name}.args", data={})
        except ConfigError as e:
            raise e.with_context(file=cfg.source) from e.__cause__
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model {m.name!r} did not build an nn.Module", f"models.{name}", cfg.source
            )
        kind = "ema" if name in averages else "raw"
        sd = averages[name] if kind == "ema" else state["models"].get(name)
        if sd is None:
            raise ConfigError(
                f"checkpoint {ckpt_path} has no weights of model {name!r} (it has: "
                f"{', '.join(state['models'])})",
                file=cfg.source,
            )
        try:
            model.load_state_dict(sd)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ConfigError(
                f"the weights of {name!r} in {ckpt_path} do not fit model {m.name!r} built "
                f"from {cfg.source}: {first}"
            ) from e
        built[name] = model.to(dev).eval().requires_grad_(False)
        weights[name] = kind
    return LoadedRun(
        models=built,
        weights=weights,
        config=cfg,
        checkpoint=ckpt_path,
        step=int(state["step"]),
        epoch=int(state.get("epoch", 0)),
        device=dev,
        meta=dict(state.get("meta") or {}),
    )
