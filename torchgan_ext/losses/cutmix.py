"""CutMix of real and generated images for the U-Net GAN discriminator.

U-Net GAN (Schonfeld, Schiele and Khoreva, "A U-Net Based Discriminator for Generative
Adversarial Networks", CVPR 2020, https://arxiv.org/abs/2002.12655) pastes a box of a generated
image into a real one (CutMix, Yun et al., ICCV 2019, https://arxiv.org/abs/1905.04899):

.. math::
    \\tilde x = \\operatorname{mix}(x, G(z), M) = M \\odot x + (1 - M) \\odot G(z)

where :math:`M \\in \\{0, 1\\}^{H \\times W}` is 1 on real pixels. The box covers a fraction
:math:`1 - \\lambda` of the image with :math:`\\lambda \\sim \\mathrm{Beta}(\\alpha, \\alpha)`
(:math:`\\alpha = 1`: uniform), its centre is uniform over the image (the box is clipped at the
border), and with probability 0.5 the mask is inverted so that neither real nor fake pixels
dominate the mixed images. Every image of a batch gets its own mask.
"""

from __future__ import annotations

import torch

__all__ = ["cutmix_masks", "mix", "mix_probability"]


def cutmix_masks(
    batch_size: int,
    height: int,
    width: int,
    *,
    alpha: float = 1.0,
    invert_prob: float = 0.5,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random CutMix masks, 1 on real pixels and 0 on fake ones.

    Args:
        batch_size: Number of masks.
        height: Mask height.
        width: Mask width.
        alpha: Parameter of :math:`\\mathrm{Beta}(\\alpha, \\alpha)` that draws :math:`\\lambda`;
            the box covers :math:`1 - \\lambda` of the image (before clipping at the border).
        invert_prob: Probability of inverting each mask.
        device: Device of the masks.
        generator: A ``torch.Generator`` on the CPU for reproducible masks (default: the global
            RNG).

    Returns:
        A float tensor of shape ``[batch_size, 1, height, width]`` with values in {0, 1}.
    """
    if alpha <= 0:
        raise ValueError(f"alpha: must be > 0, got {alpha}")
    if not 0.0 <= invert_prob <= 1.0:
        raise ValueError(f"invert_prob: must be in [0, 1], got {invert_prob}")
    # The few random numbers per image are drawn on the CPU (one small copy to the device).
    lam = _beta(batch_size, alpha, generator)
    ratio = (1.0 - lam).sqrt()
    centre = torch.rand(batch_size, 2, generator=generator)
    invert = torch.rand(batch_size, generator=generator) < invert_prob
    cut_h = ratio * height
    cut_w = ratio * width
    cy = centre[:, 0] * height
    cx = centre[:, 1] * width
    y0 = (cy - cut_h / 2).round().clamp(0, height)
    y1 = (cy + cut_h / 2).round().clamp(0, height)
    x0 = (cx - cut_w / 2).round().clamp(0, width)
    x1 = (cx + cut_w / 2).round().clamp(0, width)
    params = torch.stack([y0, y1, x0, x1, invert.float()], dim=1).to(device)
    y0, y1, x0, x1, inv = params.unbind(1)
    rows = torch.arange(height, device=params.device, dtype=params.dtype).view(1, height, 1)
    cols = torch.arange(width, device=params.device, dtype=params.dtype).view(1, 1, width)
    in_box = (
        (rows >= y0.view(-1, 1, 1))
        & (rows < y1.view(-1, 1, 1))
        & (cols >= x0.view(-1, 1, 1))
        & (cols < x1.view(-1, 1, 1))
    )
    real = ~in_box  # the box holds the fake pixels
    real = torch.where(inv.view(-1, 1, 1).bool(), ~real, real)
    return real.unsqueeze(1).float()


def _beta(n: int, alpha: float, generator: torch.Generator | None) -> torch.Tensor:
    if alpha == 1.0:  # Beta(1, 1) is uniform
        return torch.rand(n, generator=generator)
    a = torch.tensor(float(alpha))
    dist = torch.distributions.Beta(a, a)
    if generator is None:
        return dist.sample((n,))
    # torch.distributions takes no generator: sample in a forked RNG seeded from it
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return dist.sample((n,))


def mix(real: torch.Tensor, fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:math:`M \\odot \\text{real} + (1 - M) \\odot \\text{fake}` (``mask`` broadcasts).

    ``mask`` is ``[B, 1, H, W]`` (1 = take the real pixel) and broadcasts over the channels.
    Mixed precisions promote (bf16 logits mixed by a float32 mask give float32).
    """
    return real * mask + fake * (1 - mask)  # exact for a binary mask


def mix_probability(
    epoch: int,
    step: int,
    *,
    max_prob: float = 0.5,
    warmup_epochs: float = 0.0,
    warmup_steps: int | None = None,
) -> float:
    """Probability of CutMix-ing a batch: linear warm-up from 0 to ``max_prob``.

    U-Net GAN raises the probability linearly from 0 to 0.5 over the first epochs, giving the
    generator time to make images the discriminator cannot trivially tell apart.

    Args:
        epoch: Finished epochs.
        step: Finished steps (used instead of ``epoch`` when ``warmup_steps`` is given).
        max_prob: Probability after the warm-up.
        warmup_epochs: Length of the warm-up in epochs (0: no warm-up).
        warmup_steps: Length of the warm-up in steps (overrides ``warmup_epochs``).
    """
    if warmup_steps is not None:
        progress = step / warmup_steps if warmup_steps > 0 else 1.0
    else:
        progress = epoch / warmup_epochs if warmup_epochs > 0 else 1.0
    return max_prob * min(1.0, max(0.0, progress))
