"""models of torchgan-ext."""

from .attribute_classifier import AttributeClassifier
from .biggan import BigGANGenerator
from .infogan import InfoGANDiscriminator, InfoGANGenerator
from .sagan import SAGANDiscriminator, SAGANGenerator
from .segmentation import SegmentationNet
from .srgan import SRGANDiscriminator, SRResNetGenerator
from .stargan import StarGANDiscriminator, StarGANGenerator
from .unet_discriminator import UNetDiscriminator

__all__: list[str] = [
    "SAGANGenerator",
    "SAGANDiscriminator",
    "SRResNetGenerator",
    "SRGANDiscriminator",
    "BigGANGenerator",
    "UNetDiscriminator",
    "StarGANGenerator",
    "StarGANDiscriminator",
    "AttributeClassifier",
    "InfoGANGenerator",
    "InfoGANDiscriminator",
    "SegmentationNet",
]
