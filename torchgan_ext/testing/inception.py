"""A seeded random weights file in the FID Inception format, and image folders, for parity
checks of the metric pipeline against torch-fidelity without the real weights.

The published weights (``weights-inception-2015-12-05-6726825d.pth``) are not on test machines;
a comparison of two pipelines only needs *the same* weights on both sides. The random state
dict has the exact layout of torch-fidelity's ``FeatureExtractorInceptionV3`` (so both load it
unchanged) and is scaled (He-normal convolutions, unit batch norms) so activations neither
vanish nor explode through the 94 layers, and the logits spread so that IS is above 1: FID,
KID and IS come out finite and not degenerate (never meaningful as image quality).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from unittest import mock

import numpy as np
import torch

__all__ = ["fid_inception_state_dict", "write_random_fid_inception", "write_png_folder"]


def fid_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A random state dict with the layout of torch-fidelity's FID Inception network."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    # the constructor downloads the published weights: build the layout without them
    with (
        mock.patch.object(tfi, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda s, sd: None),
    ):
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, value in net.state_dict().items():
        if name.startswith("fc."):
            std = 1.0 / math.sqrt(value.shape[-1]) if name.endswith("weight") else 0.0
            out[name] = torch.randn(value.shape, generator=g) * std * 100.0
        elif value.dim() == 4:  # convolutions: He-normal
            fan_in = value[0].numel()
            out[name] = torch.randn(value.shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif name.endswith(("running_var", "bn.weight")):
            out[name] = torch.ones_like(value)
        elif value.is_floating_point():
            out[name] = torch.zeros_like(value)
        else:
            out[name] = value.clone()
    return out


def write_random_fid_inception(path: str | os.PathLike, seed: int = 0) -> Path:
    """Write :func:`fid_inception_state_dict` to ``path`` (a bare state dict); returns it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fid_inception_state_dict(seed), path)
    return path


def write_png_folder(
    root: str | os.PathLike, count: int, size: int = 32, seed: int = 0, tone: float = 0.0
) -> Path:
    """``count`` RGB PNGs of smooth random shapes (``000.png`` ...); ``tone`` shifts their
    brightness so two folders can differ in distribution."""
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(count):
        f = rng.uniform(1, 4, size=(3, 2))
        phase = rng.uniform(0, 2 * np.pi, size=3)
        planes = [np.sin(2 * np.pi * (f[c, 0] * xx + f[c, 1] * yy) + phase[c]) for c in range(3)]
        image = 0.5 + 0.35 * np.stack(planes, -1) + tone + rng.normal(0, 0.05, (size, size, 3))
        pixels = (image.clip(0, 1) * 255).round().astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(root / f"{i:03d}.png")
    return root
