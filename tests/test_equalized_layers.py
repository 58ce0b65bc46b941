"""Equalised-learning-rate layers, pixel norm and minibatch standard deviation."""

import math

import pytest
import torch
import torch.nn.functional as F

from torchgan_ext.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm


def test_equalized_linear_keeps_unit_variance_at_init():
    torch.manual_seed(0)
    layer = EqualizedLinear(512, 256)
    out = layer(torch.randn(256, 512))
    assert abs(out.std().item() - 1.0) < 0.05  # He-scaled N(0, 1) weights


def test_lr_multiplier_scales_the_effective_weight_and_its_gradient():
    torch.manual_seed(0)
    slow, fast = EqualizedLinear(8, 4, lr_multiplier=0.01), EqualizedLinear(8, 4)
    with torch.no_grad():
        fast.weight.copy_(slow.weight * 0.01)  # same effective weight
    x = torch.randn(5, 8)
    torch.testing.assert_close(slow(x), fast(x))
    slow(x).sum().backward()
    fast(x).sum().backward()
    # d out / d stored weight is c times smaller: an equal optimiser step moves it c times less
    torch.testing.assert_close(slow.weight.grad, fast.weight.grad * 0.01)


def test_equalized_conv_matches_a_plain_conv_with_the_he_constant():
    torch.manual_seed(0)
    layer = EqualizedConv2d(3, 6, 3)
    x = torch.randn(2, 3, 8, 8)
    gain = 1 / math.sqrt(3 * 3 * 3)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight * gain, layer.bias, padding=1))
    assert layer(x).shape == (2, 6, 8, 8)
    assert EqualizedConv2d(3, 6, 3, stride=2)(x).shape == (2, 6, 4, 4)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_lr_multiplier_is_refused(bad):
    with pytest.raises(ValueError, match="lr_multiplier"):
        EqualizedLinear(4, 4, lr_multiplier=bad)


def test_pixel_norm_gives_unit_rms_per_pixel():
    x = torch.randn(3, 16, 4, 4) * 7
    rms = PixelNorm()(x).square().mean(dim=1).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms))


def _reference_mbstd(x, group_size, num_channels):
    n, c, h, w = x.shape
    g = group_size if n % group_size == 0 else n
    out = torch.empty(n, num_channels, h, w)
    for b in range(n // g):
        members = [a * (n // g) + b for a in range(g)]
        group = x[members]  # (g, c, h, w)
        std = group.var(dim=0, unbiased=False).add(1e-8).sqrt()  # (c, h, w)
        for j, chunk in enumerate(std.chunk(num_channels, dim=0)):
            out[members, j] = chunk.mean()
    return torch.cat([x, out], dim=1)


@pytest.mark.parametrize("n, group, maps", [(8, 4, 1), (8, 2, 2), (6, 4, 1), (3, 4, 1)])
def test_minibatch_stddev_matches_a_plain_loop(n, group, maps):
    torch.manual_seed(n)
    x = torch.randn(n, 4, 3, 3)
    out = MinibatchStdDev(group, maps)(x)
    assert out.shape == (n, 4 + maps, 3, 3)
    torch.testing.assert_close(out, _reference_mbstd(x, group, maps))


def test_minibatch_stddev_sees_diversity():
    same = torch.randn(1, 4, 3, 3).repeat(4, 1, 1, 1)
    varied = torch.randn(4, 4, 3, 3)
    layer = MinibatchStdDev()
    assert layer(same)[:, -1].abs().max() < 1e-3
    assert layer(varied)[:, -1].min() > 0.3
