"""CelebA in its official directory format, without torchvision's MD5 lock.

`CelebA <https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html>`_ (Liu et al., "Deep Learning Face
Attributes in the Wild", ICCV 2015) ships as ``img_align_celeba/*.jpg`` plus text files.
:class:`torchvision.datasets.CelebA` refuses any directory whose text files do not match the
official MD5 sums, so subsets, CelebA-HQ exports and re-hosted copies fail there. This loader
reads the *format* (and the Kaggle CSV re-export), validates it line by line, and yields what GAN
training needs: a center-cropped, resized image in [-1, 1] and the selected attributes as a
0/1 label vector (the domain labels of `StarGAN <https://arxiv.org/abs/1711.09020>`_).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.datasets import VisionDataset

from .._validation import check_positive_int, close_matches
from ._io import (
    OUTPUTS,
    center_crop_box,
    check_bool,
    check_choice,
    coin,
    dataset_root,
    finish_image,
    read_image,
    resize_image,
    single_threaded,
    size_pair,
)
from .cache_key import CachePlan
from .jpeg_batches import JpegPlan

__all__ = ["CelebA", "read_attribute_file", "read_partition_file"]

ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IMAGE_DIR = "img_align_celeba"
_SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
_SPLITS = ("train", "valid", "test", "all")
#: Seed of the fixed holdout used when there is no partition file (StarGAN-style).
HOLDOUT_SEED = 1234
_LAYOUT = (
    f"celeba/{IMAGE_DIR}/*.jpg, celeba/{ATTR_FILE} and optionally celeba/{PARTITION_FILE} "
    "(root may be celeba/ itself or the folder holding it)"
)
_FILENAME_COLUMNS = {"image_id", "filename", "file", "image", "name"}


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a UTF-8 text file ({e.reason})") from e
    except OSError as e:
        raise type(e)(f"cannot read {path}: {e.strerror or e}") from e
    return text.splitlines()  # handles \n, \r\n and \r


def _tokens(line: str, csv: bool) -> list[str]:
    if csv:
        return [t.strip() for t in line.split(",")]
    return line.split()  # runs of spaces and tabs, trailing space of the header


def read_attribute_file(path: str | os.PathLike) -> tuple[list[str], list[str], np.ndarray]:
    """Parse ``list_attr_celeba.txt`` (or the Kaggle ``list_attr_celeba.csv``).

    The official file has a count line, a header line of attribute names (with a trailing
    space) and one row per image: the file name and one ``1``/``-1`` per attribute, padded with
    runs of spaces. CRLF line ends, a missing count line, a header that starts with a file-name
    column (``image_id``) and ``0`` for "absent" are accepted as well.

    Args:
        path: The attribute file.

    Returns:
        ``(names, filenames, values)`` with ``values`` an ``int8`` array ``[N, len(names)]``
        of 0/1.

    Raises:
        ValueError: The file is empty, or a row is malformed (the message names file and line).
        OSError: The file cannot be read.
    """
    path = Path(path)
    csv = path.suffix.lower() == ".csv"
    lines = _read_lines(path)
    numbered = [(i + 1, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        raise ValueError(f"{path} is empty; expected a count line, a header and one row per image")
    pos = 0
    declared = None
    first = _tokens(numbered[0][1], csv)
    if len(first) == 1 and first[0].isdigit():
        declared = int(first[0])
        pos = 1
    if pos >= len(numbered):
        raise ValueError(f"{path}: no header line with attribute names after line {numbered[0][0]}")
    header_line, header = numbered[pos][0], _tokens(numbered[pos][1], csv)
    if header and header[0].lower() in _FILENAME_COLUMNS:
        header = header[1:]
    if not header or any(h.lstrip("-").isdigit() for h in header):
        raise ValueError(
            f"{path}, line {header_line}: expected a header of attribute names "
            f"(e.g. '5_o_Clock_Shadow Arched_Eyebrows ...'), got {numbered[pos][1][:60]!r}"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(
            f"{path}, line {header_line}: attribute names repeated: {', '.join(dupes)}"
        )
    width = len(header) + 1
    filenames: list[str] = []
    rows: list[list[str]] = []
    for line_no, line in numbered[pos + 1 :]:
        tokens = _tokens(line, csv)
        if len(tokens) != width:
            raise ValueError(
                f"{path}, line {line_no}: expected a file name and {len(header)} values "
                f"(1 or -1), found {len(tokens) - 1} values"
            )
        filenames.append(tokens[0])
        rows.append(tokens[1:])
    if not rows:
        raise ValueError(f"{path} has a header but no image rows")
    try:
        raw = np.asarray(rows, dtype=np.int64)
        bad = ~np.isin(raw, (-1, 0, 1))
    except ValueError:
        bad = np.array([[v not in ("1", "-1", "0") for v in row] for row in rows])
        raw = None
    if bad.any():
        r, c = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(
            f"{path}, line {numbered[pos + 1 + r][0]}: value {rows[r][c]!r} for attribute "
            f"{header[c]!r} is not 1 or -1"
        )
    assert raw is not None
    if declared is not None and declared != len(rows):
        warnings.warn(
            f"{path}: the count line says {declared} images but the file has {len(rows)} rows",
            stacklevel=2,
        )
    dup_files = len(set(filenames)) != len(filenames)
    if dup_files:
        seen: set[str] = set()
        for i, name in enumerate(filenames):
            if name in seen:
                raise ValueError(
                    f"{path}, line {numbered[pos + 1 + i][0]}: image {name!r} is listed twice"
                )
            seen.add(name)
    return list(header), filenames, (raw > 0).astype(np.int8)


def read_partition_file(path: str | os.PathLike) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` (no header; ``000001.jpg 0`` per line; 0/1/2 =
    train/valid/test) or the Kaggle ``list_eval_partition.csv`` (``image_id,partition`` header).

    Raises:
        ValueError: A malformed row (the message names file and line).
    """
    path = Path(path)
    csv = path.suffix.lower() == ".csv"
    out: dict[str, int] = {}
    for i, line in enumerate(_read_lines(path)):
        if not line.strip():
            continue
        tokens = _tokens(line, csv)
        if i == 0 and len(tokens) == 2 and tokens[0].lower() in _FILENAME_COLUMNS:
            continue  # CSV header
        if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
            raise ValueError(
                f"{path}, line {i + 1}: expected '<image file> <0|1|2>', got {line.strip()[:60]!r}"
            )
        out[tokens[0]] = int(tokens[1])
    return out


def _find(directory: Path, name: str) -> Path | None:
    """``name`` (``.txt``) or its Kaggle ``.csv`` twin in ``directory``."""
    for candidate in (directory / name, directory / (Path(name).stem + ".csv")):
        if candidate.is_file():
            return candidate
    return None


class CelebA(VisionDataset):
    """CelebA faces with selected binary attributes, yielding ``(image, labels)``.

    Expected layout (``root`` may be ``celeba/`` or the folder that holds it)::

        celeba/
          img_align_celeba/000001.jpg ...     178x218 aligned faces
          list_attr_celeba.txt                count line, header, one row of 1/-1 per image
          list_eval_partition.txt             optional: '000001.jpg 0' (0 train, 1 valid, 2 test)
          identity_CelebA.txt, list_bbox_celeba.txt, ...   optional, not read

    Each image is decoded with libjpeg-turbo, center-cropped to ``crop_size``, resized
    (bilinear, antialiased) to ``image_size``, flipped at random on the ``train`` split and
    scaled to [-1, 1]. ``labels`` is a float vector of 0/1, one entry per name in
    ``attributes``, in that order.

    Args:
        root: The ``celeba/`` directory or its parent.
        split: ``train``, ``valid``, ``test`` or ``all``. From the partition file; without one,
            a fixed holdout like StarGAN's: the rows are shuffled with seed 1234 and the first
            ``num_test`` form ``test``, the rest ``train`` (``valid`` is then unavailable).
        attributes: Attribute names (as in the header, e.g. ``Black_Hair``); default all.
        crop_size: Center crop, an int (square) or ``[height, width]``; ``None`` keeps the
            whole image. Default 178 (the face region of the 178x218 aligned images).
        image_size: Output size, an int (square) or ``[height, width]``; ``None`` keeps the
            crop size. Default 128.
        flip: Random horizontal flips on the ``train`` split (torch's RNG).
        image_dir: The image folder inside ``celeba/`` (``img_celeba``, a CelebA-HQ export...).
        num_test: Size of the holdout test split when there is no partition file.
        skip_missing: Use only the listed images that exist instead of failing.
        output: ``float`` (images in [-1, 1]) or ``uint8`` (images in [0, 255]: 4x fewer bytes
            from loader workers and to the GPU; the trainer converts uint8 image batches to
            [-1, 1] on the device).

    Attributes:
        attributes: The selected attribute names; ``num_attributes`` (derived by the launcher)
            fills StarGAN's ``c_dim``.
        channels: 3.
        image_size: Output size (an int when square, else ``(height, width)``).
        filenames: Image file names of this split, in file order.
        labels: ``float32`` tensor ``[N, len(attributes)]`` of 0/1.
        all_attributes: Every attribute name of the header.
    """

    def __init__(
        self,
        root: str,
        split: str = "train",
        attributes: Sequence[str] | None = None,
        crop_size: int | Sequence[int] | None = 178,
        image_size: int | Sequence[int] | None = 128,
        flip: bool = True,
        image_dir: str = IMAGE_DIR,
        num_test: int = 2000,
        skip_missing: bool = False,
        output: str = "float",
    ) -> None:
        check_choice(split, _SPLITS, "split", "split")
        self.output = check_choice(output, OUTPUTS, "output", "output")
        self.crop = size_pair(crop_size, "crop_size")
        self.size = size_pair(image_size, "image_size")
        self.flip = check_bool(flip, "flip") and split == "train"
        check_bool(skip_missing, "skip_missing")
        check_positive_int(num_test, "num_test")
        if not isinstance(image_dir, str) or not image_dir:
            raise TypeError(f"image_dir: expected a folder name, got {image_dir!r}")
        base = dataset_root(root, "celeba", (ATTR_FILE, "list_attr_celeba.csv", image_dir), _LAYOUT)
        super().__init__(os.fspath(base))
        self.split = split

        attr_path = _find(base, ATTR_FILE)
        if attr_path is None:
            raise FileNotFoundError(
                f"root: missing attribute file {base / ATTR_FILE}; expected {_LAYOUT}"
            )
        all_names, filenames, values = read_attribute_file(attr_path)
        self.all_attributes = all_names
        self.attributes = self._select(attributes, all_names, attr_path)
        columns = [all_names.index(a) for a in self.attributes]

        rows = self._split_rows(base, filenames, attr_path, num_test)
        self.image_dir = self._image_dir(base, image_dir)
        self._dir = os.fspath(self.image_dir)
        present = set(os.listdir(self.image_dir))
        missing = [i for i in rows if filenames[i] not in present]
        if missing:
            if not skip_missing:
                raise FileNotFoundError(
                    f"root: {len(missing)} of {len(rows)} images of split {split!r} listed in "
                    f"{attr_path} are missing (first: {self.image_dir / filenames[missing[0]]}); "
                    "set skip_missing: true to use only the images present"
                )
            gone = set(missing)
            rows = [i for i in rows if i not in gone]
        self.filenames = [filenames[i] for i in rows]
        index = np.asarray(rows, dtype=np.int64)
        self.labels = torch.from_numpy(values[index][:, columns].astype(np.float32))
        self.channels = 3
        out = self.size or self.crop
        self.image_size = None if out is None else (out[0] if out[0] == out[1] else out)

    # -- construction helpers ------------------------------------------------------------
    @staticmethod
    def _select(attributes: Any, names: list[str], attr_path: Path) -> list[str]:
        if attributes is None:
            return list(names)
        if isinstance(attributes, str) or not isinstance(attributes, Sequence):
            raise TypeError(f"attributes: expected a list of attribute names, got {attributes!r}")
        if not attributes:
            raise ValueError("attributes: the list is empty; leave it out to use all attributes")
        for a in attributes:
            if not isinstance(a, str):
                raise TypeError(f"attributes: attribute names are strings, got {a!r}")
            if a not in names:
                raise ValueError(
                    f"attributes: unknown attribute {a!r} (not in the header of {attr_path}); "
                    f"{close_matches(a, names)}"
                )
        dupes = sorted({a for a in attributes if list(attributes).count(a) > 1})
        if dupes:
            raise ValueError(f"attributes: attributes listed twice: {', '.join(dupes)}")
        return list(attributes)

    def _split_rows(
        self, base: Path, filenames: list[str], attr_path: Path, num_test: int
    ) -> list[int]:
        if self.split == "all":
            return list(range(len(filenames)))
        part_path = _find(base, PARTITION_FILE)
        if part_path is not None:
            partition = read_partition_file(part_path)
            unlisted = [f for f in filenames if f not in partition]
            if unlisted:
                raise ValueError(
                    f"{len(unlisted)} images of {attr_path} are not in {part_path} "
                    f"(first: {unlisted[0]})"
                )
            code = _SPLIT_CODES[self.split]
            return [i for i, f in enumerate(filenames) if partition[f] == code]
        if self.split == "valid":
            raise ValueError(
                f"split: split 'valid' needs {base / PARTITION_FILE}; without a partition file "
                f"the splits are train and test (a fixed holdout of num_test={num_test} images)"
            )
        n = len(filenames)
        if num_test >= n:
            raise ValueError(
                f"num_test: {num_test} leaves no training images ({attr_path} lists {n}); "
                "lower num_test or add a partition file"
            )
        generator = torch.Generator().manual_seed(HOLDOUT_SEED)
        order = torch.randperm(n, generator=generator)
        chosen = order[:num_test] if self.split == "test" else order[num_test:]
        return sorted(chosen.tolist())

    @staticmethod
    def _image_dir(base: Path, name: str) -> Path:
        path = base / name
        if not path.is_dir():
            raise FileNotFoundError(f"image_dir: missing image folder {path}; expected {_LAYOUT}")
        nested = path / name  # the Kaggle copy nests img_align_celeba/img_align_celeba/
        if nested.is_dir() and not any(p.is_file() for p in path.iterdir()):
            return nested
        return path

    # -- items ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.filenames)

    @single_threaded
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self._load(index)
        if self.flip and coin():
            image = image.flip(-1)
        return finish_image(image, self.output), self.labels[index]

    def _load(self, index: int) -> torch.Tensor:
        """The ``uint8`` image ``index`` cropped and resized (no random draw)."""
        path = os.path.join(self._dir, self.filenames[index])  # str: cheaper than Path
        image = read_image(path, 3)
        if self.crop is not None:
            h, w = image.shape[-2:]
            ch, cw = self.crop
            if ch > h or cw > w:
                raise ValueError(
                    f"crop_size: image {path} is {w}x{h} (width x height), smaller than "
                    f"crop_size {cw}x{ch}; lower crop_size or set it to null"
                )
            top, left = center_crop_box(h, w, self.crop)
            image = image[:, top : top + ch, left : left + cw]
        if self.size is not None:
            image = resize_image(image, self.size)
        return image

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: the cropped and resized
        ``uint8`` images and the labels; flips stay random per step."""
        out = self.size or self.crop
        if out is None:
            raise ValueError(
                "dir: celeba with crop_size: null and image_size: null keeps each image's own "
                "size; set image_size (or crop_size) to cache it"
            )
        return CachePlan(
            kind="celeba",
            root=Path(self.root),
            files=[self.image_dir / f for f in self.filenames],
            params={"crop_size": self.crop, "image_size": out, "channels": 3},
            fields={"image": ((out[0], out[1], 3), "uint8")},
            load=self._cache_load,
            finish=self._cache_finish,
            labels=self.labels,
            flip=self.flip,
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self._load(index)}

    def jpeg_plan(self) -> JpegPlan:
        """How :class:`~torchgan_ext.data.jpeg_batches.JpegFiles` decodes the items on the
        training device (``data.decode: cuda``)."""
        out = self.size or self.crop
        if out is None:
            raise ValueError(
                "decode: celeba with crop_size: null and image_size: null keeps each image's "
                "own size; set image_size to decode batches on the GPU"
            )
        files = [os.path.join(self._dir, f) for f in self.filenames]
        return JpegPlan(files, self.labels, self.crop, out, flip=self.flip)

    @staticmethod
    def _cache_finish(fields: dict[str, torch.Tensor], labels: torch.Tensor | None) -> list:
        return [fields["image"], labels]

    def extra_repr(self) -> str:
        return (
            f"Split: {self.split}\nAttributes: {', '.join(self.attributes)}\n"
            f"Crop: {self.crop}, size: {self.size}, flip: {self.flip}"
        )
