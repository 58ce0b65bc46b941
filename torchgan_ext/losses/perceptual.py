"""Frozen feature networks for perceptual (content) losses: VGG19 by layer name, or any model.

The SRGAN content loss (Ledig et al., https://arxiv.org/abs/1609.04802, eq. 5) compares
feature maps :math:`\\phi_{i,j}` of an ImageNet VGG19 network ("the feature map obtained by the
j-th convolution (after activation) before the i-th maxpooling layer"):

.. math::
    l_{VGG/i.j} = \\frac{1}{W_{i,j} H_{i,j}} \\sum_{x,y}
        \\big(\\phi_{i,j}(I^{HR})_{x,y} - \\phi_{i,j}(G(I^{LR}))_{x,y}\\big)^2

Layers are named as in the paper: ``conv{i}_{j}`` (before the ReLU), ``relu{i}_{j}`` (after
it) and ``pool{i}``; ``relu5_4`` is the paper's :math:`\\phi_{5,4}`.

The weights are torchvision's ImageNet VGG19, read from disk only: ``weights`` (a file, or a
directory holding it) or ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``. A missing file
raises ``FileNotFoundError`` naming the file and where to put it (:mod:`torchgan_ext.weights`);
there is no download and no fallback to random weights. ``weights: random-for-tests`` builds a
randomly initialised VGG19 and exists **for tests only** (its "perceptual" loss means nothing).
"""

from __future__ import annotations

import difflib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..weights import load_weights_into, resolve_weights

__all__ = [
    "VGG19_FILE",
    "VGG19_URL",
    "RANDOM_FOR_TESTS",
    "VGGFeatures",
    "vgg19_layer_names",
    "build_content_network",
]

#: torchvision's ImageNet VGG19 weights (``torchvision.models.VGG19_Weights.IMAGENET1K_V1``).
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/" + VGG19_FILE
#: The ``weights`` value that builds a random VGG19. For tests only.
RANDOM_FOR_TESTS = "random-for-tests"

_VGG19_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_names() -> list[str]:
    """Names of ``torchvision.models.vgg19().features`` in order (``conv1_1``, ``relu1_1``, ...)."""
    names = []
    for i, convs in enumerate(_VGG19_BLOCKS, start=1):
        for j in range(1, convs + 1):
            names += [f"conv{i}_{j}", f"relu{i}_{j}"]
        names.append(f"pool{i}")
    return names


class VGGFeatures(nn.Module):
    """VGG19 ``features`` up to and including ``layer``, frozen, for images in [-1, 1].

    Images are mapped to [0, 1] and normalised with the ImageNet mean and standard deviation
    before the first convolution. The parameters do not require gradients, but gradients flow
    to the input (this is a loss network).

    Args:
        layer: ``conv{i}_{j}`` (pre-activation), ``relu{i}_{j}`` (post-activation) or
            ``pool{i}``; default ``relu5_4`` (the paper's :math:`\\phi_{5,4}`).
        weights: The VGG19 weights file (or a directory holding ``vgg19-dcbb9e9d.pth``);
            default ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``. ``random-for-tests``:
            random weights, for tests only.

    Raises:
        ValueError: Unknown layer name; a weights file that is unreadable or not VGG19's.
        FileNotFoundError: The weights file is missing.
    """

    def __init__(self, layer: str = "relu5_4", weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        names = vgg19_layer_names()
        if layer not in names:
            close = difflib.get_close_matches(str(layer), names, n=3)
            hint = "did you mean " + " or ".join(map(repr, close)) + "?" if close else ""
            raise ValueError(f"layer: unknown VGG19 layer {layer!r}; {hint or 'see docs'}")
        from torchvision.models import vgg19

        if weights is not None and os.fspath(weights) == RANDOM_FOR_TESTS:
            warnings.warn(
                "VGG19 with random weights (weights: random-for-tests): for tests only, the "
                "content loss is meaningless",
                UserWarning,
                stacklevel=2,
            )
            net = vgg19(weights=None)
            self.weights_path: Path | None = None
        else:
            path, _ = resolve_weights(
                VGG19_FILE,
                weights,
                url=VGG19_URL,
                alternative="set the loss argument weights to its path (or use content: none "
                "for a pixel + adversarial loss without VGG)",
            )
            net = vgg19(weights=None, init_weights=False)  # every tensor is loaded next
            load_weights_into(net, path, "the feature extractor")
            self.weights_path = path
        self.layer = layer
        self.features = net.features[: names.index(layer) + 1]
        for module in self.features:
            if isinstance(module, nn.ReLU):
                module.inplace = False  # the pre-activation output may be the one returned
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always stays in evaluation mode."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features of ``images`` (``[N, 3, H, W]`` in [-1, 1]; grey images are repeated)."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = ((images + 1.0) * 0.5 - self.mean) / self.std
        return self.features(x)


def build_content_network(
    content: str | nn.Module,
    layer: str = "relu5_4",
    weights: str | os.PathLike | None = None,
    content_args: Mapping[str, Any] | None = None,
) -> nn.Module | None:
    """The frozen feature network of a content loss.

    Args:
        content: ``vgg19`` (:class:`VGGFeatures`), ``none`` (no network: returns ``None``) or
            an ``nn.Module`` (a custom network, e.g. a tiny one for tests, fed the images in
            [-1, 1] as they are; ``torchgan-run`` builds a registered model name given here).
        layer: The VGG19 layer (``vgg19`` only).
        weights: VGG19: the weights file (see :class:`VGGFeatures`); a module: an optional
            state dict file to load.
        content_args: Used by ``torchgan-run`` to build a registered model; must be empty here.

    Raises:
        ValueError: Unknown name or arguments that do not apply.
        FileNotFoundError: Weights missing.
    """
    if content_args:
        raise ValueError(
            "content_args: only apply to a registered model named as content (built by "
            "torchgan-run)"
        )
    if isinstance(content, nn.Module):
        network = content
        if weights is not None:
            if os.fspath(weights) == RANDOM_FOR_TESTS:
                raise ValueError("weights: random-for-tests only applies to content: vgg19")
            load_weights_into(network, Path(weights).expanduser(), "the content network")
        network.requires_grad_(False)
        return network.eval()
    if content == "none":
        return None
    if content == "vgg19":
        return VGGFeatures(layer, weights)
    raise ValueError(
        f"content: unknown content network {content!r}; valid: vgg19, none, a registered model "
        "name (torchgan-run) or an nn.Module"
    )
