"""The BigGAN generator (the generator U-Net GAN trains with its U-Net discriminator).

Brock, Donahue and Simonyan, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis", ICLR 2019, https://arxiv.org/abs/1809.11096 (appendix B), as used by U-Net GAN
(https://arxiv.org/abs/2002.12655).

Architecture (``out_size`` 128, ``ch`` 64, default channel multipliers, hierarchical latent)::

    z (encoding_dims) -> split into 6 chunks z_0 .. z_5
    y -> shared embedding e(y) (shared_dim)                      [only with num_classes]
    z_0 -> SN linear -> 1024 x 4x4
      ResBlockUp(cond [e(y), z_1]) -> 1024 x 8x8
      ResBlockUp(cond [e(y), z_2]) ->  512 x 16x16
      ResBlockUp(cond [e(y), z_3]) ->  256 x 32x32
      ResBlockUp(cond [e(y), z_4]) ->  128 x 64x64  -> self-attention (attention_resolutions)
      ResBlockUp(cond [e(y), z_5]) ->   64 x 128x128
    BN -> ReLU -> SN conv3x3 -> tanh -> image

Every residual block normalises with conditional batch norm whose gain and bias are (spectrally
normalised) linear projections of its condition vector. How the noise enters is ``latent``
(:data:`LATENT_MODES`):

* ``"chunks"`` (the default; BigGAN's hierarchical latent, "skip-z"): the diagram above. An
  unconditional model conditions each block on its noise chunk alone.
* ``"self_modulation"`` (Chen et al., "On Self Modulation for Generative Adversarial
  Networks", ICLR 2019, https://arxiv.org/abs/1810.01365; the unconditional BigGAN of the
  U-Net GAN authors' code): the **whole** ``z`` enters the linear layer, and every conditional
  batch norm predicts its gain and bias from the whole ``z`` (and ``e(y)`` when conditional)
  with an MLP ``linear -> ReLU -> linear`` whose hidden layer has ``modulation_dim`` units
  (default ``encoding_dims``; no spectral norm on the MLPs, as in the authors' code).
* ``"whole"``: the whole ``z`` enters the linear layer only; the blocks condition on ``e(y)``
  (plain batch norm when unconditional).

All weights start orthogonal and all biases at zero (BigGAN's initialisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Generator

from ..layers import ResBlockUp, SelfAttention2d, init_weights, make_conv2d, make_linear
from .unet_discriminator import num_resolution_blocks

__all__ = ["BigGANGenerator", "DEFAULT_G_MULTIPLIERS", "LATENT_MODES"]

#: How the noise enters the generator (see the module docstring).
LATENT_MODES = ("chunks", "self_modulation", "whole")

#: Channel multipliers (of ``ch``) per output size: the 4x4 input, then one per up block.
DEFAULT_G_MULTIPLIERS: dict[int, tuple[int, ...]] = {
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
}


class BigGANGenerator(Generator):
    """BigGAN generator: residual up blocks, hierarchical latent, conditional batch norm.

    Args:
        encoding_dims: Size of :math:`z`. With ``latent="chunks"`` it is split into
            ``log2(out_size / 4) + 1`` chunks (the first takes the remainder).
        out_channels: Image channels (taken from the dataset when left out).
        out_size: Image side length ``4 * 2^n`` (taken from the dataset when left out).
        ch: Base channel width.
        channel_multipliers: Widths as multiples of ``ch``: the 4x4 input and one per up block;
            default :data:`DEFAULT_G_MULTIPLIERS` (other sizes: halving from 16 down to 1).
        num_classes: Class-conditional generation; ``forward`` then takes labels and
            ``label_type`` is ``"required"`` (the losses pass the real batch's labels).
        shared_dim: Size of the shared class embedding (with ``num_classes``).
        hierarchical: Older spelling of ``latent``: ``True`` is ``"chunks"``, ``False`` is
            ``"whole"`` (give one of the two).
        latent: ``"chunks"`` (default), ``"self_modulation"`` or ``"whole"``
            (:data:`LATENT_MODES`).
        modulation_dim: Hidden units of the self-modulation MLPs (default ``encoding_dims``).
        attention_resolutions: Self-attention after the block that outputs each of these
            resolutions (BigGAN at 128: ``[64]``).
        spectral_norm: Spectral norm on every linear and convolution layer.
        init: Weight initialisation (``ortho`` as BigGAN, ``xavier``, ``normal``, ``kaiming``).

    Shape:
        ``forward(z [B, encoding_dims], labels [B] or None)`` -> ``[B, out_channels, out_size,
        out_size]`` in [-1, 1].
    """

    data_arguments = {"out_channels": "channels", "out_size": "image_size"}

    def __init__(
        self,
        encoding_dims: int = 120,
        out_channels: int = 3,
        out_size: int = 128,
        ch: int = 64,
        channel_multipliers: Sequence[int] | None = None,
        num_classes: int | None = None,
        shared_dim: int = 128,
        hierarchical: bool | None = None,
        attention_resolutions: Sequence[int] = (),
        spectral_norm: bool = True,
        init: str = "ortho",
        latent: str | None = None,
        modulation_dim: int | None = None,
    ) -> None:
        super().__init__(encoding_dims, label_type="none" if num_classes is None else "required")
        n = num_resolution_blocks(out_size, "out_size")
        if channel_multipliers is None:
            mults = DEFAULT_G_MULTIPLIERS.get(out_size) or tuple(
                max(1, 16 // 2 ** max(0, i - 1)) for i in range(n + 1)
            )
        else:
            mults = tuple(int(m) for m in channel_multipliers)
        if len(mults) != n + 1:
            raise ValueError(
                f"channel_multipliers: out_size {out_size} needs {n + 1} (the 4x4 input and "
                f"one per up block), got {len(mults)}"
            )
        if ch < 1 or min(mults) < 1:
            raise ValueError("ch and channel_multipliers must be >= 1")
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if latent is None:
            latent = "whole" if hierarchical is False else "chunks"
        elif hierarchical is not None:
            raise ValueError("hierarchical: give latent or hierarchical, not both")
        if latent not in LATENT_MODES:
            raise ValueError(f"latent: unknown {latent!r}; valid: {', '.join(LATENT_MODES)}")
        if modulation_dim is not None and (latent != "self_modulation" or modulation_dim < 1):
            raise ValueError(
                f"modulation_dim: needs latent 'self_modulation' and must be >= 1, got "
                f"{modulation_dim}"
            )
        hierarchical = latent == "chunks"
        n_chunks = n + 1 if hierarchical else 1
        if encoding_dims < n_chunks:
            raise ValueError(
                f"encoding_dims must be >= {n_chunks} to split z into {n_chunks} chunks "
                f"(hierarchical latent at out_size {out_size}), got {encoding_dims}"
            )
        resolutions = [4 * 2 ** (i + 1) for i in range(n)]
        bad = [r for r in attention_resolutions if r not in resolutions]
        if bad:
            raise ValueError(
                f"attention_resolutions {bad} are not block output resolutions; "
                f"valid: {resolutions}"
            )
        sn = spectral_norm
        self.out_channels = out_channels
        self.out_size = out_size
        self.num_classes = num_classes
        self.hierarchical = hierarchical
        self.latent = latent
        chunk = encoding_dims // n_chunks
        self.z_chunks = [encoding_dims - chunk * (n_chunks - 1)] + [chunk] * (n_chunks - 1)
        widths = [ch * m for m in mults]
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes is not None else None
        noise_dim = {"chunks": chunk, "self_modulation": encoding_dims, "whole": 0}[latent]
        cond_dim = (shared_dim if num_classes is not None else 0) + noise_dim
        self_mod = latent == "self_modulation"
        mod_dim = (modulation_dim or encoding_dims) if self_mod else None
        self.linear = make_linear(self.z_chunks[0], widths[0] * 16, spectral_norm=sn)
        self.blocks = nn.ModuleList()
        self.attention = nn.ModuleDict()
        for i, res in enumerate(resolutions):
            self.blocks.append(
                ResBlockUp(
                    widths[i],
                    widths[i + 1],
                    cond_dim=cond_dim or None,
                    batch_norm=True,
                    spectral_norm=sn,
                    cond_hidden_dim=mod_dim,
                    cond_spectral_norm=False if self_mod else None,
                )
            )
            if res in attention_resolutions:
                self.attention[str(i)] = SelfAttention2d(widths[i + 1], spectral_norm=sn)
        self.out_bn = nn.BatchNorm2d(widths[-1])
        self.out_conv = make_conv2d(widths[-1], out_channels, 3, padding=1, spectral_norm=sn)
        init_weights(self, init)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Generate images from noise ``z`` (and class ``labels`` when conditional)."""
        if z.dim() != 2 or z.size(1) != self.encoding_dims:
            raise ValueError(
                f"BigGANGenerator expects z of shape [B, {self.encoding_dims}], got "
                f"{tuple(z.shape)}"
            )
        if self.shared is not None and labels is None:
            raise ValueError("this BigGANGenerator is conditional: pass labels")
        zs = z.split(self.z_chunks, dim=1)
        shared = self.shared(labels) if self.shared is not None else None
        h = self.linear(zs[0]).view(z.size(0), -1, 4, 4)
        for i, block in enumerate(self.blocks):
            noise = zs[i + 1] if self.hierarchical else z if self.latent != "whole" else None
            parts = [t for t in (shared, noise) if t is not None]
            cond = torch.cat(parts, dim=1) if parts else None
            h = block(h, cond)
            if str(i) in self.attention:
                h = self.attention[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))

    def sampler(self, sample_size: int, device: torch.device | str) -> list[torch.Tensor]:
        """``[z]``, or ``[z, labels]`` cycling through the classes when conditional."""
        z = torch.randn(sample_size, self.encoding_dims, device=device)
        if self.num_classes is None:
            return [z]
        labels = torch.arange(sample_size, device=device) % self.num_classes
        return [z, labels]
