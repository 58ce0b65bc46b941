"""metrics of torchgan-ext."""

from .attribute_accuracy import AttributeAccuracy, ClassifierAccuracy
from .cache import RealFeatureCache
from .features import FeatureExtractor, InputSpec, build_feature_extractor, prepare_images
from .fid import FrechetInceptionDistance, frechet_distance
from .inception_score import InceptionScore, inception_score
from .kid import KernelInceptionDistance, kernel_inception_distance
from .psnr_ssim import PSNR, SSIM, psnr, rgb_to_y, ssim
from .unet_accuracy import UNetCutMixAccuracy

__all__ = [
    "AttributeAccuracy",
    "ClassifierAccuracy",
    "FeatureExtractor",
    "FrechetInceptionDistance",
    "InceptionScore",
    "InputSpec",
    "KernelInceptionDistance",
    "PSNR",
    "SSIM",
    "RealFeatureCache",
    "UNetCutMixAccuracy",
    "build_feature_extractor",
    "frechet_distance",
    "inception_score",
    "kernel_inception_distance",
    "psnr",
    "rgb_to_y",
    "ssim",
    "prepare_images",
]
