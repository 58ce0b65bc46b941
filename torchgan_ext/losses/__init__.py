"""losses of torchgan-ext."""

from .classification import AttributeClassificationLoss
from .hinge import HingeDiscriminatorLoss, HingeGeneratorLoss
from .penalty import per_sample_gradient_penalty
from .stargan import StarGANDiscriminatorLoss, StarGANGeneratorLoss
from .unet import UNetDiscriminatorLoss, UNetGeneratorLoss

__all__: list[str] = [
    "HingeGeneratorLoss",
    "HingeDiscriminatorLoss",
    "UNetGeneratorLoss",
    "UNetDiscriminatorLoss",
    "StarGANGeneratorLoss",
    "StarGANDiscriminatorLoss",
    "AttributeClassificationLoss",
    "per_sample_gradient_penalty",
]
