"""torchgan's InfoGAN models, made trainable through the Trainer and every torchgan loss.

InfoGAN (Chen et al., NeurIPS 2016, https://arxiv.org/abs/1606.03657) feeds the generator
noise ``z`` plus latent codes ``c`` (here a categorical code, one-hot over ``dim_dis``
categories, and ``dim_cont`` continuous codes drawn from U(-1, 1), as in the paper) and adds
a head ``Q(c | x)`` to the discriminator; the mutual-information penalty
(``mutual_information_penalty``) trains both to make the codes recoverable from the image.

torchgan 0.1.0's classes cannot be trained by its own Trainer: the generator fails on noise
alone (every torchgan loss calls ``generator(noise)``), the discriminator returns a tuple
instead of a score unless asked for the latents, its ``sampler`` builds the categorical code
with ``dim_cont`` columns, and the trainer has no ``dis_code`` / ``cont_code`` for the
penalty. These subclasses fix that without changing parameters or state-dict keys:

* :class:`InfoGANGenerator` draws codes from the prior when it is called with noise only,
  gives sample grids the categories in turn (sample ``i`` has category ``i mod dim_dis``),
  and provides ``dis_code`` / ``cont_code`` to the trainer each iteration
  through :meth:`InfoGANGenerator.training_codes` (the trainer's hook for per-step inputs).
* :class:`InfoGANDiscriminator` returns the score alone unless ``return_latents=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions
from torchgan import models as tgm

__all__ = ["InfoGANGenerator", "InfoGANDiscriminator"]


class InfoGANGenerator(tgm.InfoGANGenerator):
    """torchgan's InfoGAN generator (DCGAN body) that samples its latent codes when not given.

    Args: as :class:`torchgan.models.InfoGANGenerator` (``dim_dis`` categories, ``dim_cont``
    continuous codes, ``encoding_dims`` noise dimensions, ``out_size``, ``out_channels``, ...).
    """

    #: constructor parameters the dataset fills when the config leaves them out
    data_arguments = {"out_size": "image_size", "out_channels": "channels"}

    def sample_codes(
        self, batch_size: int, device: torch.device | str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes from the prior: uniform one-hot categories and U(-1, 1) continuous codes."""
        categories = torch.randint(0, self.dim_dis, (batch_size,), device=device)
        dis = F.one_hot(categories, self.dim_dis).float()
        cont = torch.rand(batch_size, self.dim_cont, device=device) * 2 - 1
        return dis, cont

    def training_codes(self, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """Trainer hook: the per-iteration inputs ``dis_code`` and ``cont_code`` that
        ``mutual_information_penalty`` requests."""
        dis, cont = self.sample_codes(batch_size, device)
        return {"dis_code": dis, "cont_code": cont}

    def forward(
        self,
        z: torch.Tensor,
        c_dis: torch.Tensor | None = None,
        c_cont: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Images for noise ``z`` ``[B, encoding_dims]`` and codes (drawn when both are None)."""
        if c_dis is None and c_cont is None:
            c_dis, c_cont = self.sample_codes(z.shape[0], z.device)
        elif c_dis is None or c_cont is None:
            raise ValueError("InfoGANGenerator: pass both c_dis and c_cont, or neither")
        return super().forward(z, c_dis.to(z.dtype), c_cont.to(z.dtype))

    def sampler(self, sample_size: int, device: torch.device | str) -> list[torch.Tensor]:
        """Fixed inputs for sample grids: noise, categories in turn, U(-1, 1) codes."""
        dis = F.one_hot(torch.arange(sample_size, device=device) % self.dim_dis, self.dim_dis)
        cont = torch.rand(sample_size, self.dim_cont, device=device) * 2 - 1
        z = torch.randn(sample_size, self.encoding_dims, device=device)
        return [z, dis.float(), cont]


class InfoGANDiscriminator(tgm.InfoGANDiscriminator):
    """torchgan's InfoGAN discriminator whose plain call returns the score alone.

    ``forward(x)`` gives the real/fake logits (as every torchgan loss expects);
    ``forward(x, return_latents=True)`` gives ``(score, Q(c_dis | x), Q(c_cont | x))`` for the
    mutual-information penalty; ``feature_matching=True`` the features.
    """

    #: constructor parameters the dataset fills when the config leaves them out
    data_arguments = {"in_size": "image_size", "in_channels": "channels"}

    def forward(
        self, x: torch.Tensor, return_latents: bool = False, feature_matching: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, distributions.OneHotCategorical, distributions.Normal]:
        if return_latents or feature_matching:
            return super().forward(x, return_latents, feature_matching)
        return self.disc(self.model(x))
