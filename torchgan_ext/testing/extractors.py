"""A tiny feature extractor for tests of FID/KID/IS (and a plugin that registers it).

Real metric runs use the Inception weights (see docs/metrics.md); tests and examples use
:class:`TinyFeatureExtractor`: a two-layer convolutional network whose weights are drawn from a
fixed seed, so every construction is identical (and real-feature cache keys are stable).
Load this module as a plugin (``plugins: [torchgan_ext.testing.extractors]``) to use it by
name: ``metrics: [{name: fid, args: {extractor: tiny_feature_extractor}}]``.
"""

from __future__ import annotations

import torch
from torch import nn

from .._hookspecs import hookimpl
from ..metrics.preprocess import InputSpec

__all__ = ["TinyFeatureExtractor", "torchgan_ext_register_models"]


class TinyFeatureExtractor(nn.Module):
    """A fixed random convolutional feature map (deterministic weights, for tests).

    Args:
        in_channels: Image channels (grey images are repeated when this is 3).
        num_features: Output dimension (also the number of "classes" as IS logits).
        size: Images are resized to ``size x size``.
        seed: Seed of the weights.
    """

    def __init__(
        self, in_channels: int = 1, num_features: int = 8, size: int = 16, seed: int = 0
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.input_spec = InputSpec(size=size, channels=in_channels)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 8, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, num_features),
        )
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@hookimpl
def torchgan_ext_register_models(registry):
    registry.register("tiny_feature_extractor", TinyFeatureExtractor)
