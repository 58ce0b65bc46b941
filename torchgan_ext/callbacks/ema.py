"""``ema``: an exponential moving average (EMA) of the generator weights.

BigGAN and U-Net GAN sample from an EMA of the generator weights (Yazici et al., "The Unusual
Effectiveness of Averaging in GAN Training", ICLR 2019, https://arxiv.org/abs/1806.04498):

.. math::
    \\bar\\theta_t = \\beta\\,\\bar\\theta_{t-1} + (1 - \\beta)\\,\\theta_t

Before ``start_step`` the average simply copies the weights (as in BigGAN); buffers (batch-norm
statistics, spectral-norm vectors) are always copied.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torchgan.models import Generator

from .base import Callback

__all__ = ["ModelEMA", "EMA"]


class ModelEMA:
    """An EMA copy of a model, updated in place with one fused ``_foreach_lerp_``.

    Args:
        model: The trained model (the copy is made at construction).
        decay: :math:`\\beta`.
        start_step: Averaging starts at this step; before it the copy follows the weights.
        every: Update every this many steps.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start_step: int = 0, every: int = 1):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay}")
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.start_step = start_step
        self.every = max(1, every)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Fold the current weights of ``model`` into the average (``step`` counts from 1)."""
        if step % self.every != 0 and step >= self.start_step:
            return
        ema_params = list(self.module.parameters())
        params = [p.detach() for p in model.parameters()]
        if step < self.start_step:
            torch._foreach_copy_(ema_params, params)
        else:
            torch._foreach_lerp_(ema_params, params, 1.0 - self.decay)
        for b_ema, b in zip(self.module.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict:
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state)


class EMA(Callback):
    """``ema``: keeps an :class:`ModelEMA` of every generator, used for samples and metrics.

    The averages are ``trainer.ema[name]`` (``trainer.eval_generator`` is the EMA copy of the
    model named ``generator``); their weights are saved in checkpoints under ``ema``.

    Args:
        decay: :math:`\\beta` of the average.
        start_step: Before this step the copy follows the weights.
        every: Update every this many steps.
    """

    def __init__(self, decay: float = 0.999, start_step: int = 0, every: int = 1) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"decay: must be in [0, 1], got {decay}")
        if start_step < 0:
            raise ValueError(f"start_step: must be >= 0, got {start_step}")
        if every < 1:
            raise ValueError(f"every: must be >= 1, got {every}")
        self.decay, self.start_step, self.every = decay, start_step, every
        self.averages: dict[str, ModelEMA] = {}

    def setup(self, trainer: Any) -> None:
        for name in trainer.model_names:
            model = getattr(trainer, name)
            if isinstance(model, Generator):
                self.averages[name] = ModelEMA(model, self.decay, self.start_step, self.every)
        trainer.ema.update(self.averages)

    def on_train_batch_end(self, trainer: Any) -> None:
        for name, ema in self.averages.items():
            ema.update(getattr(trainer, name), trainer.step)

    def state_dict(self) -> dict[str, Any]:
        return {name: ema.state_dict() for name, ema in self.averages.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, sd in state.items():
            if name in self.averages:
                self.averages[name].load_state_dict(sd)
