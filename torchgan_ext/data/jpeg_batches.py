"""JPEG decoding on the training device: loader workers read file bytes, the GPU decodes.

Without a cache, every epoch decodes every JPEG; on a GPU machine the CPU cores feeding it are
often the limit. With ``data.decode: cuda`` the loader's workers only read the files;
each batch travels as one buffer of encoded bytes (:class:`EncodedJpegs`, ~10x smaller than the
decoded pixels) and is decoded on the device by nvJPEG through
:func:`torchvision.io.decode_jpeg` with ``device="cuda"``, all images of the batch in one call.
The crop, the antialiased bilinear resize and the random flips run on the device too; the batch
leaves as ``uint8`` like ``output: uint8`` and the trainer converts it to [-1, 1] there.

The decoding step is device-agnostic (``device="cpu"`` runs the same code with libjpeg-turbo),
which is how it is tested without a GPU. nvJPEG and libjpeg-turbo may differ by a level or two
per pixel (IDCT and chroma upsampling), and the float resize here by one level from the
``uint8`` resize of the CPU pipeline.

Datasets opt in with ``jpeg_plan()`` (:class:`JpegPlan`): ``celeba`` and ``image_folder``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ._io import center_crop_box, first_line
from .collate import Collated

__all__ = ["JpegPlan", "EncodedJpegs", "JpegFiles", "cuda_jpeg_unavailable", "decode_batch"]


@dataclass(frozen=True)
class JpegPlan:
    """How a dataset's items are made from its JPEG files (its ``jpeg_plan()``).

    Attributes:
        files: The JPEG file of each item.
        labels: Per-item labels (``[N, ...]``) or ``None``.
        crop: Center crop ``(h, w)`` before resizing, or ``None``.
        size: Output size ``(h, w)``.
        cover: Resize so that the image covers ``size`` (aspect kept), then center-crop to it
            (``image_folder``); else resize the (cropped) image to ``size`` exactly.
        flip: Random horizontal flips.
    """

    files: Sequence[str]
    labels: torch.Tensor | None
    crop: tuple[int, int] | None
    size: tuple[int, int]
    cover: bool = False
    flip: bool = False


def _resize(images: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Antialiased bilinear resize of a ``uint8`` batch ``[B, C, H, W]`` (float inside)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = F.interpolate(images.float(), size=tuple(size), mode="bilinear", antialias=True)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _cover(h: int, w: int, out: Sequence[int]) -> tuple[int, int]:
    scale = max(out[0] / h, out[1] / w)
    return max(out[0], round(h * scale)), max(out[1], round(w * scale))


def decode_batch(
    encoded: Sequence[torch.Tensor],
    plan: JpegPlan,
    flips: torch.Tensor,
    device: torch.device | str,
) -> torch.Tensor:
    """Decode, crop, resize and flip JPEGs into a ``uint8`` batch ``[B, 3, h, w]`` on ``device``.

    Args:
        encoded: One 1-D ``uint8`` tensor of file bytes per image (CPU).
        plan: The dataset's :class:`JpegPlan`.
        flips: ``bool`` ``[B]``: which images to mirror.
        device: Where to decode (``cuda`` uses nvJPEG, all images in one call).
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its codecs (see _io)
        warnings.simplefilter("ignore", DeprecationWarning)
        images = decode_jpeg(list(encoded), mode=ImageReadMode.RGB, device=device)
    crops = []
    for image in images:
        if plan.crop is not None:
            top, left = center_crop_box(image.shape[-2], image.shape[-1], plan.crop)
            image = image[:, top : top + plan.crop[0], left : left + plan.crop[1]]
        crops.append(image)
    size = tuple(plan.size)
    if plan.cover:
        out = []
        for image in crops:
            resized = _resize(image[None], _cover(image.shape[-2], image.shape[-1], size))[0]
            top, left = center_crop_box(resized.shape[-2], resized.shape[-1], size)
            out.append(resized[:, top : top + size[0], left : left + size[1]])
        batch = torch.stack(out)
    elif all(c.shape == crops[0].shape for c in crops):
        batch = _resize(torch.stack(crops), size)  # one resize for the whole batch
    else:
        batch = torch.cat([_resize(c[None], size) for c in crops])
    flips = flips.to(batch.device)
    if bool(flips.any()):
        batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
    return batch


class EncodedJpegs:
    """A batch of encoded JPEGs (one byte buffer and offsets) that decodes itself on the
    training device: :func:`torchgan_ext.trainer.batch.prepare_batch` calls
    :meth:`decode_to`."""

    def __init__(
        self,
        data: torch.Tensor,
        offsets: torch.Tensor,
        flips: torch.Tensor,
        labels: torch.Tensor | None,
        plan: JpegPlan,
    ) -> None:
        self.data, self.offsets, self.flips, self.labels, self.plan = (
            data,
            offsets,
            flips,
            labels,
            plan,
        )

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def pin_memory(self) -> EncodedJpegs:
        """Pinned copies (DataLoader ``pin_memory``)."""
        labels = None if self.labels is None else self.labels.pin_memory()
        return EncodedJpegs(self.data.pin_memory(), self.offsets, self.flips, labels, self.plan)

    def decode_to(self, device: torch.device, non_blocking: bool = False) -> Any:
        """The batch as the dataset's items would collate: images (``uint8`` on ``device``),
        with the labels beside them when the dataset has labels."""
        bounds = self.offsets.tolist()
        encoded = [self.data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        images = decode_batch(encoded, self.plan, self.flips, device)
        if self.labels is None:
            return images
        return [images, self.labels.to(device, non_blocking=non_blocking)]


class JpegFiles(Dataset):
    """A dataset's items as encoded JPEG bytes, decoded per batch on the device.

    ``__getitems__`` (one call per batch in a DataLoader, in its workers) reads the files into
    one buffer and draws the flips; the trainer decodes. Attributes of the wrapped dataset
    (``channels``, ``image_size``, ...) stay visible.

    Args:
        dataset: A dataset with ``jpeg_plan()`` (``celeba``, ``image_folder``).

    Raises:
        ValueError: The dataset has no JPEG plan, or some of its files are not JPEGs.
    """

    def __init__(self, dataset: Any) -> None:
        plan_fn = getattr(dataset, "jpeg_plan", None)
        if plan_fn is None:
            raise ValueError(
                f"decode: dataset {type(dataset).__name__} cannot decode on the GPU "
                "(decode: cuda supports celeba and image_folder of JPEG files)"
            )
        self.dataset = dataset
        self.plan: JpegPlan = plan_fn()
        others = [f for f in self.plan.files if not str(f).lower().endswith((".jpg", ".jpeg"))]
        if others:
            raise ValueError(
                f"decode: nvJPEG decodes JPEG files only; {len(others)} file(s) are not "
                f"(first: {others[0]}); use decode: cpu"
            )

    def __getattr__(self, name: str) -> Any:
        if name in ("dataset", "plan") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __len__(self) -> int:
        return len(self.plan.files)

    def __getitems__(self, indices: Sequence[int]) -> Collated:
        blobs = []
        for i in indices:
            path = self.plan.files[i]
            try:
                blobs.append(np.fromfile(path, dtype=np.uint8))
            except OSError as e:
                raise OSError(f"cannot read {os.fspath(path)}: {e.strerror or e}") from e
        offsets = np.cumsum([0, *(len(b) for b in blobs)])
        data = torch.from_numpy(np.concatenate(blobs))
        b = len(blobs)
        flips = torch.rand(b) < 0.5 if self.plan.flip else torch.zeros(b, dtype=torch.bool)
        labels = None
        if self.plan.labels is not None:
            labels = self.plan.labels[torch.as_tensor(list(indices))]
        return Collated(EncodedJpegs(data, torch.from_numpy(offsets), flips, labels, self.plan))

    def __getitem__(self, index: int) -> Any:
        batch = self.__getitems__([index]).value.decode_to(torch.device("cpu"))
        if isinstance(batch, torch.Tensor):
            return batch[0]
        return tuple(x[0] for x in batch)


def cuda_jpeg_unavailable(device: torch.device) -> str | None:
    """Why JPEGs cannot be decoded on ``device`` (``None`` when they can): not a CUDA device,
    or this torchvision build has no nvJPEG (the error of a test decode)."""
    if device.type != "cuda":
        return f"the run is on {device.type}, not CUDA"
    if not torch.cuda.is_available():
        return "CUDA is not available"
    try:
        from torchvision.io import decode_jpeg, encode_jpeg

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            probe = encode_jpeg(torch.zeros(3, 8, 8, dtype=torch.uint8))
            decode_jpeg([probe], device=device)
    except (RuntimeError, ValueError, TypeError, ImportError) as e:
        import torchvision

        return f"torchvision {torchvision.__version__} cannot decode JPEG on CUDA: {first_line(e)}"
    return None
