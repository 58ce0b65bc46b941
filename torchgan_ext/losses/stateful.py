"""torchgan's losses that carry training state, with that state saved in checkpoints.

torchgan 0.1.0 keeps the state of two losses in plain Python attributes, which
``state_dict()`` does not see, so a resumed run silently restarts it:

* BEGAN's equilibrium control :math:`k_t` (``boundary_equilibrium_discriminator``), which
  decides how hard the discriminator pushes down on generated images, is reset to 0;
* historical averaging (``historical_average_generator`` / ``_discriminator``) forgets the
  running sum of past parameters and its step count, so the penalty restarts from nothing.

The classes here are torchgan's, unchanged in what they compute, plus
``get_extra_state``/``set_extra_state`` (``torch.nn.Module``'s hook for non-tensor state), so
the trainer's checkpoints hold the state and ``--resume`` continues it. The state is plain
floats, ints and tensors: checkpoints still load with ``weights_only=True``.
"""

from __future__ import annotations

from typing import Any

import torch
from torchgan import losses as tl

__all__ = [
    "BoundaryEquilibriumDiscriminatorLoss",
    "HistoricalAverageGeneratorLoss",
    "HistoricalAverageDiscriminatorLoss",
]


class BoundaryEquilibriumDiscriminatorLoss(tl.BoundaryEquilibriumDiscriminatorLoss):
    """BEGAN discriminator loss (`Berthelot et al. <https://arxiv.org/abs/1703.10717>`_), with
    :math:`k_t` in checkpoints.

    .. math::
        L_D = \\mathcal L(x) - k_t\\, \\mathcal L(G(z)), \\qquad
        k_{t+1} = \\mathrm{clip}_{[0, 1]}\\big(k_t + \\lambda_k (\\gamma\\, \\mathcal L(x)
        - \\mathcal L(G(z)))\\big)

    where :math:`\\mathcal L` is the discriminator's (auto-encoder's) reconstruction loss.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
        init_k: :math:`k_0`.
        lambd: :math:`\\lambda_k`, the learning rate of :math:`k`.
        gamma: :math:`\\gamma`, the diversity ratio.
    """

    def get_extra_state(self) -> dict[str, Any]:
        """:math:`k_t` (and torchgan's convergence measure, when it has one)."""
        state: dict[str, Any] = {"k": float(self.k)}
        if self.convergence_metric is not None:
            state["convergence_metric"] = float(self.convergence_metric)
        return state

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.k = float(state["k"])
        self.convergence_metric = state.get("convergence_metric")


class _HistoricalState:
    """Mixin: the running parameter sum and step count of historical averaging, checkpointed."""

    timesteps: int
    sum_parameters: list[torch.Tensor]

    def get_extra_state(self) -> dict[str, Any]:
        return {
            "timesteps": int(self.timesteps),
            "sum_parameters": [p.detach().clone() for p in self.sum_parameters],
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.timesteps = int(state["timesteps"])
        self.sum_parameters = [p.clone() for p in state["sum_parameters"]]
        self._restored = True

    def _follow_model(self, model: torch.nn.Module) -> None:
        """Once after a restore: put the sums where the model is (checkpoints load on the CPU)."""
        if not getattr(self, "_restored", False):
            return
        self._restored = False
        params = list(model.parameters())
        if len(self.sum_parameters) != len(params) and self.timesteps > 0:
            raise ValueError(
                f"historical averaging: the checkpoint sums {len(self.sum_parameters)} "
                f"parameters, the model has {len(params)}; resume with the same model"
            )
        self.sum_parameters = [
            s.to(p.device) if s.device != p.device else s
            for s, p in zip(self.sum_parameters, params, strict=False)
        ]


class HistoricalAverageGeneratorLoss(_HistoricalState, tl.HistoricalAverageGeneratorLoss):
    """Historical averaging of the generator (`Salimans et al.
    <https://arxiv.org/abs/1606.03498>`_), with its running sum in checkpoints.

    .. math::
        L = \\lambda \\Big\\lVert \\theta_t - \\frac{1}{t} \\sum_{i<t} \\theta_i \\Big\\rVert_2^2

    Args:
        reduction: Unused (torchgan's signature).
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
        lambd: :math:`\\lambda`.
    """

    def train_ops(self, generator: Any, optimizer_generator: torch.optim.Optimizer) -> Any:
        """torchgan's step, after moving restored sums to the generator's device."""
        self._follow_model(generator)
        return super().train_ops(generator, optimizer_generator)


class HistoricalAverageDiscriminatorLoss(_HistoricalState, tl.HistoricalAverageDiscriminatorLoss):
    """Historical averaging of the discriminator (`Salimans et al.
    <https://arxiv.org/abs/1606.03498>`_), with its running sum in checkpoints.

    .. math::
        L = \\lambda \\Big\\lVert \\theta_t - \\frac{1}{t} \\sum_{i<t} \\theta_i \\Big\\rVert_2^2

    Args:
        reduction: Unused (torchgan's signature).
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
        lambd: :math:`\\lambda`.
    """

    def train_ops(self, discriminator: Any, optimizer_discriminator: torch.optim.Optimizer) -> Any:
        """torchgan's step, after moving restored sums to the discriminator's device."""
        self._follow_model(discriminator)
        return super().train_ops(discriminator, optimizer_discriminator)
