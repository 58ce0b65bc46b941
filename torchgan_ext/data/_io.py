"""Shared helpers of the image datasets: decoding, crops, flips and argument checks.

Images are decoded with :func:`torchvision.io.decode_image` (libjpeg-turbo / libpng) straight
into ``uint8`` tensors, cropped by slicing and resized with
:func:`torchvision.transforms.v2.functional.resize` on tensors; no PIL round trip. Randomness
(crop offsets, flips) is drawn from torch's global RNG, which the DataLoader seeds per worker,
so augmentation is reproducible for a given seed.

torchvision 0.29 marks its image codecs deprecated (successor: TorchCodec) and warns on every
call; :func:`read_image` silences that one warning at its call site (about 3 us per image).
Moving to TorchCodec's image decoders is the migration path once it is a dependency.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from .. import _validation

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_bytes",
    "read_image",
    "to_unit_range",
    "unit_range_batch",
    "finish_image",
    "OUTPUTS",
    "resize_image",
    "resize_label",
    "random_crop_box",
    "center_crop_box",
    "coin",
    "size_pair",
    "check_choice",
    "check_bool",
    "first_line",
    "dataset_root",
    "single_threaded",
]

#: File endings :func:`read_image` decodes (JPEG, PNG, WebP), lower case.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def single_threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` (a ``__getitem__``) with one intra-op thread, then restore the setting.

    Per-image tensors are small (~50k elements): splitting their resize and conversion over
    threads costs more than it saves, and on a busy machine it is ruinous (measured here on 2
    shared cores: 40 ms instead of 0.5 ms per image). DataLoader workers already run with one
    thread; this gives the same behaviour when loading in the main process (``num_workers:
    0``). The setting is process-wide but restored as soon as the item is built; loading in
    the main process is synchronous with training, so no other tensor work runs meanwhile.
    Toggling costs about 0.2 us.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads = torch.get_num_threads()
        if threads == 1:
            return fn(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (or its type name)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def read_bytes(path: str | os.PathLike) -> torch.Tensor:
    """Read a file into a 1-D ``uint8`` tensor.

    Raises:
        FileNotFoundError: The file is missing (the message names it).
        OSError: The file is unreadable (the message names it).
    """
    try:
        return torch.from_numpy(np.fromfile(path, dtype=np.uint8))
    except FileNotFoundError as e:
        raise FileNotFoundError(f"missing image file {os.fspath(path)}") from e
    except OSError as e:
        raise OSError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from e


def read_image(
    path: str | os.PathLike, channels: int | None = 3, *, unchanged: bool = False
) -> torch.Tensor:
    """Decode an image file into a ``uint8`` (or ``uint16`` for 16-bit PNGs) tensor ``[C, H, W]``.

    Args:
        path: A JPEG, PNG or WebP file.
        channels: 3 (RGB), 1 (grey) or ``None`` (as stored).
        unchanged: Keep the stored channels and bit depth (label and instance maps).

    Raises:
        OSError: The file is missing or unreadable (:func:`read_bytes`).
        ValueError: The file cannot be decoded (the message names it).
    """
    data = read_bytes(path)
    if unchanged or channels is None:
        mode = ImageReadMode.UNCHANGED
    else:
        mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its codecs in favour of TorchCodec and warns on
            # every call; they remain the fastest decoders installed here (see the module doc)
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_image(data, mode=mode)
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"cannot decode image {os.fspath(path)}: {first_line(e)}") from e


#: Values of a dataset's ``output`` argument.
OUTPUTS = ("float", "uint8")


def finish_image(image: torch.Tensor, output: str) -> torch.Tensor:
    """The yielded image: ``float`` in [-1, 1] (:func:`to_unit_range`) or ``uint8`` in [0, 255].

    ``uint8`` moves 4x fewer bytes from DataLoader workers and to the GPU; the trainer turns
    uint8 image batches into float [-1, 1] on the device
    (:func:`torchgan_ext.trainer.prepare_batch`).
    """
    if output == "uint8":
        return image  # collation copies it into the batch anyway: no extra copy here
    return to_unit_range(image)


def to_unit_range(image: torch.Tensor) -> torch.Tensor:
    """``uint8`` image in [0, 255] -> contiguous ``float32`` in [-1, 1].

    The decoder and the uint8 resize work on channels-last memory; the cast also re-lays the
    pixels out as contiguous ``[C, H, W]`` (no extra copy).
    """
    out = image.to(torch.float32, memory_format=torch.contiguous_format)
    return out.div_(127.5).sub_(1.0)


def unit_range_batch(
    images: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format
) -> torch.Tensor:
    """A ``uint8`` image batch ``[B, C, H, W]`` in [0, 255] -> ``float32`` in [-1, 1] (laid out
    as ``memory_format``); any other tensor as it is.

    Datasets with ``output: uint8`` and the decoded cache yield ``uint8`` batches; whatever
    takes images from a loader (the trainer's :func:`torchgan_ext.trainer.prepare_batch`, the
    metrics' real images) converts them with this, on the device.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        return images
    return images.to(torch.float32, memory_format=memory_format).div_(127.5).sub_(1.0)


def resize_image(image: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Antialiased bilinear resize of an image tensor ``[C, H, W]`` to ``size = (h, w)``.

    ``uint8`` images are resized as a channels-last batch of one, which is how the decoder
    stores them (HWC), so ``interpolate`` takes its vectorised uint8 path without a layout
    change; the result is again HWC-stored (``[C, H, W]`` view). torchvision's ``resize``
    reshapes to a batch whose strides hide that layout: 66-115 us instead of 55 us for a
    178x178 -> 128x128 CelebA face (``benchmarks/data_loading.py``).
    """
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if image.dtype == torch.uint8 and image.dim() == 3:
        hwc = image.permute(1, 2, 0).contiguous()  # no copy for decoded images and their crops
        batch = hwc.unsqueeze(0).permute(0, 3, 1, 2)
        out = F.interpolate(
            batch, size=(int(size[0]), int(size[1])), mode="bilinear", antialias=True
        )
        return out[0]
    return TF.resize(image, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True)


def resize_label(label: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resize of a label map ``[C, H, W]`` (values are never mixed)."""
    if tuple(label.shape[-2:]) == tuple(size):
        return label
    return TF.resize(label, list(size), interpolation=InterpolationMode.NEAREST_EXACT)


def random_crop_box(height: int, width: int, crop: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of a uniformly random ``crop = (h, w)`` window (torch's RNG)."""
    top = int(torch.randint(0, height - crop[0] + 1, ()).item())
    left = int(torch.randint(0, width - crop[1] + 1, ()).item())
    return top, left


def center_crop_box(height: int, width: int, crop: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of the centred ``crop = (h, w)`` window (rounded like torchvision)."""
    return int(round((height - crop[0]) / 2.0)), int(round((width - crop[1]) / 2.0))


def coin() -> bool:
    """A fair coin from torch's RNG (seeded per DataLoader worker)."""
    return bool(torch.rand(()) < 0.5)


def size_pair(value: Any, arg: str, *, allow_none: bool = True) -> tuple[int, int] | None:
    """Check a size argument: a positive int (square) or ``[height, width]``.

    Raises:
        TypeError, ValueError: Naming the argument ``arg``.
    """
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{arg}: must be set (an integer or [height, width])")
    if isinstance(value, bool):
        raise TypeError(f"{arg}: expected an integer or [height, width], got {value}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, list | tuple) and len(value) == 2:
        pair = tuple(value)
    else:
        raise TypeError(f"{arg}: expected an integer or [height, width], got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{arg}: sizes must be positive integers, got {value!r}")
    if not all(v > 0 for v in pair):
        raise ValueError(f"{arg}: sizes must be positive integers, got {value!r}")
    return pair  # type: ignore[return-value]


def check_choice(value: Any, choices: Sequence[str], arg: str, what: str) -> str:
    """``value`` must be one of ``choices`` (``ValueError`` naming ``arg``, with close matches)."""
    return _validation.check_choice(value, arg, choices, what)


def check_bool(value: Any, arg: str) -> bool:
    """``value`` must be ``true`` or ``false`` (``TypeError`` naming ``arg``)."""
    return _validation.check_bool(value, arg)


def dataset_root(root: Any, child: str, markers: Sequence[str], layout: str) -> Path:
    """Resolve ``root`` to the directory holding ``markers``: ``root`` itself or ``root/child``.

    Args:
        root: The ``root`` argument of a dataset.
        child: The conventional folder name (``"celeba"``, ``"cityscapes"``).
        markers: Entries (files or folders); the directory holding any of them wins.
        layout: A one-line description of the expected layout, for the error message.

    Raises:
        TypeError: ``root`` is not a path.
        FileNotFoundError: Neither directory exists or holds the markers (names ``root``).
    """
    if root is None or not isinstance(root, str | os.PathLike):
        raise TypeError(f"root: expected a directory path, got {root!r}")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise FileNotFoundError(f"root: dataset directory {base} does not exist; expected {layout}")
    for candidate in (base, base / child):
        if any((candidate / m).exists() for m in markers):
            return candidate
    raise FileNotFoundError(
        f"root: {base} does not look like a {child} directory (none of {', '.join(markers)} "
        f"found in it or in {base / child}); expected {layout}"
    )
