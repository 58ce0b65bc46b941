"""Score two image folders (real vs generated) with the generation metrics, without a config.

``torchgan-run --evaluate-folders REAL GENERATED --metrics fid,kid`` and
:func:`evaluate_folders` run any registered metric built on
:class:`~torchgan_ext.metrics.base.GeneratorMetric` (``fid``, ``kid``, ``inception_score`` and
those plugins add) exactly as training and ``--evaluate`` do, with the images of ``GENERATED``
in place of a generator's samples and those of ``REAL`` as the reference split: every image of
each folder is used (``num_samples`` = the generated images, ``num_real`` = the real ones,
unless a metric's arguments ask for fewer), in the sorted order of their paths.

All images of a folder must share one size and one mode (PIL's ``L``, ``RGB``, ...): a folder
that mixes them is refused, naming two files that differ. The metrics' feature extractors
resize and convert the images as their protocol says (Inception: 299x299 RGB). The real
features are not cached (``cache: true`` in a metric's arguments turns the cache on).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._registry import METRICS
from .build import build, lookup
from .data._io import IMAGE_EXTENSIONS, read_image, to_unit_range
from .data.image_folder import list_images
from .errors import ConfigError
from .evaluate import _json_value as json_value  # the JSON of --evaluate, same values
from .evaluate import format_table
from .metrics.base import GeneratorMetric
from .trainer.batch import resolve_device

__all__ = [
    "FolderImages",
    "FolderEvaluation",
    "evaluate_folders",
    "evaluate_folders_command",
    "folder_metric_names",
    "parse_metrics",
]

_FLAG = "--evaluate-folders"
_GREY_MODES = ("1", "L", "I", "I;16", "F")


class FolderImages(Dataset):
    """Every image below ``root`` (sorted by path) as float ``[C, H, W]`` in [-1, 1].

    Args:
        root: The folder.
        what: How messages name it (``"REAL"``, ``"GENERATED"``).

    Raises:
        ConfigError: The folder is missing, holds no image, or mixes sizes or modes.
    """

    def __init__(self, root: str | os.PathLike, what: str = "folder") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"{what} folder {self.root} does not exist", file=_FLAG)
        self.files = list_images(self.root)
        if not self.files:
            raise ConfigError(
                f"no images ({', '.join(IMAGE_EXTENSIONS)}) found below the {what} folder "
                f"{self.root}",
                file=_FLAG,
            )
        first = self.files[0]
        size, mode = self._header(first)
        for path in self.files[1:]:
            s, m = self._header(path)
            if (s, m) != (size, mode):
                what_differs = "sizes" if s != size else "modes"
                raise ConfigError(
                    f"the {what} folder {self.root} mixes image {what_differs}: {first.name} is "
                    f"{size[0]}x{size[1]} {mode}, {path.relative_to(self.root)} is "
                    f"{s[0]}x{s[1]} {m}; all images of a folder must share size and mode",
                    file=_FLAG,
                )
        #: ``(width, height)`` and PIL mode of every image.
        self.size, self.mode = size, mode
        self.channels = 1 if mode in _GREY_MODES else 3

    @staticmethod
    def _header(path: Path) -> tuple[tuple[int, int], str]:
        try:
            with Image.open(path) as im:  # reads the header only
                return im.size, im.mode
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read image {path}: {e}", file=_FLAG) from e

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_unit_range(read_image(self.files[index], self.channels))


class _FolderSamples(nn.Module):
    """A stand-in generator whose "samples" are the images of a folder, in order.

    ``sampler(n, device)`` hands out the next ``n`` indices, ``forward`` loads them, so a
    metric's own generation loop reads the folder exactly once per evaluation.
    """

    def __init__(self, images: FolderImages) -> None:
        super().__init__()
        self.images = images
        self.cursor = 0

    def sampler(self, n: int, device: Any) -> list[torch.Tensor]:
        if self.cursor + n > len(self.images):
            raise ValueError(
                f"the GENERATED folder holds {len(self.images)} images; a metric asked for more"
            )
        idx = torch.arange(self.cursor, self.cursor + n)
        self.cursor += n
        return [idx]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.images[i] for i in idx.tolist()])


@dataclass
class FolderEvaluation:
    """What :func:`evaluate_folders` returns (``as_dict`` is the JSON it prints)."""

    real: Path
    generated: Path
    num_real: int
    num_generated: int
    device: str
    metrics: dict[str, float]
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(real=os.fspath(self.real), generated=os.fspath(self.generated))
        data["seconds"] = round(self.seconds, 3)
        return data


def folder_metric_names() -> list[str]:
    """The registered metrics that compare generated images with real ones (or score them)."""
    out = []
    for name in METRICS.list():
        obj = METRICS.entry(name).obj
        if isinstance(obj, type) and issubclass(obj, GeneratorMetric):
            out.append(name)
    return out


def parse_metrics(text: str | Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """``"fid,kid"`` or a YAML list (``[fid, {name: kid, args: {subsets: 10}}]``) -> pairs."""
    items: Any = text
    if isinstance(text, str):
        try:
            items = yaml.safe_load(text) if text.strip().startswith("[") else text.split(",")
        except yaml.YAMLError as e:
            first = str(e).splitlines()[0]
            raise ConfigError(f"not a YAML list: {first}", file="--metrics") from e
    out = []
    for item in items or []:
        if isinstance(item, str) and item.strip():
            out.append((item.strip(), {}))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            extra = sorted(set(item) - {"name", "args"})
            args = item.get("args") or {}
            if extra or not isinstance(args, Mapping):
                raise ConfigError(
                    f"expected {{name: <metric>, args: {{...}}}}, got {dict(item)!r}",
                    file="--metrics",
                )
            out.append((item["name"], dict(args)))
        else:
            raise ConfigError(
                f"expected metric names (fid,kid) or {{name, args}} entries, got {item!r}",
                file="--metrics",
            )
    if not out:
        raise ConfigError("no metric given; e.g. --metrics fid,kid", file="--metrics")
    return out


def _build_metric(
    i: int, name: str, args: dict[str, Any], num_real: int, num_fake: int
) -> GeneratorMetric:
    key = f"metrics.{i}.args"
    try:
        entry = lookup(METRICS, name, f"metrics.{i}.name")
        obj = entry.obj
        if not (isinstance(obj, type) and issubclass(obj, GeneratorMetric)):
            raise ConfigError(
                f"metric {name!r} does not score generated images against real ones; folders "
                f"can be scored with: {', '.join(folder_metric_names())}",
                key=f"metrics.{i}.name",
            )
        params = inspect.signature(obj).parameters
        defaults = {
            "num_samples": num_fake,
            "num_real": num_real,
            "reference": "val",
            "cache": False,
        }
        full = {k: v for k, v in defaults.items() if k in params}
        full.update(args)
        for arg, have, what in (
            ("num_samples", num_fake, "GENERATED"),
            ("num_real", num_real, "REAL"),
        ):
            if isinstance(full.get(arg), int) and full[arg] > have:
                raise ConfigError(
                    f"{full[arg]} images asked but the {what} folder holds {have}",
                    key=f"{key}.{arg}",
                )
        return build(METRICS, name, full, key=key)
    except ConfigError as e:
        raise e.with_context(file="--metrics") from e.__cause__


def _call(metric: Any, values: Mapping[str, Any]) -> Any:
    params = inspect.signature(metric.metric_ops).parameters
    return metric.metric_ops(**{k: v for k, v in values.items() if k in params})


def evaluate_folders(
    real: str | os.PathLike,
    generated: str | os.PathLike,
    metrics: str | Sequence[Any] = ("fid",),
    *,
    device: str | torch.device | None = None,
) -> FolderEvaluation:
    """Score the images of ``generated`` against those of ``real``.

    Args:
        real: The folder of real (reference) images.
        generated: The folder of generated images.
        metrics: Metric names (``"fid,kid"``, ``["fid", "kid"]``) or ``{name, args}`` entries
            with arguments as in a config's ``metrics:`` (``extractor``, ``weights``,
            ``batch_size``, ``subsets``, ...).
        device: Where the feature extractor runs (default ``cuda`` when available).

    Raises:
        ConfigError: A folder missing, empty or mixing sizes/modes, an unknown metric or one
            that does not score generated images, or arguments a metric refuses.

    Example:
        >>> result = evaluate_folders("data/real", "runs/x/generated", "fid,kid")  # doctest: +SKIP
        >>> result.metrics  # doctest: +SKIP
        {'fid': 12.3, 'kid': 0.004}
    """
    pairs = parse_metrics(metrics if not isinstance(metrics, tuple) else list(metrics))
    real_images = FolderImages(real, "REAL")
    fake_images = FolderImages(generated, "GENERATED")
    built = [
        _build_metric(i, name, args, len(real_images), len(fake_images))
        for i, (name, args) in enumerate(pairs)
    ]
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("CUDA is not available on this machine; use cpu", file="--device")
    start = time.perf_counter()
    values: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    for (name, _), metric in zip(pairs, built, strict=True):
        samples = _FolderSamples(fake_images)
        loader = DataLoader(real_images, batch_size=getattr(metric, "batch_size", 64))
        value = _call(
            metric,
            {
                "eval_generator": samples,
                "generator": samples,
                "device": dev,
                "val_loader": loader,
                "data_loader": loader,
            },
        )
        label = name if name not in values else f"{name}.{len(values)}"
        values[label] = float(json_value(value))
        details[label] = json_value(dict(getattr(metric, "last_result", {}) or {}))
        if "reference" in details[label]:  # the metric's reference split is the REAL folder
            details[label]["reference"] = "real"
    return FolderEvaluation(
        real=Path(real),
        generated=Path(generated),
        num_real=len(real_images),
        num_generated=len(fake_images),
        device=str(dev),
        metrics=values,
        details=details,
        seconds=time.perf_counter() - start,
    )


def evaluate_folders_command(
    real: str,
    generated: str,
    metrics: str,
    *,
    device: str | None = None,
    stream: Any = None,
) -> int:
    """The ``--evaluate-folders REAL GENERATED`` command: print a table and the JSON.

    Returns:
        The exit code (0).
    """
    stream = stream or sys.stdout
    result = evaluate_folders(real, generated, metrics, device=device)
    print(
        f"evaluated {result.num_generated} images of {result.generated} against "
        f"{result.num_real} of {result.real} on {result.device} in {result.seconds:.1f} s",
        file=stream,
    )
    print(format_table(result), file=stream)
    print(json.dumps(result.as_dict()), file=stream)
    return 0
