"""Datasets registered by the built-in plugin, the resumable sampler and the batch collation."""

from .cache import DecodedCache
from .cache_loader import CacheLoader
from .celeba import CelebA
from .cityscapes import CITYSCAPES_CLASSES, Cityscapes, CityscapesClass
from .collate import collate
from .digits import Digits
from .image_folder import ImageFolder
from .sampler import ResumableSampler
from .skimage_photos import SkimagePhotos
from .super_resolution import SuperResolution

__all__ = [
    "CacheLoader",
    "CelebA",
    "Cityscapes",
    "CityscapesClass",
    "CITYSCAPES_CLASSES",
    "collate",
    "DecodedCache",
    "Digits",
    "ImageFolder",
    "ResumableSampler",
    "SkimagePhotos",
    "SuperResolution",
]
