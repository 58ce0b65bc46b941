"""Datasets registered by the built-in plugin, and the resumable sampler."""

from .digits import Digits
from .sampler import ResumableSampler

__all__ = ["Digits", "ResumableSampler"]
