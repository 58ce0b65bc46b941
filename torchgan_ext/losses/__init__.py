"""losses of torchgan-ext."""

from .classification import AttributeClassificationLoss
from .hinge import HingeDiscriminatorLoss, HingeGeneratorLoss
from .penalty import per_sample_gradient_penalty
from .perceptual import VGGFeatures
from .srgan import PixelMSELoss, SRGANDiscriminatorLoss, SRGANGeneratorLoss
from .standard import (
    AuxiliaryClassifierDiscriminatorLoss,
    AuxiliaryClassifierGeneratorLoss,
    DraganGradientPenalty,
    EnergyBasedDiscriminatorLoss,
    EnergyBasedGeneratorLoss,
    EnergyBasedPullingAwayTerm,
    FeatureMatchingGeneratorLoss,
    LeastSquaresDiscriminatorLoss,
    LeastSquaresGeneratorLoss,
    MinimaxDiscriminatorLoss,
    MinimaxGeneratorLoss,
    MutualInformationPenalty,
    WassersteinDiscriminatorLoss,
    WassersteinGeneratorLoss,
    WassersteinGradientPenalty,
)
from .stargan import StarGANDiscriminatorLoss, StarGANGeneratorLoss
from .stateful import (
    BoundaryEquilibriumDiscriminatorLoss,
    HistoricalAverageDiscriminatorLoss,
    HistoricalAverageGeneratorLoss,
)
from .train_ops import DiscriminatorStep, GeneratorStep
from .unet import UNetDiscriminatorLoss, UNetGeneratorLoss

__all__: list[str] = [
    "HingeGeneratorLoss",
    "HingeDiscriminatorLoss",
    "MinimaxGeneratorLoss",
    "MinimaxDiscriminatorLoss",
    "LeastSquaresGeneratorLoss",
    "LeastSquaresDiscriminatorLoss",
    "WassersteinGeneratorLoss",
    "WassersteinDiscriminatorLoss",
    "WassersteinGradientPenalty",
    "DraganGradientPenalty",
    "MutualInformationPenalty",
    "EnergyBasedGeneratorLoss",
    "EnergyBasedDiscriminatorLoss",
    "EnergyBasedPullingAwayTerm",
    "FeatureMatchingGeneratorLoss",
    "BoundaryEquilibriumDiscriminatorLoss",
    "HistoricalAverageGeneratorLoss",
    "HistoricalAverageDiscriminatorLoss",
    "AuxiliaryClassifierGeneratorLoss",
    "AuxiliaryClassifierDiscriminatorLoss",
    "GeneratorStep",
    "DiscriminatorStep",
    "SRGANGeneratorLoss",
    "SRGANDiscriminatorLoss",
    "PixelMSELoss",
    "VGGFeatures",
    "UNetGeneratorLoss",
    "UNetDiscriminatorLoss",
    "StarGANGeneratorLoss",
    "StarGANDiscriminatorLoss",
    "AttributeClassificationLoss",
    "per_sample_gradient_penalty",
]
