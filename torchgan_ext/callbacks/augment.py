"""``diffaugment`` and ``ada``: augment every image a discriminator sees, for any GAN.

Both are config switches (``callbacks: [{name: diffaugment}]``) that change neither the models
nor the losses. At ``on_train_start`` the callback registers a forward pre-hook on every
discriminator of the run (every model that is a torchgan ``Discriminator``) that replaces the
first positional argument, the image batch, by its augmentation while the model is in training
mode:

* every call of the discriminator in a training step is augmented, real and generated images,
  in the discriminator and in the generator step, as both papers require; the generator step's
  gradients pass through the differentiable augmentation to the generator;
* further inputs (labels of conditional/projection discriminators) are passed on untouched,
  except the condition image of a ``conditional`` discriminator (pix2pix's PatchGAN,
  ``D(image, condition)`` with a condition of the same height and width): the pair is
  transformed together, so it stays pixel-aligned. Every pixel-moving or masking operation
  (DiffAugment's ``translation`` and ``cutout``, ADA's ``blit`` and ``geom``) is applied once
  to ``cat([image, condition], 1)`` with the same random parameters; colour operations
  (``color``) change only the judged image, since the condition is an input, the same for real
  and generated pairs, and a colour change computed over the concatenated channels (saturation)
  would mix the two images;
* nothing is added to the model, so checkpoint keys do not change and the run's weights load
  into a plain model; evaluation and sample grids (eval mode) see unaugmented images;
* a hook is per model, not per loss, so any registered loss works unchanged.

A discriminator with a per-pixel output (an output map the size of its input, like
``unet_discriminator``) is refused with augmentations that move pixels (DiffAugment's
``translation``, ADA's ``blit`` and ``geom``): U-Net GAN's per-pixel targets (CutMix masks,
the consistency target) are computed on the unmoved images, so they would no longer line up
with the pixels judged. Colour (and DiffAugment's cutout, which keeps every pixel in place)
work with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torchgan.models import Discriminator

from ..augment.diffaugment import GEOMETRIC_POLICIES, check_policy, diff_augment
from ..losses.train_ops import judged_reals
from .base import Callback

__all__ = [
    "DiffAugment",
    "DiscriminatorAugment",
    "check_probability",
    "discriminators",
    "shared",
]


def discriminators(trainer: Any) -> dict[str, nn.Module]:
    """The run's discriminators by model name."""
    return {
        name: getattr(trainer, name)
        for name in trainer.model_names
        if isinstance(getattr(trainer, name), Discriminator)
    }


def _per_pixel(model: nn.Module, trainer: Any) -> bool:
    """Whether ``model`` answers a real batch with a map the size of the images."""
    try:
        real, condition = judged_reals(model, trainer.real_inputs, trainer.labels)
    except ValueError:  # judges images its loss makes: compare with the batch's first element
        real, condition = trainer.real_inputs, None
    if not (isinstance(real, torch.Tensor) and real.dim() == 4):
        return False
    args: list[Any] = [real[:2]]
    if getattr(model, "label_type", "none") != "none":
        if condition is None:
            return False
        args.append(condition[:2])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(*args)
    except Exception:  # noqa: BLE001 - the preflight's dry forward reports shape problems
        return False
    finally:
        model.train(was_training)
    outs = out if isinstance(out, tuple | list) else (out,)
    return any(
        isinstance(o, torch.Tensor) and o.dim() == 4 and o.shape[-2:] == real.shape[-2:]
        for o in outs
    )


def _aligned(images: torch.Tensor, condition: Any) -> bool:
    """Whether ``condition`` is an image batch pixel-aligned with ``images``."""
    return (
        isinstance(condition, torch.Tensor)
        and condition.dim() == 4
        and condition.is_floating_point()
        and condition.shape[0] == images.shape[0]
        and condition.shape[-2:] == images.shape[-2:]
    )


def shared(
    augment: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    condition: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``augment`` applied once to ``cat([images, condition], 1)``, split back."""
    c = images.size(1)
    both = augment(torch.cat([images, condition.to(images.dtype)], 1))
    return both[:, :c], both[:, c:].to(condition.dtype)


class DiscriminatorAugment(Callback):
    """Base class: installs :meth:`augment` as a forward pre-hook of every discriminator.

    Subclasses implement :meth:`augment` and name their pixel-moving choices in
    :meth:`geometric` (refused with per-pixel discriminators, see the module docs).
    """

    #: The argument that selects the augmentations (for error messages).
    choice_arg = "policy"

    def __init__(self) -> None:
        self._handles: list[Any] = []

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        """The augmented batch (differentiable)."""
        raise NotImplementedError

    def augment_pair(
        self, images: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The augmented ``images`` and their pixel-aligned ``condition`` (see the module docs)."""
        raise NotImplementedError

    def geometric(self) -> list[str]:
        """The chosen augmentations that move pixels."""
        return []

    def validate(self, trainer: Any) -> None:
        """Before training: the run has a discriminator, and pixel-moving augmentations are
        not combined with a per-pixel discriminator (``ValueError``)."""
        models = discriminators(trainer)
        if not models:
            raise ValueError(
                f"this run has no discriminator (a torchgan Discriminator) to augment; models: "
                f"{', '.join(trainer.model_names)}"
            )
        moving = self.geometric()
        for name, model in models.items():
            if moving and _per_pixel(model, trainer):
                raise ValueError(
                    f"{self.choice_arg}: {', '.join(moving)} moves pixels but not the per-pixel "
                    f"targets of discriminator {name!r} (CutMix masks, consistency); use only "
                    "pixel-preserving augmentations with a per-pixel discriminator"
                )

    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if not module.training or not args:
            return None
        x = args[0]
        if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.is_floating_point()):
            return None
        self.before_forward(x)
        condition = args[1] if len(args) > 1 else None
        if getattr(module, "conditional", False) and _aligned(x, condition):
            return (*self.augment_pair(x, condition), *args[2:])
        return (self.augment(x), *args[1:])

    def before_forward(self, images: torch.Tensor) -> None:
        """Called with the unaugmented batch of every training call (ADA's statistics)."""

    def on_train_start(self, trainer: Any) -> None:
        self.remove_hooks()
        for model in discriminators(trainer).values():
            self._handles.append(model.register_forward_pre_hook(self._pre_hook))

    def on_train_end(self, trainer: Any) -> None:
        self.remove_hooks()

    def remove_hooks(self) -> None:
        """Uninstall the hooks (the models are plain again)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


class DiffAugment(DiscriminatorAugment):
    """``diffaugment``: DiffAugment (Zhao et al., NeurIPS 2020,
    https://arxiv.org/abs/2006.10738) on every image the discriminators see.

    See :mod:`torchgan_ext.augment.diffaugment` for the operations.

    Args:
        policy: Any of ``color``, ``translation``, ``cutout`` (the paper's full policy by
            default), applied in that order.
    """

    def __init__(self, policy: Sequence[str] = ("color", "translation", "cutout")) -> None:
        super().__init__()
        self.policy = check_policy(policy)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, self.policy)

    def augment_pair(
        self, images: torch.Tensor, condition: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if "color" in self.policy:
            images = diff_augment(images, ("color",))
        rest = tuple(p for p in self.policy if p != "color")
        return (
            shared(lambda t: diff_augment(t, rest), images, condition)
            if rest
            else (
                images,
                condition,
            )
        )

    def geometric(self) -> list[str]:
        return [p for p in self.policy if p in GEOMETRIC_POLICIES]


def check_probability(value: Any, arg: str) -> float:
    """``value`` must be a number in [0, 1] (``TypeError``/``ValueError`` naming ``arg``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{arg}: must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{arg}: must be in [0, 1], got {value!r}")
    return float(value)
