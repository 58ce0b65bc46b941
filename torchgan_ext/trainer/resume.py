"""Resume compatibility: what a checkpoint must share with the trainer it is loaded into.

``--resume`` may change the schedule, logging, intervals and callbacks, but not the models, their
parameter shapes, the optimizers (class and settings), the schedulers or the losses. The
comparison runs before anything of the run directory is touched (see docs/reliability.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ResumeMismatch", "ResumeChecks"]


@dataclass(frozen=True)
class ResumeMismatch:
    """One way a checkpoint does not fit the trainer it is resumed into.

    Attributes:
        model: The model (key of the trainer's ``models`` dict) it concerns, ``None`` for a
            loss.
        field: Where in that model's entry (``"name"``, ``"args"``, ``"optimizer.name"``,
            ``"optimizer.args.lr"``, ``"scheduler"``, ``"scheduler.name"``,
            ``"scheduler.interval"``; ``""`` for the model as a whole), or the loss's key
            (class name) when ``model`` is ``None``.
        message: One line: what the checkpoint holds, what the trainer has, and the rule.
    """

    model: str | None
    field: str
    message: str


def _plain(value: Any) -> Any:
    """A hyperparameter value as comparable plain data (tensors -> floats, tuples -> lists)."""
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _state_shape_diff(
    saved: Mapping[str, Any], current: Mapping[str, Any], source: str
) -> list[str]:
    """The differences in names and shapes of two model state dicts, one phrase each."""
    out = []
    for key, value in current.items():
        if key not in saved:
            out.append(f"{key} of this run's model is missing from {source}")
        elif isinstance(value, torch.Tensor) and isinstance(saved[key], torch.Tensor):
            if tuple(value.shape) != tuple(saved[key].shape):
                out.append(
                    f"{key} has shape {list(saved[key].shape)} in {source}, this run builds "
                    f"{list(value.shape)}"
                )
    out += [
        f"{source} has {key}, which this run's model lacks" for key in saved if key not in current
    ]
    return out


class ResumeChecks:
    """Trainer mixin: :meth:`check_resume` and the checkpoint metadata it relies on."""

    def _schedulers_by_model(self) -> list[dict[str, str]]:
        out = []
        for sched in self.schedulers + self.step_schedulers:
            interval = "step" if any(sched is s for s in self.step_schedulers) else "epoch"
            out.append(
                {
                    "model": self._scheduler_owner.get(id(sched), "?"),
                    "class": type(sched).__name__,
                    "interval": interval,
                }
            )
        return out

    def _meta(self) -> dict[str, Any]:
        """What the resume check compares: class names of models, optimizers, schedulers and
        losses (format 2; older checkpoints lack it and are compared by their state)."""
        return {
            "models": {n: type(getattr(self, n)).__name__ for n in self.model_names},
            "optimizers": {
                n: {"class": type(getattr(self, n)).__name__, "model": self._optimizer_owner[n]}
                for n in self.optimizer_names
            },
            "schedulers": self._schedulers_by_model(),
            "losses": [name for name, loss in self.losses.items() if isinstance(loss, nn.Module)],
        }

    def check_resume(self, state: Mapping[str, Any], source: str) -> list[ResumeMismatch]:
        """Compare a checkpoint with this trainer before anything is restored.

        What must match: the set of models, each model's class and the names and shapes of its
        parameters and buffers, each optimizer's class and hyperparameters (they are restored
        from the checkpoint, so a changed value would be silently ignored), the presence,
        class and interval of each scheduler, and the set of losses. Everything else (epochs,
        ``max_steps``, intervals, logging, callbacks added or removed) may change.

        Args:
            state: A loaded checkpoint (format 1 or 2).
            source: How messages name the checkpoint (e.g. ``"the checkpoint ckpt-10.pt"``).

        Returns:
            One :class:`ResumeMismatch` per incompatibility; ``[]`` when it fits.
        """
        out: list[ResumeMismatch] = []
        meta = state.get("meta") if isinstance(state.get("meta"), Mapping) else {}
        saved_models: Mapping[str, Any] = state.get("models", {})
        rule_model = "models cannot be added, removed or changed on --resume"
        for name in saved_models:
            if name not in self.model_names:
                out.append(
                    ResumeMismatch(
                        name,
                        "",
                        f"{source} has a model {name!r} that this run does not build; {rule_model}",
                    )
                )
        for name in self.model_names:
            if name not in saved_models:
                out.append(
                    ResumeMismatch(name, "", f"{source} has no model {name!r}; {rule_model}")
                )
                continue
            model = getattr(self, name)
            saved_cls = meta.get("models", {}).get(name)
            if saved_cls is not None and saved_cls != type(model).__name__:
                out.append(
                    ResumeMismatch(
                        name,
                        "name",
                        f"{source} was trained with {saved_cls}, this run builds "
                        f"{type(model).__name__}; a model cannot change on --resume",
                    )
                )
                continue
            diff = _state_shape_diff(saved_models[name], model.state_dict(), source)
            if diff:
                out.append(
                    ResumeMismatch(
                        name,
                        "args",
                        diff[0]
                        + (f" (and {len(diff) - 1} more differences)" if len(diff) > 1 else "")
                        + "; model arguments that change parameters cannot change on --resume",
                    )
                )
        out += self._check_optimizers(state, meta, source)
        out += self._check_schedulers(state, meta, source)
        saved_losses = list(meta.get("losses") or state.get("losses", {}))
        current = [n for n, loss in self.losses.items() if isinstance(loss, nn.Module)]
        for name in current:
            if name not in saved_losses:
                out.append(
                    ResumeMismatch(
                        None,
                        name,
                        f"{source} was trained without {name} (its losses: "
                        f"{', '.join(saved_losses) or 'none'}); losses cannot change on --resume",
                    )
                )
        for name in saved_losses:
            if name not in current:
                out.append(
                    ResumeMismatch(
                        None,
                        name,
                        f"{source} was trained with {name}, which this run does not have; "
                        "losses cannot change on --resume",
                    )
                )
        return out

    def _check_optimizers(
        self, state: Mapping[str, Any], meta: Mapping[str, Any], source: str
    ) -> list[ResumeMismatch]:
        out = []
        saved_all: Mapping[str, Any] = state.get("optimizers", {})
        for opt_name in self.optimizer_names:
            model = self._optimizer_owner[opt_name]
            if model not in state.get("models", {}):
                continue  # reported with the model
            optimizer = getattr(self, opt_name)
            current_cls = type(optimizer).__name__
            saved = saved_all.get(opt_name)
            if not isinstance(saved, Mapping) or "param_groups" not in saved:
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer",
                        f"{source} has no state for {opt_name}; an optimizer cannot change on "
                        "--resume",
                    )
                )
                continue
            saved_cls = (meta.get("optimizers", {}).get(opt_name) or {}).get("class")
            rule = "an optimizer cannot change on --resume"
            if saved_cls is not None and saved_cls != current_cls:
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer.name",
                        f"{source} was trained with {saved_cls}, this run builds {current_cls}; "
                        f"{rule}",
                    )
                )
                continue
            groups = optimizer.state_dict()["param_groups"]
            saved_groups = saved["param_groups"]
            ignore = {"params", "lr", "initial_lr"}
            current_keys = {k for g in groups for k in g} - ignore
            saved_keys = {k for g in saved_groups for k in g} - ignore
            # optimizers of another class have other settings (the check for format-1 files)
            if current_keys != saved_keys and not (
                current_keys <= saved_keys or saved_keys <= current_keys
            ):
                shown = ", ".join(sorted(saved_keys - current_keys))
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer.name",
                        f"{source} was trained with an optimizer with the settings {shown}, "
                        f"which {current_cls} does not have; {rule}",
                    )
                )
                continue
            if len(groups) != len(saved_groups) or any(
                len(a["params"]) != len(b["params"])
                for a, b in zip(groups, saved_groups, strict=False)
            ):
                out.append(
                    ResumeMismatch(
                        model,
                        "optimizer",
                        f"{source} has other parameter groups for {opt_name}; {rule}",
                    )
                )
                continue
            for g, sg in zip(groups, saved_groups, strict=True):
                lr_key = "initial_lr" if "initial_lr" in g and "initial_lr" in sg else "lr"
                for key in [lr_key, *sorted((set(g) & set(sg)) - ignore)]:
                    if not _same(g.get(key), sg.get(key)):
                        arg = "lr" if key == "initial_lr" else key
                        out.append(
                            ResumeMismatch(
                                model,
                                f"optimizer.args.{arg}",
                                f"{source} was trained with {arg}={_plain(sg.get(key))!r}, this "
                                f"run sets {_plain(g.get(key))!r}; optimizer settings are "
                                "restored from the checkpoint, so they cannot change on "
                                "--resume (start a new run with init_from instead)",
                            )
                        )
                break  # one group is enough to name the changed setting
        return out

    def _check_schedulers(
        self, state: Mapping[str, Any], meta: Mapping[str, Any], source: str
    ) -> list[ResumeMismatch]:
        out = []
        current = self._schedulers_by_model()
        saved_states = list(state.get("schedulers", []))
        rule = "a learning-rate scheduler cannot be added, removed or changed on --resume"
        if "schedulers" in meta:
            saved = {s["model"]: s for s in meta["schedulers"]}
            now = {s["model"]: s for s in current}
            for model in self.model_names:
                a, b = saved.get(model), now.get(model)
                if a is None and b is None:
                    continue
                if a is None:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler",
                            f"{source} was trained without a scheduler for {model}, this run "
                            f"adds {b['class']}; {rule}",
                        )
                    )
                elif b is None:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler",
                            f"{source} was trained with the scheduler {a['class']} for "
                            f"{model}, this run has none; {rule}",
                        )
                    )
                elif a["class"] != b["class"]:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler.name",
                            f"{source} was trained with {a['class']}, this run builds "
                            f"{b['class']}; {rule}",
                        )
                    )
                elif a["interval"] != b["interval"]:
                    out.append(
                        ResumeMismatch(
                            model,
                            "scheduler.interval",
                            f"{source} stepped {a['class']} per {a['interval']}, this run "
                            f"per {b['interval']}; {rule}",
                        )
                    )
            return out
        # format 1: only the scheduler states, in order
        if len(saved_states) != len(current):
            with_sched = [s["model"] for s in current]
            without = [m for m in self.model_names if m not in with_sched]
            model = (with_sched if len(current) > len(saved_states) else without or [None])[0]
            model = model or (self.model_names[0] if self.model_names else "?")
            out.append(
                ResumeMismatch(
                    model,
                    "scheduler",
                    f"{source} holds {len(saved_states)} learning-rate scheduler(s), this run "
                    f"builds {len(current)}; {rule}",
                )
            )
            return out
        sched_objs = self.schedulers + self.step_schedulers
        for info, sched, sd in zip(current, sched_objs, saved_states, strict=True):
            if isinstance(sd, Mapping) and set(sd) != set(sched.state_dict()):
                out.append(
                    ResumeMismatch(
                        info["model"],
                        "scheduler.name",
                        f"{source} holds a scheduler with other settings than "
                        f"{info['class']}; {rule}",
                    )
                )
        return out
