"""metrics of torchgan-ext."""

from .attribute_accuracy import AttributeAccuracy, ClassifierAccuracy
from .cache import RealFeatureCache
from .features import FeatureExtractor, build_feature_extractor
from .fid import FrechetInceptionDistance, frechet_distance
from .inception_score import InceptionScore, inception_score
from .kid import KernelInceptionDistance, kernel_inception_distance
from .prdc import DensityCoverage, PrecisionRecall, density_coverage, precision_recall
from .preprocess import InputSpec, clean_resize, prepare_images
from .psnr_ssim import PSNR, SSIM, psnr, rgb_to_y, ssim
from .segmentation_labels import ConfusionMatrix, label_to_train_ids, segmentation_scores
from .segmentation_score import SegmentationScore, SegmenterAccuracy
from .unet_accuracy import UNetCutMixAccuracy

__all__ = [
    "AttributeAccuracy",
    "ClassifierAccuracy",
    "DensityCoverage",
    "FeatureExtractor",
    "FrechetInceptionDistance",
    "InceptionScore",
    "InputSpec",
    "KernelInceptionDistance",
    "PSNR",
    "PrecisionRecall",
    "SSIM",
    "RealFeatureCache",
    "UNetCutMixAccuracy",
    "build_feature_extractor",
    "clean_resize",
    "density_coverage",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "precision_recall",
    "psnr",
    "rgb_to_y",
    "ssim",
    "prepare_images",
    "ConfusionMatrix",
    "SegmentationScore",
    "SegmenterAccuracy",
    "label_to_train_ids",
    "segmentation_scores",
]
