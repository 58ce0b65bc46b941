"""Helpers for tests of torchgan-ext and of third-party plugins.

Tests never touch the network: they use the bundled digits, miniature datasets written on disk
in the official formats, tiny models and tiny feature extractors.
"""

from .attribute_digits import ATTRIBUTE_DIGITS_ATTRIBUTES, write_attribute_digits
from .celeba import CELEBA_ATTRIBUTES, FakeCelebA, index_color, write_celeba
from .cityscapes import FakeCityscapes, cityscapes_pixel, write_cityscapes
from .configs import set_dotted, tiny_config
from .datasets import DatasetTestCase, write_image_folder
from .digits_score import DigitsScore, digits_score, score_digit_images
from .inception import fid_inception_state_dict, write_png_folder, write_random_fid_inception
from .translation import write_paired_images, write_unpaired_images

__all__ = [
    "tiny_config",
    "set_dotted",
    "DatasetTestCase",
    "write_image_folder",
    "CELEBA_ATTRIBUTES",
    "FakeCelebA",
    "write_celeba",
    "index_color",
    "ATTRIBUTE_DIGITS_ATTRIBUTES",
    "write_attribute_digits",
    "FakeCityscapes",
    "write_cityscapes",
    "cityscapes_pixel",
    "DigitsScore",
    "digits_score",
    "score_digit_images",
    "write_paired_images",
    "write_unpaired_images",
    "fid_inception_state_dict",
    "write_random_fid_inception",
    "write_png_folder",
]
