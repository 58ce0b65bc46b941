"""The ``segmentation_score`` metric of a YAML config: its judge loaded from a segmentation run.

Launcher side. The component :class:`~torchgan_ext.metrics.SegmentationScore` takes a built,
trained segmenter; a config names the segmentation *run* (or a weights file) instead::

    metrics:
      - name: segmentation_score
        args: {weights: runs/segmentation_cityscapes, max_images: 500}

:func:`segmentation_score_from_run` (registered as ``segmentation_score`` by the built-in
plugin) resolves ``weights`` to a checkpoint, reads the run's ``config.yaml`` next to it (the
segmenter's registry name and resolved constructor arguments), builds the segmenter with
:func:`torchgan_ext.build.build` and loads the state dict strictly
(:mod:`~torchgan_ext.plugins.classifier_runs` does the same for StarGAN's judge). The judge
is never random: a missing file, a run without checkpoints, a checkpoint without the model,
weights that do not fit, or a judge trained for another number of classes are errors naming
the file. Errors start with the argument at fault (``"weights: ..."``), so the launcher
reports ``metrics.<i>.args.weights``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from .._registry import MODELS
from ..data.cityscapes import TRAIN_CLASS_NAMES
from ..metrics.segmentation_score import SegmentationScore
from .classifier_runs import (
    build_loaded_model,
    judge_model_name,
    read_run_config,
    resolve_run_weights,
    run_state_dict,
)

__all__ = ["DATA_ARGS", "segmentation_score_from_run"]

#: Data-derived argument of the registry entry: the number of classes of the label maps.
DATA_ARGS = {"num_classes": "num_classes"}

#: The registered segmenter when neither ``segmenter`` nor the run's config names one.
DEFAULT_SEGMENTER = "segmentation_net"

_TRAIN_HINT = (
    "train the judge on the real photos first, e.g. `torchgan-run "
    "configs/segmentation_cityscapes.yaml`, and set weights to its run directory or one of its "
    "checkpoints/ckpt-*.pt (or to a state dict of a segmentation_net, with segmenter_args)"
)


def _trained_classes(args: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> int | None:
    """The judge's number of classes: its ``num_classes`` argument, else the size of the
    first score layer of a ``segmentation_net`` state dict."""
    value = args.get("num_classes")
    if isinstance(value, int):
        return value
    bias = state.get("scores.0.bias")
    return int(bias.numel()) if isinstance(bias, torch.Tensor) and bias.dim() == 1 else None


def segmentation_score_from_run(
    weights: str | os.PathLike | None = None,
    segmenter: str | None = None,
    segmenter_args: Mapping[str, Any] | None = None,
    model_key: str = "segmenter",
    num_classes: int | None = None,
    label_format: str = "auto",
    reference: str = "auto",
    max_images: int | None = 500,
    score: str = "class_iou",
    absent_classes: str = "skip",
    real: bool = True,
    use_ema: bool = True,
) -> SegmentationScore:
    """:class:`~torchgan_ext.metrics.SegmentationScore` judged by the segmenter of a run.

    Args:
        weights: The judge: a checkpoint file (a run checkpoint holding
            ``models.<model_key>`` or a bare state dict), a segmentation run directory (its
            newest checkpoint) or its ``checkpoints/`` folder. Required.
        segmenter: Registered model name (default: the one in the run's ``config.yaml``, else
            ``segmentation_net``).
        segmenter_args: Constructor arguments, over the run's resolved arguments.
        model_key: The model's name inside a run checkpoint (``segmenter``).
        num_classes: Classes of the label maps (filled from the dataset's ``num_classes``;
            default 19). The judge must have been trained for as many.
        label_format, reference, max_images, score, absent_classes, real, use_ema: See
            :class:`~torchgan_ext.metrics.SegmentationScore`.

    Raises:
        FileNotFoundError: No checkpoint at ``weights`` (``"weights: ..."``).
        ValueError: ``weights`` not given, an unreadable checkpoint or run config, a
            checkpoint without the model, weights that do not fit, a judge trained for
            another number of classes, an unknown or contradicting ``segmenter``, bad
            ``segmenter_args`` or metric options; the message starts with the argument at
            fault.
    """
    if weights is None:
        raise ValueError(
            "weights: segmentation_score judges generated photos with a trained segmentation "
            f"network and never with random weights; {_TRAIN_HINT}"
        )
    if segmenter_args is not None and not isinstance(segmenter_args, Mapping):
        raise TypeError(
            f"segmenter_args: expected a mapping of constructor arguments, got {segmenter_args!r}"
        )
    classes = len(TRAIN_CLASS_NAMES) if num_classes is None else num_classes
    checkpoint, run_dir = resolve_run_weights(weights, _TRAIN_HINT, "segmenter")
    state = run_state_dict(checkpoint, model_key)
    run_model = (read_run_config(run_dir).get("models") or {}).get(model_key) or {}
    name = judge_model_name(segmenter, run_model, checkpoint, "segmenter", DEFAULT_SEGMENTER)
    args = {**(run_model.get("args") or {}), **dict(segmenter_args or {})}
    trained = _trained_classes(args, state)
    if trained is not None and trained != classes:
        raise ValueError(
            f"weights: {checkpoint} holds a segmenter trained for {trained} classes, but the "
            f"label maps have {classes} (num_classes); train the judge on the same classes"
        )
    if "num_classes" in MODELS.entry(name).data_args:  # as the dataset would fill it
        args.setdefault("num_classes", classes)
    model = build_loaded_model(name, args, state, checkpoint, "segmenter_args", "segmenter")
    return SegmentationScore(
        model,
        segmenter_source=os.fspath(checkpoint),
        num_classes=classes,
        label_format=label_format,
        reference=reference,
        max_images=max_images,
        score=score,
        absent_classes=absent_classes,
        real=real,
        use_ema=use_ema,
    )
