"""``torchgan-run CONFIG --sample N [CHECKPOINT]``: PNG images from a trained generator.

The generator comes from :func:`torchgan_ext.inference.load_run` (the EMA weights when the run
kept an average, unless ``raw``); no training data is read. What is generated depends on the
generator's inputs:

* **noise** (DCGAN, SAGAN, BigGAN, ...): ``N`` images from ``generator.sampler`` into
  ``generated/000000.png`` ...;
* **class-conditional** (``num_classes`` and a ``label_type`` other than ``none``: conditional
  GAN, ACGAN, conditional SAGAN/BigGAN; the labels are the sampler's second input): ``N``
  images per chosen class (default every class) into ``generated/class_<k>/``; every class
  gets the same noise;
* **image to image** (generators with ``sample_grid``: super-resolution, translation,
  inpainting): the first ``N`` images of an ``inputs`` folder (sorted by path), each written
  under its own name (an inpainting generator's ``inpaint(x)``, the completed image, where it
  has one); a generator that also takes a target domain (StarGAN) writes one folder per target
  (``generated/<attribute>+<attribute>/``), by default one per attribute set alone. A
  generator of one-hot Cityscapes label maps (``cityscapes_pairs`` with ``label_format:
  onehot``) takes label-map PNGs: ``_gtFine_labelIds.png`` (grey) or colour maps
  (``_gtFine_color.png``, the official palette), converted as the dataset does.

A generator with a ``truncation_psi`` attribute (StyleGAN2) samples with that :math:`\\psi`
(the run's model argument, 1 by default); ``truncation`` (``--truncation PSI``) replaces it.

The noise is drawn on the CPU from ``seed`` in a forked RNG, once for all ``N`` images, so the
images do not depend on the batch size or the device's random streams.
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .config import Config
from .data._io import read_image, to_unit_range
from .data.cityscapes_pairs import (
    NUM_TRAIN_IDS,
    label_ids_to_onehot,
    read_label_ids,
    train_ids_to_onehot,
)
from .data.image_folder import list_images
from .errors import ConfigError
from .inference import LoadedRun, load_run
from .metrics.segmentation_labels import label_to_train_ids
from .trainer.checkpoint import list_checkpoints

__all__ = [
    "SampleResult",
    "generator_kind",
    "sample_images",
    "sample_command",
    "parse_classes",
    "to_png_array",
]

#: Name of the folder under ``out_dir`` that ``--sample`` writes.
GENERATED = "generated"


@dataclass
class SampleResult:
    """What :func:`sample_images` wrote."""

    directory: Path
    files: list[Path]
    kind: str
    folders: list[str] = field(default_factory=list)


def generator_kind(generator: nn.Module) -> str:
    """``"noise"``, ``"class"`` (class-conditional), ``"image"`` (image to image) or
    ``"image+target"`` (image and a target domain, as StarGAN)."""
    if callable(getattr(generator, "sample_grid", None)):
        params = [
            p
            for p in inspect.signature(generator.forward).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return "image+target" if len(params) >= 2 else "image"
    classes = getattr(generator, "num_classes", None)
    if isinstance(classes, int) and getattr(generator, "label_type", "none") != "none":
        return "class"
    return "noise"


def to_png_array(image: torch.Tensor) -> np.ndarray:
    """An image ``[C, H, W]`` in [-1, 1] as ``uint8`` ``[H, W]`` (grey) or ``[H, W, 3]``."""
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(
            f"the generator must return images [N, 1 or 3, H, W], got {tuple(image.shape)}"
        )
    x = ((image.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _save(image: torch.Tensor, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_png_array(image)).save(path)
    return path


def parse_classes(text: str | Sequence[int], num_classes: int) -> list[int]:
    """``"0,3"`` (or a list of ints) -> class indices, each checked against ``num_classes``."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    out = []
    for item in items:
        try:
            k = int(item)
        except (TypeError, ValueError):
            raise ConfigError(
                f"expected class indices separated by commas, got {item!r}", file="--classes"
            ) from None
        if not 0 <= k < num_classes:
            raise ConfigError(
                f"class {k} is out of range: the generator has {num_classes} classes "
                f"(0 to {num_classes - 1})",
                file="--classes",
            )
        out.append(k)
    if not out:
        raise ConfigError("no class given", file="--classes")
    return out


def _target_vector(spec: str, generator: nn.Module) -> tuple[str, torch.Tensor]:
    c_dim = int(getattr(generator, "c_dim", 0) or 0)
    if c_dim < 1:
        raise ConfigError(
            f"{type(generator).__name__} has no c_dim: the number of target attributes is unknown",
            file="--target",
        )
    names = list(getattr(generator, "attributes", None) or [str(i) for i in range(c_dim)])
    vec = torch.zeros(c_dim)
    chosen = [s.strip() for s in spec.split(",") if s.strip()] if spec.strip() else []
    for item in chosen:
        if item in names:
            vec[names.index(item)] = 1
        elif item.isdigit() and int(item) < c_dim:
            vec[int(item)] = 1
        else:
            raise ConfigError(
                f"unknown target attribute {item!r}; the generator's attributes: "
                f"{', '.join(names)} (or indices 0 to {c_dim - 1})",
                file="--target",
            )
    for group in getattr(generator, "exclusive_groups", ()) or ():
        if int(vec[list(group)].sum()) > 1:
            members = ", ".join(names[i] for i in group)
            raise ConfigError(
                f"{spec!r} sets more than one of the exclusive attributes {members}",
                file="--target",
            )
    label = "+".join(names[i] for i in range(c_dim) if vec[i]) or "none"
    return label, vec


def _input_images(inputs: str | os.PathLike | None, num: int) -> list[Path]:
    if inputs is None:
        raise ConfigError(
            "this generator translates images (super-resolution or image to image); pass "
            "--input DIR with the images to translate",
            file="--sample",
        )
    root = Path(inputs)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory of images", file="--input")
    files = list_images(root)
    if not files:
        raise ConfigError(f"no images (.jpg, .jpeg, .png, .webp) found below {root}", "--input")
    if num > len(files):
        raise ConfigError(
            f"{num} images asked but {root} holds {len(files)}; ask for at most {len(files)}",
            file="--sample",
        )
    return files[:num]


def _prepare(directory: Path, overwrite: bool) -> None:
    if directory.exists() and any(directory.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"{directory} already holds files; pass --overwrite to replace them",
                file="--sample",
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)


@torch.no_grad()
def sample_images(
    run: LoadedRun,
    num: int,
    directory: str | os.PathLike,
    *,
    seed: int = 0,
    classes: str | Sequence[int] | None = None,
    targets: Sequence[str] | None = None,
    inputs: str | os.PathLike | None = None,
    batch_size: int = 64,
    truncation: float | None = None,
    overwrite: bool = False,
) -> SampleResult:
    """Write PNG images of ``run.generator`` into ``directory`` (see the module docs).

    Args:
        run: A loaded run (:func:`~torchgan_ext.inference.load_run`).
        num: Images to write (per class for class-conditional generators; the number of input
            images for image-to-image generators, per target for StarGAN).
        directory: Where the PNG files go (``out_dir/generated`` for ``--sample``).
        seed: Seed of the noise.
        classes: Class indices (``"0,3"`` or a list); default every class.
        targets: Target attribute sets of a translation generator, each ``"A,B"`` (names or
            indices); default one per attribute.
        inputs: A folder of input images for image-to-image generators.
        batch_size: Images per forward pass.
        truncation: :math:`\\psi` (finite, >= 0) for a generator with ``truncation_psi`` (set on
            ``run.generator``).
        overwrite: Replace the files of a non-empty ``directory``.

    Raises:
        ConfigError: One line naming the flag (``--sample``, ``--classes``, ``--target``,
            ``--input``, ``--truncation``) for a count <= 0, a class out of range, a missing
            input folder, ...
    """
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ConfigError(f"the number of images must be >= 1, got {num!r}", file="--sample")
    g = run.generator
    kind = generator_kind(g)
    if classes is not None and kind != "class":
        raise ConfigError(
            f"{type(g).__name__} is not class-conditional; --classes applies to generators "
            "with num_classes",
            file="--classes",
        )
    if targets and kind != "image+target":
        raise ConfigError(
            f"{type(g).__name__} takes no target domain; --target applies to StarGAN-like "
            "generators",
            file="--target",
        )
    if inputs is not None and not kind.startswith("image"):
        raise ConfigError(
            f"{type(g).__name__} generates from noise and takes no input images", file="--input"
        )
    if truncation is not None:
        _set_truncation(g, truncation)
    files = _input_images(inputs, num) if kind.startswith("image") else []
    out = Path(directory)
    # every argument is checked before anything is removed or written
    class_list = parse_classes(classes, g.num_classes) if kind == "class" and classes else None
    target_list = [_target_vector(t, g) for t in targets] if targets else None
    read = _input_reader(run, g) if kind.startswith("image") else None
    _prepare(out, overwrite)
    if read is not None:
        return _translate(run, files, Path(inputs), out, kind, target_list, read)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        noise = [t.cpu() for t in g.sampler(num, "cpu")]
    written: list[Path] = []
    folders: list[str] = []
    groups: list[tuple[str, int | None]] = [("", None)]
    if kind == "class":
        if len(noise) < 2:
            raise ConfigError(
                f"{type(g).__name__}.sampler returns no labels (expected [noise, labels])",
                file="--sample",
            )
        chosen = class_list if class_list is not None else list(range(g.num_classes))
        groups = [(f"class_{k}", k) for k in chosen]
    width = max(6, len(str(num - 1)))
    for folder, label in groups:
        if folder:
            folders.append(folder)
        inputs_k = list(noise)
        if label is not None:
            inputs_k[1] = torch.full_like(noise[1], label)
        for start in range(0, num, batch_size):
            batch = [t[start : start + batch_size].to(run.device) for t in inputs_k]
            images = g(*batch)
            for i, image in enumerate(images):
                name = f"{start + i:0{width}d}.png"
                written.append(_save(image, out / folder / name if folder else out / name))
    return SampleResult(out, written, kind, folders)


def _onehot_label_map(path: Path) -> torch.Tensor:
    """A label-map PNG as ``cityscapes_pairs``' ``onehot`` input ``[19, H, W]``: a grey map
    holds label ids (``_gtFine_labelIds.png``, the dataset's source), any other a colour map
    (the official palette, read back as :func:`~torchgan_ext.metrics.label_to_train_ids`
    does)."""
    if read_image(path, unchanged=True).shape[0] == 1:
        return label_ids_to_onehot(read_label_ids(path))
    colours = to_unit_range(read_image(path, 3)).unsqueeze(0)
    try:
        train_ids = label_to_train_ids(colours, "color")[0]
    except ValueError as e:
        raise ValueError(f"{path}: {str(e).removeprefix('label_input: ')}") from e
    return train_ids_to_onehot(train_ids)


def _input_reader(run: LoadedRun, g: nn.Module) -> Callable[[Path], torch.Tensor]:
    """How an input file becomes the generator's input ``[C, H, W]``."""
    channels = getattr(g, "in_channels", 3)
    if channels in (1, 3):
        return lambda path: to_unit_range(read_image(path, channels))
    data = run.config.data
    if channels == NUM_TRAIN_IDS and data.args.get("label_format") == "onehot":
        return _onehot_label_map
    raise ConfigError(
        f"{type(g).__name__} takes {channels}-channel inputs (data {data.name!r}), which "
        "cannot be built from image files; valid: generators of grey or RGB images, and "
        f"of cityscapes_pairs' {NUM_TRAIN_IDS}-channel label maps (label_format: onehot)",
        file="--input",
    )


def _set_truncation(g: nn.Module, psi: float) -> None:
    if not hasattr(g, "truncation_psi"):
        raise ConfigError(
            f"{type(g).__name__} has no truncation (no truncation_psi attribute); --truncation "
            "applies to StyleGAN2-like generators",
            file="--truncation",
        )
    if (
        isinstance(psi, bool)
        or not isinstance(psi, int | float)
        or not (psi >= 0 and math.isfinite(psi))
    ):
        raise ConfigError(f"psi must be a finite number >= 0, got {psi!r}", file="--truncation")
    g.truncation_psi = float(psi)


def _translate(
    run: LoadedRun,
    files: list[Path],
    root: Path,
    out: Path,
    kind: str,
    targets: list[tuple[str, torch.Tensor]] | None,
    read: Callable[[Path], torch.Tensor],
) -> SampleResult:
    g = run.generator
    if kind == "image+target" and targets is None:
        c_dim = int(getattr(g, "c_dim", 0) or 0)
        names = list(getattr(g, "attributes", None) or range(c_dim))
        targets = [_target_vector(str(n), g) for n in names]
    written: list[Path] = []
    for path in files:
        try:
            x = read(path)
        except (OSError, ValueError) as e:
            raise ConfigError(str(e).splitlines()[0], file="--input") from e
        x = x.unsqueeze(0).to(run.device)
        rel = path.relative_to(root).with_suffix(".png")
        try:
            if targets is None:
                # inpainting generators (the Context Encoder) mask, predict and paste themselves
                inpaint = getattr(g, "inpaint", None)
                y = inpaint(x) if callable(inpaint) else g(x)
                written.append(_save(y[0], out / rel))
                continue
            for label, vec in targets:
                y = g(x, vec.unsqueeze(0).to(run.device))
                written.append(_save(y[0], out / label / rel))
        except (RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0]
            raise ConfigError(
                f"{path}: the generator cannot take this image: {first}", file="--input"
            ) from e
    folders = [label for label, _ in targets] if targets else []
    return SampleResult(out, written, kind, folders)


def _run_config(config: Config, checkpoint: Path | None) -> Path:
    """The resolved ``config.yaml`` of the run that wrote ``checkpoint`` (or of ``out_dir``)."""
    candidates = [Path(config.out_dir) / "config.yaml"]
    if checkpoint is not None:
        candidates.insert(0, checkpoint.parent.parent / "config.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError(
        f"no config.yaml of the run at {candidates[0]} (the resolved config a run writes when it "
        "starts); train the run first",
        file="--sample",
    )


def sample_command(
    config: Config,
    spec: Sequence[str],
    *,
    raw: bool = False,
    classes: str | None = None,
    targets: Sequence[str] | None = None,
    inputs: str | None = None,
    seed: int | None = None,
    truncation: float | None = None,
    overwrite: bool = False,
    device: str | None = None,
    stream: Any = None,
) -> int:
    """The ``--sample N [CHECKPOINT]`` command: write PNGs into ``out_dir/generated``.

    Returns:
        The exit code (0).
    """
    stream = stream or sys.stdout
    if not spec or len(spec) > 2:
        raise ConfigError(
            f"expected N [CHECKPOINT], got {len(spec)} values: {' '.join(spec)}", file="--sample"
        )
    try:
        num = int(spec[0])
    except ValueError:
        raise ConfigError(f"N must be an integer, got {spec[0]!r}", file="--sample") from None
    if num < 1:
        raise ConfigError(f"N must be >= 1, got {num}", file="--sample")
    checkpoint = Path(spec[1]) if len(spec) == 2 else None
    if checkpoint is not None and not checkpoint.is_file():
        raise ConfigError(f"checkpoint {checkpoint} does not exist", file="--sample")
    directory = Path(config.out_dir) / "checkpoints"
    if checkpoint is None and not list_checkpoints(directory):
        raise ConfigError(
            f"no checkpoint in {directory} to sample from; train the run first (torchgan-run "
            f"{config.source}) or pass one: --sample {num} PATH/TO/ckpt-00001000.pt",
            file="--sample",
        )
    if "generator" not in config.models:
        raise ConfigError(
            f"the run has no model named 'generator' (models: {', '.join(config.models)})",
            file="--sample",
        )
    run = load_run(
        checkpoint if checkpoint is not None else config.out_dir,
        device=device or config.device,
        ema=not raw,
        models=["generator"],
        config=_run_config(config, checkpoint),
    )
    result = sample_images(
        run,
        num,
        Path(config.out_dir) / GENERATED,
        seed=config.seed if seed is None else seed,
        classes=classes,
        targets=targets,
        inputs=inputs,
        truncation=truncation,
        overwrite=overwrite,
    )
    where = f" in {len(result.folders)} folders" if result.folders else ""
    print(
        f"wrote {len(result.files)} images{where} to {result.directory} ({run.weights['generator']}"
        f" generator of {run.checkpoint}, step {run.step})",
        file=stream,
    )
    return 0
