"""The segmentation score of label -> photo translations (pix2pix's "FCN-score").

pix2pix (Isola et al., CVPR 2017, https://arxiv.org/abs/1611.07004, section 4)
judges Cityscapes labels -> photo generators with a semantic segmentation network trained on
the *real* photos: if the generated photos are realistic, the network should label them as the
label maps they were synthesised from. For every pair ``(label_input, photo)`` of the
evaluation split,

* the label map is turned back into train ids :math:`y` (19 classes, 255 ignored;
  :func:`~torchgan_ext.metrics.segmentation_labels.label_to_train_ids`),
* the judge :math:`S` labels the generated photo,
  :math:`\\hat y = \\arg\\max_k S(G(\\text{label}))_k`,
* one confusion matrix over all pixels of all images (ignored pixels left out) gives per-pixel
  accuracy, per-class accuracy and mean class IoU
  (:func:`~torchgan_ext.metrics.segmentation_labels.segmentation_scores`),

and the same judge's scores on the real photos beside them are reported too: the "ground
truth" row of the paper, the upper bound a generator can reach under this judge.

:class:`SegmentationScore` takes the judge as a built and *trained* ``nn.Module``; it never
builds or initialises one, so it can never judge with random weights. In a config, the metric
``segmentation_score`` names the judge's run directory (``configs/segmentation_cityscapes.yaml``)
or a weights file, and the launcher loads it (``torchgan_ext/plugins/segmentation_runs.py``).
:class:`SegmenterAccuracy` is the same measure for the judge itself on real photos with their
annotations: the metric of a segmentation run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from .._validation import check_bool, check_choice, check_positive_int
from ..data.cityscapes import IGNORE_INDEX, TRAIN_CLASS_NAMES
from .attribute_accuracy import _RealImagesMetric, _TranslationMetric
from .segmentation_labels import (
    ABSENT_CLASSES,
    LABEL_FORMATS,
    ConfusionMatrix,
    check_label_shape,
    color_to_train_ids,
    invalid_color_error,
    onehot_to_train_ids,
    segmentation_scores,
)

__all__ = ["SCORES", "SegmentationScore", "SegmenterAccuracy"]

#: The scores a metric can report as its value.
SCORES = ("class_iou", "pixel_accuracy", "class_accuracy")
_SUMMARY = ("pixel_accuracy", "class_accuracy", "class_iou")


def _dataset(loader: Any) -> Any:
    dataset = getattr(loader, "dataset", None)
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset


class _SegmentationMetric(_RealImagesMetric):
    """Shared options, the judge's predictions and the summary of a confusion matrix."""

    def __init__(
        self,
        num_classes: int,
        reference: str,
        max_images: int | None,
        score: str,
        absent_classes: str,
    ) -> None:
        super().__init__(reference, max_images, "auto")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.score = check_choice(score, "score", SCORES, "score")
        self.absent_classes = check_choice(
            absent_classes, "absent_classes", ABSENT_CLASSES, "absent_classes"
        )
        names = TRAIN_CLASS_NAMES if self.num_classes == len(TRAIN_CLASS_NAMES) else None
        self.class_names = list(names or range(self.num_classes))

    def predict(self, judge: nn.Module, images: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Class ids ``[B, *size]`` of ``images`` (logits resized bilinearly to ``size``)."""
        logits = judge(images)
        if not isinstance(logits, torch.Tensor) or logits.dim() != 4:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
            raise ValueError(f"{self.judge_name()} returns {shape}, expected [B, K, H, W] logits")
        if logits.size(1) != self.num_classes:
            raise ValueError(
                f"{self.judge_name()} returns {logits.size(1)} class scores but the metric "
                f"counts {self.num_classes} classes; use a judge trained on the same classes"
            )
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
        return logits.argmax(1)

    def judge_name(self) -> str:
        return "the segmenter"

    def summary(self, confusion: ConfusionMatrix) -> dict[str, Any]:
        return segmentation_scores(confusion.hist, self.absent_classes, self.class_names)


class SegmentationScore(_SegmentationMetric, _TranslationMetric):
    """FCN-score of a label -> photo generator, beside the judge's score on the real photos.

    See the module docstring for the protocol. The evaluation split yields
    ``(label_input, photo)`` pairs (``photo`` in [-1, 1]); ``label_input`` is a colour map or a
    one-hot map (``label_format``, read from the dataset's ``label_format`` attribute when
    ``auto``). The value is the score named by ``score`` (mean class IoU by default);
    ``last_result`` holds all three for the generated photos and, under ``real``, for the real
    photos, the per-class accuracies and IoUs, the number of images and pixels, and where the
    judge came from (``segmenter``).

    Args:
        segmenter: The judge: a *trained* module mapping photos in [-1, 1] to class logits
            ``[B, num_classes, H, W]``, e.g. a
            :class:`~torchgan_ext.models.SegmentationNet` with its weights loaded. It is put in
            eval mode and frozen; it is never initialised or trained here.
        segmenter_source: Where the weights came from, reported in ``last_result`` and errors.
        num_classes: Classes of the label maps (19 Cityscapes train ids).
        label_format: ``auto``, ``color`` or ``onehot``.
        reference: Pairs from ``val`` (the validation loader), ``train`` or ``auto`` (``val``
            when there is one).
        max_images: Evaluate at most this many pairs (``None``: all).
        score: The value: ``class_iou``, ``pixel_accuracy`` or ``class_accuracy``.
        absent_classes: ``skip`` classes without target pixels in the class means, or count
            them as ``zero`` (see
            :func:`~torchgan_ext.metrics.segmentation_labels.segmentation_scores`).
        real: Also score the real photos (the upper bound).
        use_ema: Evaluate the EMA generator when the run keeps one.

    Raises:
        TypeError: ``segmenter`` is not an ``nn.Module``, or a wrong option type.
        ValueError: A judge whose ``num_classes`` differs, or a bad option.
    """

    name = "segmentation_score"

    def __init__(
        self,
        segmenter: nn.Module,
        segmenter_source: str | None = None,
        num_classes: int = len(TRAIN_CLASS_NAMES),
        label_format: str = "auto",
        reference: str = "auto",
        max_images: int | None = 500,
        score: str = "class_iou",
        absent_classes: str = "skip",
        real: bool = True,
        use_ema: bool = True,
    ) -> None:
        super().__init__(num_classes, reference, max_images, score, absent_classes)
        if not isinstance(segmenter, nn.Module):
            raise TypeError(
                "segmenter: expected a trained nn.Module (class logits per pixel), got "
                f"{type(segmenter).__name__}"
            )
        self.segmenter_source = (
            str(segmenter_source) if segmenter_source is not None else type(segmenter).__name__
        )
        judged = getattr(segmenter, "num_classes", None)
        if isinstance(judged, int) and judged != self.num_classes:
            raise ValueError(
                f"segmenter: {self.segmenter_source} was trained for {judged} classes but the "
                f"label maps have {self.num_classes}; train the judge on the same classes"
            )
        self.label_format = check_choice(
            label_format, "label_format", ("auto", *LABEL_FORMATS), "label_format"
        )
        self.real = check_bool(real, "real")
        self.use_ema = check_bool(use_ema, "use_ema")
        self._segmenter: nn.Module | None = segmenter.eval().requires_grad_(False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickling drops the network (a metric never carries a model along)."""
        return {**self.__dict__, "_segmenter": None}

    @property
    def segmenter(self) -> nn.Module:
        """The judge (eval mode, frozen)."""
        if self._segmenter is None:
            raise ValueError(
                f"the segmenter ({self.segmenter_source}) was dropped when this metric was "
                "pickled; construct the metric again with the segmenter"
            )
        return self._segmenter

    def judge_name(self) -> str:
        return f"the segmenter ({self.segmenter_source})"

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: the split and a model named ``generator``."""
        super().validate(trainer)
        self.check_generator(getattr(trainer, "generator", None))

    def check_generator(self, generator: nn.Module | None) -> nn.Module:
        """``generator``, or a ``ValueError`` when the run has none."""
        if generator is None:
            raise ValueError(
                f"metric {self.name!r} evaluates the label -> photo model named 'generator'; "
                "name that generator `generator`"
            )
        return generator

    def resolve_format(self, loader: Any, label: torch.Tensor) -> str:
        """``label_format``, else the dataset's ``label_format``, else from the channels."""
        if self.label_format != "auto":
            return self.label_format
        fmt = getattr(_dataset(loader), "label_format", None)
        if fmt in LABEL_FORMATS:
            return fmt
        if label.dim() == 4 and label.size(1) == 3 and self.num_classes != 3:
            return "color"
        if label.dim() == 4 and label.size(1) == self.num_classes:
            return "onehot"
        raise ValueError(
            f"label_format: cannot tell the label encoding of inputs of shape "
            f"{tuple(label.shape)}; set label_format to one of {', '.join(LABEL_FORMATS)}"
        )

    @torch.no_grad()
    def evaluate(self, generator: nn.Module, loader: Any, device: torch.device | str) -> float:
        """The score over ``loader`` (see the module docstring); details in ``last_result``.

        Raises:
            ValueError: Label maps of the wrong shape or with colours outside the train-id
                table, generated photos of another batch or size, or a judge with another
                number of classes.
        """
        judge = self.segmenter.to(device)
        fake = ConfusionMatrix(self.num_classes, device)
        real = ConfusionMatrix(self.num_classes, device)
        bad = torch.zeros((), dtype=torch.int64, device=device)
        bad_code = torch.full((), -2, dtype=torch.int64, device=device)
        fmt, n = None, 0
        for label, photo in self.batches(loader, device):
            fmt = fmt or self.resolve_format(loader, label)
            check_label_shape(label, fmt, self.num_classes)
            if fmt == "color":
                ids, invalid, codes = color_to_train_ids(label, IGNORE_INDEX)
                bad += invalid.sum()
                bad_code = torch.maximum(bad_code, torch.where(invalid, codes, -2).amax())
            else:
                ids = onehot_to_train_ids(label, IGNORE_INDEX)
            size = ids.shape[-2:]
            generated = generator(label)
            if not isinstance(generated, torch.Tensor) or generated.shape[0] != label.shape[0]:
                raise ValueError(
                    "the generator must map a batch of label maps to a batch of photos "
                    f"[B, C, H, W]; got {type(generated).__name__}"
                )
            fake.update(ids, self.predict(judge, generated.clamp(-1, 1), size))
            if self.real:
                real.update(ids, self.predict(judge, photo, size))
            n += label.size(0)
        if int(bad):  # the one host synchronisation of the loop's checks
            raise invalid_color_error(int(bad), int(bad_code))
        result = self.summary(fake)
        self.last_result = {
            "value": result[self.score],
            "score": self.score,
            "images": n,
            **{k: result[k] for k in _SUMMARY},
            "pixels": result["pixels"],
            "ignored_pixels": int(fake.ignored),
            "per_class_accuracy": result["per_class_accuracy"],
            "per_class_iou": result["per_class_iou"],
            "label_format": fmt,
            "absent_classes": self.absent_classes,
            "segmenter": self.segmenter_source,
        }
        if self.real:
            truth = self.summary(real)
            self.last_result["real"] = {
                **{k: truth[k] for k in _SUMMARY},
                "per_class_iou": truth["per_class_iou"],
            }
        return float(result[self.score])


class SegmenterAccuracy(_SegmentationMetric):
    """Scores of the run's segmenter (model ``segmenter``) on real photos and annotations.

    The metric of a segmentation run (``configs/segmentation_cityscapes.yaml``): the
    evaluation split yields ``(image, train_ids)`` (the ``cityscapes`` dataset with
    ``target: train_ids``). The value is ``score``; ``last_result`` holds all three scores
    and the per-class IoUs.

    Args:
        num_classes: Number of classes (19 train ids).
        reference: ``val``, ``train`` or ``auto`` (``val`` when configured).
        max_images: Evaluate at most this many images (default all).
        score: The value: ``class_iou``, ``pixel_accuracy`` or ``class_accuracy``.
        absent_classes: ``skip`` or ``zero`` (see :class:`SegmentationScore`).
    """

    name = "segmenter_accuracy"

    def __init__(
        self,
        num_classes: int = len(TRAIN_CLASS_NAMES),
        reference: str = "auto",
        max_images: int | None = None,
        score: str = "class_iou",
        absent_classes: str = "skip",
    ) -> None:
        super().__init__(num_classes, reference, max_images, score, absent_classes)

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: the split and the model ``segmenter``."""
        super().validate(trainer)
        self._check_segmenter(getattr(trainer, "segmenter", None))

    def _check_segmenter(self, segmenter: nn.Module | None) -> nn.Module:
        if segmenter is None:
            raise ValueError(
                f"metric {self.name!r} evaluates the model named 'segmenter'; name the "
                "segmentation network `segmenter` under models:"
            )
        return segmenter

    @torch.no_grad()
    def evaluate(self, segmenter: nn.Module, loader: Any, device: torch.device | str) -> float:
        """The score of ``segmenter`` over ``loader``; details in ``last_result``."""
        confusion = ConfusionMatrix(self.num_classes, device)
        n = 0
        for images, target in self.batches(loader, device):
            if target.dim() != 3 or target.is_floating_point():
                raise ValueError(
                    f"metric {self.name!r} needs (image, train_ids [H, W]) items, e.g. the "
                    f"cityscapes dataset with target: train_ids; got targets of shape "
                    f"{tuple(target.shape)} ({target.dtype})"
                )
            confusion.update(target, self.predict(segmenter, images, target.shape[-2:]))
            n += images.size(0)
        result = self.summary(confusion)
        self.last_result = {
            "value": result[self.score],
            "score": self.score,
            "images": n,
            **{k: result[k] for k in _SUMMARY},
            "per_class_iou": result["per_class_iou"],
        }
        return float(result[self.score])

    def metric_ops(
        self,
        device: torch.device,
        segmenter: nn.Module | None = None,
        val_loader: DataLoader | None = None,
        data_loader: DataLoader | None = None,
    ) -> float:
        """Called by the trainer after each epoch (or every ``eval_every`` steps)."""
        segmenter = self._check_segmenter(segmenter)
        return self.evaluate(segmenter, self.loader(val_loader, data_loader), device)
