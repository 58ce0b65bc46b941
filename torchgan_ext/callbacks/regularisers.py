"""``r1_penalty``, ``r2_penalty``, ``lecam``: regularisers for any discriminator, as callbacks.

Each runs its own regularisation step on the discriminator after the trainer's step, every
``every`` steps (lazy regularisation, Karras et al., "Analyzing and Improving the Image Quality
of StyleGAN", CVPR 2020, https://arxiv.org/abs/1912.04958): a forward pass, the regulariser
scaled by ``every`` (so its strength per step does not depend on ``every``), a backward pass and
a step of the discriminator's own optimizer (its hooks included: gradient averaging in a
distributed run, ``nonfinite: skip``), under the trainer's autocast. No value is read back to
the host; ``last_value`` holds the latest (unscaled) regulariser as a detached tensor.

The formulas are in :mod:`torchgan_ext.losses.regularisers`:

.. math::
    R_1 = \\frac{\\gamma}{2}\\, \\mathbb{E}_{x}\\, \\lVert \\nabla_x D(x) \\rVert_2^2, \\quad
    R_2 = \\frac{\\gamma}{2}\\, \\mathbb{E}_{z}\\, \\lVert \\nabla D(G(z)) \\rVert_2^2, \\quad
    R_{LC} = \\mathbb{E}_{x} \\lVert D(x) - \\alpha_F \\rVert^2
        + \\mathbb{E}_{z} \\lVert D(G(z)) - \\alpha_R \\rVert^2

**Which output is the score.** A discriminator returning a tensor ``[B]`` or ``[B, ...]`` (a
PatchGAN map: summed per sample for R1/R2, averaged for LeCam) is used as is. One returning a
tuple is read at element ``output`` (default 0): U-Net GAN's ``(global, per-pixel)`` -> the
global score, StarGAN's ``(source map, class logits)`` and AC-GAN's ``(score, logits)`` -> the
real/fake score. Anything else is refused with an error naming ``model``.

**What is real.** The images a discriminator judges come from
:func:`~torchgan_ext.losses.train_ops.judged_reals`: the batch's first element; its second for
a translation discriminator with ``judges: b`` (CycleGAN's ``discriminator``, pix2pix's
PatchGAN); pix2pix's conditional PatchGAN is called ``D(image, condition)`` as its loss does.
Discriminators of images their loss builds (the Context Encoder's region, SRGAN's
high-resolution half of ``(lr, hr)``) are refused before training.

**Conditional models.** A discriminator with ``label_type != "none"`` judges real images with
the batch's labels (a batch without labels is refused) and generated ones with the labels they
were generated for (torchgan's conventions, as the standard losses). R2 and LeCam draw their own
generated batch (the batch's size, fresh noise): ``generator(noise[, labels])`` for generators
of noise; an image translator (a generator with ``sample_grid``) with ``label_type="required"``
(StarGAN) translates the real batch to its labels in random order (the StarGAN authors'
targets); other translators are refused.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from .._validation import check_bool, check_int, check_number
from ..losses.penalty import critic_score, double_backward_safe, inspection
from ..losses.regularisers import gradient_squared_norms, lecam_regulariser, update_anchor
from ..losses.train_ops import generate, judge, judged_reals, labels_for
from .base import Callback

__all__ = [
    "LazyRegulariser",
    "DiscriminatorRegulariser",
    "R1Penalty",
    "R2Penalty",
    "LeCam",
]


class LazyRegulariser(Callback):
    """Base class: a lazy regularisation step on one model every ``every`` steps.

    Every ``every`` trainer steps, :meth:`regulariser` (the unscaled term, a scalar tensor)
    is computed under the trainer's autocast, scaled by ``every``, back-propagated and
    followed by a step of the model's own optimizer. Subclasses: the discriminator
    regularisers here, the generator's path-length penalty
    (:class:`~torchgan_ext.callbacks.path_length.PathLengthPenalty`).

    Args:
        every: Regularise every this many trainer steps (``trainer.step`` counts them; with
            ``ncritic`` > 1 the discriminator steps at every trainer step), the term scaled by
            ``every``.
        model: Name of the regularised model in ``models:``.
    """

    def __init__(self, every: int = 1, model: str = "discriminator") -> None:
        self.every = check_int(every, "every", minimum=1)
        if not isinstance(model, str) or not model:
            raise TypeError(f"model: must be the name of a model, got {model!r}")
        self.model = model
        self.last_value: torch.Tensor | None = None

    def _model(self, trainer: Any) -> nn.Module:
        names = list(getattr(trainer, "model_names", []))
        if self.model not in names:
            raise ValueError(
                f"model: the run has no model {self.model!r} (models: {', '.join(names)})"
            )
        return getattr(trainer, self.model)

    def _optimizer(self, trainer: Any, model: nn.Module) -> torch.optim.Optimizer:
        first = next(model.parameters(), None)
        for optimizer in trainer.optimizers.values():
            if any(p is first for g in optimizer.param_groups for p in g["params"]):
                return optimizer
        raise ValueError(f"model: model {self.model!r} has no optimizer")

    def regulariser(self, trainer: Any, model: nn.Module) -> torch.Tensor:
        """The unscaled regulariser of the current batch (implemented by subclasses)."""
        raise NotImplementedError

    def on_train_batch_end(self, trainer: Any) -> None:
        """Every ``every`` steps: one step of the model on ``every`` x the regulariser."""
        if trainer.step % self.every != 0:
            return
        model = self._model(trainer)
        optimizer = self._optimizer(trainer, model)
        autocast = getattr(trainer, "autocast", None)
        with autocast() if callable(autocast) else contextlib.nullcontext():
            value = self.regulariser(trainer, model)
        optimizer.zero_grad(set_to_none=True)
        (value * self.every).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self.last_value = value.detach()


class DiscriminatorRegulariser(LazyRegulariser):
    """Base class: a lazy regularisation step on one discriminator every ``every`` steps.

    Subclasses implement :meth:`regulariser` (the unscaled term, a scalar tensor).

    Args:
        every: Regularise every this many trainer steps, the term scaled by ``every``.
        model: Name of the discriminator in ``models:``.
        output: Element of a tuple output that is the real/fake score.
    """

    #: Whether :meth:`regulariser` needs generated images (``R2``, LeCam).
    needs_fakes = False

    def __init__(self, every: int = 1, model: str = "discriminator", output: int = 0) -> None:
        super().__init__(every, model)
        self.output = check_int(output, "output")

    def scores(self, d: nn.Module, images: torch.Tensor, labels: torch.Tensor | None):
        """The discriminator's real/fake scores of ``images`` (judged with ``labels``)."""
        if getattr(d, "label_type", "none") != "none" and labels is None:
            raise ValueError(
                f"model: {type(d).__name__} is conditional (label_type="
                f"{d.label_type!r}) but the batch has no labels; use a dataset with labels"
            )
        return critic_score(judge(d, images, labels), self.output, type(d).__name__, images.size(0))

    def reals(self, trainer: Any, d: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The real images ``d`` judges and their labels or condition image
        (:func:`~torchgan_ext.losses.train_ops.judged_reals`)."""
        return judged_reals(d, trainer.real_inputs, trainer.labels)

    def fakes(self, trainer: Any, d: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A generated batch the size of the real one, and the labels to judge it with."""
        g = getattr(trainer, "generator", None)
        real, labels = trainer.real_inputs, trainer.labels
        if g is None:
            raise ValueError("model: the run has no model 'generator' to draw generated images")
        b = real.size(0)
        with torch.no_grad():
            if hasattr(g, "sample_grid"):  # an image translator
                if getattr(g, "label_type", "none") != "required" or labels is None:
                    raise ValueError(
                        f"model: {type(g).__name__} translates images, so generated images "
                        "cannot be drawn from noise (only label-driven translators such as "
                        "StarGAN's are supported); use r1_penalty"
                    )
                target = labels[torch.randperm(b, device=labels.device)]
                return g(real, target), None
            noise = torch.randn(b, g.encoding_dims, device=real.device)
            g_labels, d_labels = labels_for(g, d, labels, b, real.device, judge_real=False)
            return generate(g, noise, g_labels), d_labels

    # -- the hooks ---------------------------------------------------------------------------
    def validate(self, trainer: Any) -> None:
        """Before training (the trainer holds the first batch): the discriminator returns a
        score and the inputs it needs are there (errors name ``model`` or ``output``)."""
        d = self._model(trainer)
        self._optimizer(trainer, d)
        real, labels = self.reals(trainer, d)
        if not isinstance(real, torch.Tensor):
            raise TypeError("model: the batch has no image tensor to regularise on")
        # eval mode and a forked RNG: the check changes no statistics and no random numbers
        with inspection(d, getattr(trainer, "generator", None)):
            self.scores(d, real[:2], None if labels is None else labels[:2])
            if self.needs_fakes:
                fake, fake_labels = self.fakes(trainer, d)
                self.scores(d, fake[:2], None if fake_labels is None else fake_labels[:2])


class R1Penalty(DiscriminatorRegulariser):
    """``r1_penalty``: :math:`\\frac{\\gamma}{2} \\mathbb{E}_x \\lVert \\nabla_x D(x)
    \\rVert_2^2` on the real batch (Mescheder et al., ICML 2018,
    https://arxiv.org/abs/1801.04406), lazily every ``every`` steps as in StyleGAN2.

    Args:
        gamma: :math:`\\gamma` (StyleGAN2 uses 10 at 1024 px, StyleGAN2-ADA from 0.01 at
            32 px up; the paper's experiments 10).
        every: Regularise every this many steps (StyleGAN2: 16), scaled by ``every``.
        model: Name of the discriminator in ``models:``.
        output: Element of a tuple output that is the real/fake score.
    """

    def __init__(
        self, gamma: float = 10.0, every: int = 1, model: str = "discriminator", output: int = 0
    ) -> None:
        super().__init__(every, model, output)
        self.gamma = float(check_number(gamma, "gamma"))

    def penalty(self, d: nn.Module, images: torch.Tensor, labels: torch.Tensor | None):
        """:math:`\\frac{\\gamma}{2}` times the mean squared gradient norm at ``images``."""
        x = images.detach().requires_grad_(True)
        with double_backward_safe(d):
            norms = gradient_squared_norms(x, self.scores(d, x, labels))
        return 0.5 * self.gamma * norms.mean()

    def regulariser(self, trainer: Any, d: nn.Module) -> torch.Tensor:
        return self.penalty(d, *self.reals(trainer, d))


class R2Penalty(R1Penalty):
    """``r2_penalty``: the same penalty on a generated batch (Mescheder et al., ICML 2018).

    Args: as :class:`R1Penalty`.
    """

    needs_fakes = True

    def regulariser(self, trainer: Any, d: nn.Module) -> torch.Tensor:
        fake, labels = self.fakes(trainer, d)
        return self.penalty(d, fake, labels)


class LeCam(DiscriminatorRegulariser):
    """``lecam``: the LeCam regulariser (Tseng et al., CVPR 2021,
    https://arxiv.org/abs/2104.03310) with moving-average anchors.

    .. math::
        \\lambda\\, \\big(\\mathbb{E}_x \\lVert D(x) - \\alpha_F \\rVert^2
        + \\mathbb{E}_z \\lVert D(G(z)) - \\alpha_R \\rVert^2\\big)

    Each regularisation step scores the real batch and a generated batch, first folds their
    mean scores into the anchors :math:`\\alpha_R, \\alpha_F` (an EMA with ``decay``; the
    first step starts them, and before ``start_step`` they follow the current means, as the
    authors' ``start_iter``), then steps the discriminator on the weighted term. The anchors
    are saved in checkpoints, so ``--resume`` continues them exactly.

    Args:
        weight: :math:`\\lambda` (StudioGAN's CIFAR-10 LeCam configs: 0.3).
        decay: Decay of the anchors' moving average, in [0, 1] (StudioGAN: 0.99).
        start_step: Before this step the anchors follow the current means (decay 0;
            StudioGAN: 1000).
        one_sided: ``relu`` of the gaps, as the authors' and StudioGAN's code (``false``: the
            paper's two-sided squares).
        every: Regularise every this many steps, scaled by ``every``.
        model: Name of the discriminator in ``models:``.
        output: Element of a tuple output that is the real/fake score.
    """

    needs_fakes = True

    def __init__(
        self,
        weight: float = 0.3,
        decay: float = 0.99,
        start_step: int = 1000,
        one_sided: bool = True,
        every: int = 1,
        model: str = "discriminator",
        output: int = 0,
    ) -> None:
        super().__init__(every, model, output)
        self.weight = float(check_number(weight, "weight"))
        decay = check_number(decay, "decay")
        if decay > 1:
            raise ValueError(f"decay: must be in [0, 1], got {decay!r}")
        self.decay = float(decay)
        self.start_step = check_int(start_step, "start_step")
        self.one_sided = check_bool(one_sided, "one_sided")
        self.anchor_real: torch.Tensor | None = None
        self.anchor_fake: torch.Tensor | None = None

    def regulariser(self, trainer: Any, d: nn.Module) -> torch.Tensor:
        fake, fake_labels = self.fakes(trainer, d)
        d_real = self.scores(d, *self.reals(trainer, d))
        d_fake = self.scores(d, fake, fake_labels)
        decay = self.decay if trainer.step >= self.start_step else 0.0
        self.anchor_real = update_anchor(self.anchor_real, d_real.mean(), decay)
        self.anchor_fake = update_anchor(self.anchor_fake, d_fake.mean(), decay)
        reg = lecam_regulariser(
            d_real, d_fake, self.anchor_real, self.anchor_fake, one_sided=self.one_sided
        )
        return self.weight * reg

    def state_dict(self) -> dict[str, Any]:
        return {"anchor_real": self.anchor_real, "anchor_fake": self.anchor_fake}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.anchor_real = state["anchor_real"]
        self.anchor_fake = state["anchor_fake"]
