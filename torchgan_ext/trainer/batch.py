"""Batches and devices: where a run's tensors go and how image batches are laid out."""

from __future__ import annotations

from typing import Any

import torch

from ..data._io import unit_range_batch

__all__ = ["resolve_device", "move_to_device", "prepare_batch"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> ``cuda`` when available else ``cpu``; anything else as given."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def move_to_device(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor of a (nested) tuple/list/dict batch to ``device``."""
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, tuple | list):
        return type(data)(move_to_device(d, device, non_blocking) for d in data)
    if isinstance(data, dict):
        return {k: move_to_device(v, device, non_blocking) for k, v in data.items()}
    return data


def prepare_batch(
    data: Any, device: torch.device, non_blocking: bool = False, channels_last: bool = False
) -> Any:
    """Move a batch to ``device``; ``uint8`` image batches (``[B, C, H, W]``) become float
    in [-1, 1] there (datasets with ``output: uint8`` send 4x fewer bytes); with
    ``channels_last`` image batches are laid out NHWC. A batch object with a ``decode_to``
    method (encoded JPEGs, :class:`torchgan_ext.data.jpeg_batches.EncodedJpegs`) is decoded on
    ``device`` first."""
    decode = getattr(data, "decode_to", None)
    if callable(decode):
        data = decode(device, non_blocking)
    if isinstance(data, torch.Tensor):
        out = data.to(device, non_blocking=non_blocking)
        if out.dim() == 4:
            layout = torch.channels_last if channels_last else torch.contiguous_format
            if out.dtype == torch.uint8:
                # the loader's uint8 batches may be channels-last (data.collate): the cast
                # copies anyway, so it lays the batch out as the run wants for free
                out = unit_range_batch(out, layout)
            elif channels_last:
                out = out.contiguous(memory_format=layout)
        return out
    if isinstance(data, tuple | list):
        return type(data)(prepare_batch(d, device, non_blocking, channels_last) for d in data)
    if isinstance(data, dict):
        return {k: prepare_batch(v, device, non_blocking, channels_last) for k, v in data.items()}
    return data
