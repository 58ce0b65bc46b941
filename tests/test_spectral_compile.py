"""Spectral norm under ``torch.compile``: torch's numerics eagerly, two forwards + one backward
compiled (``D(real)``, ``D(fake)``, backward: every discriminator step)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from torchgan_ext.layers import SNConv2d, SNLinear, has_spectral_norm
from torchgan_ext.layers.spectral import SpectralNorm

ROOT = Path(__file__).resolve().parents[1]


class TwoLayerCritic(nn.Module):
    """Two spectral-norm linear layers: compiled with torch's parametrization, its second
    forward before the backward modified a buffer the first one's backward needed."""

    def __init__(self) -> None:
        super().__init__()
        self.a = SNLinear(8, 4)
        self.b = SNLinear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x))).squeeze(1)


def _hinge_step(d: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Two forwards, one backward and an SGD step; returns the loss."""
    d.zero_grad(set_to_none=True)
    loss = torch.relu(1 - d(real)).mean() + torch.relu(1 + d(fake)).mean()
    loss.backward()
    with torch.no_grad():
        for p in d.parameters():
            p -= 0.1 * p.grad
    return loss.detach()


@pytest.mark.parametrize(
    "make",
    [lambda: nn.Conv2d(3, 5, 3), lambda: nn.Linear(6, 4), lambda: nn.ConvTranspose2d(3, 5, 4)],
    ids=["conv", "linear", "conv_transpose"],
)
def test_eager_equals_torch_spectral_norm_bit_for_bit(make):
    """Same initial u, v (same random numbers), same state-dict keys, same outputs, gradients
    and power-iteration updates over training steps, bit for bit."""
    from torchgan_ext.layers import apply_spectral_norm

    torch.manual_seed(0)
    ref = torch_spectral_norm(make())
    torch.manual_seed(0)
    ours = apply_spectral_norm(make())
    assert has_spectral_norm(ours) and has_spectral_norm(ref)
    assert isinstance(ours.parametrizations.weight[0], SpectralNorm)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for (key, a), b in zip(ref.state_dict().items(), ours.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    x = torch.randn(2, *((3, 8, 8) if "Conv" in type(ref).__name__ else (6,)))
    for _ in range(3):
        out_ref, out = ref(x), ours(x)
        assert torch.equal(out_ref, out)
        out_ref.square().sum().backward()
        out.square().sum().backward()
        for (name, a), b in zip(ref.named_parameters(), ours.parameters(), strict=True):
            assert torch.equal(a.grad, b.grad), name
    for (key, a), b in zip(ref.state_dict().items(), ours.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    ref.eval(), ours.eval()
    assert torch.equal(ref(x), ours(x))


def test_checkpoints_of_torch_spectral_norm_load():
    """Checkpoints written with torch's parametrization (the same keys) load unchanged."""
    old = torch_spectral_norm(nn.Linear(6, 4))
    new = SNLinear(6, 4)
    new.load_state_dict(old.state_dict())
    old.eval(), new.eval()
    x = torch.randn(3, 6)
    assert torch.equal(old(x), new(x))


def test_sigma_gradient_treats_u_and_v_as_constants():
    """Miyato et al.: with W_sn = W / sigma, sigma = u^T W v and u, v constants,
    dL/dW = G / sigma - <G, W> / sigma^2 u v^T for G = dL/dW_sn."""
    layer = SNLinear(5, 3)
    w = layer.parametrizations.weight.original
    g = torch.randn(3, 5)
    w_sn = layer.weight  # one power-iteration step, then u, v are fixed
    (w_sn * g).sum().backward()
    sn = layer.parametrizations.weight[0]
    u, v = sn._u, sn._v
    with torch.no_grad():
        sigma = u @ w @ v
        expected = g / sigma - (g * w).sum() / sigma**2 * torch.outer(u, v)
    torch.testing.assert_close(w.grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compiled_two_forwards_and_backward_equal_eager():
    """Failed before (torch's parametrization in a compiled graph): 'one of the variables
    needed for gradient computation has been modified by an inplace operation'."""
    torch.manual_seed(0)
    eager = TwoLayerCritic()
    compiled = TwoLayerCritic()
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    for step in range(2):
        real, fake = torch.randn(4, 8), torch.randn(4, 8)
        expected = _hinge_step(eager, real, fake)
        got = _hinge_step(compiled, real, fake)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, msg=f"step {step}")
    for (key, a), b in zip(eager.state_dict().items(), compiled.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=key)
    assert compiled._compiled_call_impl is not None


@pytest.mark.slow
def test_compiled_conv_critic_matches_eager_in_eval_and_training():
    torch.manual_seed(1)
    eager = nn.Sequential(SNConv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), SNLinear(2 * 36, 1))
    compiled = nn.Sequential(SNConv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), SNLinear(2 * 36, 1))
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    real, fake = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(_hinge_step(compiled, real, fake), _hinge_step(eager, real, fake))
    eager.eval(), compiled.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(real), eager(real), rtol=1e-5, atol=1e-6)
