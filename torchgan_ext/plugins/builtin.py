"""Built-in plugin ``builtin``: the project's own components and ``torch.optim``.

Registered through the same hooks as any third-party plugin (one path, as pytest's default
plugins). Block it with ``-p no:builtin``.
"""

from __future__ import annotations

import torch

from .._hookspecs import hookimpl
from ..callbacks import (
    ADA,
    EMA,
    Checkpoint,
    DiffAugment,
    Evaluation,
    LeCam,
    LRSchedulers,
    NonFiniteGuard,
    PathLengthPenalty,
    ProgressBarCallback,
    ProgressiveGrowing,
    R1Penalty,
    R2Penalty,
    SampleGrids,
    TensorBoard,
)
from ..data.celeba import CelebA
from ..data.cityscapes import Cityscapes
from ..data.cityscapes_pairs import CityscapesPairs
from ..data.digits import Digits
from ..data.image_folder import ImageFolder
from ..data.paired import PairedImages, UnpairedImages
from ..data.skimage_photos import SkimagePhotos
from ..data.super_resolution import SuperResolution
from ..losses.classification import AttributeClassificationLoss
from ..losses.context_encoder import (
    ContextEncoderDiscriminatorLoss,
    ContextEncoderGeneratorLoss,
)
from ..losses.cyclegan import CycleGANDiscriminatorLoss, CycleGANGeneratorLoss
from ..losses.discogan import DiscoGANDiscriminatorLoss, DiscoGANGeneratorLoss
from ..losses.hinge import HingeDiscriminatorLoss, HingeGeneratorLoss
from ..losses.pix2pix import Pix2PixDiscriminatorLoss, Pix2PixGeneratorLoss
from ..losses.progan import ProGANDiscriminatorLoss, ProGANGeneratorLoss
from ..losses.segmentation import SegmentationCrossEntropyLoss
from ..losses.srgan import PixelMSELoss, SRGANDiscriminatorLoss, SRGANGeneratorLoss
from ..losses.stargan import StarGANDiscriminatorLoss, StarGANGeneratorLoss
from ..losses.unet import UNetDiscriminatorLoss, UNetGeneratorLoss
from ..metrics.attribute_accuracy import ClassifierAccuracy
from ..metrics.fid import FrechetInceptionDistance
from ..metrics.inception_score import InceptionScore
from ..metrics.kid import KernelInceptionDistance
from ..metrics.prdc import DensityCoverage, PrecisionRecall
from ..metrics.psnr_ssim import PSNR, SSIM
from ..metrics.segmentation_score import SegmenterAccuracy
from ..metrics.unet_accuracy import UNetCutMixAccuracy
from ..models.attribute_classifier import AttributeClassifier
from ..models.biggan import BigGANGenerator
from ..models.context_encoder import ContextEncoderDiscriminator, ContextEncoderGenerator
from ..models.cyclegan import CycleGANGenerator
from ..models.discogan import DiscoGANDiscriminator, DiscoGANGenerator
from ..models.pix2pix import PatchGANDiscriminator, Pix2PixGenerator
from ..models.progan import ProGANDiscriminator, ProGANGenerator
from ..models.sagan import SAGANDiscriminator, SAGANGenerator
from ..models.segmentation import SegmentationNet
from ..models.srgan import SRGANDiscriminator, SRResNetGenerator
from ..models.stargan import StarGANDiscriminator, StarGANGenerator
from ..models.stylegan2 import StyleGAN2Generator
from ..models.stylegan2_discriminator import StyleGAN2Discriminator
from ..models.unet_discriminator import UNetDiscriminator
from ..trainer.schedulers import LinearDecayLR, StepwiseDecayLR
from .classifier_runs import DATA_ARGS as _CLASSIFIER_RUN_DATA
from .classifier_runs import attribute_accuracy_from_run
from .segmentation_runs import DATA_ARGS as _SEGMENTATION_RUN_DATA
from .segmentation_runs import segmentation_score_from_run

__all__: list[str] = []

#: Metrics whose ``extractor`` may name a registered model (built by torchgan-run).
_EXTRACTOR = {"extractor": "extractor_args"}


@hookimpl
def torchgan_ext_register_models(registry):
    registry.register("sagan_generator", SAGANGenerator)
    registry.register("sagan_discriminator", SAGANDiscriminator)
    registry.register("srresnet_generator", SRResNetGenerator)
    registry.register("srgan_discriminator", SRGANDiscriminator)
    registry.register("unet_discriminator", UNetDiscriminator)
    registry.register("biggan_generator", BigGANGenerator)
    registry.register("stargan_generator", StarGANGenerator)
    registry.register("stargan_discriminator", StarGANDiscriminator)
    registry.register("attribute_classifier", AttributeClassifier)
    registry.register("pix2pix_generator", Pix2PixGenerator)
    registry.register("patchgan_discriminator", PatchGANDiscriminator)
    registry.register("cyclegan_generator", CycleGANGenerator)
    registry.register("segmentation_net", SegmentationNet)
    registry.register("context_encoder_generator", ContextEncoderGenerator)
    registry.register("context_encoder_discriminator", ContextEncoderDiscriminator)
    registry.register("discogan_generator", DiscoGANGenerator)
    registry.register("discogan_discriminator", DiscoGANDiscriminator)
    registry.register("progan_generator", ProGANGenerator)
    registry.register("progan_discriminator", ProGANDiscriminator)
    registry.register("stylegan2_generator", StyleGAN2Generator)
    registry.register("stylegan2_discriminator", StyleGAN2Discriminator)


@hookimpl
def torchgan_ext_register_losses(registry):
    registry.register("hinge_generator", HingeGeneratorLoss)
    registry.register("hinge_discriminator", HingeDiscriminatorLoss)
    registry.register("srgan_generator", SRGANGeneratorLoss, model_args={"content": "content_args"})
    registry.register("srgan_discriminator", SRGANDiscriminatorLoss)
    registry.register("pixel_mse", PixelMSELoss)
    registry.register("unet_generator", UNetGeneratorLoss)
    registry.register("unet_discriminator", UNetDiscriminatorLoss)
    registry.register("stargan_generator", StarGANGeneratorLoss)
    registry.register("stargan_discriminator", StarGANDiscriminatorLoss)
    registry.register("attribute_classification", AttributeClassificationLoss)
    registry.register("pix2pix_generator", Pix2PixGeneratorLoss)
    registry.register("pix2pix_discriminator", Pix2PixDiscriminatorLoss)
    registry.register("cyclegan_generator", CycleGANGeneratorLoss)
    registry.register("cyclegan_discriminator", CycleGANDiscriminatorLoss)
    registry.register("segmentation_cross_entropy", SegmentationCrossEntropyLoss)
    registry.register("context_encoder_generator", ContextEncoderGeneratorLoss)
    registry.register("context_encoder_discriminator", ContextEncoderDiscriminatorLoss)
    registry.register("discogan_generator", DiscoGANGeneratorLoss)
    registry.register("discogan_discriminator", DiscoGANDiscriminatorLoss)
    registry.register("progan_generator", ProGANGeneratorLoss)
    registry.register("progan_discriminator", ProGANDiscriminatorLoss)


@hookimpl
def torchgan_ext_register_metrics(registry):
    registry.register("fid", FrechetInceptionDistance, model_args=_EXTRACTOR)
    registry.register("kid", KernelInceptionDistance, model_args=_EXTRACTOR)
    registry.register("inception_score", InceptionScore, model_args=_EXTRACTOR)
    registry.register("precision_recall", PrecisionRecall, model_args=_EXTRACTOR)
    registry.register("density_coverage", DensityCoverage, model_args=_EXTRACTOR)
    registry.register("psnr", PSNR)
    registry.register("ssim", SSIM)
    registry.register("unet_cutmix_accuracy", UNetCutMixAccuracy)
    # the judge is built from a classifier run (launcher side; the component takes a module)
    registry.register(
        "attribute_accuracy", attribute_accuracy_from_run, data_args=_CLASSIFIER_RUN_DATA
    )
    registry.register("classifier_accuracy", ClassifierAccuracy)
    # pix2pix's FCN-score: the judge is built from a segmentation run (launcher side)
    registry.register(
        "segmentation_score", segmentation_score_from_run, data_args=_SEGMENTATION_RUN_DATA
    )
    registry.register("segmenter_accuracy", SegmenterAccuracy)


@hookimpl
def torchgan_ext_register_datasets(registry):
    registry.register("digits", Digits)
    registry.register("celeba", CelebA)
    registry.register("cityscapes", Cityscapes)
    registry.register("super_resolution", SuperResolution, component_args={"dataset": "datasets"})
    registry.register("image_folder", ImageFolder)
    registry.register("skimage_photos", SkimagePhotos)
    registry.register("paired_images", PairedImages)
    registry.register("unpaired_images", UnpairedImages)
    registry.register("cityscapes_pairs", CityscapesPairs)


@hookimpl
def torchgan_ext_register_optimizers(registry):
    registry.register("adam", torch.optim.Adam)
    registry.register("adamw", torch.optim.AdamW)
    registry.register("sgd", torch.optim.SGD)
    registry.register("rmsprop", torch.optim.RMSprop)


@hookimpl
def torchgan_ext_register_schedulers(registry):
    sched = torch.optim.lr_scheduler
    registry.register("step", sched.StepLR)
    registry.register("multistep", sched.MultiStepLR)
    registry.register("exponential", sched.ExponentialLR)
    registry.register("cosine", sched.CosineAnnealingLR)
    registry.register("linear_decay", LinearDecayLR)
    registry.register("stepwise_decay", StepwiseDecayLR)


@hookimpl
def torchgan_ext_register_callbacks(registry):
    registry.register("lr_schedulers", LRSchedulers)
    registry.register("ema", EMA)
    registry.register("tensorboard", TensorBoard)
    registry.register("progress_bar", ProgressBarCallback)
    registry.register("nonfinite_guard", NonFiniteGuard)
    registry.register("sample_grids", SampleGrids)
    registry.register("evaluation", Evaluation)
    registry.register("checkpoint", Checkpoint)
    registry.register("diffaugment", DiffAugment)
    registry.register("ada", ADA)
    registry.register("r1_penalty", R1Penalty)
    registry.register("r2_penalty", R2Penalty)
    registry.register("lecam", LeCam)
    registry.register("progressive_growing", ProgressiveGrowing)
    registry.register("path_length", PathLengthPenalty)
