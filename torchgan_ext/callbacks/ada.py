"""``ada``: adaptive discriminator augmentation (Karras et al., NeurIPS 2020).

"Training Generative Adversarial Networks with Limited Data",
https://arxiv.org/abs/2006.06676. The discriminators' inputs are augmented as in
:mod:`torchgan_ext.callbacks.augment` (a forward pre-hook, real and generated images, both
steps) with the pipeline of :mod:`torchgan_ext.augment.ada`, each transformation applied with
probability :math:`p`. The overfitting heuristic

.. math::
    r_t = \\mathbb E\\left[\\operatorname{sign}(D(x_{real}) - \\tau)\\right]

(:math:`\\tau` = ``threshold``: by default 0, the decision boundary of logits, hinge and
Wasserstein critics, or 0.5 when the run's discriminator loss is least-squares with targets 0
and 1, whose scores lie around 0..1 so that :math:`\\operatorname{sign}(D)` would always be 1)
is measured over the real images the discriminators judged in the last ``interval`` steps, and then

.. math::
    p \\leftarrow \\operatorname{clip}_{[0, 1]}\\left(p + \\operatorname{sign}(r_t - r_{target})
    \\frac{N}{\\text{speed\\_kimg} \\cdot 1000}\\right)

with :math:`N` the real images of those steps: :math:`p` can go from 0 to 1 in
``speed_kimg`` thousand images (500 in the paper; a run of a few thousand steps needs a far
smaller value to move at all).

**Which calls see real images.** The pre-hook compares each training call's (unaugmented) input
with the image tensors of the current batch (``trainer.batch``, ``trainer.real_inputs``): the
same tensor or view counts as real; an input that *starts* with the real batch (losses that
judge ``cat([real, fake, ...])`` in one call, like U-Net GAN's) counts its leading rows, checked
element-wise on the device. Signs are summed on the device and ``p`` stays a device tensor, so
the callback adds no host sync; the value is read only when it is logged (``augment/p``,
``augment/rt`` through the trainer's tensorboard scalars) or checkpointed (``p``, the partial
sums and the image count are saved, so ``--resume`` continues exactly). In a torchrun job the
sums of all ranks are added (one ``all_reduce`` per adjustment), so every rank keeps the same
``p``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..augment.ada import ADA_GROUPS, GEOMETRIC_GROUPS, ada_augment, check_groups
from ..losses.train_ops import least_squares_threshold
from .augment import DiscriminatorAugment, check_probability, discriminators, shared

__all__ = ["ADA"]


def _batch_images(batch: Any) -> list[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        return [batch] if batch.dim() == 4 and batch.is_floating_point() else []
    if isinstance(batch, tuple | list):
        return [t for b in batch for t in _batch_images(b)]
    if isinstance(batch, dict):
        return [t for b in batch.values() for t in _batch_images(b)]
    return []


def _same_view(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (
        a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()
    )


class ADA(DiscriminatorAugment):
    """``ada``: the ADA pipeline with its probability ``p`` tuned from D's signs on reals.

    Args:
        target: :math:`r_{target}` in [0, 1] (0.6 in the paper); ``null`` keeps ``p`` fixed.
        p: The initial probability, in [0, 1].
        speed_kimg: ``p`` can change by 1 over this many thousand real images.
        interval: Adjust ``p`` every this many steps (4 in the paper).
        groups: Any of ``blit``, ``geom``, ``color`` (all three by default).
        threshold: :math:`\\tau`, D's decision boundary. ``null`` (the default): the midpoint
            of the targets when a discriminator loss of the run is least-squares
            (``gan_mode: lsgan`` of CycleGAN/pix2pix, ``least_squares_discriminator``: 0.5 for
            targets 0 and 1), else 0 (logits, hinge and Wasserstein critics).
    """

    choice_arg = "groups"

    def __init__(
        self,
        target: float | None = 0.6,
        p: float = 0.0,
        speed_kimg: float = 500.0,
        interval: int = 4,
        groups: Sequence[str] = ADA_GROUPS,
        threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.target = None if target is None else check_probability(target, "target")
        self.p = torch.tensor(check_probability(p, "p"))
        if isinstance(speed_kimg, bool) or not isinstance(speed_kimg, int | float):
            raise TypeError(f"speed_kimg: must be a positive number, got {speed_kimg!r}")
        if not speed_kimg > 0:
            raise ValueError(f"speed_kimg: must be a positive number, got {speed_kimg!r}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval: must be a positive integer, got {interval!r}")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, int | float)
        ):
            raise TypeError(f"threshold: must be a number or null, got {threshold!r}")
        self.speed_kimg, self.interval = float(speed_kimg), interval
        #: The given ``threshold``; :attr:`threshold` is the one in use (set at the start).
        self.threshold_arg = threshold
        self.threshold = 0.0 if threshold is None else float(threshold)
        self.groups = check_groups(groups)
        #: ``[sum of signs, number of real images]`` since the last adjustment (device).
        self.stats = torch.zeros(2)
        #: The last measured :math:`r_t` (device).
        self.rt = torch.zeros(())
        self.images = 0  # real images of the steps since the last adjustment (host)
        self._reals: list[torch.Tensor] = []
        self._pending: list[tuple[int, torch.Tensor | None]] = []
        self._seen_real = False
        self._dis_iters_at_start = 0
        self._out_handles: list[Any] = []

    # -- checks ---------------------------------------------------------------------------
    def geometric(self) -> list[str]:
        return [g for g in self.groups if g in GEOMETRIC_GROUPS]

    def validate(self, trainer: Any) -> None:
        """Also: some discriminator loss of the run judges real images."""
        super().validate(trainer)
        self.threshold = self._threshold(trainer)
        if self.target is None:
            return
        for name, model in discriminators(trainer).items():
            judges = getattr(model, "judges", None)
            if isinstance(judges, str) and "region" in judges:
                raise ValueError(
                    f"target: discriminator {name!r} judges {judges}, cut from the real batch "
                    "by its loss, so ADA cannot tell its real calls; give a fixed p with "
                    "target: null"
                )
        real_args = {"real_inputs", "batch"}
        judged = [
            name
            for name, loss in trainer.losses.items()
            if real_args & set(trainer.loss_arg_maps.get(name, {}).values())
            and "discriminator" in trainer.loss_arg_maps.get(name, {}).values()
        ]
        if not judged:
            raise ValueError(
                f"target: ADA adjusts p from the discriminator's output on real images, but no "
                f"loss of this run takes the real batch ({', '.join(trainer.losses)}); give a "
                "fixed p with target: null"
            )

    # -- hooks ----------------------------------------------------------------------------
    def augment(self, images: torch.Tensor) -> torch.Tensor:
        return ada_augment(images, self.p, self.groups)

    def augment_pair(
        self, images: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        moving = tuple(g for g in self.groups if g in GEOMETRIC_GROUPS)
        if moving:
            images, condition = shared(lambda t: ada_augment(t, self.p, moving), images, condition)
        if "color" in self.groups:
            images = ada_augment(images, self.p, ("color",))
        return images, condition

    def before_forward(self, images: torch.Tensor) -> None:
        self._pending.clear()
        if self.target is None:
            return
        for real in self._reals:
            n = real.size(0)
            if _same_view(images, real):
                self._pending.append((n, None))
            elif images.size(0) > n and images.shape[1:] == real.shape[1:]:
                same = (images[:n] == real).flatten().all().to(self.stats.dtype)
                self._pending.append((n, same))
            else:
                continue
            self._seen_real = True
            self.images += n
            break

    def _post_hook(self, module: Any, args: Any, output: Any) -> None:
        if not self._pending or not module.training:
            return
        n, weight = self._pending.pop()
        score = output[0] if isinstance(output, tuple | list) else output
        if not isinstance(score, torch.Tensor):
            return
        signs = torch.sign(score[:n].detach().float().reshape(n, -1) - self.threshold)
        total = signs.mean(1).sum()
        if weight is None:
            self.stats[0] += total
            self.stats[1] += n
        else:
            self.stats[0] += weight * total
            self.stats[1] += weight * n

    def _threshold(self, trainer: Any) -> float:
        """The given ``threshold``, or the least-squares midpoint of the run's losses, or 0."""
        if self.threshold_arg is not None:
            return float(self.threshold_arg)
        losses = getattr(trainer, "losses", {}) or {}
        midpoints = {least_squares_threshold(loss) for loss in losses.values()} - {None}
        if len(midpoints) > 1:
            raise ValueError(
                f"threshold: the run's least-squares losses have different targets (midpoints "
                f"{sorted(midpoints)}); give threshold"
            )
        return midpoints.pop() if midpoints else 0.0

    def on_train_start(self, trainer: Any) -> None:
        self.threshold = self._threshold(trainer)
        self.p = self.p.to(trainer.device)
        self.rt = self.rt.to(trainer.device)
        self.stats = self.stats.to(trainer.device)
        super().on_train_start(trainer)
        for model in discriminators(trainer).values():
            self._out_handles.append(model.register_forward_hook(self._post_hook))
        self._dis_iters_at_start = trainer.loss_information["discriminator_iters"]
        self._seen_real = False

    def remove_hooks(self) -> None:
        super().remove_hooks()
        for handle in self._out_handles:
            handle.remove()
        self._out_handles.clear()

    def on_train_batch_start(self, trainer: Any) -> None:
        self._reals = _batch_images(trainer.batch)
        real = getattr(trainer, "real_inputs", None)
        if isinstance(real, torch.Tensor) and not any(real is t for t in self._reals):
            self._reals.append(real)

    def on_train_batch_end(self, trainer: Any) -> None:
        self._reals = []
        if self.target is None:
            return
        if (
            not self._seen_real
            and trainer.loss_information["discriminator_iters"] > self._dis_iters_at_start
        ):
            raise ValueError(
                "target: ADA adjusts p from the discriminator's output on real images, but no "
                "discriminator call of this step received the batch's real images; give a "
                "fixed p with target: null"
            )
        if trainer.step % self.interval != 0 or self.images == 0:
            return
        dist = getattr(trainer, "dist", None)
        if dist is not None and dist.enabled:  # every rank adjusts p from the same sums
            torch.distributed.all_reduce(self.stats)
            self.images *= dist.world_size
        r = self.stats[0] / self.stats[1].clamp_min(1.0)
        step = torch.sign(r - self.target) * (self.images / (self.speed_kimg * 1000.0))
        self.p.copy_((self.p + step * (self.stats[1] > 0)).clamp(0.0, 1.0))
        self.rt.copy_(torch.where(self.stats[1] > 0, r, self.rt))
        self.stats.zero_()
        self.images = 0

    # -- reporting and state ----------------------------------------------------------------
    def log_scalars(self) -> dict[str, torch.Tensor]:
        """``augment/p`` and the last ``augment/rt`` (device tensors, read when logged)."""
        return {"augment/p": self.p.detach(), "augment/rt": self.rt.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "p": self.p.detach().cpu().clone(),
            "rt": self.rt.detach().cpu().clone(),
            "stats": self.stats.detach().cpu().clone(),
            "images": self.images,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.p.device
        self.p = state["p"].to(device, torch.float32).clone()
        self.rt = state["rt"].to(device, torch.float32).clone()
        self.stats = state["stats"].to(device, torch.float32).clone()
        self.images = int(state["images"])
