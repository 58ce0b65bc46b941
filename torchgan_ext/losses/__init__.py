"""losses of torchgan-ext."""

from .auxclassifier import AuxiliaryClassifierDiscriminatorLoss, AuxiliaryClassifierGeneratorLoss
from .classification import AttributeClassificationLoss
from .draganpenalty import DraganGradientPenalty
from .energybased import (
    EnergyBasedDiscriminatorLoss,
    EnergyBasedGeneratorLoss,
    EnergyBasedPullingAwayTerm,
)
from .featurematching import FeatureMatchingGeneratorLoss
from .hinge import HingeDiscriminatorLoss, HingeGeneratorLoss
from .leastsquares import LeastSquaresDiscriminatorLoss, LeastSquaresGeneratorLoss
from .minimax import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss
from .mutualinfo import MutualInformationPenalty
from .penalty import per_sample_gradient_penalty
from .perceptual import VGGFeatures
from .segmentation import SegmentationCrossEntropyLoss
from .srgan import PixelMSELoss, SRGANDiscriminatorLoss, SRGANGeneratorLoss
from .stargan import StarGANDiscriminatorLoss, StarGANGeneratorLoss
from .stateful import (
    BoundaryEquilibriumDiscriminatorLoss,
    HistoricalAverageDiscriminatorLoss,
    HistoricalAverageGeneratorLoss,
)
from .train_ops import DiscriminatorStep, GeneratorStep
from .unet import UNetDiscriminatorLoss, UNetGeneratorLoss
from .wasserstein import (
    WassersteinDiscriminatorLoss,
    WassersteinGeneratorLoss,
    WassersteinGradientPenalty,
)

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
    "SegmentationCrossEntropyLoss",
]
