"""DiffAugment: differentiable augmentations of every image the discriminator sees.

Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020 (https://arxiv.org/abs/2006.10738). The same random transform family :math:`T` is
applied to real and generated images in both the discriminator and the generator step,

.. math::
    L_D = f(D(T(x))) + h(D(T(G(z)))), \\qquad L_G = g(D(T(G(z)))),

and every operation is differentiable, so the generator's gradients pass through :math:`T`.
The three policies of the paper, each drawn independently per image (images in [-1, 1]):

* ``color``: brightness :math:`x + (u - 0.5)`, saturation
  :math:`\\bar x_c + 2u\\,(x - \\bar x_c)` (mean over channels), contrast
  :math:`\\bar x + (u + 0.5)(x - \\bar x)` (mean over the image), :math:`u \\sim U[0, 1)` each;
* ``translation``: an integer shift of up to 1/8 of the image size in each direction,
  zero padding;
* ``cutout``: one square of half the image size, centred uniformly, set to zero.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn import functional as F

from .._validation import close_matches

__all__ = [
    "DIFFAUGMENT_POLICIES",
    "diff_augment",
    "rand_brightness",
    "rand_saturation",
    "rand_contrast",
    "rand_translation",
    "rand_cutout",
    "check_policy",
]


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """One ``U[0, 1)`` number per image, shaped to broadcast over ``[B, C, H, W]``."""
    return torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    """Add ``u - 0.5`` per image."""
    return x + (_uniform(x) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale the deviation from the channel mean by ``2u`` per image."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_uniform(x) * 2) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale the deviation from the image mean by ``u + 0.5`` per image."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its size per axis; zero padding.

    Example:
        >>> x = torch.ones(8, 1, 16, 16)
        >>> y = rand_translation(x)
        >>> bool(((y == 0) | (y == 1)).all()), y.shape == x.shape
        (True, True)
    """
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sh == 0 and sw == 0:
        return x
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    # output pixel (i, j) reads input pixel (i - ty, j - tx) of the zero-padded image
    rows = torch.arange(h, device=x.device).view(1, h, 1) - ty + sh
    cols = torch.arange(w, device=x.device).view(1, 1, w) - tx + sw
    padded = F.pad(x, (sw, sw, sh, sh))
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[batch, rows, cols]  # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=_layout(x))


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` of the image size per image; its centre is uniform over
    the image, so squares near a border are clipped (on average less than ``ratio**2`` of the
    pixels are cut).

    Example:
        >>> y = rand_cutout(torch.ones(64, 1, 16, 16))
        >>> 0.1 < float((y == 0).float().mean()) < 0.25
        True
    """
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside_y = (rows >= cy - ch // 2) & (rows < cy - ch // 2 + ch)
    inside_x = (cols >= cx - cw // 2) & (cols < cx - cw // 2 + cw)
    keep = ~(inside_y & inside_x)
    return x * keep.unsqueeze(1).to(x.dtype)


def _layout(x: torch.Tensor) -> torch.memory_format:
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


#: The policies of the paper and their operations, in the order they are applied.
DIFFAUGMENT_POLICIES: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}

#: Policies that move pixels (they change where a per-pixel target applies).
GEOMETRIC_POLICIES = ("translation",)


def check_policy(policy: Sequence[str] | str, arg: str = "policy") -> tuple[str, ...]:
    """The policy as a tuple of known names; ``ValueError`` naming ``arg`` otherwise.

    Example:
        >>> check_policy("color,translation")
        ('color', 'translation')
        >>> check_policy(["colour"])
        Traceback (most recent call last):
        ...
        ValueError: policy.0: unknown augmentation 'colour'; did you mean 'color'?
    """
    if isinstance(policy, str):
        policy = [p.strip() for p in policy.split(",") if p.strip()]
    if not isinstance(policy, Sequence):
        raise TypeError(f"{arg}: expected a list of {sorted(DIFFAUGMENT_POLICIES)}, got {policy!r}")
    out = []
    for i, name in enumerate(policy):
        if name not in DIFFAUGMENT_POLICIES:
            hint = close_matches(name, DIFFAUGMENT_POLICIES)
            raise ValueError(f"{arg}.{i}: unknown augmentation {name!r}; {hint}")
        if name in out:
            raise ValueError(f"{arg}.{i}: {name!r} is listed twice")
        out.append(name)
    return tuple(out)


def diff_augment(
    x: torch.Tensor, policy: Sequence[str] = tuple(DIFFAUGMENT_POLICIES)
) -> torch.Tensor:
    """Apply the policies in order to a batch ``[B, C, H, W]`` (differentiable).

    Args:
        x: Images, any range (the paper's images are in [-1, 1]; padding and cutout use 0).
        policy: Names from :data:`DIFFAUGMENT_POLICIES`.

    Example:
        >>> x = torch.randn(4, 3, 8, 8, requires_grad=True)
        >>> diff_augment(x).sum().backward()
        >>> x.grad is not None
        True
    """
    for name in check_policy(policy):
        for op in DIFFAUGMENT_POLICIES[name]:
            x = op(x)
    return x
