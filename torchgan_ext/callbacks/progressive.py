"""``progressive_growing``: the resolution schedule of Progressive GAN (Karras et al., 2018).

`Progressive Growing of GANs <https://arxiv.org/abs/1710.10196>`_ (section 2, appendix A.1)
and the authors' ``TrainingSchedule`` / ``process_reals`` (``train.py``): training starts at
``start_resolution``; each phase shows ``stabilise_kimg`` thousand real images at the current
resolution, then fades the next resolution in over ``fade_kimg`` thousand images (800 and 800
in the paper's appendix A.1; 600 and 600 by default, as in the authors' ``TrainingSchedule``).
With :math:`n` the real images shown so far, :math:`P` = stabilise + fade:

.. math::
    \\ell = \\ell_0 + \\lfloor n / P \\rfloor
        + \\frac{\\max(n \\bmod P - \\text{stabilise}, 0)}{\\text{fade}}, \\qquad
    \\text{level} = \\min(\\lceil \\ell \\rceil, L), \\quad
    \\alpha = 1 - (\\lceil \\ell \\rceil - \\ell)

(:math:`L` the last level; :math:`\\alpha = 1` once there). Before every step the callback

* sets the level and :math:`\\alpha` of every progressive model of the run (any model with
  ``set_level``: generators, discriminators and their EMA copies, so sample grids and metrics
  follow the current resolution);
* replaces the batch's real images (``real_inputs``, and the first element of ``batch``) by
  their box-filtered downscaling to the current size, and during a fade-in by
  :math:`\\alpha\\, x_s + (1 - \\alpha)\\, \\mathrm{up}(\\mathrm{down}(x_s))`: the previous
  resolution's images blended in, as the authors' ``process_reals`` does (the loader still
  delivers full-size images; the downscaling runs on the device);
* with ``batch_sizes``, uses only the first ``batch_sizes[resolution]`` images of the batch at
  that resolution (the paper lowers its minibatch of 16 to 14, 6 and 3 at 256, 512 and 1024
  pixels; the loader's batch size is the largest), and sets the trainer's ``batch_size`` to it;
* when the level or the fade-in state changes (a fade-in starts or ends), clears the state of
  the progressive models' optimizers (the authors' ``reset_opt_for_new_lod``, Adam's moments).

The images shown (and the last phase) are the callback's state: a checkpoint holds them, so
``--resume`` in the middle of a fade-in continues with the same :math:`\\alpha` at every step.
The authors update the schedule every 4 minibatches (``minibatch_repeats``); here every step.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import ArgumentMismatchError
from ..models.progan import box_downsample
from .ada import ADA
from .base import Callback

__all__ = ["ProgressiveGrowing", "fade_reals"]


def fade_reals(images: torch.Tensor, size: int, alpha: float) -> torch.Tensor:
    """``images`` box-downscaled to ``size``; for ``alpha < 1`` blended with the previous
    resolution upsampled: :math:`\\alpha x + (1 - \\alpha)\\,\\mathrm{up}(\\mathrm{down}(x))`."""
    x = box_downsample(images, size)
    if alpha < 1.0:
        low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
        x = torch.lerp(low, x, alpha)
    return x


def _batch_sizes(value: Any) -> dict[int, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"batch_sizes: expected {{resolution: batch size}}, got {value!r}")
    for res, n in value.items():
        for x in (res, n):
            if isinstance(x, bool) or not isinstance(x, int) or x < 1:
                raise ValueError(f"batch_sizes: expected positive integers, got {res!r}: {n!r}")
        if res < 4 or res & (res - 1):
            raise ValueError(f"batch_sizes: {res} is not a resolution (a power of two >= 4)")
    return dict(value)


def _slice_batch(batch: Any, n: int, size: int) -> Any:
    """The first ``n`` samples of every tensor of ``batch`` with ``size`` rows."""
    if isinstance(batch, torch.Tensor):
        return batch[:n] if batch.dim() and batch.shape[0] == size else batch
    if isinstance(batch, tuple | list):
        return type(batch)(_slice_batch(b, n, size) for b in batch)
    if isinstance(batch, dict):
        return {k: _slice_batch(v, n, size) for k, v in batch.items()}
    return batch


def _positive_number(value: Any, arg: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{arg}: must be a number >= 0, got {value!r}")
    return float(value)


class ProgressiveGrowing(Callback):
    """``progressive_growing``: grows ``progan_*`` models 4x4 -> full size, fading each level in.

    Args:
        start_resolution: Resolution of the first phase (4, a power of two up to the models').
        stabilise_kimg: Thousands of real images per phase at a fixed resolution (600, the
            authors' code; 800 in the paper).
        fade_kimg: Thousands of real images of each fade-in (600; 800 in the paper; 0: no
            fade-in).
        reset_optimizers: Clear the optimizers' state whenever a fade-in starts or ends
            (the authors' ``reset_opt_for_new_lod``).
        batch_sizes: ``{resolution: batch size}`` for resolutions that train on fewer images
            than the loader's batch (e.g. ``{256: 14}``); ``None``: the loader's batch.
    """

    def __init__(
        self,
        start_resolution: int = 4,
        stabilise_kimg: float = 600.0,
        fade_kimg: float = 600.0,
        reset_optimizers: bool = True,
        batch_sizes: dict[int, int] | None = None,
    ) -> None:
        if (
            isinstance(start_resolution, bool)
            or not isinstance(start_resolution, int)
            or start_resolution < 4
            or start_resolution & (start_resolution - 1)
        ):
            raise ValueError(
                f"start_resolution: must be a power of two >= 4, got {start_resolution!r}"
            )
        self.start_resolution = start_resolution
        self.stabilise = _positive_number(stabilise_kimg, "stabilise_kimg") * 1000.0
        self.fade = _positive_number(fade_kimg, "fade_kimg") * 1000.0
        self.reset_optimizers = bool(reset_optimizers)
        self.batch_sizes = _batch_sizes(batch_sizes)
        #: Real images shown so far (all ranks).
        self.images = 0
        #: ``(level, fading)`` of the last step, to detect phase changes (``None``: no step yet).
        self.phase: tuple[int, bool] | None = None
        self.level, self.alpha = 0, 1.0
        self.num_levels = 0

    # -- the schedule ------------------------------------------------------------------------
    def schedule(self, images: int) -> tuple[int, float]:
        """``(level, alpha)`` after ``images`` real images (level 0 is 4x4)."""
        start = int(math.log2(self.start_resolution)) - 2
        last = self.num_levels - 1
        period = self.stabilise + self.fade
        if period <= 0:
            return last, 1.0
        phase, within = divmod(float(images), period)
        lod = start + phase
        if self.fade > 0:
            lod += max(within - self.stabilise, 0.0) / self.fade
        if lod >= last:
            return last, 1.0
        level = math.ceil(lod)
        return level, 1.0 - (level - lod)

    def _models(self, trainer: Any) -> list[Any]:
        models = [*trainer.models.values(), *(e.module for e in trainer.ema.values())]
        return [m for m in models if callable(getattr(m, "set_level", None))]

    def validate(self, trainer: Any) -> None:
        """Before training: the run has progressive models of one size, the start resolution
        fits, and the data's images have that size."""
        models = self._models(trainer)
        if not models:
            raise ValueError(
                f"this run has no progressive model (one with set_level, like progan_generator "
                f"/ progan_discriminator); models: {', '.join(trainer.model_names)}"
            )
        sizes = {4 * 2 ** (m.num_levels - 1) for m in models}
        if len(sizes) > 1:
            raise self._size_mismatch(trainer)
        (size,) = sizes
        if self.start_resolution > size:
            raise ValueError(
                f"start_resolution: {self.start_resolution} is larger than the models' {size}"
            )
        callbacks = list(getattr(trainer, "callbacks", {}).items())
        objects = [cb for _, cb in callbacks]
        for name, callback in callbacks[: objects.index(self) if self in objects else 0]:
            if isinstance(callback, ADA):  # it records the batch's reals before the step
                raise ValueError(
                    f"callback {name!r} comes before progressive_growing and would look for the "
                    "full-size real images; list progressive_growing first"
                )
        real = getattr(trainer, "real_inputs", None)
        if isinstance(real, torch.Tensor) and real.dim() == 4 and real.shape[-1] != size:
            raise ArgumentMismatchError(
                f"the data's images are {tuple(real.shape[-2:])} but the progressive models "
                f"grow to {size}x{size} (their size arguments); set {size} here, or leave the "
                "models' sizes out to take the data's",
                argument="image_size",
            )

    def _size_mismatch(self, trainer: Any) -> ArgumentMismatchError:
        """The progressive model that grows to another size than the data's (or the
        others'), as an error naming its size argument (and the other odd ones)."""
        named = {
            name: m for name, m in trainer.models.items() if callable(getattr(m, "set_level", None))
        }
        sizes = {name: 4 * 2 ** (m.num_levels - 1) for name, m in named.items()}
        real = getattr(trainer, "real_inputs", None)
        if isinstance(real, torch.Tensor) and real.dim() == 4:
            target, whose = int(real.shape[-1]), "the data's"
        else:  # the size most models share
            target, whose = Counter(sizes.values()).most_common(1)[0][0], "the others'"
        odd = [(name, size, _size_argument(named[name])) for name, size in sizes.items()]
        # called with two sizes or more: at least one differs from the target
        (name, size, arg), *others = [entry for entry in odd if entry[1] != target]
        also = "".join(f"; model {n!r} grows to {s}x{s} too (its {a})" for n, s, a in others)
        return ArgumentMismatchError(
            f"model {name!r} grows to {size}x{size} but progressive_growing needs every "
            f"progressive model at {whose} {target}x{target}{also}; set {target} or leave it "
            "out (it comes from data.args.image_size)",
            argument=arg,
            model=name,
        )

    def _apply(self, trainer: Any) -> None:
        models = self._models(trainer)
        self.num_levels = models[0].num_levels if models else 1
        self.level, self.alpha = self.schedule(self.images)
        for model in models:
            model.set_level(self.level, self.alpha)

    def on_train_start(self, trainer: Any) -> None:
        self._apply(trainer)

    def on_train_batch_start(self, trainer: Any) -> None:
        self._apply(trainer)
        phase = (self.level, self.alpha < 1.0)
        if self.reset_optimizers and self.phase is not None and phase != self.phase:
            self._reset_optimizers(trainer)
        self.phase = phase
        size = 4 * 2**self.level
        real = trainer.real_inputs
        wanted = self.batch_sizes.get(size)
        if wanted is not None and wanted < real.shape[0]:
            trainer.batch = _slice_batch(trainer.batch, wanted, real.shape[0])
            if getattr(trainer, "labels", None) is not None:
                trainer.labels = _slice_batch(trainer.labels, wanted, real.shape[0])
            real = real[:wanted]
            trainer.batch_size = wanted
        elif getattr(trainer, "data_loader", None) is not None and self.batch_sizes:
            trainer.batch_size = trainer.data_loader.batch_size or real.shape[0]
        trainer.real_inputs = fade_reals(real, size, self.alpha)
        if isinstance(trainer.batch, tuple | list) and trainer.batch:
            trainer.batch = type(trainer.batch)((trainer.real_inputs, *trainer.batch[1:]))
        else:
            trainer.batch = trainer.real_inputs

    def _reset_optimizers(self, trainer: Any) -> None:
        params = {id(p) for m in self._models(trainer) for p in m.parameters()}
        for optimizer in trainer.optimizers.values():
            if any(id(p) in params for g in optimizer.param_groups for p in g["params"]):
                optimizer.state.clear()

    def on_train_batch_end(self, trainer: Any) -> None:
        dist = getattr(trainer, "dist", None)
        world = dist.world_size if dist is not None and dist.enabled else 1
        self.images += int(trainer.real_inputs.shape[0]) * world

    # -- reporting and state -----------------------------------------------------------------
    def log_scalars(self) -> dict[str, float]:
        """``progan/resolution``, ``progan/alpha`` and ``progan/kimg``."""
        return {
            "progan/resolution": float(4 * 2**self.level),
            "progan/alpha": self.alpha,
            "progan/kimg": self.images / 1000.0,
        }

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images, "phase": list(self.phase) if self.phase else []}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.images = int(state["images"])
        phase = state.get("phase") or []
        self.phase = (int(phase[0]), bool(phase[1])) if phase else None


def _size_argument(model: Any) -> str:
    """The constructor argument of a progressive model that sets its size (the one the
    dataset's ``image_size`` fills: ``out_size`` / ``in_size``)."""
    args = getattr(type(model), "data_arguments", {})
    return next((a for a, d in args.items() if d == "image_size"), "size")
