"""BigGAN generator: how the noise enters (chunks, self-modulation, whole) and the CBN init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchgan_ext.layers import ConditionalBatchNorm2d, has_spectral_norm
from torchgan_ext.models import BigGANGenerator
from torchgan_ext.models.biggan import LATENT_MODES


def _g(**kwargs) -> BigGANGenerator:
    args = {"encoding_dims": 12, "out_channels": 1, "out_size": 16, "ch": 4}
    return BigGANGenerator(**{**args, **kwargs})


def _cbn_inputs(g: BigGANGenerator, z: torch.Tensor, labels=None) -> list[torch.Tensor]:
    """The condition each block's first conditional batch norm receives."""
    seen: list[torch.Tensor] = []
    hooks = [
        block.norm1.norm.register_forward_pre_hook(lambda m, args: seen.append(args[1]))
        for block in g.blocks
    ]
    g(z, labels)
    for h in hooks:
        h.remove()
    return seen


def test_self_modulation_feeds_the_whole_z_everywhere():
    torch.manual_seed(0)
    g = _g(latent="self_modulation")
    assert g.latent == "self_modulation" and not g.hierarchical
    assert g.linear.in_features == 12  # the whole z enters the first linear layer
    z = torch.randn(3, 12)
    for cond in _cbn_inputs(g, z):
        torch.testing.assert_close(cond, z)
    for module in g.modules():
        if isinstance(module, ConditionalBatchNorm2d):
            first, act, last = module.gain
            assert (first.in_features, first.out_features, last.out_features) == (
                12,
                12,
                module.num_features,
            )
            assert isinstance(act, nn.ReLU) and first.bias is not None and last.bias is None
            assert not has_spectral_norm(first) and not has_spectral_norm(last)


def test_self_modulation_hidden_size_and_classes():
    g = _g(latent="self_modulation", modulation_dim=5, num_classes=3, shared_dim=4)
    z, y = torch.randn(2, 12), torch.tensor([0, 2])
    cbn = g.blocks[0].norm1.norm
    assert cbn.cond_dim == 4 + 12 and cbn.gain[0].out_features == 5
    cond = _cbn_inputs(g, z, y)[0]
    torch.testing.assert_close(cond, torch.cat([g.shared(y), z], dim=1))
    out = g(z, y)
    out.mean().backward()
    assert out.shape == (2, 1, 16, 16) and cbn.gain[0].weight.grad is not None


def test_chunks_is_the_default_and_keeps_the_old_parameters():
    torch.manual_seed(0)
    old = _g(hierarchical=True)
    torch.manual_seed(0)
    new = _g()
    assert new.latent == "chunks" and new.z_chunks == [4, 4, 4]
    assert old.state_dict().keys() == new.state_dict().keys()
    z = torch.randn(2, 12)
    torch.testing.assert_close(old(z), new(z))
    conds = _cbn_inputs(new, z)
    torch.testing.assert_close(conds[0], z[:, 4:8])
    torch.testing.assert_close(conds[1], z[:, 8:12])
    assert _g(hierarchical=False).latent == "whole"
    whole = _g(latent="whole")
    assert whole.linear.in_features == 12 and not whole.blocks[0].conditional


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent": "skip_z"}, "latent: unknown 'skip_z'; valid: chunks, self_modulation, whole"),
        ({"latent": "chunks", "hierarchical": True}, "hierarchical: give latent or"),
        ({"modulation_dim": 8}, "modulation_dim: needs latent 'self_modulation'"),
    ],
)
def test_bad_latent_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _g(**kwargs)
    assert LATENT_MODES == ("chunks", "self_modulation", "whole")


def test_vector_cbn_projections_start_orthogonal_not_zero():
    """The docstring's claim: zero only for label tables; BigGAN makes projections orthogonal."""
    g = _g(num_classes=3, shared_dim=4)
    cbn = g.blocks[0].norm1.norm
    w = cbn.gain.parametrizations.weight.original  # [C, cond_dim]
    rows, cols = w.shape
    gram = w @ w.T if rows <= cols else w.T @ w
    torch.testing.assert_close(gram, torch.eye(min(rows, cols)), atol=1e-5, rtol=0)
    cond = torch.randn(2, cbn.cond_dim)
    assert cbn.gain(cond).abs().min() > 0 and cbn.bias(cond).abs().max() > 0
    labels = ConditionalBatchNorm2d(6, num_classes=3)
    assert not labels.gain.weight.any() and not labels.bias.weight.any()
    x = torch.randn(4, 6, 2, 2)
    torch.testing.assert_close(labels(x, torch.tensor([0, 1, 2, 0])), labels.bn(x))
