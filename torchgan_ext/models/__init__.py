"""models of torchgan-ext."""

from .biggan import BigGANGenerator
from .sagan import SAGANDiscriminator, SAGANGenerator
from .unet_discriminator import UNetDiscriminator

__all__: list[str] = [
    "SAGANGenerator",
    "SAGANDiscriminator",
    "BigGANGenerator",
    "UNetDiscriminator",
]
