"""The per-sample gradient penalty of WGAN-GP (Gulrajani et al., NeurIPS 2017).

`Improved Training of Wasserstein GANs <https://arxiv.org/abs/1704.00028>`_ penalises the
critic's gradient norm at random points between real and generated samples, **per sample**,
with one interpolation coefficient per sample:

.. math::
    \\hat x_i = \\epsilon_i x_i + (1 - \\epsilon_i) \\tilde x_i, \\quad
    \\epsilon_i \\sim U[0, 1]

    \\mathcal L_{gp} = \\frac{1}{B} \\sum_{i=1}^{B}
        \\big(\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - 1\\big)^2

torchgan 0.1.0's ``WassersteinGradientPenalty`` draws one :math:`\\epsilon` per batch and takes
one norm over the whole batch's gradient, :math:`(\\lVert\\nabla_{\\hat x} \\sum_i D(\\hat x_i)
\\rVert_2 - 1)^2`: for a critic with unit gradient at every sample that is
:math:`(\\sqrt B - 1)^2`, not 0. StarGAN (https://arxiv.org/abs/1711.09020) uses the per-sample
form, as here.

For a critic with several outputs per sample (a PatchGAN map) :math:`D(\\hat x_i)` is the sum of
the sample's outputs. One backward pass gives every sample's gradient because the critic scores
samples independently: it must not mix samples (no batch norm).

Training through a gradient needs the critic's double backward, which some forwards lack:
``torch.compile``d modules and the fused ``scaled_dot_product_attention`` kernels (the CPU's
flash kernel, CUDA's flash / memory-efficient / cuDNN ones) of SAGAN's attention layer. Every
penalty here and in :mod:`torchgan_ext.callbacks.regularisers` therefore runs the critic's
forward inside :func:`double_backward_safe`.

:class:`PenaltyStep` is the discriminator step of ``wasserstein_gradient_penalty``
(:mod:`torchgan_ext.losses.wasserstein`) and ``dragan_gradient_penalty``
(:mod:`torchgan_ext.losses.draganpenalty`).

**Which output is the score.** A critic returning a tensor ``[B]`` or ``[B, ...]`` is used as
is; one returning a tuple is read at element ``output`` (default 0) by :func:`critic_score`:
U-Net GAN's ``(global, per-pixel)`` -> the global score, AC-GAN's ``(score, logits)`` -> the
score. The penalty losses and the regulariser callbacks
(:mod:`torchgan_ext.callbacks.regularisers`) share it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torchgan.losses.functional import reduce

from .._validation import check_int
from .train_ops import judge, labels_for, validate_labels


def critic_score(out: Any, output: int, what: str, batch: int) -> torch.Tensor:
    """Element ``output`` of a discriminator's output, checked to be a score ``[B, ...]``.

    Args:
        out: What the discriminator returned: a tensor, or a tuple / list of outputs.
        output: The index of the real/fake score in a tuple (0 for a single tensor).
        what: The discriminator's name in messages.
        batch: The number of images judged.

    Raises:
        ValueError: ``output`` is out of range, or not 0 for a single tensor.
        TypeError: The selected output is not a float tensor ``[B, ...]``.
    """
    if isinstance(out, tuple | list):
        if output >= len(out):
            raise ValueError(
                f"output: {what} returns {len(out)} values; choose the real/fake score among "
                f"0..{len(out) - 1}"
            )
        out = out[output]
    elif output != 0:
        raise ValueError(f"output: {what} returns one value, not a tuple; leave output at 0")
    if (
        not isinstance(out, torch.Tensor)
        or not out.is_floating_point()
        or out.dim() == 0
        or out.size(0) != batch
    ):
        got = (
            f"a tensor of shape {tuple(out.shape)} ({out.dtype})"
            if isinstance(out, torch.Tensor)
            else type(out).__name__
        )
        raise TypeError(
            f"model: {what} does not return a score (a float tensor [B] or [B, ...] per image, "
            f"or a tuple holding one at index output); it returned {got}"
        )
    return out


@contextlib.contextmanager
def inspection(*models: nn.Module | None) -> Iterator[None]:
    """A check forward before training that changes nothing: the models in eval mode (no
    batch-norm statistics, no spectral-norm power iteration), no gradients, a forked RNG."""
    models = tuple(m for m in models if m is not None)
    modes = [m.training for m in models]
    tensor = next((t for m in models for t in m.parameters()), None)
    cuda = tensor is not None and tensor.device.type == "cuda"
    devices = [tensor.device.index or 0] if cuda else []
    for m in models:
        m.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            yield
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)


__all__ = [
    "critic_score",
    "double_backward_safe",
    "inspection",
    "interpolate",
    "gradient_norms",
    "norms_at",
    "per_sample_gradient_penalty",
    "sample_gradient_penalty",
]


@contextlib.contextmanager
def double_backward_safe(model: nn.Module) -> Iterator[None]:
    """Run ``model``'s forward so that its input gradient can be trained through.

    Inside the context a module compiled in place (``nn.Module.compile``, as ``compile: true``
    does) is called eagerly, since compiled graphs have no double backward, and
    ``scaled_dot_product_attention`` uses the math kernel, since the fused ones have none. Only
    the forward must run inside; the backward passes may follow outside. Both settings are
    restored on exit (the module stays compiled for the other steps).

    Args:
        model: The critic whose forward is differentiated twice.
    """
    compiled = getattr(model, "_compiled_call_impl", None)
    model._compiled_call_impl = None
    try:
        with sdpa_kernel([SDPBackend.MATH]):
            yield
    finally:
        model._compiled_call_impl = compiled


def interpolate(
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Points :math:`\\epsilon_i x_i + (1 - \\epsilon_i) \\tilde x_i` between real and fake.

    Args:
        real: Real samples ``[B, ...]``.
        fake: Generated samples, same shape (detached by the caller when wanted).
        alpha: Coefficients ``[B]`` (default: uniform in [0, 1), one per sample).
        generator: RNG of the default coefficients.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    if alpha is None:
        alpha = torch.rand(real.size(0), generator=generator).to(real.device, real.dtype)
    alpha = alpha.reshape(real.size(0), *([1] * (real.dim() - 1)))
    return alpha * real + (1 - alpha) * fake


def gradient_norms(
    critic: Callable[[torch.Tensor], torch.Tensor],
    inputs: torch.Tensor,
    create_graph: bool = True,
) -> torch.Tensor:
    """:math:`\\lVert \\nabla_{x_i} D(x_i) \\rVert_2` per sample, ``[B]``.

    Args:
        critic: Maps ``inputs`` to scores ``[B, ...]`` (summed per sample).
        inputs: Points ``[B, ...]``; a detached copy is differentiated.
        create_graph: Keep the graph so the norms can be trained through (double backward).
    """
    x = inputs.detach().requires_grad_(True)
    return norms_at(x, critic(x), create_graph)


def norms_at(points: torch.Tensor, scores: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """:math:`\\lVert \\nabla_{x_i} D(x_i) \\rVert_2` per sample, ``[B]``, from computed scores.

    Args:
        points: The critic's inputs ``[B, ...]`` (``requires_grad``).
        scores: The critic's outputs on ``points``, ``[B, ...]`` (summed per sample).
        create_graph: Keep the graph so the norms can be trained through (double backward).
    """
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=create_graph)
    return grad.flatten(1).norm(2, dim=1)


def sample_gradient_penalty(
    points: torch.Tensor, scores: torch.Tensor, center: float = 1.0, reduction: str = "mean"
) -> torch.Tensor:
    """:math:`(\\lVert \\nabla_{x_i} D(x_i) \\rVert_2 - c)^2` per sample, reduced.

    The form torchgan's penalty losses compute from ``(interpolate, d_interpolate)``; used by
    ``wasserstein_gradient_penalty`` and ``dragan_gradient_penalty``.

    Args:
        points: The critic's inputs ``[B, ...]`` (``requires_grad``).
        scores: The critic's outputs on ``points``.
        center: :math:`c`, the target norm.
        reduction: ``mean``, ``sum`` or ``none`` (per-sample values ``[B]``).
    """
    return reduce((norms_at(points, scores) - center) ** 2, reduction)


def per_sample_gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor | None = None,
    center: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:math:`\\frac1B \\sum_i (\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - c)^2`.

    Args:
        critic: The critic (a function of the images returning scores).
        real: Real samples.
        fake: Generated samples (the penalty never back-propagates into them).
        alpha: Interpolation coefficients ``[B]`` (default uniform, one per sample).
        center: :math:`c`, the target norm (1 in WGAN-GP).
        generator: RNG of the default coefficients.

    Returns:
        ``(penalty, norms)``: the scalar penalty (differentiable w.r.t. the critic's parameters)
        and the detached per-sample gradient norms ``[B]``.
    """
    norms = gradient_norms(critic, interpolate(real, fake, alpha, generator))
    return ((norms - center) ** 2).mean(), norms.detach()


class PenaltyStep:
    """Mixin: one discriminator step on ``lambd`` times the per-sample penalty at ``_points``.

    Subclasses define ``_points`` (where the gradient is penalised, and the labels the
    discriminator judges them with) and ``_center`` (the target norm), and set ``output`` (the
    element of a tuple output that is the score, :func:`critic_score`) with
    :meth:`_set_output`.
    """

    output: int = 0

    def _set_output(self, output: int) -> None:
        self.output = check_int(output, "output")

    def _score(self, discriminator: Any, points: torch.Tensor, labels: Any) -> torch.Tensor:
        out = judge(discriminator, points, labels)
        return critic_score(out, self.output, type(discriminator).__name__, points.size(0))

    def forward(self, interpolate: torch.Tensor, d_interpolate: torch.Tensor) -> torch.Tensor:
        """The penalty at ``interpolate`` (``requires_grad``), outputs ``d_interpolate``."""
        return sample_gradient_penalty(interpolate, d_interpolate, self._center(), self.reduction)

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels, and the
        discriminator's output ``output`` is a score (a forward of two real images)."""
        validate_labels(trainer, judge_real=False)
        g = getattr(trainer, "generator", None)
        d = getattr(trainer, "discriminator", None)
        real, labels = trainer.real_inputs, trainer.labels
        if g is None or d is None or not isinstance(real, torch.Tensor):
            return
        with inspection(g, d):
            labels = labels[:2] if isinstance(labels, torch.Tensor) else None
            _, judge_labels = labels_for(g, d, labels, 2, real.device, judge_real=False)
            self._score(d, real[:2], judge_labels)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step on the weighted penalty; returns the detached penalty."""
        if self.override_train_ops is not None:  # torchgan calls this hook without ``device``
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, labels
            )
        with torch.no_grad():
            points, judge_labels = self._points(generator, discriminator, real_inputs, labels)
        points.requires_grad_(True)
        optimizer_discriminator.zero_grad(set_to_none=True)
        with double_backward_safe(discriminator):
            loss = self.forward(points, self._score(discriminator, points, judge_labels))
        (self.lambd * loss).backward()
        optimizer_discriminator.step()
        return loss.detach()
