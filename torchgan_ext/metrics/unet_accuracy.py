"""Per-pixel accuracy of a U-Net discriminator on held-back CutMix images.

U-Net GAN (https://arxiv.org/abs/2002.12655) trains the decoder of its discriminator to
segment CutMix images into real and generated regions. This metric measures how well it does on
real images it never trained on: each validation image :math:`x` is mixed with a generated
image, :math:`\\tilde x = M \\odot x + (1 - M) \\odot G(z)`, and

.. math::
    \\mathrm{acc} = \\frac{1}{N H W} \\sum_{n, i, j}
        \\mathbb 1\\big[\\,\\mathbb 1[[D^U_{dec}(\\tilde x_n)]_{ij} > 0] = M_{n,ij}\\big]

(a logit above 0 means "real"). Masks and noise come from a private, seeded RNG, so two
evaluations of the same models give the same value and the training RNG is left untouched.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchgan.metrics import EvaluationMetric

from ..data._io import unit_range_batch
from ..losses.cutmix import cutmix_masks, mix
from ..losses.unet import generator_inputs, unet_outputs

__all__ = ["UNetCutMixAccuracy"]

_NEEDS_VAL = (
    "metric 'unet_cutmix_accuracy' needs held-back images, but the run has no validation "
    "split (val_loader); add one, e.g. a dataset's test split"
)


class UNetCutMixAccuracy(EvaluationMetric):
    """Fraction of pixels of held-back CutMix images the U-Net decoder classifies correctly.

    Needs a validation split (``data.val`` in the config; the trainer hands it over as
    ``val_loader``).

    Args:
        max_batches: Evaluate at most this many validation batches (default: all).
        use_ema: Mix with images of the EMA generator (``eval_generator``) instead of the
            trained generator the discriminator plays against.
        beta_alpha: :math:`\\alpha` of the :math:`\\mathrm{Beta}(\\alpha, \\alpha)` box size.
        invert_prob: Probability of inverting each mask.
        seed: Seed of the masks and the noise.
    """

    def __init__(
        self,
        max_batches: int | None = None,
        use_ema: bool = False,
        beta_alpha: float = 1.0,
        invert_prob: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if max_batches is not None and max_batches < 1:
            raise ValueError(f"max_batches must be >= 1, got {max_batches}")
        self.max_batches = max_batches
        self.use_ema = use_ema
        self.beta_alpha = beta_alpha
        self.invert_prob = invert_prob
        self.seed = seed

    @torch.no_grad()
    def evaluate(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loader: Any,
        device: torch.device | str,
    ) -> float:
        """The accuracy over ``loader`` (an iterable of tensors or ``(images, labels)``)."""
        rng = torch.Generator().manual_seed(self.seed)
        correct = torch.zeros((), dtype=torch.float64, device=device)
        total = 0
        for i, batch in enumerate(loader):
            if self.max_batches is not None and i >= self.max_batches:
                break
            if isinstance(batch, tuple | list):
                real = unit_range_batch(batch[0].to(device))
                has_labels = len(batch) > 1 and isinstance(batch[1], torch.Tensor)
                labels = batch[1].to(device) if has_labels else None
            else:
                real, labels = unit_range_batch(batch.to(device)), None
            b, _, h, w = real.shape
            inputs, _ = generator_inputs(generator, b, device, labels, rng=rng)
            fake = generator(*inputs).to(real.dtype)
            mask = cutmix_masks(
                b,
                h,
                w,
                alpha=self.beta_alpha,
                invert_prob=self.invert_prob,
                device=device,
                generator=rng,
            )
            _, pixel = unet_outputs(discriminator, mix(real, fake, mask.to(real.dtype)), labels)
            correct += ((pixel > 0).to(mask.dtype) == mask).sum()
            total += mask.numel()
        if total == 0:
            raise ValueError("the validation loader is empty")
        return float(correct / total)

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: the run must have held-back data."""
        if getattr(trainer, "val_loader", None) is None:
            raise ValueError(_NEEDS_VAL)
        for name in ("generator", "discriminator"):
            if name not in getattr(trainer, "model_names", [name]):
                raise ValueError(
                    f"metric 'unet_cutmix_accuracy' needs models named 'generator' and "
                    f"'discriminator' (a U-Net discriminator); this run has no {name!r}"
                )

    def metric_ops(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        device: torch.device,
        val_loader: DataLoader | None = None,
        eval_generator: nn.Module | None = None,
    ) -> float:
        """Called by the trainer after each epoch (or every ``eval_every`` steps)."""
        if val_loader is None:
            raise ValueError(_NEEDS_VAL)
        gen = eval_generator if self.use_ema and eval_generator is not None else generator
        return self.evaluate(gen, discriminator, val_loader, device)
