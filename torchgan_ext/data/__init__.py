"""Datasets registered by the built-in plugin, and the resumable sampler."""

from .celeba import CelebA
from .cityscapes import CITYSCAPES_CLASSES, Cityscapes, CityscapesClass
from .digits import Digits
from .image_folder import ImageFolder
from .sampler import ResumableSampler
from .skimage_photos import SkimagePhotos
from .super_resolution import SuperResolution

__all__ = [
    "CelebA",
    "Cityscapes",
    "CityscapesClass",
    "CITYSCAPES_CLASSES",
    "Digits",
    "ImageFolder",
    "ResumableSampler",
    "SkimagePhotos",
    "SuperResolution",
]
