"""WGAN-GP and DRAGAN penalties on a discriminator returning a tuple (U-Net GAN's
``(global, per-pixel)``): the penalty is taken on element ``output``, as the regulariser
callbacks do; a wrong ``output`` is refused before training, naming the key."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from torchgan_ext import config, run
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses import DraganGradientPenalty, WassersteinGradientPenalty
from torchgan_ext.losses.penalty import critic_score
from torchgan_ext.models.unet_discriminator import UNetDiscriminator
from torchgan_ext.testing import tiny_config


class TinyG(nn.Module):
    encoding_dims = 4
    label_type = "none"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(4, 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, 1, 16, 16)


class Element(nn.Module):
    """``d(x)[index]``: the reference critic of one element of a tuple output."""

    label_type = "none"

    def __init__(self, d: nn.Module, index: int) -> None:
        super().__init__()
        self.d = d
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.d(x)[self.index]


def _penalty_step(loss, d: nn.Module, real: torch.Tensor) -> tuple[torch.Tensor, list]:
    optimizer = torch.optim.SGD(d.parameters(), lr=0.1)
    torch.manual_seed(1)  # the same fake images and interpolation points in both runs
    value = loss.train_ops(TinyG(), d, optimizer, real, "cpu")
    return value, [p.detach().clone() for p in d.parameters()]


@pytest.mark.parametrize("output", [0, 1], ids=["global", "per_pixel"])
@pytest.mark.parametrize(
    "make", [WassersteinGradientPenalty, DraganGradientPenalty], ids=["wgan_gp", "dragan"]
)
def test_penalty_of_a_unet_discriminator_is_that_of_its_chosen_output(make, output):
    """Failed before: AttributeError: 'tuple' object has no attribute 'sum'."""
    torch.manual_seed(0)
    d = UNetDiscriminator(in_channels=1, image_size=16, ch=2, channel_multipliers=[1, 2])
    reference = Element(copy.deepcopy(d), output)
    real = torch.rand(3, 1, 16, 16) * 2 - 1
    before = [p.detach().clone() for p in d.parameters()]
    got, weights = _penalty_step(make(output=output), d, real)
    expected, ref_weights = _penalty_step(make(), reference, real)
    assert got.item() > 0
    torch.testing.assert_close(got, expected)
    for a, b in zip(weights, ref_weights, strict=True):
        torch.testing.assert_close(a, b)
    assert any(not torch.equal(a, b) for a, b in zip(weights, before, strict=True))


def test_critic_score_is_shared_with_the_regularisers():
    from torchgan_ext.callbacks import regularisers

    assert regularisers.critic_score is critic_score
    scores = torch.zeros(2)
    assert critic_score((scores, torch.zeros(2, 1, 4, 4)), 0, "D", 2) is scores
    with pytest.raises(ValueError, match="^output: D returns 2 values; .* 0..1"):
        critic_score((scores, scores), 2, "D", 2)
    with pytest.raises(ValueError, match="^output: D returns one value"):
        critic_score(scores, 1, "D", 2)


def _unet_run(tmp_path, penalty: dict) -> dict:
    models = {
        "generator": {
            "name": "biggan_generator",
            "args": {"encoding_dims": 8, "ch": 2, "channel_multipliers": [2, 2, 1]},
            "optimizer": {"name": "adam", "args": {"lr": 1.0e-4, "betas": [0.0, 0.999]}},
        },
        "discriminator": {
            "name": "unet_discriminator",
            "args": {"ch": 2, "channel_multipliers": [1, 2]},
            "optimizer": {"name": "adam", "args": {"lr": 4.0e-4, "betas": [0.0, 0.999]}},
        },
    }
    losses = [{"name": "unet_generator"}, {"name": "unet_discriminator"}, penalty]
    cfg = tiny_config(
        tmp_path / "run",
        models=models,
        losses=losses,
        trainer={"epochs": 1, "max_steps": 1, "sample_size": 2},
    )
    cfg["data"]["loader"]["batch_size"] = 4
    return cfg


@pytest.mark.parametrize("name", ["wasserstein_gradient_penalty", "dragan_gradient_penalty"])
def test_unet_gan_trains_with_a_gradient_penalty(tmp_path, name):
    trainer = run(config.config_from_dict(_unet_run(tmp_path, {"name": name}))).trainer
    assert trainer.step == 1


def test_an_output_out_of_range_is_refused_before_training(tmp_path):
    cfg = _unet_run(tmp_path, {"name": "dragan_gradient_penalty", "args": {"output": 2}})
    with pytest.raises(ConfigError) as info:
        run(config.config_from_dict(cfg))
    assert info.value.key == "losses.2.args.output", info.value
    assert "returns 2 values" in info.value.message and "0..1" in info.value.message
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "run").rglob("ckpt-*.pt"))  # refused before any step
