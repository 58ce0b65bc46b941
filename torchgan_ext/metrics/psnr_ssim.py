"""PSNR and SSIM of a super-resolution generator on the validation split.

The protocol of the SR literature (e.g. SRGAN, Ledig et al., https://arxiv.org/abs/1609.04802,
"calculated on the y-channel of center-cropped, removal of a 4-pixel wide strip from each
border images"):

* the generator's output is clamped to [-1, 1]; both images are mapped to [0, 255] and, with
  ``quantize`` (default), rounded to 8-bit values: the output as if saved to a PNG file, the
  target back to the 8-bit values of its image file (removing float32 round-off);
* ``channel: y`` (default) converts RGB to the luma of ITU-R BT.601 (the ``rgb2ycbcr`` of
  MATLAB, studio range):

  .. math:: Y = 16 + \\frac{65.481 R + 128.553 G + 24.966 B}{255}, \\quad R, G, B \\in [0, 255]

  (not rounded; grey images are used as they are); ``channel: rgb`` keeps the three channels;
* ``crop_border`` pixels are removed from every side (default: the scale factor);
* per-image values are averaged over the split.

.. math::
    \\mathrm{PSNR} = 10 \\log_{10} \\frac{255^2}{\\mathrm{MSE}}, \\qquad
    \\mathrm{SSIM}(x, y) = \\frac{(2\\mu_x\\mu_y + C_1)(2\\sigma_{xy} + C_2)}
        {(\\mu_x^2 + \\mu_y^2 + C_1)(\\sigma_x^2 + \\sigma_y^2 + C_2)}

SSIM (Wang et al. 2004, https://ece.uwaterloo.ca/~z70wang/publications/ssim.pdf) uses an 11x11
Gaussian window (sigma 1.5), :math:`C_1 = (0.01 \\cdot 255)^2`, :math:`C_2 = (0.03 \\cdot 255)^2`,
and averages the SSIM map over the positions where the window lies inside the image (MATLAB's
``'valid'`` filtering). Both come from torchmetrics' functional implementations; the SSIM map
is cropped by the window radius so that reflected padding never enters the mean.

Each metric also reports the bicubic upscaling of the same inputs (``last_result["bicubic"]``,
printed by ``torchgan-run CONFIG --evaluate``), the baseline every SR method is compared to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchgan.metrics import EvaluationMetric
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from .._validation import check_choice, check_int, check_positive_int
from ..data._io import unit_range_batch
from ..models.srgan import bicubic_upscale, sr_pair

__all__ = [
    "PSNR",
    "SSIM",
    "CHANNELS",
    "rgb_to_y",
    "to_pixel_range",
    "psnr",
    "ssim",
]

#: Values of ``channel``.
CHANNELS = ("y", "rgb")
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5


def rgb_to_y(images: torch.Tensor) -> torch.Tensor:
    """BT.601 luma (studio range, [16, 235]) of ``[N, 3, H, W]`` RGB images in [0, 255]."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images [N, 3, H, W], got {tuple(images.shape)}")
    weights = images.new_tensor([65.481, 128.553, 24.966]).view(1, 3, 1, 1)
    return 16.0 + (images * weights).sum(dim=1, keepdim=True) / 255.0


def to_pixel_range(images: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """Images in [-1, 1] -> float64 in [0, 255] (clamped; rounded to integers with ``quantize``)."""
    x = (images.double().clamp(-1.0, 1.0) + 1.0) * 127.5
    return x.round() if quantize else x


def _prepare(images: torch.Tensor, channel: str, crop_border: int) -> torch.Tensor:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; valid: {', '.join(CHANNELS)}")
    if channel == "y" and images.shape[1] == 3:
        images = rgb_to_y(images)
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        h, w = images.shape[-2:]
        if h <= 2 * crop_border or w <= 2 * crop_border:
            raise ValueError(f"images of {h}x{w} are too small for crop_border {crop_border}")
        images = images[..., crop_border:-crop_border, crop_border:-crop_border]
    return images


def _check_pair(sr: torch.Tensor, hr: torch.Tensor) -> None:
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ValueError(
            f"expected two image batches [N, C, H, W] of the same shape, got {tuple(sr.shape)} "
            f"and {tuple(hr.shape)}"
        )


def psnr(
    sr: torch.Tensor, hr: torch.Tensor, channel: str = "y", crop_border: int = 0
) -> torch.Tensor:
    """Per-image PSNR in dB of images in [0, 255] (``[N, C, H, W]``) -> ``[N]`` (float64).

    Identical images give ``inf``.
    """
    _check_pair(sr, hr)
    x = _prepare(sr.double(), channel, crop_border)
    y = _prepare(hr.double(), channel, crop_border)
    return peak_signal_noise_ratio(x, y, data_range=255.0, reduction="none", dim=(1, 2, 3))


def ssim(
    sr: torch.Tensor, hr: torch.Tensor, channel: str = "y", crop_border: int = 0
) -> torch.Tensor:
    """Per-image SSIM of images in [0, 255] (``[N, C, H, W]``) -> ``[N]`` (float64).

    The map is averaged over the valid window positions (see the module docstring); after
    ``crop_border`` the images must be at least 11x11.
    """
    _check_pair(sr, hr)
    x = _prepare(sr.double(), channel, crop_border)
    y = _prepare(hr.double(), channel, crop_border)
    if min(x.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} after crop_border, "
            f"got {tuple(x.shape[-2:])}"
        )
    _, full = structural_similarity_index_measure(
        x,
        y,
        gaussian_kernel=True,
        sigma=_SSIM_SIGMA,
        kernel_size=_SSIM_WINDOW,
        data_range=255.0,
        reduction="none",
        return_full_image=True,
    )
    r = _SSIM_WINDOW // 2
    return full[..., r:-r, r:-r].mean(dim=(1, 2, 3))


def _fork_devices(device: torch.device) -> list[int]:
    if device.type == "cuda" and torch.cuda.is_available():
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


class _SRQualityMetric(EvaluationMetric):
    """A full-reference metric of an SR generator on the validation split (``val_loader``).

    Args:
        channel: ``y`` (BT.601 luma, default) or ``rgb``.
        crop_border: Pixels removed from each side (default: the scale factor, found from the
            shapes of the batch).
        quantize: Round both images to 8-bit values first (the output as when saved).
        max_images: Evaluate at most this many validation images (default: all).
        bicubic_baseline: Also compute the value of bicubic upscaling
            (``last_result["bicubic"]``).
    """

    #: The registry name.
    name: ClassVar[str] = ""
    #: The per-image function.
    function: ClassVar[Callable[..., torch.Tensor]]

    def __init__(
        self,
        channel: str = "y",
        crop_border: int | None = None,
        quantize: bool = True,
        max_images: int | None = None,
        bicubic_baseline: bool = True,
    ) -> None:
        super().__init__()
        check_choice(channel, "channel", CHANNELS, "channel")
        if crop_border is not None:
            check_int(crop_border, "crop_border", minimum=0)
        if max_images is not None:
            check_positive_int(max_images, "max_images")
        self.channel = channel
        self.crop_border = crop_border
        self.quantize = bool(quantize)
        self.max_images = max_images
        self.bicubic_baseline = bool(bicubic_baseline)
        self.last_result: dict[str, Any] = {}

    def preprocess(self, x: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(sr, hr)`` in [-1, 1] -> float64 in [0, 255] (rounded with ``quantize``)."""
        sr, hr = x
        return to_pixel_range(sr, self.quantize), to_pixel_range(hr, self.quantize)

    def calculate_score(self, x: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Per-image values of a preprocessed ``(sr, hr)`` pair (``crop_border`` or 0)."""
        sr, hr = x
        return type(self).function(sr, hr, self.channel, self.crop_border or 0)

    @torch.no_grad()
    def evaluate(
        self, generator: nn.Module, loader: DataLoader, device: torch.device | str
    ) -> dict[str, Any]:
        """Per-image values of ``generator`` (and of bicubic upscaling) on ``loader``.

        Returns:
            ``{"value": mean, "bicubic": mean or None, "num_images": n, "per_image": [...],
            "channel": ..., "crop_border": ...}``.
        """
        device = torch.device(device)
        was_training = generator.training
        generator.eval()
        model_values, bicubic_values, border = [], [], self.crop_border
        try:
            with torch.random.fork_rng(devices=_fork_devices(device)):
                for batch in loader:
                    lr, hr = sr_pair(batch)
                    if self.max_images is not None:
                        left = self.max_images - sum(len(v) for v in model_values)
                        if left <= 0:
                            break
                        lr, hr = lr[:left], hr[:left]
                    lr, hr = unit_range_batch(lr.to(device)), unit_range_batch(hr.to(device))
                    scale = hr.shape[-1] // lr.shape[-1]
                    if border is None:
                        border = scale
                    target = to_pixel_range(hr, self.quantize)
                    sr = generator(lr)
                    if sr.shape != hr.shape:
                        raise ValueError(
                            f"the generator turns {tuple(lr.shape[1:])} inputs into "
                            f"{tuple(sr.shape[1:])} images, but the validation targets are "
                            f"{tuple(hr.shape[1:])}; check the generator's scale"
                        )
                    out = to_pixel_range(sr, self.quantize)
                    model_values.append(type(self).function(out, target, self.channel, border))
                    if self.bicubic_baseline:
                        up = to_pixel_range(bicubic_upscale(lr, scale), self.quantize)
                        bicubic_values.append(type(self).function(up, target, self.channel, border))
        finally:
            generator.train(was_training)
        if not model_values:
            raise ValueError(f"metric {self.name!r}: the validation split is empty")
        values = torch.cat(model_values).cpu()
        result: dict[str, Any] = {
            "value": float(values.mean()),
            "bicubic": float(torch.cat(bicubic_values).mean()) if bicubic_values else None,
            "num_images": len(values),
            "per_image": [float(v) for v in values],
            "channel": self.channel,
            "crop_border": border,
        }
        return result

    def metric_ops(
        self,
        eval_generator: nn.Module,
        device: torch.device,
        val_loader: DataLoader | None = None,
    ) -> float:
        """The mean value of ``eval_generator`` over the validation split (``data.val``)."""
        if eval_generator is None:
            raise ValueError(f"metric {self.name!r} evaluates the model named 'generator'")
        if val_loader is None:
            raise ValueError(
                f"metric {self.name!r} needs a validation split (val_loader), e.g. a folder of "
                "validation images with crop: center"
            )
        self.last_result = self.evaluate(eval_generator, val_loader, device)
        return self.last_result["value"]


class PSNR(_SRQualityMetric):
    """PSNR in dB (higher is better) of the SR generator on the validation split.

    Registered as ``psnr``; see :mod:`torchgan_ext.metrics.psnr_ssim` for the protocol.

    Args:
        channel: ``y`` (BT.601 luma, default) or ``rgb``.
        crop_border: Pixels removed from each side (default: the scale factor).
        quantize: Round both images to 8-bit values first (default).
        max_images: Evaluate at most this many validation images (default: all).
        bicubic_baseline: Also report bicubic upscaling (``last_result["bicubic"]``).
    """

    name = "psnr"
    function = staticmethod(psnr)


class SSIM(_SRQualityMetric):
    """SSIM (higher is better, 1 for identical images) of the SR generator on the validation
    split.

    Registered as ``ssim``; see :mod:`torchgan_ext.metrics.psnr_ssim` for the protocol.

    Args:
        channel: ``y`` (BT.601 luma, default) or ``rgb``.
        crop_border: Pixels removed from each side (default: the scale factor).
        quantize: Round both images to 8-bit values first (default).
        max_images: Evaluate at most this many validation images (default: all).
        bicubic_baseline: Also report bicubic upscaling (``last_result["bicubic"]``).
    """

    name = "ssim"
    function = staticmethod(ssim)
