"""Built-in plugin ``torchgan``: registers torchgan's own models, losses and metrics.

This makes every component of torchgan 0.1.0 reachable from a YAML file under a snake_case
name, e.g. ``dcgan_generator`` or ``wasserstein_gradient_penalty``. Block it with
``-p no:torchgan``. The InfoGAN models are registered as the subclasses of
:mod:`torchgan_ext.models.infogan`, which fix what stops torchgan's from training; the
minimax, least-squares and Wasserstein losses as those of :mod:`torchgan_ext.losses.minimax`,
:mod:`~torchgan_ext.losses.leastsquares` and :mod:`~torchgan_ext.losses.wasserstein` (the same
losses, trained without a host sync per step).
"""

from __future__ import annotations

from torchgan import losses as tl
from torchgan import metrics as tm
from torchgan import models as tgm

from .._hookspecs import hookimpl
from ..losses import (
    auxclassifier,
    draganpenalty,
    energybased,
    featurematching,
    leastsquares,
    minimax,
    mutualinfo,
    stateful,
    wasserstein,
)
from ..models.infogan import InfoGANDiscriminator, InfoGANGenerator

__all__ = ["TORCHGAN_MODELS", "TORCHGAN_LOSSES", "TORCHGAN_METRICS"]

TORCHGAN_MODELS = {
    "dcgan_generator": tgm.DCGANGenerator,
    "dcgan_discriminator": tgm.DCGANDiscriminator,
    "conditional_gan_generator": tgm.ConditionalGANGenerator,
    "conditional_gan_discriminator": tgm.ConditionalGANDiscriminator,
    "acgan_generator": tgm.ACGANGenerator,
    "acgan_discriminator": tgm.ACGANDiscriminator,
    # torchgan's InfoGAN classes cannot train through its Trainer; these subclasses can
    "infogan_generator": InfoGANGenerator,
    "infogan_discriminator": InfoGANDiscriminator,
    "autoencoding_generator": tgm.AutoEncodingGenerator,
    "autoencoding_discriminator": tgm.AutoEncodingDiscriminator,
}

TORCHGAN_LOSSES = {
    # torchgan's losses with its standard training steps minus the per-step .item()
    "minimax_generator": minimax.MinimaxGeneratorLoss,
    "minimax_discriminator": minimax.MinimaxDiscriminatorLoss,
    "least_squares_generator": leastsquares.LeastSquaresGeneratorLoss,
    "least_squares_discriminator": leastsquares.LeastSquaresDiscriminatorLoss,
    "wasserstein_generator": wasserstein.WassersteinGeneratorLoss,
    "wasserstein_discriminator": wasserstein.WassersteinDiscriminatorLoss,
    # torchgan's penalties with the papers' per-sample gradient norms
    "wasserstein_gradient_penalty": wasserstein.WassersteinGradientPenalty,
    "boundary_equilibrium_generator": tl.BoundaryEquilibriumGeneratorLoss,
    "boundary_equilibrium_discriminator": stateful.BoundaryEquilibriumDiscriminatorLoss,
    "energy_based_generator": energybased.EnergyBasedGeneratorLoss,
    "energy_based_discriminator": energybased.EnergyBasedDiscriminatorLoss,
    "energy_based_pulling_away_term": energybased.EnergyBasedPullingAwayTerm,
    "dragan_gradient_penalty": draganpenalty.DraganGradientPenalty,
    "historical_average_generator": stateful.HistoricalAverageGeneratorLoss,
    "historical_average_discriminator": stateful.HistoricalAverageDiscriminatorLoss,
    "feature_matching_generator": featurematching.FeatureMatchingGeneratorLoss,
    "auxiliary_classifier_generator": auxclassifier.AuxiliaryClassifierGeneratorLoss,
    "auxiliary_classifier_discriminator": auxclassifier.AuxiliaryClassifierDiscriminatorLoss,
    "mutual_information_penalty": mutualinfo.MutualInformationPenalty,
}

_IMAGE_OUT = {"out_size": "image_size", "out_channels": "channels"}
_IMAGE_IN = {"in_size": "image_size", "in_channels": "channels"}

#: Constructor parameters of torchgan's models that the dataset fills when the config leaves
#: them out: the ``data_args`` of their registry entries.
_DATA_ARGS = {
    tgm.DCGANGenerator: _IMAGE_OUT,
    tgm.DCGANDiscriminator: _IMAGE_IN,
    tgm.ConditionalGANGenerator: {**_IMAGE_OUT, "num_classes": "num_classes"},
    tgm.ConditionalGANDiscriminator: {**_IMAGE_IN, "num_classes": "num_classes"},
    tgm.ACGANGenerator: {**_IMAGE_OUT, "num_classes": "num_classes"},
    tgm.ACGANDiscriminator: {**_IMAGE_IN, "num_classes": "num_classes"},
    tgm.AutoEncodingGenerator: _IMAGE_OUT,
    tgm.AutoEncodingDiscriminator: _IMAGE_IN,
}


class ClassifierScore(tm.ClassifierScore):
    """torchgan's ``ClassifierScore`` that never downloads weights.

    Without a ``classifier`` it needs torchvision's Inception V3 weights on disk and raises
    ``FileNotFoundError`` (naming the file and
    ``$TORCH_HOME/hub/checkpoints``) instead of trying to download them.
    """

    def __init__(self, classifier=None, transform=None, sample_size=1):
        if classifier is None:
            from ..metrics.features import TORCHVISION_INCEPTION_FILE, TORCHVISION_INCEPTION_URL
            from ..weights import resolve_weights

            resolve_weights(
                TORCHVISION_INCEPTION_FILE,
                url=TORCHVISION_INCEPTION_URL,
                argument="classifier",
                alternative="pass a classifier",
            )
        super().__init__(classifier, transform, sample_size)


TORCHGAN_METRICS = {
    "classifier_score": ClassifierScore,
}


@hookimpl
def torchgan_ext_register_models(registry):
    for name, cls in TORCHGAN_MODELS.items():
        registry.register(name, cls, data_args=_DATA_ARGS.get(cls))


@hookimpl
def torchgan_ext_register_losses(registry):
    for name, cls in TORCHGAN_LOSSES.items():
        registry.register(name, cls)


@hookimpl
def torchgan_ext_register_metrics(registry):
    for name, cls in TORCHGAN_METRICS.items():
        registry.register(name, cls)
