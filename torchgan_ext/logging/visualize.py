"""Sample grids per model kind, written as PNG files and to tensorboard.

torchgan's ``ImageVisualize`` calls ``make_grid(range=...)``, which torchvision >= 0.17 rejects,
so every run crashed at the end of its first epoch. Here a grid is made with ``value_range`` and
models choose what a sample grid shows through two optional methods (duck-typed, so third-party
models opt in without importing anything from this project):

``generator.sample_grid(batch, noise) -> (images, nrow)``
    For generators whose input is not just noise (super-resolution: LR | SR | HR triplets;
    image-to-image translation: one column per target domain). ``batch`` is a fixed batch of
    real data (a tuple of tensors on the run's device) and ``noise`` the fixed sampler output.
    ``images`` are in [-1, 1]; ``nrow`` is the number of images per grid row. A
    ``sample_grid`` with a ``models`` parameter also receives the run's models by name (the
    EMA copies where kept), for grids that need several generators (CycleGAN's cycles).

``discriminator.decision_grid(images) -> (images, nrow)``
    For discriminators with a spatial decision (U-Net per-pixel maps): shown next to the
    generator's samples.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

import torch
import torchvision
from torch import nn
from torchgan.models import Discriminator, Generator

__all__ = ["make_grid", "save_grid", "render_samples", "SampleGrid"]

SampleGrid = tuple[torch.Tensor, int]


def make_grid(images: torch.Tensor, nrow: int, value_range: tuple[float, float] = (-1.0, 1.0)):
    """A ``[C, H, W]`` grid in [0, 1] of images in ``value_range`` (default [-1, 1])."""
    images = images.detach().float().cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return torchvision.utils.make_grid(
        images, nrow=max(1, nrow), normalize=True, value_range=value_range, padding=2
    )


def save_grid(grid: torch.Tensor, path: str | os.PathLike) -> None:
    """Save a grid made by :func:`make_grid` as PNG (atomically: temporary file + rename)."""
    path = os.fspath(path)
    tmp = f"{path}.tmp.png"
    torchvision.utils.save_image(grid, tmp)
    os.replace(tmp, path)


def _generate(
    model: nn.Module,
    batch: Sequence[Any] | None,
    noise: Sequence[Any],
    n: int,
    models: dict[str, nn.Module],
):
    sample_grid = getattr(model, "sample_grid", None)
    if callable(sample_grid):
        if "models" in inspect.signature(sample_grid).parameters:
            return sample_grid(batch, noise, models=models)
        return sample_grid(batch, noise)
    images = model(*noise)
    return images, max(1, int(round(n**0.5)))


@torch.no_grad()
def render_samples(
    models: dict[str, nn.Module],
    eval_models: dict[str, nn.Module],
    batch: Sequence[Any] | None,
    noise: dict[str, Sequence[Any]],
    nrow: int | None = None,
) -> dict[str, SampleGrid]:
    """Sample grids of every generator (and spatial discriminator decisions).

    Args:
        models: The trainer's models by name.
        eval_models: The models to sample with (EMA copies where enabled) by name.
        batch: A fixed batch of real data on the model device (or ``None``).
        noise: Fixed generator inputs by generator name.
        nrow: Images per row for plain generators (default: square grid).

    Returns:
        ``{tag: (images in [-1, 1], nrow)}`` with tags like ``"generator"`` and
        ``"discriminator/decision"``.
    """
    grids: dict[str, SampleGrid] = {}
    generated = None
    for name, model in models.items():
        if not isinstance(model, Generator) or name not in noise:
            continue
        sampler = eval_models.get(name, model)
        was_training = sampler.training
        sampler.eval()
        try:
            images, row = _generate(sampler, batch, noise[name], len(noise[name][0]), eval_models)
        finally:
            sampler.train(was_training)
        if nrow is not None and not callable(getattr(sampler, "sample_grid", None)):
            row = nrow
        grids[name] = (images, row)
        if generated is None:
            generated = (images, row)
    if generated is not None:
        for name, model in models.items():
            decision_grid = getattr(model, "decision_grid", None)
            if isinstance(model, Discriminator) and callable(decision_grid):
                was_training = model.training
                model.eval()
                try:
                    grids[f"{name}/decision"] = decision_grid(generated[0])
                finally:
                    model.train(was_training)
    return grids
