"""Augmentations of the discriminator's input for small data sets (DiffAugment and ADA).

The operations are plain differentiable tensor functions; the ``diffaugment`` and ``ada``
callbacks (:mod:`torchgan_ext.callbacks.augment`) apply them to every image a discriminator
sees, for any registered GAN.
"""

from .ada import ADA_GROUPS, GEOMETRIC_GROUPS, ada_augment, check_groups
from .diffaugment import DIFFAUGMENT_POLICIES, check_policy, diff_augment

__all__ = [
    "ADA_GROUPS",
    "GEOMETRIC_GROUPS",
    "DIFFAUGMENT_POLICIES",
    "ada_augment",
    "check_groups",
    "check_policy",
    "diff_augment",
]
