"""Spectral-norm helpers, conditional batch norm and the residual up / down blocks."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from torchgan_ext.layers import (
    ConditionalBatchNorm2d,
    ResBlockDown,
    ResBlockUp,
    SNConv2d,
    SNEmbedding,
    SNLinear,
    has_spectral_norm,
    init_weights,
    make_conv2d,
    make_linear,
)


def _sigma(module: nn.Module) -> float:
    w = module.weight.detach().flatten(1)
    return float(torch.linalg.matrix_norm(w, ord=2))


@pytest.mark.parametrize(
    "module",
    [SNConv2d(4, 6, 3, padding=1), SNLinear(5, 7), SNEmbedding(10, 4)],
    ids=["conv", "linear", "embedding"],
)
def test_sn_layers_are_normalised_after_init_weights(module):
    init_weights(module, "normal")
    raw = module.parametrizations.weight.original
    with torch.no_grad():
        raw.mul_(50.0)  # a weight with a large spectral norm
    init_weights(module, "ortho")  # u, v re-estimated for the new weight
    module.eval()
    assert has_spectral_norm(module)
    assert _sigma(module) == pytest.approx(1.0, abs=1e-3)


def test_init_weights_without_refresh_would_be_off():
    """Re-initialising the raw weight leaves u, v stale; init_weights refreshes them."""
    conv = SNConv2d(8, 8, 3).eval()
    with torch.no_grad():
        nn.init.normal_(conv.parametrizations.weight.original, 0.0, 1.0)
        conv.parametrizations.weight.original[0].mul_(30.0)
    stale = _sigma(conv)
    init_weights(conv, "kaiming")
    assert abs(stale - 1.0) > 0.05
    assert _sigma(conv) == pytest.approx(1.0, abs=1e-3)


def test_make_helpers_switch_spectral_norm():
    assert has_spectral_norm(make_conv2d(3, 4, 3))
    assert not has_spectral_norm(make_conv2d(3, 4, 3, spectral_norm=False))
    assert has_spectral_norm(make_linear(3, 4))
    assert not has_spectral_norm(make_linear(3, 4, spectral_norm=False))
    with pytest.raises(ValueError, match="valid: ortho, xavier, normal, kaiming"):
        init_weights(nn.Linear(2, 2), "glorot")


def test_sn_modules_deepcopy_and_state_dict_round_trip():
    block = ResBlockDown(3, 8, preactivation=False)
    init_weights(block)
    twin = copy.deepcopy(block)
    buf = io.BytesIO()
    torch.save(block.state_dict(), buf)
    buf.seek(0)
    fresh = ResBlockDown(3, 8, preactivation=False)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(2, 3, 8, 8)
    block.eval(), twin.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(block(x), twin(x))
        assert torch.equal(block(x), fresh(x))


def test_conditional_batch_norm_starts_as_batch_norm_and_depends_on_labels():
    cbn = ConditionalBatchNorm2d(6, num_classes=3)
    init_weights(cbn)  # must keep the label embeddings at gain 1, bias 0
    bn = nn.BatchNorm2d(6, affine=False)
    x = torch.randn(4, 6, 5, 5)
    y = torch.tensor([0, 1, 2, 1])
    torch.testing.assert_close(cbn(x, y), bn(x))
    with torch.no_grad():
        cbn.gain.weight[1].fill_(1.0)  # class 1: gain 2
        cbn.bias.weight[2].fill_(-3.0)
    out = cbn(x, y)
    torch.testing.assert_close(out[0], bn(x)[0])
    torch.testing.assert_close(out[1], 2.0 * bn(x)[1])
    torch.testing.assert_close(out[2], bn(x)[2] - 3.0)
    with pytest.raises(TypeError, match="integer labels"):
        cbn(x, y.float())


def test_conditional_batch_norm_vector_condition_backward():
    cbn = ConditionalBatchNorm2d(4, cond_dim=5, spectral_norm=True)
    x = torch.randn(3, 4, 2, 2)
    c = torch.randn(3, 5, requires_grad=True)
    cbn(x, c).square().sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0
    assert has_spectral_norm(cbn.gain)
    with pytest.raises(ValueError, match="exactly one"):
        ConditionalBatchNorm2d(4)
    with pytest.raises(ValueError, match="exactly one"):
        ConditionalBatchNorm2d(4, num_classes=2, cond_dim=3)


@pytest.mark.parametrize(
    "kwargs, cond",
    [
        ({}, None),
        ({"num_classes": 5}, "labels"),
        ({"cond_dim": 7}, "vector"),
        ({"batch_norm": False}, None),
        ({"upsample": False}, None),
        ({"spectral_norm": False, "hidden_channels": 3}, None),
    ],
)
def test_res_block_up(kwargs, cond):
    block = ResBlockUp(8, 4, **kwargs)
    x = torch.randn(2, 8, 5, 3, requires_grad=True)
    y = None
    if cond == "labels":
        y = torch.tensor([0, 4])
    elif cond == "vector":
        y = torch.randn(2, 7)
    out = block(x, y)
    scale = 1 if kwargs.get("upsample") is False else 2
    assert out.shape == (2, 4, 5 * scale, 3 * scale)
    out.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    grads = [p.grad for p in block.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)
    sn = kwargs.get("spectral_norm", True)
    assert has_spectral_norm(block.conv1) is sn and has_spectral_norm(block.shortcut) is sn
    if cond is not None:
        with pytest.raises(ValueError, match="pass the condition y"):
            block(x)


def test_res_block_up_identity_shortcut_and_errors():
    block = ResBlockUp(4, 4, upsample=False)
    assert isinstance(block.shortcut, nn.Identity)
    with pytest.raises(ValueError, match="at most one"):
        ResBlockUp(4, 4, num_classes=2, cond_dim=2)


@pytest.mark.parametrize("preactivation", [True, False])
@pytest.mark.parametrize("downsample", [True, False])
def test_res_block_down(preactivation, downsample):
    block = ResBlockDown(3, 6, downsample=downsample, preactivation=preactivation)
    x = torch.randn(2, 3, 8, 6, requires_grad=True)
    out = block(x)
    assert out.shape == ((2, 6, 4, 3) if downsample else (2, 6, 8, 6))
    out.sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_res_block_down_preactivation_is_applied():
    """The first block (no pre-activation) sees negative image values, later blocks do not."""
    torch.manual_seed(0)
    pre = ResBlockDown(2, 2, downsample=False, preactivation=True, spectral_norm=False)
    first = ResBlockDown(2, 2, downsample=False, preactivation=False, spectral_norm=False)
    first.load_state_dict(pre.state_dict())
    x = -torch.rand(1, 2, 4, 4)  # all negative: relu(x) == 0
    with torch.no_grad():
        # pre-activated: conv path sees zeros, so out = shortcut(x) + const(biases)
        zeros = pre.conv2(pre.act1(pre.conv1(torch.zeros_like(x))))
        torch.testing.assert_close(pre(x), x + zeros)
        assert not torch.allclose(first(x), x + zeros)
    assert isinstance(pre.shortcut, nn.Identity)
