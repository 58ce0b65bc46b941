"""Label maps as generator inputs -> Cityscapes train ids, and the confusion matrix over them.

A label -> photo generator (pix2pix, CycleGAN) sees its label map in one of two encodings:

* ``color``: 3 channels in [-1, 1], each pixel a colour of the official Cityscapes palette:
  the colours of the annotation's ``gtFine_color.png`` files (all 34 label ids; what the pix2pix
  authors trained on and ``cityscapes_pairs`` reads) or of
  :func:`~torchgan_ext.data.cityscapes.train_ids_to_color` (19 train-id colours, black for
  ignored pixels). Colours of labels without a train id (parking, rail track, ...) are ignored
  pixels; the palette's two shared colours go to the class with a train id (pole over pole
  group, car over licence plate);
* ``onehot``: ``num_classes`` channels of 0/1, all zero at ignored pixels.

:func:`label_to_train_ids` turns either back into train ids (``255`` = ignore), the target of
the segmentation score. Colours are looked up exactly (after undoing the [-1, 1] scaling): a
colour outside the table is an error, never a guess. :class:`ConfusionMatrix` accumulates
``hist[target, prediction]`` on the device, without a host synchronisation per batch, and
:func:`segmentation_scores` turns it into the FCN scores (per-pixel accuracy, per-class
accuracy, class IoU; Long et al., https://arxiv.org/abs/1411.4038, section 5).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import torch

from .._validation import check_choice
from ..data.cityscapes import CITYSCAPES_CLASSES, IGNORE_INDEX, TRAIN_CLASS_NAMES

__all__ = [
    "ABSENT_CLASSES",
    "LABEL_FORMATS",
    "ConfusionMatrix",
    "check_label_shape",
    "invalid_color_error",
    "TRAIN_ID_COLORS",
    "color_to_train_ids",
    "label_to_train_ids",
    "onehot_to_train_ids",
    "segmentation_scores",
]

#: Encodings of a label map given to a generator.
LABEL_FORMATS = ("color", "onehot")
#: How classes without ground-truth pixels enter the class means (see :func:`segmentation_scores`).
ABSENT_CLASSES = ("skip", "zero")

#: ``(r, g, b)`` of train ids 0..18 in the official palette.
TRAIN_ID_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    next(c.color for c in CITYSCAPES_CLASSES if c.train_id == t)
    for t in range(len(TRAIN_CLASS_NAMES))
)
_BLACK = (0, 0, 0)


def _palette() -> dict[int, int]:
    """24-bit colour code (r * 65536 + g * 256 + b) -> train id (``IGNORE_INDEX`` for labels
    without one) over the official palette; a colour shared with a train-id class keeps it."""
    table: dict[int, int] = {}
    for c in CITYSCAPES_CLASSES:
        code = (c.color[0] << 16) | (c.color[1] << 8) | c.color[2]
        train = c.train_id if 0 <= c.train_id < len(TRAIN_CLASS_NAMES) else IGNORE_INDEX
        if table.get(code, IGNORE_INDEX) == IGNORE_INDEX:
            table[code] = train
    table.setdefault(0, IGNORE_INDEX)  # black: ignored
    return table


_PALETTE = _palette()
_CODES = torch.tensor(list(_PALETTE))
_CODE_TRAIN_IDS = torch.tensor(list(_PALETTE.values()))


@functools.lru_cache(maxsize=8)
def _codes_on(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The colour codes and their train ids on ``device``, copied there once (a copy from
    pageable host memory per batch would wait for the device)."""
    return _CODES.to(device), _CODE_TRAIN_IDS.to(device)


def _valid_colors() -> str:
    named = ", ".join(
        f"{name} {color}" for name, color in zip(TRAIN_CLASS_NAMES, TRAIN_ID_COLORS, strict=True)
    )
    return (
        f"{named}; black {_BLACK} and the official colours of labels without a train id "
        "(gtFine_color.png) for ignored pixels"
    )


def _code_to_rgb(code: int) -> tuple[int, int, int]:
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def color_to_train_ids(
    color: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train ids of a colour label map, without a host synchronisation.

    Args:
        color: ``[B, 3, H, W]`` in [-1, 1] (``uint8 / 127.5 - 1``).
        ignore_index: Value of ignored pixels (black, and labels without a train id).

    Returns:
        ``(train_ids [B, H, W] int64, invalid [B, H, W] bool, codes [B, H, W] int64)``:
        pixels whose colour is not in the table are ``invalid`` (and ``ignore_index`` in the
        ids); ``codes`` are the 24-bit colours (``-1`` where a channel is not a whole value in
        0..255), for error messages.
    """
    v = (color.float() + 1.0) * 127.5
    r = v.round()
    whole = ((v - r).abs() < 0.05).all(1) & ((r >= 0) & (r <= 255)).all(1)
    q = r.clamp(0, 255).long()
    codes = torch.where(whole, (q[:, 0] << 16) | (q[:, 1] << 8) | q[:, 2], -1)
    table, train_ids = _codes_on(codes.device)
    hits = codes.unsqueeze(1) == table.view(1, -1, 1, 1)
    found = hits.any(1)
    ids = train_ids[hits.long().argmax(1)]
    ids = torch.where(found & (ids != IGNORE_INDEX), ids, ignore_index)
    return ids, ~found, codes


def onehot_to_train_ids(onehot: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Train ids of a one-hot map ``[B, K, H, W]``: the arg-max channel, ``ignore_index`` where
    every channel is 0 (no host synchronisation)."""
    return torch.where(onehot.amax(1) > 0, onehot.argmax(1), ignore_index)


def check_label_shape(label: torch.Tensor, label_format: str, num_classes: int) -> None:
    """Raise ``ValueError`` unless ``label`` is ``[B, 3 or num_classes, H, W]``."""
    channels = 3 if label_format == "color" else num_classes
    if label.dim() != 4 or label.size(1) != channels:
        raise ValueError(
            f"label_input: a {label_format} label map is [B, {channels}, H, W], got shape "
            f"{tuple(label.shape)}"
        )
    if label_format == "color" and num_classes != len(TRAIN_ID_COLORS):
        raise ValueError(
            f"label_format: colour label maps use the {len(TRAIN_ID_COLORS)} Cityscapes "
            f"train-id colours, but num_classes is {num_classes}; use onehot"
        )


def invalid_color_error(count: int, code: int) -> ValueError:
    """The error for ``count`` pixels of colours outside the table (``code``: one of them)."""
    what = "a colour that is not a whole 0..255 value" if code < 0 else str(_code_to_rgb(code))
    return ValueError(
        f"label_input: {count} pixel(s) of colour label maps are not Cityscapes palette "
        f"colours (e.g. {what}); valid: {_valid_colors()}"
    )


def label_to_train_ids(
    label: torch.Tensor,
    label_format: str,
    num_classes: int = len(TRAIN_CLASS_NAMES),
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Train ids ``[B, H, W]`` (``int64``, ``ignore_index`` = ignored) of a generator's label
    input. Checks the values (one host synchronisation).

    Args:
        label: ``[B, 3, H, W]`` colours in [-1, 1] or ``[B, num_classes, H, W]`` one-hot.
        label_format: ``color`` or ``onehot``.
        num_classes: Classes of a one-hot map (colour maps: the 19 train ids).
        ignore_index: The id of ignored pixels.

    Raises:
        ValueError: A wrong shape, a colour outside the train-id table (the message lists
            the valid colours) or a one-hot map with values other than 0/1 or several ones at
            a pixel.

    Example:
        >>> road, car = torch.tensor([128, 64, 128]), torch.tensor([0, 0, 142])
        >>> rgb = torch.stack([road, car, torch.zeros(3, dtype=torch.long)], 1)  # 3 pixels
        >>> label_to_train_ids(rgb.view(1, 3, 1, 3) / 127.5 - 1, "color").tolist()
        [[[0, 13, 255]]]
    """
    check_choice(label_format, "label_format", LABEL_FORMATS, "label format")
    check_label_shape(label, label_format, num_classes)
    if label_format == "onehot":
        binary = ((label == 0) | (label == 1)).all()
        if not bool(binary) or bool((label.sum(1) > 1).any()):
            raise ValueError(
                "label_input: a one-hot label map holds 0/1 with at most one 1 per pixel "
                "(all 0 at ignored pixels)"
            )
        return onehot_to_train_ids(label, ignore_index)
    ids, invalid, codes = color_to_train_ids(label, ignore_index)
    count = int(invalid.sum())
    if count:
        raise invalid_color_error(count, int(codes[invalid][0]))
    return ids


class ConfusionMatrix:
    """``hist[t, p]``: pixels of target class ``t`` predicted as ``p``, summed on the device.

    Targets outside ``0 .. num_classes - 1`` (the ignore index 255) are counted apart, as
    ``ignored``. :meth:`update` never synchronises with the host: ignored pixels go to an extra
    bin instead of being masked out, and the counts are added with ``index_add_``.

    Args:
        num_classes: Number of classes.
        device: Where the counts live.
    """

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self._counts = torch.zeros(num_classes * num_classes + 1, dtype=torch.int64, device=device)

    def update(self, target: torch.Tensor, prediction: torch.Tensor) -> None:
        """Add the pixels of ``target`` / ``prediction`` (same shape, integer class ids)."""
        if target.shape != prediction.shape:
            raise ValueError(
                f"target {tuple(target.shape)} and prediction {tuple(prediction.shape)} differ"
            )
        n = self.num_classes
        t = target.reshape(-1).long()
        p = prediction.reshape(-1).long()
        valid = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        index = torch.where(valid, t * n + p, n * n)
        self._counts.index_add_(0, index, torch.ones_like(index))

    @property
    def hist(self) -> torch.Tensor:
        """The ``[num_classes, num_classes]`` counts (rows: targets, columns: predictions)."""
        n = self.num_classes
        return self._counts[: n * n].view(n, n)

    @property
    def ignored(self) -> torch.Tensor:
        """Number of pixels left out (ignored targets)."""
        return self._counts[-1]


def segmentation_scores(
    hist: torch.Tensor, absent_classes: str = "skip", class_names: Any = None
) -> dict[str, Any]:
    """The FCN scores of a confusion matrix ``hist[target, prediction]``.

    .. math::
        \\text{pixel acc} = \\frac{\\sum_i n_{ii}}{\\sum_{i} t_i}, \\quad
        \\text{class acc} = \\frac{1}{K'} \\sum_i \\frac{n_{ii}}{t_i}, \\quad
        \\text{class IoU} = \\frac{1}{K'} \\sum_i \\frac{n_{ii}}{t_i + \\sum_j n_{ji} - n_{ii}}

    with :math:`n_{ij}` the pixels of class :math:`i` predicted as :math:`j` and
    :math:`t_i = \\sum_j n_{ij}`. A class with no target pixels has no accuracy, and one with
    an empty union no IoU: ``absent_classes: skip`` leaves them out of the means
    (:math:`K'` counts the rest; FCN's own evaluation), ``zero`` counts them as 0 over all
    :math:`K` classes (what the pix2pix authors' ``util.py`` does through its ``1e-12``).

    Returns:
        ``pixel_accuracy``, ``class_accuracy``, ``class_iou`` (floats; NaN when no pixel
        counts), ``per_class_accuracy`` and ``per_class_iou`` (by class name, ``None`` where
        undefined) and ``pixels``.
    """
    check_choice(absent_classes, "absent_classes", ABSENT_CLASSES, "absent_classes")
    h = hist.double().cpu()
    diag = h.diag()
    targets, predicted = h.sum(1), h.sum(0)
    union = targets + predicted - diag
    acc = diag / targets  # NaN where no target pixel
    iou = diag / union
    if absent_classes == "zero":
        acc, iou = acc.nan_to_num(0.0), iou.nan_to_num(0.0)
    total = float(h.sum())
    names = list(class_names) if class_names is not None else list(range(h.size(0)))

    def mean(values: torch.Tensor) -> float:
        return float(values.nanmean()) if bool(values.isfinite().any()) else math.nan

    def per_class(values: torch.Tensor) -> dict[str, float | None]:
        return {
            str(k): (float(v) if math.isfinite(v) else None)
            for k, v in zip(names, values.tolist(), strict=True)
        }

    return {
        "pixel_accuracy": float(diag.sum() / total) if total else math.nan,
        "class_accuracy": mean(acc),
        "class_iou": mean(iou),
        "per_class_accuracy": per_class(acc),
        "per_class_iou": per_class(iou),
        "pixels": int(total),
    }
