"""Helpers for tests of torchgan-ext and of third-party plugins.

Tests never touch the network: they use the bundled digits, miniature datasets written on disk
in the official formats, tiny models and tiny feature extractors.
"""

from .configs import tiny_config

__all__ = ["tiny_config"]
