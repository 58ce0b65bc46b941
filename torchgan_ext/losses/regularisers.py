"""Discriminator regularisers for any GAN: R1 / R2 gradient penalties and LeCam.

These are the formulas; :mod:`torchgan_ext.callbacks.regularisers` applies them to any
registered discriminator as trainer callbacks (``r1_penalty``, ``r2_penalty``, ``lecam``).

**R1 / R2** (Mescheder et al., "Which Training Methods for GANs do actually Converge?",
ICML 2018, https://arxiv.org/abs/1801.04406) penalise the squared norm of the discriminator's
gradient with respect to its input, on real data (R1) or on generated data (R2):

.. math::
    R_1 = \\frac{\\gamma}{2}\\, \\mathbb{E}_{x \\sim p_{data}}
        \\lVert \\nabla_x D(x) \\rVert_2^2 \\qquad
    R_2 = \\frac{\\gamma}{2}\\, \\mathbb{E}_{z}
        \\lVert \\nabla_{\\tilde x} D(\\tilde x) \\rVert_2^2 \\big|_{\\tilde x = G(z)}

For a discriminator with several outputs per sample (a PatchGAN map) :math:`D(x)` is the sum of
the sample's outputs. With batch norm in training mode the gradient is that of the batch's summed
scores (it then also carries the other samples' terms), as in every common implementation.

**LeCam** (Tseng et al., "Regularizing Generative Adversarial Networks under Limited Data",
CVPR 2021, https://arxiv.org/abs/2104.03310) pulls the outputs on real data towards a moving
anchor of the outputs on generated data and vice versa:

.. math::
    R_{LC} = \\mathbb{E}_{x}\\, \\lVert D(x) - \\alpha_F \\rVert_2^2
        + \\mathbb{E}_{z}\\, \\lVert D(G(z)) - \\alpha_R \\rVert_2^2

where :math:`\\alpha_R, \\alpha_F` are exponential moving averages of the mean output on real and
generated data. The authors' released code (and StudioGAN) keeps only the one-sided parts,
:math:`\\mathrm{relu}(D(x) - \\alpha_F)^2` and :math:`\\mathrm{relu}(\\alpha_R - D(G(z)))^2`
(``one_sided=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gradient_squared_norms", "lecam_regulariser", "update_anchor"]


def _fp32_or_wider(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 when it is in a narrower type (bf16/fp16 under autocast)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def gradient_squared_norms(
    points: torch.Tensor, scores: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """:math:`\\lVert \\nabla_{x_i} D(x_i) \\rVert_2^2` per sample, ``[B]`` (fp32 or wider).

    Args:
        points: The discriminator's inputs ``[B, ...]`` (``requires_grad``).
        scores: Its outputs on ``points``, ``[B, ...]`` (summed per sample).
        create_graph: Keep the graph so the penalty can be trained through (double backward).
    """
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=create_graph)
    return _fp32_or_wider(grad).square().flatten(1).sum(1)


def lecam_regulariser(
    d_real: torch.Tensor,
    d_fake: torch.Tensor,
    anchor_real: torch.Tensor,
    anchor_fake: torch.Tensor,
    one_sided: bool = True,
) -> torch.Tensor:
    """:math:`R_{LC}`: ``mean((d_real - anchor_fake)^2) + mean((anchor_real - d_fake)^2)``.

    Args:
        d_real: Discriminator outputs on real data (any shape).
        d_fake: Discriminator outputs on generated data.
        anchor_real: :math:`\\alpha_R`, the moving average of the mean output on real data.
        anchor_fake: :math:`\\alpha_F`, the same on generated data.
        one_sided: Keep only ``relu`` of the differences (the authors' code) instead of the
            paper's two-sided squares.
    """
    real_gap = _fp32_or_wider(d_real) - anchor_fake
    fake_gap = anchor_real - _fp32_or_wider(d_fake)
    if one_sided:
        real_gap, fake_gap = F.relu(real_gap), F.relu(fake_gap)
    return real_gap.square().mean() + fake_gap.square().mean()


def update_anchor(anchor: torch.Tensor | None, value: torch.Tensor, decay: float) -> torch.Tensor:
    """:math:`\\alpha \\leftarrow \\beta \\alpha + (1 - \\beta)\\, v` (no host sync).

    The first value (``anchor is None``) starts the average.
    """
    value = _fp32_or_wider(value.detach())
    if anchor is None:
        return value.clone()
    return torch.lerp(anchor, value, 1.0 - decay)
