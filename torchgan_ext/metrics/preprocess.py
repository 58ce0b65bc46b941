"""The one conversion of GAN images into what a feature extractor takes: :class:`InputSpec`,
:func:`prepare_images` and the "clean" resize of Parmar et al. (CVPR 2022).

Real and generated images both pass through :func:`prepare_images`, so they always receive
identical treatment (see docs/metrics.md, "The protocol, exactly").
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["InputSpec", "RESIZES", "clean_resize", "prepare_images"]

#: Values of the ``resize`` argument (see :class:`InputSpec`).
RESIZES = ("legacy", "clean")


@dataclass(frozen=True)
class InputSpec:
    """How an extractor wants its images (the GAN side always delivers [-1, 1] floats).

    Attributes:
        value_range: ``"minus_one_one"`` (floats in [-1, 1]), ``"zero_one"`` (floats in
            [0, 1]), ``"zero_255"`` (floats in [0, 255]) or ``"uint8"`` (integers 0..255 of
            dtype ``torch.uint8``).
        size: Resize to ``size x size`` (see ``resize``); ``None`` keeps the size (for
            networks that resize themselves).
        resize: ``"legacy"``: torch's bilinear interpolation (antialiased when shrinking);
            ``"clean"``: the "clean" resize of Parmar et al. (CVPR 2022,
            https://arxiv.org/abs/2104.11222): 8-bit quantisation first (the saved image),
            then PIL bicubic per channel on float values (PIL always antialiases), clipped to
            the 8-bit range and not quantised again.
        channels: ``3`` repeats grey images to RGB; ``None`` keeps the channels.
        quantize: Round to 8 bits first, as if the images had been saved as PNG (the published
            protocol evaluates saved images). Implied by ``uint8``.
        mean: Per-channel mean subtracted after the range conversion (``zero_one`` only).
        std: Per-channel standard deviation divided by after subtracting ``mean``.

    Example:
        >>> InputSpec.coerce({"size": 299, "channels": 3}) == InputSpec(size=299, channels=3)
        True
        >>> InputSpec.coerce({"sise": 299})
        Traceback (most recent call last):
            ...
        ValueError: input_spec: unknown field 'sise'; did you mean 'size'?
    """

    value_range: Literal["minus_one_one", "zero_one", "zero_255", "uint8"] = "minus_one_one"
    size: int | None = None
    channels: int | None = None
    quantize: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    resize: Literal["legacy", "clean"] = "legacy"

    @classmethod
    def coerce(cls, value: InputSpec | Mapping[str, Any] | None) -> InputSpec:
        """An :class:`InputSpec` from itself, a dict of its fields or ``None`` (the default)."""
        if value is None:
            return cls()
        if isinstance(value, InputSpec):
            return value
        if isinstance(value, Mapping):
            fields = sorted(cls.__dataclass_fields__)
            for key in value:
                if key not in fields:
                    close = difflib.get_close_matches(str(key), fields, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(fields)}"
                    raise ValueError(f"input_spec: unknown field {key!r}; {hint}")
            data = dict(value)
            for key in ("mean", "std"):
                if data.get(key) is not None:
                    data[key] = tuple(float(v) for v in data[key])
            return cls(**data)
        raise TypeError(f"input_spec must be an InputSpec or a dict, got {type(value).__name__}")


def prepare_images(images: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Convert GAN images in [-1, 1] to what an extractor expects: the one conversion.

    Both real and generated images pass through here, so they always receive identical
    treatment: clamp to [-1, 1], grey to RGB, resize, 8-bit quantisation, range and
    normalisation.

    Args:
        images: ``(N, C, H, W)`` floats in [-1, 1].
        spec: The extractor's :class:`InputSpec`.

    Returns:
        The extractor's input (``torch.uint8`` for ``value_range="uint8"``, else float32).

    Example:
        >>> images = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)  # one grey 1x3 image
        >>> x = prepare_images(images, InputSpec(value_range="uint8", channels=3))
        >>> x.dtype, tuple(x.shape)
        (torch.uint8, (1, 3, 1, 3))
        >>> x[0, :, 0].tolist()  # grey repeated to RGB; -1 -> 0, 0 -> 128, 1 -> 255
        [[0, 128, 255], [0, 128, 255], [0, 128, 255]]
        >>> prepare_images(images, InputSpec(value_range="zero_one")).flatten().tolist()
        [0.0, 0.5, 1.0]
    """
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.float().clamp(-1.0, 1.0)
    if spec.channels is not None and x.shape[1] != spec.channels:
        if x.shape[1] == 1:
            x = x.expand(-1, spec.channels, -1, -1)
        else:
            raise ValueError(
                f"the feature extractor takes {spec.channels}-channel images, got {x.shape[1]} "
                "channels (only grey images are converted)"
            )
    quantized = False
    if spec.size is not None and tuple(x.shape[-2:]) != (spec.size, spec.size):
        if spec.resize == "clean":
            x = clean_resize(x, spec.size)
            quantized = True  # before the resize, as clean-fid reads 8-bit files
        else:
            x = F.interpolate(
                x,
                size=(spec.size, spec.size),
                mode="bilinear",
                align_corners=False,
                antialias=spec.size < max(x.shape[-2:]),
            ).clamp(-1.0, 1.0)
    if (spec.quantize and not quantized) or spec.value_range == "uint8":
        x = _quantize(x)
        if spec.value_range == "uint8":
            return x.to(torch.uint8)
        x = x / 127.5 - 1.0
    if spec.value_range == "zero_255":
        x = (x + 1.0) * 127.5
    if spec.value_range == "zero_one":
        x = (x + 1.0) * 0.5
        if spec.mean is not None:
            mean = torch.tensor(spec.mean, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(spec.std or (1.0,) * len(spec.mean), device=x.device)
            x = (x - mean) / std.view(1, -1, 1, 1)
    return x.contiguous()


def _quantize(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> the 8-bit values (as floats) a saved PNG would hold (round half up,
    as torchvision's ``save_image``)."""
    return torch.floor((x + 1.0) * 127.5 + 0.5).clamp(0.0, 255.0)


def clean_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """The "clean" resize of Parmar et al. (CVPR 2022, https://arxiv.org/abs/2104.11222).

    Each image is quantised to 8 bits (the saved file), each channel resized on float32 values
    with PIL's bicubic filter (antialiased when shrinking) and clipped to [0, 255]; the result
    is not quantised again.

    Args:
        images: ``(N, C, H, W)`` floats in [-1, 1].
        size: Output side.

    Returns:
        ``(N, C, size, size)`` float32 in [-1, 1] (on the device of ``images``).
    """
    from PIL import Image

    pixels = _quantize(images.float()).cpu().numpy().astype(np.float32)
    out = np.empty((*pixels.shape[:2], size, size), dtype=np.float32)
    for i in range(pixels.shape[0]):
        for c in range(pixels.shape[1]):
            channel = Image.fromarray(pixels[i, c], mode="F")
            out[i, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC))
    x = torch.from_numpy(out.clip(0.0, 255.0)).to(images.device)
    return x / 127.5 - 1.0
