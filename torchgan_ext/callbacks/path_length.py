"""``path_length``: StyleGAN2's path-length regularisation of the generator, as a callback.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020,
https://arxiv.org/abs/1912.04958, section 3.2. For :math:`w` and a random image-space direction
:math:`y \\sim \\mathcal N(0, I) / \\sqrt{HW}` (the authors' scaling, so the length does not
grow with the resolution), the Jacobian-vector length
:math:`\\lVert J_w^\\top y \\rVert_2` is pulled towards its running mean :math:`a`:

.. math::
    \\mathcal L_{pl} = \\lambda\\, \\mathbb E_{w, y}
        \\left(\\lVert J_w^\\top y \\rVert_2 - a\\right)^2, \\qquad
    J_w^\\top y = \\nabla_w \\big(g(w) \\cdot y\\big), \\qquad
    a \\leftarrow a + \\beta\\,(\\mathbb E \\lVert J_w^\\top y \\rVert_2 - a)

where the penalty uses the updated :math:`a`, differentiated through its batch mean as in the
authors' ``training/loss.py`` (only a detached copy is carried to the next step), with
:math:`\\lambda` = ``weight`` (2), :math:`\\beta` = ``decay`` (0.01). For a generator with a
mapping network (``training_styles(z)`` and ``synthesis(ws)``, :class:`StyleGAN2Generator
<torchgan_ext.models.stylegan2.StyleGAN2Generator>`), :math:`w` is the per-layer styles (style
mixing included, as the authors' code) and the squared norm is summed over :math:`w`'s
entries and averaged over the layers; any other generator of noise alone is regularised with
respect to its input :math:`z`.

It is lazy (section 4.1): every ``every`` (4) steps, on a batch of ``batch size //
batch_shrink`` (2) fresh noise vectors, scaled by ``every``, one step of the generator's own
optimizer (the machinery of :class:`~torchgan_ext.callbacks.regularisers.LazyRegulariser`,
shared with ``r1_penalty``). :math:`a` is saved in checkpoints (``pl_mean``), so ``--resume``
continues exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._validation import check_number, check_positive_int
from ..losses.penalty import double_backward_safe
from .augment import check_probability
from .regularisers import LazyRegulariser

__all__ = ["PathLengthPenalty", "path_lengths"]


def path_lengths(
    generator: nn.Module, z: torch.Tensor, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """:math:`\\lVert J_w^\\top y \\rVert_2` per sample (differentiable, ``[B]``).

    Args:
        generator: A StyleGAN2-like generator (``training_styles``, ``synthesis``) or any
            generator of noise ``g(z)``.
        z: Noise ``[B, encoding_dims]``.
        noise: The direction :math:`y \\sqrt{HW}` (``[B, C, H, W]``); random when ``None``.
    """
    styles = getattr(generator, "training_styles", None)
    synthesis = getattr(generator, "synthesis", None)
    if callable(styles) and callable(synthesis):
        latent = styles(z)
        images = synthesis(latent)
    else:
        latent = z.detach().requires_grad_(True)
        images = generator(latent)
    if noise is None:
        noise = torch.randn_like(images)
    y = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grads,) = torch.autograd.grad((images * y).sum(), latent, create_graph=True)
    grads = grads.reshape(grads.shape[0], -1, grads.shape[-1])  # [B, layers, dim]
    return grads.square().sum(dim=2).mean(dim=1).sqrt()


class PathLengthPenalty(LazyRegulariser):
    """``path_length``: the path-length penalty on a generator, lazily every ``every`` steps.

    Args:
        weight: :math:`\\lambda` (2 in the paper and the authors' configs).
        decay: :math:`\\beta`, the rate of the running mean of the lengths (0.01).
        batch_shrink: The penalty's batch is the real batch's size divided by this (2).
        every: Regularise every this many steps, scaled by ``every`` (4).
        model: Name of the generator in ``models:``.
    """

    def __init__(
        self,
        weight: float = 2.0,
        decay: float = 0.01,
        batch_shrink: int = 2,
        every: int = 4,
        model: str = "generator",
    ) -> None:
        super().__init__(every, model)
        self.weight = float(check_number(weight, "weight"))
        self.decay = check_probability(decay, "decay")
        self.batch_shrink = check_positive_int(batch_shrink, "batch_shrink")
        #: The running mean :math:`a` of the path lengths (starts at 0, as the authors').
        self.pl_mean = torch.zeros(())

    def validate(self, trainer: Any) -> None:
        """Before training: the model is a generator of noise alone with an optimizer."""
        g = self._model(trainer)
        self._optimizer(trainer, g)
        if (
            not isinstance(getattr(g, "encoding_dims", None), int)
            or getattr(g, "label_type", "none") != "none"
            or hasattr(g, "sample_grid")
        ):
            raise ValueError(
                f"model: {self.model!r} ({type(g).__name__}) is not a generator of noise alone "
                "(encoding_dims, label_type 'none'); path_length regularises such generators"
            )

    def regulariser(self, trainer: Any, model: nn.Module) -> torch.Tensor:
        real = trainer.real_inputs
        b = max(1, real.size(0) // self.batch_shrink)
        z = torch.randn(b, model.encoding_dims, device=real.device)
        with double_backward_safe(model):
            lengths = path_lengths(model, z)
        # as the authors' loss.py: the updated mean stays in the graph of the penalty (its
        # gradient includes the decay * batch-mean term); only a detached copy is kept
        mean = self.pl_mean.to(lengths.device).lerp(lengths.mean().float(), self.decay)
        self.pl_mean = mean.detach()
        return self.weight * (lengths - mean).square().mean()

    def log_scalars(self) -> dict[str, torch.Tensor]:
        """``regularisers/pl_mean`` (a device tensor, read when logged)."""
        return {"regularisers/pl_mean": self.pl_mean.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": self.pl_mean.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pl_mean = state["pl_mean"].detach().clone().float()
