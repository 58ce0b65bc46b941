"""Gradient penalties (WGAN-GP, DRAGAN, StarGAN's, R1) train through discriminators whose
forward has no double backward: SAGAN's self-attention (fused SDPA kernels) and
``torch.compile``d modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from torchgan_ext import config, run
from torchgan_ext.callbacks import R1Penalty
from torchgan_ext.layers import SelfAttention2d
from torchgan_ext.losses import (
    DraganGradientPenalty,
    StarGANDiscriminatorLoss,
    WassersteinGradientPenalty,
)
from torchgan_ext.losses.penalty import double_backward_safe

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


class AttentionCritic(nn.Module):
    """conv -> SAGAN self-attention -> score per image (and class logits with ``classes``)."""

    label_type = "none"

    def __init__(self, classes: int = 0, attention: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3, padding=1)
        self.attention = SelfAttention2d(16, spectral_norm=False) if attention else nn.Identity()
        self.head = nn.Linear(16, 1 + classes)
        self.classes = classes
        if attention:
            with torch.no_grad():
                self.attention.gamma.fill_(1.0)  # 0 at init would hide the attention's gradient

    def forward(self, x: torch.Tensor):
        h = self.attention(torch.tanh(self.conv(x))).mean((2, 3))
        out = self.head(h)
        if self.classes:
            return out[:, :1], out[:, 1:]
        return out.flatten()


class TinyG(nn.Module):
    encoding_dims = 4
    label_type = "none"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 64)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, 1, 8, 8)


class Translator(nn.Module):
    """A StarGAN-style ``G(image, target labels)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1 + 3, 1, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.view(-1, 3, 1, 1).expand(-1, 3, *x.shape[2:])
        return torch.tanh(self.conv(torch.cat([x, c], 1)))


def _step(loss, d: nn.Module, real: torch.Tensor, compiled: bool) -> torch.Tensor:
    """One discriminator step of ``loss``; returns the change of D's parameters."""
    torch.manual_seed(0)
    if compiled:
        d.compile()
    before = torch.cat([p.detach().flatten().clone() for p in d.parameters()])
    optimizer = torch.optim.SGD(d.parameters(), lr=0.1)
    if isinstance(loss, StarGANDiscriminatorLoss):
        labels = torch.eye(3)[torch.arange(real.size(0)) % 3]
        value = loss.train_ops(Translator(), d, optimizer, real, labels)
    else:
        value = loss.train_ops(TinyG(), d, optimizer, real, torch.device("cpu"))
    assert torch.isfinite(value)
    after = torch.cat([p.detach().flatten() for p in d.parameters()])
    return after - before


_LOSSES = {
    "wasserstein_gradient_penalty": (lambda: WassersteinGradientPenalty(lambd=10.0), 0),
    "dragan_gradient_penalty": (lambda: DraganGradientPenalty(lambd=10.0), 0),
    "stargan_discriminator": (lambda: StarGANDiscriminatorLoss(), 3),
}


@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_penalty_steps_through_fused_attention(name):
    """The CPU selects the fused flash kernel (no double backward) for the attention layer;
    the penalty's step still trains the whole critic, attention included."""
    make, classes = _LOSSES[name]
    torch.manual_seed(0)
    d = AttentionCritic(classes)
    query = d.attention.query.weight.detach().clone()
    _step(make(), d, torch.rand(4, 1, 8, 8) * 2 - 1, compiled=False)
    assert not torch.equal(d.attention.query.weight, query)


@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_penalty_on_a_compiled_critic_matches_eager(name):
    """Compiled graphs have no double backward: the penalty's pass runs the critic eagerly
    (the rest of the step stays compiled), so the step equals the eager one."""
    make, classes = _LOSSES[name]
    torch.manual_seed(0)
    eager = AttentionCritic(classes, attention=False)
    compiled = AttentionCritic(classes, attention=False)
    compiled.load_state_dict(eager.state_dict())
    real = torch.rand(4, 1, 8, 8) * 2 - 1
    expected = _step(make(), eager, real, compiled=False)
    got = _step(make(), compiled, real, compiled=True)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)
    assert compiled._compiled_call_impl is not None  # still compiled after the step


def test_the_helper_overrides_a_fused_only_backend_and_restores_it():
    """Inside :func:`double_backward_safe` the math kernel runs even where the caller allowed
    only a fused one (as CUDA picks its flash / memory-efficient kernels); the caller's choice
    and the module's compiled call come back afterwards."""
    d = AttentionCritic()
    d.compile()
    compiled = d._compiled_call_impl
    x = torch.rand(2, 1, 8, 8).requires_grad_(True)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        with double_backward_safe(d):
            assert d._compiled_call_impl is None
            assert torch.backends.cuda.math_sdp_enabled()
            assert not torch.backends.cuda.flash_sdp_enabled()
            (grad,) = torch.autograd.grad(d(x).sum(), x, create_graph=True)
        grad.square().sum().backward()
        assert torch.backends.cuda.flash_sdp_enabled()
        assert not torch.backends.cuda.math_sdp_enabled()
    assert d._compiled_call_impl is compiled
    assert d.attention.query.weight.grad.abs().sum() > 0


def test_r1_uses_the_same_helper_through_fused_attention():
    d = AttentionCritic()
    x = torch.rand(3, 1, 8, 8)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
        value = R1Penalty(gamma=1.0).penalty(d, x, None)
        value.backward()
    assert d.attention.query.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("penalty", ["wasserstein_gradient_penalty", "dragan_gradient_penalty"])
def test_shipped_sagan_trains_with_a_penalty_loss(penalty, tmp_path):
    """The shipped SAGAN config (attention at 16x16) with WGAN losses and a penalty step."""
    sets = [
        f"out_dir={tmp_path / 'run'}",
        "trainer.max_steps=1",
        "trainer.sample_every=100",
        "logging.progress=false",
        "logging.tensorboard=false",
        "data.loader.batch_size=4",
        "losses=[{name: wasserstein_generator}, {name: wasserstein_discriminator}, "
        f"{{name: {penalty}}}]",
    ]
    result = run(config.load_config(CONFIGS / "sagan_digits.yaml", sets))
    assert result.step == 1
