"""Layers of torchgan-ext: SAGAN self-attention, spectral-norm helpers, conditional batch norm,
equalised-learning-rate layers (ProGAN / StyleGAN), StyleGAN2's modulated convolution and
residual up / down blocks (shared by the SAGAN, BigGAN and U-Net GAN models)."""

from .attention import SelfAttention2d
from .blocks import ResBlockDown, ResBlockUp
from .conditional import ConditionalBatchNorm2d
from .equalized import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm
from .modulated import ModulatedConv2d, modulated_conv2d
from .spectral import (
    SNConv2d,
    SNEmbedding,
    SNLinear,
    SpectralNorm,
    apply_spectral_norm,
    has_spectral_norm,
    init_weights,
    make_conv2d,
    make_embedding,
    make_linear,
)

__all__ = [
    "SelfAttention2d",
    "ResBlockUp",
    "ResBlockDown",
    "ConditionalBatchNorm2d",
    "EqualizedLinear",
    "EqualizedConv2d",
    "PixelNorm",
    "MinibatchStdDev",
    "ModulatedConv2d",
    "modulated_conv2d",
    "SNConv2d",
    "SNLinear",
    "SNEmbedding",
    "SpectralNorm",
    "apply_spectral_norm",
    "has_spectral_norm",
    "init_weights",
    "make_conv2d",
    "make_linear",
    "make_embedding",
]
