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
from typing import Any
from unittest import mock

import numpy as np
import torch
from torch import nn

__all__ = [
    "FolderReplay",
    "compare_with_torch_fidelity",
    "fid_inception_state_dict",
    "read_png_folder",
    "write_png_folder",
    "write_random_fid_inception",
]


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


def read_png_folder(root: str | os.PathLike) -> torch.Tensor:
    """The PNG files of ``root`` in sorted order (as torch-fidelity globs them), as RGB floats
    in [-1, 1] ``(N, 3, H, W)`` (a dataset's view of them)."""
    from PIL import Image

    files = sorted(Path(root).glob("*.png"))
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class FolderReplay(nn.Module):
    """A "generator" whose samples are given images, in order (``sampler(n)`` asks for the
    first ``n``): our metric objects then score a folder as they score a generator."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.images = images

    def sampler(self, n: int, device: torch.device | str) -> tuple[torch.Tensor]:
        return (torch.arange(n, device=device),)

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.images[index.to(self.images.device)]


def compare_with_torch_fidelity(
    fake_dir: str | os.PathLike,
    real_dir: str | os.PathLike,
    weights: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    seed: int,
    kid_subsets: int,
    kid_subset_size: int,
    isc_splits: int,
) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """FID, KID, IS and precision/recall of two folders by our metric objects (the folders
    read as a dataset and a :class:`FolderReplay` generator) and by
    ``torch_fidelity.calculate_metrics`` with the same weights file (all on the Inception
    network; its ``rng_seed`` is ``seed``).

    Returns:
        ``(ours, theirs, metrics)``: our values under torch-fidelity's keys, torch-fidelity's
        result, and our metric objects by registry name (their ``last_result``).
    """
    from torch.utils.data import DataLoader, TensorDataset

    from ..metrics import (
        FrechetInceptionDistance,
        InceptionScore,
        KernelInceptionDistance,
        PrecisionRecall,
    )

    fake = read_png_folder(fake_dir)
    import torch_fidelity

    theirs = torch_fidelity.calculate_metrics(
        input1=os.fspath(fake_dir),  # torch-fidelity's first input: the generated images
        input2=os.fspath(real_dir),
        cuda=False,
        fid=True,
        kid=True,
        isc=True,
        prc=True,  # on the same Inception pool features (its default for prc is VGG-16)
        feature_extractor="inception-v3-compat",
        feature_layer_prc="2048",
        feature_extractor_weights_path=os.fspath(weights),
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        isc_splits=isc_splits,
        rng_seed=seed,
        batch_size=len(fake),
        cache=False,
        verbose=False,
    )
    replay = FolderReplay(fake)
    loader = DataLoader(TensorDataset(read_png_folder(real_dir)), batch_size=16)
    common = {"weights": os.fspath(weights), "num_samples": len(fake), "seed": seed}
    common["batch_size"] = len(fake)
    real = {**common, "cache_dir": cache_dir}
    metrics = {
        "fid": FrechetInceptionDistance(**real),
        "kid": KernelInceptionDistance(**real, subsets=kid_subsets, subset_size=kid_subset_size),
        "inception_score": InceptionScore(**common, splits=isc_splits),
        "precision_recall": PrecisionRecall(**real),
    }
    cpu = torch.device("cpu")
    for name, metric in metrics.items():
        if name == "inception_score":
            metric.metric_ops(replay, cpu)
        else:
            metric.metric_ops(replay, cpu, data_loader=loader)
    results = {name: m.last_result for name, m in metrics.items()}
    ours = {
        "frechet_inception_distance": results["fid"]["value"],
        "kernel_inception_distance_mean": results["kid"]["value"],
        "kernel_inception_distance_std": results["kid"]["std"],
        "inception_score_mean": results["inception_score"]["value"],
        "inception_score_std": results["inception_score"]["std"],
        "precision": results["precision_recall"]["precision"],
        "recall": results["precision_recall"]["recall"],
    }
    return ours, theirs, metrics
