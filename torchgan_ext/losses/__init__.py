"""losses of torchgan-ext."""

from .hinge import HingeDiscriminatorLoss, HingeGeneratorLoss
from .unet import UNetDiscriminatorLoss, UNetGeneratorLoss

__all__: list[str] = [
    "HingeGeneratorLoss",
    "HingeDiscriminatorLoss",
    "UNetGeneratorLoss",
    "UNetDiscriminatorLoss",
]
