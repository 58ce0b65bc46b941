"""Conditional batch normalisation for class-conditional generators.

Batch normalisation without its own affine parameters, followed by a gain and a bias predicted
from the condition (de Vries et al., "Modulating early visual processing by language",
https://arxiv.org/abs/1707.00683; Dumoulin et al., https://arxiv.org/abs/1610.07629), as used by
the generators of SAGAN (https://arxiv.org/abs/1805.08318) and BigGAN
(https://arxiv.org/abs/1809.11096):

.. math::
    \\mathrm{CBN}(x, y) = \\big(1 + \\gamma(y)\\big) \\odot
        \\frac{x - \\mathrm{E}[x]}{\\sqrt{\\mathrm{Var}[x] + \\epsilon}} + \\beta(y)

Self-modulation (Chen et al., "On Self Modulation for Generative Adversarial Networks", ICLR
2019, https://arxiv.org/abs/1810.01365) conditions an unconditional generator's batch norms
on its noise :math:`z`; :math:`\\gamma` and :math:`\\beta` are then one-hidden-layer MLPs
(``hidden_dim``):
:math:`\\gamma(z) = W_2\\,\\mathrm{ReLU}(W_1 z + b_1)`.
"""

from __future__ import annotations

import torch
from torch import nn

from .spectral import make_linear

__all__ = ["ConditionalBatchNorm2d"]


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose per-channel gain and bias depend on a class label or a vector.

    Exactly one of ``num_classes`` and ``cond_dim`` is given:

    * ``num_classes``: the condition is an integer label tensor of shape ``[B]``; gain and bias
      are rows of two embedding tables (SAGAN style), initialised so that the layer starts as a
      plain batch norm (gain 1, bias 0).
    * ``cond_dim``: the condition is a float tensor ``[B, cond_dim]`` (BigGAN's shared class
      embedding concatenated with a chunk of the noise, or the whole noise for
      self-modulation); gain and bias are linear projections of it without bias (spectrally
      normalised when ``spectral_norm``), or with ``hidden_dim`` MLPs ``linear (with bias) ->
      ReLU -> linear (no bias)``. They are **not** zero at the start: the layer leaves
      torch's default ``nn.Linear`` initialisation, and the models that use it
      (:class:`~torchgan_ext.models.BigGANGenerator`, whose ``init_weights`` runs after
      construction) make every weight orthogonal and every bias zero, as BigGAN does. Their
      output, and so the deviation of the gain from 1, is therefore non-zero from the start.

    Args:
        num_features: Channels of the input ``[B, C, H, W]``.
        num_classes: Number of classes (label conditioning).
        cond_dim: Size of a conditioning vector (vector conditioning).
        eps: Batch-norm epsilon.
        momentum: Batch-norm running-statistics momentum.
        spectral_norm: Spectral norm on the projections (``cond_dim`` only).
        hidden_dim: With ``cond_dim``: gain and bias are MLPs with one hidden layer of this
            size (self-modulation) instead of linear maps.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int | None = None,
        cond_dim: int | None = None,
        eps: float = 1e-5,
        momentum: float = 0.1,
        spectral_norm: bool = False,
        hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        if (num_classes is None) == (cond_dim is None):
            raise ValueError("ConditionalBatchNorm2d needs exactly one of num_classes and cond_dim")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes: must be >= 1, got {num_classes}")
        if cond_dim is not None and cond_dim < 1:
            raise ValueError(f"cond_dim: must be >= 1, got {cond_dim}")
        if hidden_dim is not None and (cond_dim is None or hidden_dim < 1):
            raise ValueError(f"hidden_dim: needs cond_dim and must be >= 1, got {hidden_dim}")
        self.num_features = num_features
        self.num_classes = num_classes
        self.cond_dim = cond_dim
        self.hidden_dim = hidden_dim
        self.bn = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=False)
        if num_classes is not None:
            self.gain: nn.Module = nn.Embedding(num_classes, num_features)
            self.bias: nn.Module = nn.Embedding(num_classes, num_features)
            # keep "gain 1, bias 0" when a model re-initialises its weights (init_weights)
            self.gain.skip_weight_init = True
            self.bias.skip_weight_init = True
        elif hidden_dim is not None:
            self.gain = _mlp(cond_dim, hidden_dim, num_features, spectral_norm)
            self.bias = _mlp(cond_dim, hidden_dim, num_features, spectral_norm)
        else:
            self.gain = make_linear(cond_dim, num_features, bias=False, spectral_norm=spectral_norm)
            self.bias = make_linear(cond_dim, num_features, bias=False, spectral_norm=spectral_norm)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Reset the statistics; label tables to gain offset and bias zero (a plain batch norm).

        The projections of vector conditioning are left as they are (see the class docstring).
        """
        self.bn.reset_parameters()
        if self.num_classes is not None:
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` and modulate it by the condition ``y``.

        Args:
            x: ``[B, C, H, W]``.
            y: Labels ``[B]`` (long) with ``num_classes``, or ``[B, cond_dim]`` with ``cond_dim``.
        """
        if self.num_classes is not None and y.dtype not in (torch.long, torch.int, torch.int16):
            raise TypeError(
                f"ConditionalBatchNorm2d(num_classes=...) takes integer labels, got {y.dtype}"
            )
        out = self.bn(x)
        gain = self.gain(y).view(-1, self.num_features, 1, 1)
        bias = self.bias(y).view(-1, self.num_features, 1, 1)
        return out * (1.0 + gain) + bias

    def extra_repr(self) -> str:
        cond = (
            f"num_classes={self.num_classes}"
            if self.num_classes is not None
            else f"cond_dim={self.cond_dim}"
        )
        if self.hidden_dim is not None:
            cond += f", hidden_dim={self.hidden_dim}"
        return f"{self.num_features}, {cond}"


def _mlp(cond_dim: int, hidden_dim: int, out: int, spectral_norm: bool) -> nn.Sequential:
    return nn.Sequential(
        make_linear(cond_dim, hidden_dim, bias=True, spectral_norm=spectral_norm),
        nn.ReLU(),
        make_linear(hidden_dim, out, bias=False, spectral_norm=spectral_norm),
    )
