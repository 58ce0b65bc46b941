"""DiscoGAN's generators and discriminators (Kim et al., ICML 2017).

`Learning to Discover Cross-Domain Relations with Generative Adversarial Networks
<https://arxiv.org/abs/1703.05192>`_ couples two GANs: :math:`G_{AB}` and :math:`G_{BA}` map
between two unpaired domains, :math:`D_B` and :math:`D_A` judge each domain, and each image
must come back after a round trip (the reconstruction loss). The networks follow the paper
(section 3, 4) and the authors' code (``discogan/model.py``):

* generator: an encoder of stride-2 4x4 convs (LeakyReLU 0.2, batch norm after all but the
  first; 64-128-256-512 from 64x64) down to 4x4 and a decoder of stride-2 4x4 transposed
  convs (batch norm, ReLU) back to the image size; the authors end with a sigmoid for images
  in [0, 1], here tanh for this project's [-1, 1] images (the same function up to the affine
  change of range);
* discriminator: the same encoder and a 4x4 conv to one logit
  (:class:`~torchgan_ext.models.context_encoder.ConvDiscriminator`); its activations after the
  second, third and fourth layers feed the authors' feature-matching term.

In a run the four models are named as CycleGAN's: ``generator`` (``direction: a2b``),
``generator_ba`` (``b2a``), ``discriminator`` (``judges: b``) and ``discriminator_a``
(``judges: a``); each generator draws its own cycle in the sample grids.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchgan.models import Generator

from .._validation import check_choice, check_positive_int
from .context_encoder import ConvDiscriminator, check_side, down_stack, square_side, up_stack
from .cyclegan import TWO_DOMAIN_DATA, TwoWayTranslation, domain_channels
from .pix2pix import init_gan_weights

__all__ = ["DiscoGANGenerator", "DiscoGANDiscriminator"]


class DiscoGANGenerator(TwoWayTranslation, Generator):
    """DiscoGAN's encoder-decoder generator: an image of one domain -> the other.

    Paper: https://arxiv.org/abs/1703.05192 (section 4); the authors' ``Generator``.

    Args:
        channels_a: Channels of domain A (the dataset's ``channels_a``).
        channels_b: Channels of domain B (the dataset's ``channels_b``).
        direction: ``a2b`` (:math:`G_{AB}`) or ``b2a`` (:math:`G_{BA}`).
        image_size: Side of the square power-of-two images (64 in the paper).
        base_channels: Width of the first conv (64).

    Inputs: ``forward(x)`` with ``x`` ``[B, C_in, image_size, image_size]``.
    """

    data_arguments = TWO_DOMAIN_DATA

    def __init__(
        self,
        channels_a: int = 3,
        channels_b: int = 3,
        direction: str = "a2b",
        image_size: int | Sequence[int] = 64,
        base_channels: int = 64,
    ) -> None:
        cin, cout = domain_channels(channels_a, channels_b, direction)
        self.direction = direction
        super().__init__(encoding_dims=cin)
        self.in_channels, self.out_channels = cin, cout
        self.image_size = square_side(image_size)
        base = check_positive_int(base_channels, "base_channels")
        encoder, top = down_stack(cin, self.image_size, base)
        self.main = nn.Sequential(encoder, *up_stack(top, self.image_size, base, cout))
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_side(x, self.image_size, "this DiscoGAN generator")
        return self.main(x)


class DiscoGANDiscriminator(ConvDiscriminator):
    """DiscoGAN's discriminator of one domain: one logit per image, and its features.

    Paper: https://arxiv.org/abs/1703.05192 (section 4); the authors' ``Discriminator``.

    Args:
        channels_a: Channels of domain A (the dataset's).
        channels_b: Channels of domain B (the dataset's).
        judges: ``b`` (:math:`D_B`, the run's ``discriminator``) or ``a`` (:math:`D_A`).
        image_size: Side of the images (the dataset's).
        base_channels: Width of the first conv (64).
    """

    data_arguments = TWO_DOMAIN_DATA

    def __init__(
        self,
        channels_a: int = 3,
        channels_b: int = 3,
        judges: str = "b",
        image_size: int | Sequence[int] = 64,
        base_channels: int = 64,
    ) -> None:
        self.judges = check_choice(judges, "judges", ("a", "b"))
        channels = domain_channels(channels_a, channels_b, "a2b" if judges == "b" else "b2a")[1]
        super().__init__(channels, square_side(image_size), base_channels)
