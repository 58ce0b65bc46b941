"""Write miniature but faithful CelebA directories (for tests and plugin authors).

The files reproduce the quirks of the official release: ``list_attr_celeba.txt`` starts with a
count line, its header line ends with a space and its rows pad the ``1``/``-1`` values with runs
of spaces; ``list_eval_partition.txt`` has no header; line ends may be CRLF. Images are JPEGs,
178x218 by default (pass a small ``size`` for fast tests).

Example:
    >>> from torchgan_ext.testing import write_celeba
    >>> fake = write_celeba(tmp_path, num_images=12, size=(22, 18))
    >>> # data.args.root = fake.root (or tmp_path, which holds celeba/)
    >>> fake.root == tmp_path / "celeba", fake.labels.shape, fake.filenames[0]
    (True, (12, 40), '000001.jpg')
    >>> len(fake.indices("train")), len(fake.indices("valid")), len(fake.indices("test"))
    (8, 2, 2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = [
    "CELEBA_ATTRIBUTES",
    "FakeCelebA",
    "DrawFace",
    "write_celeba",
    "index_color",
    "celeba_attribute_line",
]

#: The 40 attribute names of ``list_attr_celeba.txt``, in file order.
CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair",
    "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair",
    "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache",
    "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings",
    "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip

#: ``draw(index, attributes, (height, width)) -> uint8 image`` (``[3, H, W]`` tensor or
#: ``[H, W, 3]`` array); ``attributes`` maps every attribute name to True/False.
DrawFace = Callable[[int, Mapping[str, bool], tuple[int, int]], "torch.Tensor | np.ndarray"]


def index_color(index: int) -> tuple[int, int, int]:
    """The flat RGB colour the default drawer gives image ``index`` (JPEG-robust: steps of 32).

    Distinct for the first 512 images; tests recover the index of a loaded image from it.
    """
    return (16 + 32 * (index % 8), 16 + 32 * ((index // 8) % 8), 16 + 32 * ((index // 64) % 8))


def _default_draw(index: int, attributes: Mapping[str, bool], size: tuple[int, int]) -> np.ndarray:
    image = np.empty((size[0], size[1], 3), dtype=np.uint8)
    image[:] = index_color(index)
    return image


def celeba_attribute_line(filename: str, values: Sequence[int]) -> str:
    """One row of ``list_attr_celeba.txt``: values 0/1 written as ``-1``/`` 1`` joined by a
    space, i.e. padded with runs of spaces exactly like the official file."""
    return filename + " " + " ".join(" 1" if v else "-1" for v in values)


@dataclass
class FakeCelebA:
    """What :func:`write_celeba` wrote.

    Attributes:
        root: The ``celeba/`` directory (pass it, or its parent, as ``data.args.root``).
        filenames: Image file names in file order (``000001.jpg`` ...).
        attributes: Attribute names of the header.
        labels: ``int8`` array ``[N, len(attributes)]`` of 0/1 (row ``i`` = ``filenames[i]``).
        partition: Split code per image (0 train, 1 valid, 2 test), or ``None`` without a
            partition file.
        size: ``(height, width)`` of the images.
    """

    root: Path
    filenames: list[str]
    attributes: list[str]
    labels: np.ndarray
    partition: list[int] | None
    size: tuple[int, int]
    files: dict[str, Path] = field(default_factory=dict)

    def indices(self, split: str) -> list[int]:
        """Row indices of ``split`` (``train``/``valid``/``test``/``all``) per the partition."""
        if split == "all":
            return list(range(len(self.filenames)))
        if self.partition is None:
            raise ValueError("written without a partition file")
        code = {"train": 0, "valid": 1, "test": 2}[split]
        return [i for i, p in enumerate(self.partition) if p == code]

    def labels_of(self, index: int, attributes: Sequence[str] | None = None) -> list[int]:
        """The 0/1 labels of image ``index`` for ``attributes`` (default all), in that order."""
        names = list(attributes) if attributes is not None else self.attributes
        return [int(self.labels[index, self.attributes.index(a)]) for a in names]


def _to_hwc(image: torch.Tensor | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if t.dtype != torch.uint8:
        raise TypeError(f"draw must return uint8 images, got {t.dtype}")
    if t.dim() == 3 and t.shape[-1] == 3 and t.shape[0] != 3:
        t = t.permute(2, 0, 1)
    if tuple(t.shape) != (3, size[0], size[1]):
        raise ValueError(f"draw returned shape {tuple(t.shape)}, expected 3x{size[0]}x{size[1]}")
    return t.contiguous()


def _write_text(path: Path, lines: Sequence[str], newline: str) -> None:
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))


def write_celeba(
    root: str | os.PathLike,
    num_images: int = 30,
    *,
    attributes: Sequence[str] = CELEBA_ATTRIBUTES,
    labels: np.ndarray | Sequence[Sequence[int]] | None = None,
    size: tuple[int, int] = (218, 178),
    partition: Sequence[int] | None = (3, 1, 1),
    subdir: str | None = "celeba",
    image_dir: str = "img_align_celeba",
    crlf: bool = False,
    extra_files: bool = True,
    draw: DrawFace | None = None,
    image_format: str = "jpg",
    quality: int = 95,
    seed: int = 0,
) -> FakeCelebA:
    """Write a miniature CelebA directory in the official format.

    Args:
        root: Where to write; the files go to ``root/subdir``.
        num_images: Number of images (named ``000001.jpg`` ...).
        attributes: Header names (default the official 40).
        labels: 0/1 matrix ``[num_images, len(attributes)]``; default random (``seed``).
        size: ``(height, width)`` of the images; the official aligned images are 218x178.
        partition: Relative sizes of the train/valid/test blocks (contiguous, in file order,
            like the official file), or ``None`` to write no ``list_eval_partition.txt``.
        subdir: Folder created under ``root`` (``None`` writes into ``root`` itself).
        image_dir: Name of the image folder.
        crlf: Write ``\\r\\n`` line ends (as some re-hosted copies have).
        extra_files: Also write ``identity_CelebA.txt``, ``list_bbox_celeba.txt`` and
            ``list_landmarks_align_celeba.txt`` (the loader does not need them).
        draw: ``draw(index, {name: bool}, (h, w))`` returns the uint8 image of one face;
            default: a flat colour :func:`index_color` ``(index)``, so tests can tell which file
            a loaded image came from. Use it to encode attributes visibly in the images.
        image_format: ``jpg`` (default) or ``png``; file names keep the ``.jpg`` ending only
            for ``jpg``.
        quality: JPEG quality.
        seed: Seed of the random labels.

    Returns:
        A :class:`FakeCelebA` describing the files.
    """
    base = Path(root) / subdir if subdir else Path(root)
    images = base / image_dir
    images.mkdir(parents=True, exist_ok=True)
    names = list(attributes)
    rng = np.random.default_rng(seed)
    if labels is None:
        values = (rng.random((num_images, len(names))) < 0.5).astype(np.int8)
    else:
        values = np.asarray(labels, dtype=np.int8)
        if values.shape != (num_images, len(names)):
            raise ValueError(f"labels must be {num_images}x{len(names)}, got {values.shape}")
    ext = {"jpg": ".jpg", "png": ".png"}[image_format]
    filenames = [f"{i + 1:06d}{ext}" for i in range(num_images)]
    draw = draw or _default_draw
    for i, name in enumerate(filenames):
        flags = {a: bool(values[i, j]) for j, a in enumerate(names)}
        image = _to_hwc(draw(i, flags, size), size)
        pil = Image.fromarray(image.permute(1, 2, 0).numpy())
        if ext == ".jpg":
            pil.save(images / name, format="JPEG", quality=quality)
        else:
            pil.save(images / name, format="PNG")

    nl = "\r\n" if crlf else "\n"
    files = {"attributes": base / "list_attr_celeba.txt"}
    lines = [str(num_images), " ".join(names) + " "]
    lines += [celeba_attribute_line(f, values[i]) for i, f in enumerate(filenames)]
    _write_text(files["attributes"], lines, nl)

    codes: list[int] | None = None
    if partition is not None:
        weights = np.asarray(partition, dtype=np.float64)
        counts = np.floor(weights / weights.sum() * num_images).astype(int)
        counts[0] += num_images - counts.sum()
        codes = [c for c, n in enumerate(counts) for _ in range(n)]
        files["partition"] = base / "list_eval_partition.txt"
        _write_text(files["partition"], [f"{f} {c}" for f, c in zip(filenames, codes)], nl)

    if extra_files:
        h, w = size
        files["identity"] = base / "identity_CelebA.txt"
        _write_text(files["identity"], [f"{f} {1 + i % 7}" for i, f in enumerate(filenames)], nl)
        files["bbox"] = base / "list_bbox_celeba.txt"
        bbox = [f"{f:<20s}{w // 4:<6d}{h // 4:<6d}{w // 2:<6d}{h // 2:<6d}" for f in filenames]
        _write_text(files["bbox"], [str(num_images), "image_id x_1 y_1 width height "] + bbox, nl)
        files["landmarks"] = base / "list_landmarks_align_celeba.txt"
        header = (
            "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
            "leftmouth_x leftmouth_y rightmouth_x rightmouth_y "
        )
        pts = [w * 2 // 5, h * 2 // 5, w * 3 // 5, h * 2 // 5, w // 2, h // 2]
        pts += [w * 2 // 5, h * 3 // 5, w * 3 // 5, h * 3 // 5]
        row = "".join(f"{p:>6d}" for p in pts)
        _write_text(
            files["landmarks"], [str(num_images), header] + [f + row for f in filenames], nl
        )
    return FakeCelebA(
        root=base,
        filenames=filenames,
        attributes=names,
        labels=values,
        partition=codes,
        size=(int(size[0]), int(size[1])),
        files=files,
    )
