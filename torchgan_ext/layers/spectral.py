"""Spectral normalisation helpers built on ``torch.nn.utils.parametrizations.spectral_norm``.

Spectral normalisation (Miyato et al., "Spectral Normalization for Generative Adversarial
Networks", ICLR 2018, https://arxiv.org/abs/1802.05957) divides a weight by an estimate of its
largest singular value, obtained by power iteration (one step per training forward pass):

.. math::
    \\bar W = W / \\sigma(W), \\qquad \\sigma(W) \\approx u^\\top W v

SAGAN (https://arxiv.org/abs/1805.08318) and BigGAN (https://arxiv.org/abs/1809.11096) apply it
to every convolution, linear and embedding layer of both networks.

The parametrization API (not the deprecated ``torch.nn.utils.spectral_norm`` hook) is used, so the
layers can be deep-copied (EMA), scripted and saved through ``state_dict`` only: the weight is
stored as ``parametrizations.weight.original`` and the power-iteration vectors as buffers
``parametrizations.weight.0._u`` / ``_v``.

**torch.compile.** The parametrization is :class:`SpectralNorm`, torch's own
(``torch.nn.utils.parametrizations.spectral_norm``: same buffers, initialisation and eager
arithmetic, bit for bit) except that the power-iteration step and the copies of ``u`` and ``v``
are one custom operator (``torchgan_ext::spectral_norm_vectors``), opaque to the compiler.
Traced into a graph, torch's version updates ``u``/``v`` in place inside the graph and
AOTAutograd saves the updated buffers themselves for backward (the copies are elided), so a
second forward before the backward (``D(real)``, then ``D(fake)``, then one backward: every
discriminator step) bumps their version and the backward raises "one of the variables needed
for gradient computation has been modified by an inplace operation". Here the graph saves the
operator's fresh copies, which nothing modifies, and there is no graph break. As in Miyato et
al., ``u`` and ``v`` are constants for the gradient:
:math:`\\partial\\sigma / \\partial W = u v^\\top`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

__all__ = [
    "SpectralNorm",
    "apply_spectral_norm",
    "SNConv2d",
    "SNLinear",
    "SNEmbedding",
    "make_conv2d",
    "make_linear",
    "make_embedding",
    "init_weights",
    "has_spectral_norm",
]

#: Power-iteration steps run after (re-)initialising a weight so that ``u``/``v`` fit it again.
_REFRESH_ITERATIONS = 15


def _power_vectors(
    weight_mat: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    n_power_iterations: int,
    eps: float,
    update: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_power_iterations`` steps of torch's power method on ``u``, ``v`` (in place) when
    ``update``; returns copies of them (the arithmetic of torch's parametrization)."""
    if update:
        with torch.no_grad():
            for _ in range(n_power_iterations):
                u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=eps, out=u)
                v = F.normalize(torch.mv(weight_mat.H, u), dim=0, eps=eps, out=v)
    return u.clone(memory_format=torch.contiguous_format), v.clone(
        memory_format=torch.contiguous_format
    )


#: The same as one custom operator, opaque to ``torch.compile`` (eager calls skip the dispatcher).
_vectors = torch.library.custom_op(
    "torchgan_ext::spectral_norm_vectors", _power_vectors, mutates_args=("u", "v")
)


@_vectors.register_fake
def _vectors_fake(
    weight_mat: torch.Tensor, u: torch.Tensor, v: torch.Tensor, *options: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shapes for the compiler: copies of ``u`` and ``v``."""
    contiguous = torch.contiguous_format
    return torch.empty_like(u, memory_format=contiguous), torch.empty_like(
        v, memory_format=contiguous
    )


class SpectralNorm(_SpectralNorm):
    """torch's spectral-norm parametrization, safe to run under ``torch.compile``.

    Construction, buffers (``_u``, ``_v``) and eager results are torch's. Under
    ``torch.compile`` the power-iteration step and the copies of ``u`` and ``v`` are one custom
    operator, opaque to the compiler: the graph saves its fresh copies for backward, never the
    buffers it updates.
    """

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        """``weight`` divided by :math:`\\sigma = u^\\top W v` (a 1-D weight: normalised)."""
        if weight.ndim == 1:
            return super().forward(weight)
        weight_mat = self._reshape_weight_to_matrix(weight)
        vectors = _vectors if torch.compiler.is_compiling() else _power_vectors
        u, v = vectors(
            weight_mat.detach(), self._u, self._v, self.n_power_iterations, self.eps, self.training
        )
        sigma = torch.vdot(u, torch.mv(weight_mat, v))
        return weight / sigma


def apply_spectral_norm(
    module: nn.Module,
    enabled: bool = True,
    *,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
) -> nn.Module:
    """Parametrize ``module.<name>`` with spectral norm when ``enabled``; returns ``module``.

    Args:
        module: A module with a weight (convolution, linear, embedding).
        enabled: ``False`` returns the module unchanged (a switch for configs).
        name: The parameter to normalise.
        n_power_iterations: Power-iteration steps per training forward pass.
        eps: Numerical stability term of the normalisation.
    """
    if not enabled:
        return module
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError(f"name: module {type(module).__name__} has no parameter {name!r}")
    # transposed convolutions store [in, out, ...]: the output dimension is 1 (as torch does)
    transposed = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    dim = 1 if isinstance(module, transposed) else 0
    parametrize.register_parametrization(
        module, name, SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module


def has_spectral_norm(module: nn.Module, name: str = "weight") -> bool:
    """Whether ``module.<name>`` is spectrally normalised by a parametrization."""
    if not parametrize.is_parametrized(module, name):
        return False
    return any(isinstance(p, _SpectralNorm) for p in module.parametrizations[name])


class SNConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` whose weight is spectrally normalised (always).

    Takes the arguments of :class:`torch.nn.Conv2d`, plus ``n_power_iterations`` and ``eps`` of
    the normalisation (keyword-only).
    """

    def __init__(
        self, *args: Any, n_power_iterations: int = 1, eps: float = 1e-12, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        apply_spectral_norm(self, n_power_iterations=n_power_iterations, eps=eps)


class SNLinear(nn.Linear):
    """An ``nn.Linear`` whose weight is spectrally normalised (always).

    Takes the arguments of :class:`torch.nn.Linear`, plus ``n_power_iterations`` and ``eps``.
    """

    def __init__(
        self, *args: Any, n_power_iterations: int = 1, eps: float = 1e-12, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        apply_spectral_norm(self, n_power_iterations=n_power_iterations, eps=eps)


class SNEmbedding(nn.Embedding):
    """An ``nn.Embedding`` whose weight matrix is spectrally normalised (always).

    Used for the class embedding of a projection discriminator. Takes the arguments of
    :class:`torch.nn.Embedding`, plus ``n_power_iterations`` and ``eps``.
    """

    def __init__(
        self, *args: Any, n_power_iterations: int = 1, eps: float = 1e-12, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        apply_spectral_norm(self, n_power_iterations=n_power_iterations, eps=eps)


def make_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    *,
    spectral_norm: bool = True,
) -> nn.Conv2d:
    """A 2D convolution, spectrally normalised when ``spectral_norm`` (a config switch)."""
    cls = SNConv2d if spectral_norm else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)


def make_linear(
    in_features: int, out_features: int, bias: bool = True, *, spectral_norm: bool = True
) -> nn.Linear:
    """A linear layer, spectrally normalised when ``spectral_norm``."""
    cls = SNLinear if spectral_norm else nn.Linear
    return cls(in_features, out_features, bias=bias)


def make_embedding(
    num_embeddings: int, embedding_dim: int, *, spectral_norm: bool = True
) -> nn.Embedding:
    """An embedding table, spectrally normalised when ``spectral_norm``."""
    cls = SNEmbedding if spectral_norm else nn.Embedding
    return cls(num_embeddings, embedding_dim)


_INITS = ("ortho", "xavier", "normal", "kaiming")


def _init_tensor(weight: torch.Tensor, method: str) -> None:
    if method == "ortho":
        nn.init.orthogonal_(weight)
    elif method == "xavier":
        nn.init.xavier_uniform_(weight)
    elif method == "normal":
        nn.init.normal_(weight, 0.0, 0.02)
    else:
        nn.init.kaiming_normal_(weight)


@torch.no_grad()
def init_weights(model: nn.Module, method: str = "ortho") -> nn.Module:
    """Initialise every conv / linear / embedding weight of ``model``; biases to zero.

    Works on spectrally normalised layers: the stored (unnormalised) weight is re-initialised and
    the power-iteration vectors are re-estimated for it, so the first training step normalises
    by a good estimate of the new weight's spectral norm. Normalisation layers keep their own
    initialisation (gain 1, bias 0), and so does any module with a true ``skip_weight_init``
    attribute (the label embeddings of
    :class:`~torchgan_ext.layers.ConditionalBatchNorm2d`, which start at gain 1, bias 0).

    Args:
        model: Any module.
        method: ``ortho`` (BigGAN's choice), ``xavier``, ``normal`` (std 0.02) or ``kaiming``.

    Returns:
        ``model``.

    Raises:
        ValueError: Unknown ``method`` (the message lists the valid ones).
    """
    if method not in _INITS:
        raise ValueError(f"unknown init method {method!r}; valid: {', '.join(_INITS)}")
    for module in model.modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
            continue
        if getattr(module, "skip_weight_init", False):
            continue
        if parametrize.is_parametrized(module, "weight"):
            weight = module.parametrizations.weight.original
        else:
            weight = module.weight
        _init_tensor(weight, method)
        bias = getattr(module, "bias", None)
        if isinstance(bias, torch.Tensor):
            nn.init.zeros_(bias)
        if has_spectral_norm(module):
            for p in module.parametrizations.weight:
                if isinstance(p, _SpectralNorm):
                    # the same refresh torch runs when the parametrization is registered
                    p._power_method(p._reshape_weight_to_matrix(weight), _REFRESH_ITERATIONS)
    return model
