"""SelfAttention2d against a plain float64 reference written here (softmax over the keys)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from torchgan_ext.layers import SelfAttention2d, has_spectral_norm


def _pool_ref(t: torch.Tensor) -> torch.Tensor:
    """2x2 max-pool that keeps the last row / column of odd sizes (pads with -inf)."""
    b, c, h, w = t.shape
    t = F.pad(t, (0, w % 2, 0, h % 2), value=float("-inf"))
    return t.view(b, c, (h + 1) // 2, 2, (w + 1) // 2, 2).amax(dim=(3, 5))


def _reference(
    layer: SelfAttention2d, x: torch.Tensor, over_queries: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """float64 ``gamma * W_o softmax(Q K^T) V`` and the weights [B, N, M], from the layer's
    (spectrally normalised) weights; no use of scaled_dot_product_attention.

    ``over_queries`` normalises over the wrong axis instead (as torchgan 0.1.0 does)."""

    def w(conv: torch.nn.Module) -> torch.Tensor:
        return conv.weight.detach().double()[:, :, 0, 0]

    x = x.detach().double()
    b, c, h, wd = x.shape
    q = torch.einsum("oc,bchw->bohw", w(layer.query), x)
    k = torch.einsum("oc,bchw->bohw", w(layer.key), x)
    v = torch.einsum("oc,bchw->bohw", w(layer.value), x)
    if layer.pool:
        k, v = _pool_ref(k), _pool_ref(v)
    q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)  # [B, c', N or M]
    logits = torch.einsum("bcn,bcm->bnm", q, k)
    axis = 1 if over_queries else 2
    weights = torch.exp(logits - logits.amax(dim=axis, keepdim=True))
    weights = weights / weights.sum(dim=axis, keepdim=True)  # normalised over the keys m
    o = torch.einsum("bnm,bcm->bcn", weights, v).reshape(b, -1, h, wd)
    o = torch.einsum("oc,bchw->bohw", w(layer.out), o)
    return layer.gamma.detach().double() * o, weights


def _layer(c: int = 32, **kwargs) -> SelfAttention2d:
    torch.manual_seed(0)
    layer = SelfAttention2d(c, **kwargs)
    with torch.no_grad():
        layer.gamma.fill_(0.75)
    return layer.eval()  # eval: spectral norm does no power iteration, weights are fixed


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("pool", [True, False])
@pytest.mark.parametrize("size", [(16, 16), (7, 5), (3, 10), (9, 9), (1, 1), (2, 3)])
def test_matches_float64_reference(size, pool):
    layer = _layer(32, pool=pool)
    x = torch.randn(3, 32, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = layer(x)
    ref, _ = _reference(layer, x)
    assert y.shape == x.shape
    assert _rel_err(y - x, ref) < 1e-5


def test_comparison_tells_the_softmax_axis_apart():
    """The 1e-5 check can fail: the same weights normalised over the queries are far off."""
    layer = _layer(32)
    x = torch.randn(2, 32, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = layer(x)
    assert _rel_err(y - x, _reference(layer, x)[0]) < 1e-5
    assert _rel_err(y - x, _reference(layer, x, over_queries=True)[0]) > 1e-2


@pytest.mark.parametrize("size", [(8, 8), (7, 5), (4, 11)])
def test_attention_weights_sum_to_one_per_output_position(size):
    layer = _layer(16)
    x = torch.randn(2, 16, *size)
    with torch.no_grad():
        y, weights = layer(x, return_attention=True)
    h, w = size
    m = ((h + 1) // 2) * ((w + 1) // 2)
    assert weights.shape == (2, h * w, m)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, h * w), rtol=0, atol=1e-6)
    _, ref_weights = _reference(layer, x)
    assert _rel_err(weights, ref_weights) < 1e-5
    # the returned map is the one the fused kernel used
    with torch.no_grad():
        assert torch.equal(y, layer(x))


def test_torchgan_layer_normalises_over_the_queries():
    """The bug this layer fixes: torchgan's weights per output position do not sum to 1."""
    from torchgan.layers import SelfAttention2d as TorchganSelfAttention2d

    torch.manual_seed(0)
    layer = TorchganSelfAttention2d(16, return_attn=True)
    _, attn = layer(torch.randn(2, 16, 6, 6))
    # out[:, :, j] = sum_i v[:, :, i] * attn[:, i, j]: weights of output j are attn[:, :, j]
    per_output = attn.sum(dim=1)
    assert not torch.allclose(per_output, torch.ones_like(per_output), atol=1e-3)


def test_identity_at_init():
    layer = SelfAttention2d(24)
    assert float(layer.gamma.detach()) == 0.0
    x = torch.randn(2, 24, 6, 10)
    assert torch.equal(layer(x), x)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_gradients_reach_gamma_and_every_conv():
    layer = SelfAttention2d(16)
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    layer(x).square().sum().backward()
    assert layer.gamma.grad is not None and float(layer.gamma.grad.abs()) > 0  # at gamma = 0
    layer.zero_grad()
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    x.grad = None
    layer(x).square().sum().backward()
    for name in ("query", "key", "value", "out"):
        conv = getattr(layer, name)
        grad = conv.parametrizations.weight.original.grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_gradcheck_float64():
    layer = _layer(8, key_channels=2, value_channels=3).double()
    x = torch.randn(1, 8, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))


def test_switches_and_channel_defaults():
    sn = SelfAttention2d(64)
    assert (sn.key_channels, sn.value_channels) == (8, 32)
    assert all(has_spectral_norm(getattr(sn, n)) for n in ("query", "key", "value", "out"))
    plain = SelfAttention2d(64, spectral_norm=False)
    assert not any(has_spectral_norm(getattr(plain, n)) for n in ("query", "key", "value", "out"))
    small = SelfAttention2d(4)
    assert (small.key_channels, small.value_channels) == (1, 2)
    _, w_pool = SelfAttention2d(8, pool=True)(torch.randn(1, 8, 8, 6), return_attention=True)
    _, w_full = SelfAttention2d(8, pool=False)(torch.randn(1, 8, 8, 6), return_attention=True)
    assert w_pool.shape == (1, 48, 12) and w_full.shape == (1, 48, 48)


def test_bad_input_is_reported():
    with pytest.raises(ValueError, match="expects 16 channels, got 8"):
        SelfAttention2d(16)(torch.randn(1, 8, 4, 4))
    with pytest.raises(ValueError, match="in_channels"):
        SelfAttention2d(0)


def test_cpu_uses_the_fused_kernel_not_the_math_path():
    """The N x M matrix is never materialised: the fused flash kernel runs, forward and back."""
    layer = SelfAttention2d(64)
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    x = torch.randn(2, 64, 16, 16, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        layer(x).sum().backward()
    names = {e.key for e in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in names
    assert "aten::_scaled_dot_product_flash_attention_for_cpu_backward" in names
    assert "aten::_scaled_dot_product_attention_math" not in names


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_reference_and_uses_a_fused_kernel():
    layer = _layer(64).cuda()
    x = torch.randn(2, 64, 16, 16, device="cuda")
    with torch.no_grad(), profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
        y = layer(x)
    ref, _ = _reference(layer, x)
    assert _rel_err(y - x, ref) < 1e-4  # TF32 / kernel summation order
    assert "aten::_scaled_dot_product_attention_math" not in {e.key for e in p.key_averages()}


def test_benchmark_script_runs(capsys):
    """benchmarks/attention.py stays runnable (tiny sizes; the real run is manual)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "attention.py"
    spec = importlib.util.spec_from_file_location("attention_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(
        ["--sizes", "4", "--channels", "16", "--batch", "1", "--repeats", "1", "--device", "cpu"]
    )
    out = capsys.readouterr().out
    assert "ratios torchgan / ours" in out
    assert "  4x4   time" in out
