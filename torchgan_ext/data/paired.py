"""Image pairs for translation: aligned ``A|B`` files, parallel folders, unpaired domains.

The layouts of the pix2pix and CycleGAN authors' datasets (Isola et al.,
https://arxiv.org/abs/1611.07004; Zhu et al., https://arxiv.org/abs/1703.10593):

* :class:`PairedImages`, ``layout: aligned``: ``root/<split>/*.jpg``, each file the input
  ``A`` and the target ``B`` side by side (width twice the height), as the authors' facades,
  maps, cityscapes and edges2* archives; ``layout: folders``: ``root/A/<split>/name.png``
  and ``root/B/<split>/name.png`` with the same file names (the input of their
  ``combine_A_and_B.py``).
* :class:`UnpairedImages`: ``root/trainA``, ``root/trainB``, ``root/testA``, ``root/testB``
  (horse2zebra, monet2photo, ...).

Training splits get the papers' jitter: both images resized to ``load_size`` (286 for 256
crops), the same random ``image_size`` crop and the same random horizontal flip; other
splits are resized to ``image_size``. Items are ``(a, b)`` in [-1, 1]: the trainer's
``real_inputs`` and ``labels``.

The decoded cache (``data.cache``) stores :class:`PairedImages`' A and B squashed to
``load_size`` (``image_size`` off the training splits), with the crop and flip per step, one
window for both; :class:`UnpairedImages` is not cached (its pairing is the random part).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image
from torchvision.datasets import VisionDataset

from ._io import (
    check_bool,
    check_choice,
    read_image,
    single_threaded,
    to_unit_range,
)
from .cache_key import CachePlan
from .image_folder import list_images
from .jitter import check_square_size, jitter, jitter_cache_plan, stored_side
from .jitter import load_size_of as _load_size

__all__ = ["PairedImages", "UnpairedImages"]

_TRAIN_SPLITS = ("train", "train_extra")


def _channels(value: object, arg: str) -> int:
    if value not in (1, 3) or isinstance(value, bool):
        raise ValueError(f"{arg}: must be 1 or 3, got {value!r}")
    return int(value)  # type: ignore[arg-type]


def _splits(root: Path) -> str:
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    return ", ".join(found) if found else "none"


class _TranslationFolder(VisionDataset):
    """The arguments every translation folder shares (root, split, sizes, flip)."""

    def _setup(
        self, root: object, split: str, image_size: object, load_size: object, flip: object
    ) -> Path:
        if root is None or not isinstance(root, str | os.PathLike):
            raise TypeError(f"root: expected a directory path, got {root!r}")
        base = Path(root).expanduser()
        if not base.is_dir():
            raise FileNotFoundError(f"root: dataset folder {base} does not exist")
        super().__init__(os.fspath(base))
        self.split = split
        self.image_size = check_square_size(image_size, "image_size")
        self.load_size = _load_size(load_size, self.image_size)
        self.train = split in _TRAIN_SPLITS
        self.flip = check_bool(flip, "flip")
        return base


class PairedImages(_TranslationFolder):
    """Aligned image pairs ``(a, b)`` for pix2pix.

    Args:
        root: The dataset folder (``facades/``, ``cityscapes/`` of the authors' archives).
        split: The split folder (``train``, ``val``, ``test``).
        layout: ``aligned`` (``root/<split>/*``, A|B side by side) or ``folders``
            (``root/A/<split>/name`` and ``root/B/<split>/name``).
        direction: ``a2b`` (input A, target B) or ``b2a`` (swapped, the authors'
            ``--direction BtoA``).
        image_size: Side of the square output images (256).
        load_size: Side both images are resized to before the random crop on the training
            split (286 for the papers' jitter); default ``image_size`` (no crop).
        flip: The same random horizontal flip of both images on the training split.
        channels_a: Channels read for A (3 RGB or 1 grey).
        channels_b: Channels read for B.

    Attributes:
        channels_a, channels_b: Channels of input and target (after ``direction``).
        channels: Channels of the target images (what a generator produces).
        image_size: The output side.
        files: The image files (``aligned``) or ``(a, b)`` file pairs (``folders``).
    """

    def __init__(
        self,
        root: str,
        split: str = "train",
        layout: str = "aligned",
        direction: str = "a2b",
        image_size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        channels_a: int = 3,
        channels_b: int = 3,
    ) -> None:
        base = self._setup(root, split, image_size, load_size, flip)
        self.layout = check_choice(layout, ("aligned", "folders"), "layout", "layout")
        self.direction = check_choice(direction, ("a2b", "b2a"), "direction", "direction")
        read = (_channels(channels_a, "channels_a"), _channels(channels_b, "channels_b"))
        self.read_channels = read
        self.channels_a, self.channels_b = read if direction == "a2b" else read[::-1]
        self.channels = self.channels_b
        if self.layout == "aligned":
            self.files = self._aligned(base, split)
            self._check_aligned(self.files[0])
        else:
            self.files = self._folders(base, split)

    @staticmethod
    def _aligned(base: Path, split: str) -> list[Path]:
        folder = base / split
        if not folder.is_dir():
            hint = (
                "; for root/A/<split> and root/B/<split> set layout: folders"
                if ((base / "A").is_dir())
                else ""
            )
            raise FileNotFoundError(
                f"split: no folder {folder}; layout aligned expects root/<split>/*.jpg with A|B "
                f"side by side (splits found: {_splits(base)}){hint}"
            )
        files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"split: no images (.jpg, .png, .webp) in {folder}")
        return files

    @staticmethod
    def _check_aligned(path: Path) -> None:
        with Image.open(path) as im:
            w, h = im.size
        if w != 2 * h:
            raise ValueError(
                f"{path}: is {w}x{h} (width x height); an aligned pair is A and B side by side, "
                f"width twice the height (layout: aligned), or use layout: folders"
            )

    @staticmethod
    def _folders(base: Path, split: str) -> list[tuple[Path, Path]]:
        dirs = [base / "A" / split, base / "B" / split]
        for d in dirs:
            if not d.is_dir():
                raise FileNotFoundError(
                    f"split: no folder {d}; layout folders expects root/A/<split>/name and "
                    f"root/B/<split>/name with the same file names"
                )
        a_files = {p.relative_to(dirs[0]).as_posix(): p for p in list_images(dirs[0])}
        b_files = {p.relative_to(dirs[1]).as_posix(): p for p in list_images(dirs[1])}
        if not a_files:
            raise FileNotFoundError(f"split: no images (.jpg, .png, .webp) in {dirs[0]}")
        unmatched = sorted(set(a_files) ^ set(b_files))
        if unmatched:
            side = dirs[1] if unmatched[0] in a_files else dirs[0]
            raise FileNotFoundError(
                f"split: {len(unmatched)} files have no counterpart of the same name (first: "
                f"{unmatched[0]} is missing in {side})"
            )
        return [(a_files[k], b_files[k]) for k in sorted(a_files)]

    def __len__(self) -> int:
        return len(self.files)

    def read_pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``uint8`` images ``(A, B)`` of item ``index`` as stored (no resize)."""
        entry = self.files[index]
        if self.layout == "folders":
            return read_image(entry[0], self.read_channels[0]), read_image(
                entry[1], self.read_channels[1]
            )
        image = read_image(entry, 3)
        h, w = image.shape[-2:]
        if w != 2 * h:
            raise ValueError(
                f"{entry}: is {w}x{h} (width x height); an aligned pair is A and B side by "
                "side, width twice the height"
            )
        a, b = image[:, :, :h], image[:, :, h:]
        return tuple(x[:1] if c == 1 else x for x, c in zip((a, b), self.read_channels))  # type: ignore[return-value]

    @single_threaded
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.read_pair(index)
        if self.direction == "b2a":
            a, b = b, a
        args = (self.image_size, self.load_size, self.train, self.flip)
        a, b = jitter([a, b], [False, False], *args)
        return to_unit_range(a), to_unit_range(b)

    # -- the decoded cache (torchgan_ext.data.cache) -------------------------------------
    def cache_plan(self) -> CachePlan:
        """What :class:`~torchgan_ext.data.cache.DecodedCache` stores: the ``uint8`` A and B
        (after ``direction``) squashed to ``load_size`` (``image_size`` off the training
        splits); the random ``image_size`` crop and the flip stay per step, one window for
        both."""
        files = [
            p for entry in self.files for p in (entry if self.layout == "folders" else [entry])
        ]
        return jitter_cache_plan(
            self,
            "paired_images",
            files,
            {"layout": self.layout, "direction": self.direction, "channels": self.read_channels},
            {"a": self.channels_a, "b": self.channels_b},
        )

    @single_threaded
    def _cache_load(self, index: int) -> dict[str, torch.Tensor]:
        a, b = self.read_pair(index)
        if self.direction == "b2a":
            a, b = b, a
        a, b = jitter([a, b], [False, False], stored_side(self), stored_side(self), False)
        return {"a": a, "b": b}

    @staticmethod
    def _cache_finish(fields: dict[str, torch.Tensor], labels: object) -> list:
        return [fields["a"], fields["b"]]  # uint8: [-1, 1] on the device, as the items


class UnpairedImages(_TranslationFolder):
    """Two unpaired image domains ``(a, b)`` for CycleGAN.

    Layout: ``root/<split>A/`` and ``root/<split>B/`` (``trainA``, ``trainB``, ``testA``,
    ``testB``), images anywhere below them. The dataset is as long as the larger domain;
    item ``i`` is image ``i`` of A (cycled) and, on the training split, a random image of B
    (the authors' unaligned sampling), else image ``i`` of B (cycled). Each image gets its own
    crop and flip.

    Args:
        root: The dataset folder.
        split: ``train`` or ``test`` (any ``<split>A``/``<split>B`` pair).
        image_size: Side of the square output images (256).
        load_size: Side before the random crop on the training split (286 in the papers).
        flip: Random horizontal flips on the training split.
        channels_a, channels_b: Channels read per domain (3 or 1).

    Attributes:
        channels_a, channels_b, channels (= ``channels_b``), image_size: For the models.
        files_a, files_b: The image files of each domain.
    """

    def __init__(
        self,
        root: str,
        split: str = "train",
        image_size: int = 256,
        load_size: int | None = None,
        flip: bool = True,
        channels_a: int = 3,
        channels_b: int = 3,
    ) -> None:
        base = self._setup(root, split, image_size, load_size, flip)
        self.channels_a = _channels(channels_a, "channels_a")
        self.channels_b = _channels(channels_b, "channels_b")
        self.channels = self.channels_b
        self.files_a, self.files_b = (self._domain(base, f"{split}{d}") for d in "AB")

    @staticmethod
    def _domain(base: Path, name: str) -> list[Path]:
        folder = base / name
        if not folder.is_dir():
            raise FileNotFoundError(
                f"split: no folder {folder}; unpaired_images expects root/trainA, root/trainB, "
                f"root/testA, root/testB (folders found: {_splits(base)})"
            )
        files = list_images(folder)
        if not files:
            raise FileNotFoundError(f"split: no images (.jpg, .png, .webp) in {folder}")
        return files

    def __len__(self) -> int:
        return max(len(self.files_a), len(self.files_b))

    def cache_plan(self) -> CachePlan:
        """Refused: see the message.

        Raises:
            ValueError: Always; the random pairing of A and B is not a stored array.
        """
        raise ValueError(
            "dir: unpaired_images pairs every A image with a random B image; cannot be cached "
            "(use paired_images, or remove data.cache)"
        )

    def _one(self, path: Path, channels: int) -> torch.Tensor:
        image = read_image(path, channels)
        (image,) = jitter([image], [False], self.image_size, self.load_size, self.train, self.flip)
        return to_unit_range(image)

    @single_threaded
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        a = self.files_a[index % len(self.files_a)]
        if self.train:
            b = self.files_b[int(torch.randint(len(self.files_b), ()))]
        else:
            b = self.files_b[index % len(self.files_b)]
        return self._one(a, self.channels_a), self._one(b, self.channels_b)
