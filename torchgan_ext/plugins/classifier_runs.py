"""The ``attribute_accuracy`` metric of a YAML config: its judge loaded from a classifier run.

Launcher side. The component :class:`~torchgan_ext.metrics.AttributeAccuracy` takes a built,
trained classifier; a config names the classifier *run* instead::

    metrics:
      - name: attribute_accuracy
        args: {weights: runs/stargan_classifier_digits, max_images: 1000}

:func:`attribute_accuracy_from_run` (registered as ``attribute_accuracy`` by the built-in
plugin) resolves ``weights`` to a checkpoint (:func:`resolve_classifier_weights`), reads the
run's ``config.yaml`` next to it (the classifier's registry name, its resolved constructor
arguments, the attributes it was trained on), builds the classifier with
:func:`torchgan_ext.build.build` and loads the state dict strictly. The classifier is never
random: a missing file, a run without checkpoints, a checkpoint without the model or weights
that do not fit are errors naming the file. Errors start with the argument at fault
(``"weights: ..."``), so the launcher reports ``metrics.<i>.args.weights``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from .._registry import MODELS
from ..build import build, data_derived_arguments
from ..errors import CheckpointError, ConfigError, did_you_mean
from ..metrics.attribute_accuracy import AttributeAccuracy
from ..trainer.checkpoint import list_checkpoints, load_checkpoint

__all__ = [
    "DATA_ARGS",
    "attribute_accuracy_from_run",
    "build_loaded_model",
    "judge_model_name",
    "read_run_config",
    "resolve_classifier_weights",
    "resolve_run_weights",
    "run_state_dict",
]

#: Data-derived arguments of the registry entry: the classifier's ``c_dim`` and
#: ``in_channels`` when neither the run's config nor ``classifier_args`` give them.
DATA_ARGS = {"c_dim": "num_attributes", "in_channels": "channels"}

#: The registered classifier when neither ``classifier`` nor the run's config names one.
DEFAULT_CLASSIFIER = "attribute_classifier"

_TRAIN_HINT = (
    "train an attribute classifier on the same data first, e.g. `torchgan-run "
    "configs/stargan_classifier_digits.yaml`, and set weights to its run directory or one of "
    "its checkpoints/ckpt-*.pt"
)


def resolve_run_weights(
    path: str | os.PathLike, hint: str = _TRAIN_HINT, what: str = "classifier"
) -> tuple[Path, Path | None]:
    """The checkpoint file ``path`` names, and its run directory (or ``None``).

    ``path`` may be a checkpoint file, a run directory (its newest ``checkpoints/ckpt-*.pt``)
    or a ``checkpoints/`` directory.

    Args:
        path: See above.
        hint: How to train a model to judge with (ends the messages).
        what: What the checkpoint holds, for the messages (``classifier``, ``segmenter``).

    Raises:
        FileNotFoundError: Nothing there, or no checkpoint in the directory (the message
            starts with ``weights:`` and says how to train one).
    """
    p = Path(path).expanduser()
    if p.is_file():
        run_dir = p.parent.parent if p.parent.name == "checkpoints" else None
        return p, run_dir
    if p.is_dir():
        if (p / "checkpoints").is_dir():
            ckpt_dir, run_dir = p / "checkpoints", p
        elif p.name == "checkpoints":
            ckpt_dir, run_dir = p, p.parent
        else:
            ckpt_dir, run_dir = p, None
        found = list_checkpoints(ckpt_dir)
        if not found:
            raise FileNotFoundError(f"weights: no checkpoint (ckpt-*.pt) in {ckpt_dir}; {hint}")
        return found[-1], run_dir
    raise FileNotFoundError(f"weights: {what} checkpoint {p} does not exist; {hint}")


def resolve_classifier_weights(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """:func:`resolve_run_weights` for an attribute classifier."""
    return resolve_run_weights(path)


def read_run_config(run_dir: Path | None) -> dict[str, Any]:
    """The ``config.yaml`` of a run directory (``{}`` when there is none)."""
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return {}
    path = run_dir / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"weights: cannot read the judge's run config {path}: {e}") from e
    return data if isinstance(data, dict) else {}


def run_state_dict(checkpoint: Path, model_key: str) -> dict[str, torch.Tensor]:
    """The state dict of model ``model_key`` in ``checkpoint`` (a run checkpoint or a bare
    state dict)."""
    try:
        state = load_checkpoint(checkpoint, map_location="cpu")
    except CheckpointError as e:
        raise ValueError(f"weights: {e}") from e
    if "models" in state:
        models = state["models"]
        if model_key not in models:
            raise ValueError(
                f"weights: checkpoint {checkpoint} has no model {model_key!r} (it has: "
                f"{', '.join(sorted(models))}); set model_key"
            )
        return models[model_key]
    if all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    raise ValueError(f"weights: {checkpoint} is neither a run checkpoint nor a state dict")


def build_loaded_model(
    name: str,
    args: dict[str, Any],
    state: Mapping[str, torch.Tensor],
    checkpoint: Path,
    args_key: str,
    what: str = "classifier",
) -> torch.nn.Module:
    """Registered model ``name`` built with ``args`` and ``state`` loaded strictly.

    The throwaway initialisation draws nothing from the run's random streams. Errors start
    with the argument at fault (``args_key.<argument>`` or ``weights``).
    """
    try:
        with torch.random.fork_rng(devices=[]):
            model = build(MODELS, name, args, key=args_key)
    except ConfigError as e:  # "<args_key>.<argument>: ..." -> metrics.<i>.args.<...>
        raise ValueError(f"{e.key or args_key}: {e.message}") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
        first = " ".join(lines[:2])[:300]
        raise ValueError(
            f"weights: {checkpoint} does not fit {what} {name!r} with arguments {args}: {first}"
        ) from e
    return model


def judge_model_name(
    requested: str | None,
    run_model: Mapping[str, Any],
    ckpt: Path,
    arg: str = "classifier",
    default: str = DEFAULT_CLASSIFIER,
) -> str:
    """The registered model to build a judge with: ``requested`` (argument ``arg``), else the
    one the run trained (its ``config.yaml``), else ``default``.

    Raises:
        ValueError: ``requested`` contradicts the run, or a name that is not registered.
    """
    trained = run_model.get("name")
    if requested is not None:
        if trained not in (None, requested):
            raise ValueError(
                f"{arg}: {requested!r}, but {ckpt} holds a {trained!r} (see its run's config.yaml)"
            )
        if requested not in MODELS:
            raise ValueError(
                f"{arg}: unknown model {requested!r}; {did_you_mean(requested, MODELS)}"
            )
        return requested
    if trained is None:
        return default
    if trained not in MODELS:
        raise ValueError(
            f"weights: the run of {ckpt} used model {trained!r}, which is not registered "
            f"(load the plugin that registers it); {did_you_mean(trained, MODELS)}"
        )
    return trained


def attribute_accuracy_from_run(
    weights: str | os.PathLike | None = None,
    classifier: str | None = None,
    classifier_args: Mapping[str, Any] | None = None,
    model_key: str = "classifier",
    reference: str = "auto",
    max_images: int | None = 1000,
    classification: str = "auto",
    use_ema: bool = True,
    c_dim: int | None = None,
    in_channels: int | None = None,
) -> AttributeAccuracy:
    """:class:`~torchgan_ext.metrics.AttributeAccuracy` judged by the classifier of a run.

    Args:
        weights: The classifier: a checkpoint file (a run checkpoint holding
            ``models.<model_key>`` or a bare state dict), a classifier run directory (its newest
            checkpoint) or its ``checkpoints/`` folder. Required.
        classifier: Registered model name (default: the one in the classifier run's
            ``config.yaml`` next to the checkpoints, else ``attribute_classifier``).
        classifier_args: Constructor arguments, over the run's resolved arguments.
        model_key: The model's name inside a run checkpoint (``classifier``).
        reference, max_images, classification, use_ema: See
            :class:`~torchgan_ext.metrics.AttributeAccuracy`.
        c_dim: Number of attributes, filled from the dataset (``num_attributes``); used for
            the classifier's data-derived argument of that name when neither the run's config
            nor ``classifier_args`` give it.
        in_channels: Image channels, filled from the dataset (``channels``); likewise.

    Raises:
        FileNotFoundError: No checkpoint at ``weights`` (``"weights: ..."``).
        ValueError: ``weights`` not given, an unreadable checkpoint or run config, a
            checkpoint without the model, weights that do not fit the classifier, an unknown
            or contradicting ``classifier``, bad ``classifier_args`` or metric options; the
            message starts with the argument at fault.
    """
    if weights is None:
        raise ValueError(
            "weights: attribute_accuracy judges translations with a trained attribute "
            f"classifier and never with random weights; {_TRAIN_HINT}"
        )
    if classifier_args is not None and not isinstance(classifier_args, Mapping):
        raise TypeError(
            f"classifier_args: expected a mapping of constructor arguments, got {classifier_args!r}"
        )
    checkpoint, run_dir = resolve_classifier_weights(weights)
    state = run_state_dict(checkpoint, model_key)
    run_config = read_run_config(run_dir)
    run_model = (run_config.get("models") or {}).get(model_key) or {}
    run_data = (run_config.get("data") or {}).get("args") or {}
    name = judge_model_name(classifier, run_model, checkpoint)
    args = {**(run_model.get("args") or {}), **dict(classifier_args or {})}
    data = {
        attr: value
        for attr, value in (("num_attributes", c_dim), ("channels", in_channels))
        if value is not None
    }
    entry = MODELS.entry(name)
    for param in data_derived_arguments(entry, args, data):
        args[param] = data[entry.data_args[param]]
    model = build_loaded_model(name, args, state, checkpoint, "classifier_args")
    return AttributeAccuracy(
        model,
        classifier_attributes=run_data.get("attributes"),
        classifier_source=os.fspath(checkpoint),
        reference=reference,
        max_images=max_images,
        classification=classification,
        use_ema=use_ema,
    )
