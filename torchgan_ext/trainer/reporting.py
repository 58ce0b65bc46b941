"""What a run reports: the latest losses, learning rates, the finiteness check, sample grids
and metrics (the callbacks decide when)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from ..errors import NonFiniteLossError
from ..logging.visualize import render_samples
from ..models.truncation import untruncated

__all__ = ["Reporting", "protocol_markdown"]


class Reporting:
    """Trainer mixin: read-outs used by the callbacks (progress bar, tensorboard, samples,
    evaluation, non-finite guard)."""

    def losses_for_display(self) -> dict[str, Any]:
        gen, dis = [], []
        for name, value in self.logger.get_loss_viz().latest().items():
            loss = self.losses.get(name)
            if isinstance(value, tuple):
                gen.append(value[0])
                dis.append(value[1])
            elif isinstance(loss, GeneratorLoss) and not isinstance(loss, DiscriminatorLoss):
                gen.append(value)
            else:
                dis.append(value)
        out = {}
        if gen:
            out["g"] = sum(gen)
        if dis:
            out["d"] = sum(dis)
        return out

    def loss_scalars(self) -> dict[str, Any]:
        """The latest losses as tensorboard scalars (``loss/<name>[/generator]``), detached."""
        out: dict[str, Any] = {}
        for name, value in self.logger.get_loss_viz().latest().items():
            if isinstance(value, tuple):
                out[f"loss/{name}/generator"] = value[0]
                out[f"loss/{name}/discriminator"] = value[1]
            else:
                out[f"loss/{name}"] = value
        for component in (*self.losses.values(), *getattr(self, "callbacks", {}).values()):
            extra = getattr(component, "log_scalars", None)
            if callable(extra):
                for k, v in extra().items():
                    out[k] = v
        return out

    def learning_rates(self) -> dict[str, float]:
        """The current learning rate of every optimizer."""
        return {
            name: float(getattr(self, name).param_groups[0]["lr"]) for name in self.optimizer_names
        }

    def check_finite(self, when: str) -> None:
        """Raise :class:`NonFiniteLossError` when a latest loss is NaN or infinite."""
        if self.nonfinite == "skip":
            return  # non-finite steps were skipped; the reported loss may still be NaN
        for name, value in self.logger.get_loss_viz().latest().items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                bad = (
                    (not torch.isfinite(v).all())
                    if isinstance(v, torch.Tensor)
                    else (not math.isfinite(float(v)))
                )
                if bad:
                    raise NonFiniteLossError(
                        f"loss {name} is not finite at step {self.step} ({when}); "
                        f"{self.newest_good_checkpoint()}. Lower the learning rate, check the "
                        "data range, or resume with --resume"
                    )

    def write_samples(self) -> list[str]:
        """Render and write the sample grids of the current step (rank 0)."""
        if not self.sample_noise or not self.dist.is_main:
            return []
        grids = render_samples(
            self.models, self.eval_models(), self.sample_batch, self.sample_noise, self.nrow
        )
        return self.logger.log_samples(grids, self.step)

    def run_metrics(self) -> dict[str, float]:
        """Evaluate every metric (torchgan's ``eval_ops``, rank 0) and log the new values; a
        generator with ``truncation_psi`` is evaluated untruncated
        (:func:`~torchgan_ext.models.truncation.untruncated`)."""
        if not self.metrics or not self.dist.is_main:
            return {}
        self.eval_generator = self.eval_models().get("generator")
        for name in self.model_names:
            getattr(self, name).eval()
        try:  # at psi = 1 whatever a generator's truncation_psi (comparable with papers)
            with untruncated(*self.models.values(), *self.eval_models().values()):
                self.eval_ops()
        finally:
            for name in self.model_names:
                getattr(self, name).train()
        values = {}
        for name, log in self.logger.get_metric_viz().logs.items():
            if log:
                v = log[-1]
                label = self.metric_names.get(name, name)
                values[label] = float(v.item() if isinstance(v, torch.Tensor) else v)
        self.logger.log_metrics(values, self.step)
        self.last_metrics = values
        self.last_metrics_step = self.step
        for label, protocol in self.metric_protocols().items():
            if self._logged_protocols.get(label) != protocol:  # once, and whenever it changes
                self.logger.log_text(
                    f"metrics/{label}/protocol", protocol_markdown(protocol), self.step
                )
                self._logged_protocols[label] = protocol
        return values

    def metric_protocol(self, metric: Any) -> dict[str, Any] | None:
        """A copy of ``metric``'s protocol record (its ``last_result``), or ``None``, with
        ``generator``: ``ema`` when the run keeps an EMA generator and the metric evaluates it
        (its ``use_ema``, true where absent), else ``raw``."""
        protocol = (getattr(metric, "last_result", None) or {}).get("protocol")
        if protocol is None:
            return None
        ema = "generator" in self.ema and getattr(metric, "use_ema", True)
        return {**protocol, "generator": "ema" if ema else "raw"}

    def metric_protocols(self) -> dict[str, dict[str, Any]]:
        """:meth:`metric_protocol` of every metric that keeps one, by metric label."""
        out = {}
        for cls_name, metric in (self.metrics or {}).items():
            protocol = self.metric_protocol(metric)
            if protocol is not None:
                out[self.metric_names.get(cls_name, cls_name)] = protocol
        return out


def protocol_markdown(protocol: dict[str, Any]) -> str:
    """A protocol record as a two-column markdown table (tensorboard renders it)."""
    rows = ["| field | value |", "| --- | --- |"]
    for key, value in protocol.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        rows.append(f"| {key} | {value} |")
    return "\n".join(rows)
