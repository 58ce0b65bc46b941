"""Write miniature but faithful Cityscapes directories (for tests and plugin authors).

The layout and file names follow the official release (``leftImg8bit/<split>/<city>/
<city>_<seq>_<frame>_leftImg8bit.png``, ``gtFine/...`` with ``_labelIds.png`` (8-bit grey),
``_instanceIds.png`` (16-bit grey: ``id * 1000 + k`` for instance classes), ``_color.png``
(RGBA) and ``_polygons.json``); stray files such as ``license.txt`` and ``.DS_Store`` are
included, so loaders are tested against them.

The default images encode their label map and position, so tests can check that crops, flips
and resizing keep image and target aligned: pixel ``(y, x)`` of the full image is
``(7 * label_id, x % 256, y % 256)`` (see :func:`cityscapes_pixel`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.cityscapes import CITYSCAPES_CLASSES

__all__ = [
    "FakeCityscapes",
    "DrawScene",
    "write_cityscapes",
    "cityscapes_pixel",
    "CITY_NAMES",
]

#: City folders used per split (real names of the official release).
CITY_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("aachen", "bochum", "bremen", "cologne"),
    "val": ("frankfurt", "lindau", "munster"),
    "test": ("berlin", "bielefeld", "bonn"),
    "train_extra": ("augsburg", "bad-honnef", "bamberg"),
}

#: ``draw(label_ids [H, W] uint8 array, image index) -> [H, W, 3] uint8 array``.
DrawScene = Callable[[np.ndarray, int], np.ndarray]

_BY_ID = {c.id: c for c in CITYSCAPES_CLASSES if c.id >= 0}


def cityscapes_pixel(label_id: int, y: int, x: int) -> tuple[int, int, int]:
    """The RGB value the default drawer writes at full-resolution pixel ``(y, x)``."""
    return 7 * label_id, x % 256, y % 256


def _default_draw(label_ids: np.ndarray, index: int) -> np.ndarray:
    h, w = label_ids.shape
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[..., 0] = label_ids * 7
    image[..., 1] = (np.arange(w) % 256)[None, :]
    image[..., 2] = (np.arange(h) % 256)[:, None]
    return image


@dataclass
class FakeCityscapes:
    """What :func:`write_cityscapes` wrote.

    Attributes:
        root: The ``cityscapes/`` directory (pass it, or its parent, as ``data.args.root``).
        images: Per split, the image paths in the loader's order (sorted by city, name).
        label_ids: Label-id map (``uint8 [H, W]``) per image path.
        size: ``(height, width)`` of the images.
    """

    root: Path
    images: dict[str, list[Path]]
    label_ids: dict[Path, np.ndarray]
    size: tuple[int, int]
    stray: list[Path] = field(default_factory=list)

    def target_path(self, image: Path, kind: str = "labelIds", mode: str = "gtFine") -> Path:
        """The annotation file of ``image`` (``kind``: labelIds, color, instanceIds, polygons)."""
        split, city = image.parent.parent.name, image.parent.name
        stem = image.name[: -len("_leftImg8bit.png")]
        ext = "json" if kind == "polygons" else "png"
        return self.root / mode / split / city / f"{stem}_{mode}_{kind}.{ext}"


def _label_map(rng: np.random.Generator, size: tuple[int, int], block: int, coarse: bool):
    h, w = size
    bh, bw = -(-h // block), -(-w // block)
    blocks = rng.integers(0, 34, size=(bh, bw)).astype(np.uint8)
    if coarse:  # coarse annotations leave much unlabeled
        blocks[rng.random((bh, bw)) < 0.5] = 0
    ids = np.kron(blocks, np.ones((block, block), dtype=np.uint8))[:h, :w]
    block_index = np.kron(
        np.arange(bh * bw, dtype=np.int64).reshape(bh, bw), np.ones((block, block), np.int64)
    )[:h, :w]
    return ids, blocks, block_index


def _write_annotations(
    folder: Path, stem: str, mode: str, ids: np.ndarray, blocks: np.ndarray, block_index, block
) -> None:
    prefix = folder / f"{stem}_{mode}_"
    Image.fromarray(ids).save(f"{prefix}labelIds.png")
    inst_class = np.vectorize(lambda i: _BY_ID[int(i)].has_instances)(ids)
    instance = np.where(inst_class, ids.astype(np.int64) * 1000 + block_index, ids)
    Image.fromarray(instance.astype(np.uint16)).save(f"{prefix}instanceIds.png")
    palette = np.array([_BY_ID[i].color for i in range(34)], dtype=np.uint8)
    rgba = np.concatenate([palette[ids], np.full(ids.shape + (1,), 255, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(f"{prefix}color.png")
    h, w = ids.shape
    objects = []
    for (by, bx), label in np.ndenumerate(blocks):
        x0, y0 = bx * block, by * block
        x1, y1 = min(w, x0 + block) - 1, min(h, y0 + block) - 1
        poly = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        objects.append({"label": _BY_ID[int(label)].name, "polygon": poly})
    doc = {"imgHeight": h, "imgWidth": w, "objects": objects}
    Path(f"{prefix}polygons.json").write_text(json.dumps(doc, indent=4), encoding="utf-8")


def write_cityscapes(
    root: str | os.PathLike,
    *,
    images: Mapping[str, int] | None = None,
    modes: Sequence[str] = ("fine",),
    size: tuple[int, int] = (32, 64),
    cities_per_split: int = 2,
    block: int = 4,
    subdir: str | None = "cityscapes",
    stray_files: bool = True,
    draw: DrawScene | None = None,
    seed: int = 0,
) -> FakeCityscapes:
    """Write a miniature Cityscapes directory in the official layout.

    Args:
        root: Where to write; the files go to ``root/subdir``.
        images: Number of images per split (``train``, ``val``, ``test``, ``train_extra``),
            spread over ``cities_per_split`` cities; default ``{train: 4, val: 2, test: 2}``.
        modes: Annotations to write: ``fine`` (``gtFine`` for train/val/test) and/or
            ``coarse`` (``gtCoarse`` for train/train_extra/val).
        size: ``(height, width)`` (the real images are 1024x2048).
        cities_per_split: Number of city folders per split (at most 3 or 4).
        block: Label maps are random label ids (0..33) in ``block x block`` squares.
        subdir: Folder created under ``root`` (``None`` writes into ``root`` itself).
        stray_files: Also write ``license.txt``, ``README`` and ``.DS_Store``-like files that a
            loader must ignore.
        draw: ``draw(label_ids, index) -> [H, W, 3] uint8`` image; default encodes label and
            position (:func:`cityscapes_pixel`).
        seed: Seed of the label maps.

    Returns:
        A :class:`FakeCityscapes` with the paths and label maps.
    """
    base = Path(root) / subdir if subdir else Path(root)
    counts = dict(images) if images is not None else {"train": 4, "val": 2, "test": 2}
    unknown = set(counts) - set(CITY_NAMES)
    if unknown:
        raise ValueError(f"unknown splits {sorted(unknown)}; valid: {sorted(CITY_NAMES)}")
    bad_modes = set(modes) - {"fine", "coarse"}
    if bad_modes:
        raise ValueError(f"unknown modes {sorted(bad_modes)}; valid: fine, coarse")
    annotated = {"fine": ("train", "val", "test"), "coarse": ("train", "train_extra", "val")}
    rng = np.random.default_rng(seed)
    draw = draw or _default_draw
    written: dict[str, list[Path]] = {}
    label_ids: dict[Path, np.ndarray] = {}
    stray: list[Path] = []
    index = 0
    for split, n in counts.items():
        cities = CITY_NAMES[split][: max(1, cities_per_split)]
        paths = []
        for k in range(n):
            city = cities[k % len(cities)]
            stem = f"{city}_{k // len(cities):06d}_{19 + 10 * k:06d}"
            folder = base / "leftImg8bit" / split / city
            folder.mkdir(parents=True, exist_ok=True)
            ids, blocks, block_index = _label_map(rng, size, block, coarse=split == "train_extra")
            image = np.asarray(draw(ids, index), dtype=np.uint8)
            if image.shape != (size[0], size[1], 3):
                raise ValueError(f"draw returned shape {image.shape}, expected {(*size, 3)}")
            path = folder / f"{stem}_leftImg8bit.png"
            Image.fromarray(image).save(path)
            for mode in modes:
                if split in annotated[mode]:
                    gt = "gtFine" if mode == "fine" else "gtCoarse"
                    gt_folder = base / gt / split / city
                    gt_folder.mkdir(parents=True, exist_ok=True)
                    _write_annotations(gt_folder, stem, gt, ids, blocks, block_index, block)
            paths.append(path)
            label_ids[path] = ids
            index += 1
        written[split] = sorted(paths, key=lambda p: (p.parent.name, p.name))
    if stray_files:
        base.mkdir(parents=True, exist_ok=True)
        for name in ("license.txt", "README"):
            (base / name).write_text("The Cityscapes Dataset (miniature test copy)\n")
            stray.append(base / name)
        for split in (s for s, n in counts.items() if n > 0):
            split_dir = base / "leftImg8bit" / split
            (split_dir / "Thumbs.db").write_bytes(b"\0" * 8)
            first_city = sorted(p for p in split_dir.iterdir() if p.is_dir())[0]
            (first_city / ".DS_Store").write_bytes(b"\0" * 8)
            (first_city / "notes.txt").write_text("not an image\n")
            stray += [split_dir / "Thumbs.db", first_city / ".DS_Store", first_city / "notes.txt"]
    return FakeCityscapes(
        root=base, images=written, label_ids=label_ids, size=(size[0], size[1]), stray=stray
    )
