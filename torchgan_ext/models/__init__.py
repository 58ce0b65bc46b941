"""models of torchgan-ext."""

from .sagan import SAGANDiscriminator, SAGANGenerator

__all__: list[str] = ["SAGANGenerator", "SAGANDiscriminator"]
