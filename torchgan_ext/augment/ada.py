"""The augmentation pipeline of ADA, each transformation applied with probability ``p``.

Karras, Aittala, Hellsten, Laine, Lehtinen and Aila, "Training Generative Adversarial Networks
with Limited Data", NeurIPS 2020 (https://arxiv.org/abs/2006.06676). Every transformation is
applied to each image independently with probability :math:`p` (so for :math:`p < 0.8` the
discriminator still sees enough unaugmented images that the augmentations do not leak into
the generated distribution). The groups and parameter distributions follow the paper's
appendix; the implementation here is our own (one ``grid_sample`` for the geometric part, one
3x4 matrix per image for the colour part):

* ``blit`` (pixel blitting): horizontal flip (:math:`i \\sim U\\{0, 1\\}`), rotation by
  :math:`k \\cdot 90°` (:math:`k \\sim U\\{0..3\\}`), integer translation by up to 1/8 of the
  image size per axis;
* ``geom`` (general geometric): isotropic scaling :math:`s \\sim \\text{lognormal}(0,
  (0.2 \\ln 2)^2)`, rotation :math:`\\theta \\sim U[-\\pi, \\pi]` (before and after the
  anisotropic scaling, each with probability :math:`1 - \\sqrt{1 - p}`), anisotropic scaling
  :math:`\\text{lognormal}(0, (0.2 \\ln 2)^2)` along x and its inverse along y, fractional
  translation :math:`\\mathcal N(0, 0.125^2)` of the image size; reflection padding;
* ``color``: brightness :math:`b \\sim \\mathcal N(0, 0.2^2)` added to every channel,
  contrast :math:`c \\sim \\text{lognormal}(0, (0.5 \\ln
  2)^2)`, luma flip :math:`I - 2vv^T` about the luma axis :math:`v = (1, 1, 1)/\\sqrt 3`
  (with probability 1/2), hue rotation about :math:`v` by
  :math:`\\theta \\sim U[-\\pi, \\pi]`, saturation :math:`vv^T + s(I - vv^T)`,
  :math:`s \\sim \\text{lognormal}(0, (\\ln 2)^2)`. Single-channel images are treated as grey
  RGB images and averaged back.

``p`` may be a 0-dim tensor on the device (no host sync); an image none of whose
transformations was drawn is returned bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.nn import functional as F

from .._validation import close_matches

__all__ = ["ADA_GROUPS", "GEOMETRIC_GROUPS", "ada_augment", "check_groups"]

#: The transformation groups, in the order they are applied.
ADA_GROUPS = ("blit", "geom", "color")
#: Groups that move pixels.
GEOMETRIC_GROUPS = ("blit", "geom")


def check_groups(groups: Sequence[str] | str, arg: str = "groups") -> tuple[str, ...]:
    """The groups as a tuple of known names; ``ValueError`` naming ``arg`` otherwise.

    Example:
        >>> check_groups(["geom", "colour"])
        Traceback (most recent call last):
        ...
        ValueError: groups.1: unknown augmentation group 'colour'; did you mean 'color'?
    """
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    if not isinstance(groups, Sequence):
        raise TypeError(f"{arg}: expected a list of {list(ADA_GROUPS)}, got {groups!r}")
    for i, name in enumerate(groups):
        if name not in ADA_GROUPS:
            hint = close_matches(name, ADA_GROUPS)
            raise ValueError(f"{arg}.{i}: unknown augmentation group {name!r}; {hint}")
        if list(groups).count(name) > 1:
            raise ValueError(f"{arg}.{i}: {name!r} is listed twice")
    return tuple(g for g in ADA_GROUPS if g in groups)


def _mat(b: int, device: torch.device, n: int = 3) -> torch.Tensor:
    return torch.eye(n, device=device).repeat(b, 1, 1)


def _translate(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _mat(tx.size(0), tx.device)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _mat(sx.size(0), sx.device)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _rotate(theta: torch.Tensor) -> torch.Tensor:
    m = _mat(theta.size(0), theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _rotate90(k: torch.Tensor) -> torch.Tensor:
    """Rotation by ``k * 90`` degrees with exact zeros and ones (``cos(pi/2)`` is not 0 in
    float32, which would blur every pixel)."""
    m = _mat(k.size(0), k.device)
    cos = torch.tensor([1.0, 0.0, -1.0, 0.0], device=k.device)[k]
    sin = torch.tensor([0.0, 1.0, 0.0, -1.0], device=k.device)[k]
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


class _Draw:
    """Per-image masks ``rand < p`` and parameters on the device of ``p``."""

    def __init__(self, b: int, p: torch.Tensor) -> None:
        self.b, self.p, self.device = b, p, p.device
        self.any = torch.zeros(b, dtype=torch.bool, device=self.device)

    def mask(self, prob: torch.Tensor | None = None) -> torch.Tensor:
        m = torch.rand(self.b, device=self.device) < (self.p if prob is None else prob)
        self.any = self.any | m  # out of place: earlier masks are used by autograd
        return m

    def rand(self) -> torch.Tensor:
        return torch.rand(self.b, device=self.device)

    def randn(self) -> torch.Tensor:
        return torch.randn(self.b, device=self.device)


def _geometric(d: _Draw, groups: tuple[str, ...], h: int, w: int) -> torch.Tensor:
    """The sampling matrix (output pixel -> input pixel, in pixel units about the centre)."""
    m = _mat(d.b, d.device)
    one = torch.ones(d.b, device=d.device)
    if "blit" in groups:
        flip = d.mask() & (d.rand() < 0.5)
        m = m @ _scale(torch.where(flip, -one, one), one)
        k = torch.where(d.mask(), torch.floor(d.rand() * 4), 0.0).long()
        m = m @ _rotate90(k)
        t = torch.where(d.mask(), 1.0, 0.0)
        tx = torch.round((d.rand() * 2 - 1) * 0.125 * w) * t
        ty = torch.round((d.rand() * 2 - 1) * 0.125 * h) * t
        m = m @ _translate(tx, ty)
    if "geom" in groups:
        p_rot = 1 - torch.sqrt((1 - d.p).clamp(0, 1))
        s = torch.exp2(d.randn() * 0.2 * d.mask())
        m = m @ _scale(s, s)
        m = m @ _rotate((d.rand() * 2 - 1) * math.pi * d.mask(p_rot))
        s = torch.exp2(d.randn() * 0.2 * d.mask())
        m = m @ _scale(s, 1 / s)
        m = m @ _rotate((d.rand() * 2 - 1) * math.pi * d.mask(p_rot))
        t = d.mask().float()
        m = m @ _translate(d.randn() * 0.125 * w * t, d.randn() * 0.125 * h * t)
    return m


def _color(d: _Draw, c: int) -> torch.Tensor:
    """The colour matrix ``[B, 4, 4]`` acting on homogeneous RGB values."""
    v = torch.tensor([1.0, 1.0, 1.0, 0.0], device=d.device) / math.sqrt(3)
    vv = torch.outer(v, v)
    eye = torch.eye(4, device=d.device)
    m = _mat(d.b, d.device, 4)
    b = d.randn() * 0.2 * d.mask()
    shift = _mat(d.b, d.device, 4)
    shift[:, :3, 3] = b[:, None]  # the same b added to every channel (along the luma axis)
    m = shift @ m
    con = torch.exp2(d.randn() * 0.5 * d.mask())
    m = torch.diag_embed(torch.stack([con, con, con, torch.ones_like(con)], 1)) @ m
    flip = (d.mask() & (d.rand() < 0.5)).float()
    m = (eye - 2 * vv * flip[:, None, None]) @ m
    if c > 1:  # hue and saturation do nothing to grey images
        theta = (d.rand() * 2 - 1) * math.pi * d.mask()
        m = _hue(v[:3], theta) @ m
        sat = torch.exp2(d.randn() * d.mask())[:, None, None]
        m = (vv + (eye - vv) * sat) @ m
    return m


def _hue(axis: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation about ``axis`` (unit, 3-vector) by ``theta`` as ``[B, 4, 4]`` (Rodrigues)."""
    x, y, z = axis.tolist()
    k = torch.tensor([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]], device=theta.device)
    s, c = torch.sin(theta)[:, None, None], torch.cos(theta)[:, None, None]
    r = torch.eye(3, device=theta.device) + s * k + (1 - c) * (k @ k)
    m = _mat(theta.size(0), theta.device, 4)
    m[:, :3, :3] = r
    return m


def ada_augment(
    x: torch.Tensor, p: torch.Tensor | float, groups: Sequence[str] = ADA_GROUPS
) -> torch.Tensor:
    """Augment a batch ``[B, C, H, W]`` (differentiable), each transformation with
    probability ``p`` per image.

    Args:
        x: Images in [-1, 1] (the colour transformations act about 0).
        p: Probability, a float or a 0-dim tensor (kept on the device: no host sync).
        groups: Names from :data:`ADA_GROUPS`.

    Example:
        >>> x = torch.rand(4, 3, 8, 8) * 2 - 1
        >>> torch.equal(ada_augment(x, 0.0), x)
        True
        >>> bool((ada_augment(x, 1.0) != x).any())
        True
    """
    groups = check_groups(groups)
    b, c, h, w = x.shape
    p = torch.as_tensor(p, dtype=torch.float32, device=x.device)
    d = _Draw(b, p)
    out = x
    if any(g in GEOMETRIC_GROUPS for g in groups):
        m = _geometric(d, groups, h, w)
        # pixel units -> grid_sample's normalised units ([-1, 1] across each axis)
        full = torch.full
        to_norm = _scale(full((b,), 2.0 / w, device=x.device), full((b,), 2.0 / h, device=x.device))
        to_pix = _scale(full((b,), w / 2.0, device=x.device), full((b,), h / 2.0, device=x.device))
        theta = (to_norm @ m @ to_pix)[:, :2, :].to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        warped = F.grid_sample(
            x, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )
        out = torch.where(d.any.view(b, 1, 1, 1), warped, x)
    if "color" in groups:
        d.any = torch.zeros_like(d.any)
        m = _color(d, c).to(x.dtype)
        rgb = out if c == 3 else out.mean(1, keepdim=True).expand(b, 3, h, w)
        mixed = torch.einsum("bij,bjhw->bihw", m[:, :3, :3], rgb) + m[:, :3, 3, None, None]
        if c != 3:
            mixed = mixed.mean(1, keepdim=True).expand(b, c, h, w)
        out = torch.where(d.any.view(b, 1, 1, 1), mixed, out)
    return out
