"""U-Net GAN: U-Net discriminator, BigGAN generator, per-pixel/CutMix/consistency losses, metric."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchgan.models import Discriminator, Generator

from torchgan_ext import build_trainer, config
from torchgan_ext._registry import LOSSES, METRICS, MODELS
from torchgan_ext.errors import ConfigError
from torchgan_ext.layers import has_spectral_norm
from torchgan_ext.losses.cutmix import cutmix_masks, mix, mix_probability
from torchgan_ext.losses.unet import (
    UNetDiscriminatorLoss,
    UNetGeneratorLoss,
    unet_discriminator_terms,
)
from torchgan_ext.metrics.unet_accuracy import UNetCutMixAccuracy
from torchgan_ext.models import BigGANGenerator, UNetDiscriminator
from torchgan_ext.testing import tiny_config, write_celeba

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# ---------------------------------------------------------------------------------------------
# helpers: toy models with known behaviour
# ---------------------------------------------------------------------------------------------
class PixelAffineD(Discriminator):
    """Per-pixel logits = 1x1 conv of the image: exactly linear in CutMix mixing."""

    def __init__(self, channels: int = 1, scale: float | None = None) -> None:
        super().__init__(channels)
        self.pixel = nn.Conv2d(channels, 1, 1)
        self.glob = nn.Linear(channels, 1)
        if scale is not None:
            with torch.no_grad():
                self.pixel.weight.fill_(scale)
                self.pixel.bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.glob(x.mean((2, 3))).squeeze(1), self.pixel(x)


class ConstantG(Generator):
    """Generates images of constant value ``value`` (plus a trainable, unused parameter)."""

    def __init__(self, value: float = -1.0, size: int = 8) -> None:
        super().__init__(4)
        self.value, self.size = value, size
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.full((z.size(0), 1, self.size, self.size), self.value) + 0 * self.p


def _is_box(region: torch.Tensor) -> bool:
    """Whether the True pixels of a 2D boolean map fill their bounding box (or are none)."""
    ys, xs = torch.nonzero(region, as_tuple=True)
    if len(ys) == 0:
        return True
    return bool(region[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all())


def _opt(model: nn.Module, lr: float = 1e-2) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.0, 0.999))


# ---------------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------------
def test_registered_names():
    assert MODELS.get("unet_discriminator") is UNetDiscriminator
    assert MODELS.get("biggan_generator") is BigGANGenerator
    assert LOSSES.get("unet_generator") is UNetGeneratorLoss
    assert LOSSES.get("unet_discriminator") is UNetDiscriminatorLoss
    assert METRICS.get("unet_cutmix_accuracy") is UNetCutMixAccuracy


# ---------------------------------------------------------------------------------------------
# U-Net discriminator
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_unet_discriminator_shapes(size):
    d = UNetDiscriminator(in_channels=3, image_size=size, ch=2)
    x = torch.randn(2, 3, size, size, requires_grad=True)
    g, p = d(x)
    assert g.shape == (2,)
    assert p.shape == (2, 1, size, size)
    (g.sum() + p.mean()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # encoder down to 4x4: one down block per halving, one up block per doubling
    assert len(d.encoder) == len(d.decoder) == {32: 3, 64: 4, 128: 5, 256: 6}[size]


def test_unet_discriminator_conditional_attention_and_spectral_norm():
    d = UNetDiscriminator(
        in_channels=1, image_size=32, ch=4, num_classes=3, attention_resolutions=[8]
    )
    x = torch.randn(3, 1, 32, 32)
    y = torch.tensor([0, 1, 2])
    g, p = d(x, y)
    g2, p2 = d(x, torch.tensor([1, 2, 0]))
    assert not torch.allclose(p, p2) and not torch.allclose(g, g2)  # the projection is used
    (g.sum() + p.sum()).backward()
    assert d.encoder_attention["1"].gamma.grad is not None
    # spectral norm everywhere but the last 1x1 convolution
    assert not has_spectral_norm(d.pixel_conv)
    layers = [m for m in d.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)]
    assert all(has_spectral_norm(m) for m in layers if m is not d.pixel_conv)
    with pytest.raises(ValueError, match="attention_resolutions"):
        UNetDiscriminator(in_channels=1, image_size=32, ch=4, attention_resolutions=[32])
    with pytest.raises(ValueError, match="image_size"):
        UNetDiscriminator(in_channels=1, image_size=48, ch=4)


def test_unet_skip_connections_carry_encoder_features():
    """The per-pixel map depends on pixels through the skip connections (not only the 4x4 code):
    changing one corner pixel changes the decision next to it far more than far away."""
    torch.manual_seed(0)
    d = UNetDiscriminator(in_channels=1, image_size=32, ch=4).eval()
    x = torch.randn(1, 1, 32, 32)
    x2 = x.clone()
    x2[..., :2, :2] += 5.0
    with torch.no_grad():
        diff = (d(x2)[1] - d(x)[1]).abs()[0, 0]
    assert diff[:4, :4].mean() > 5 * diff[-8:, -8:].mean()


def test_decision_grid_pairs_images_with_maps():
    d = UNetDiscriminator(in_channels=3, image_size=32, ch=2)
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    grid, nrow = d.decision_grid(images)
    assert grid.shape == (10, 3, 32, 32)
    assert nrow % 2 == 0 and nrow >= 2
    assert torch.equal(grid[0::2], images)  # image, map, image, map, ...
    with torch.no_grad():
        expected = 2 * torch.sigmoid(d(images)[1]) - 1
    assert torch.allclose(grid[1::2], expected.expand(-1, 3, -1, -1), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# BigGAN generator
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [None, 4])
@pytest.mark.parametrize("size", [32, 64])
def test_biggan_generator_forward_backward(size, num_classes):
    g = BigGANGenerator(
        encoding_dims=20,
        out_channels=3,
        out_size=size,
        ch=2,
        num_classes=num_classes,
        attention_resolutions=[size // 2],
    )
    inputs = g.sampler(3, "cpu")
    assert len(inputs) == (1 if num_classes is None else 2)
    assert g.label_type == ("none" if num_classes is None else "required")
    out = g(*inputs)
    assert out.shape == (3, 3, size, size)
    assert out.abs().max() <= 1.0
    out.square().mean().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)
    assert sum(g.z_chunks) == 20 and len(g.z_chunks) == {32: 4, 64: 5}[size]


def test_biggan_hierarchical_latent_and_classes_change_the_output():
    torch.manual_seed(0)
    g = BigGANGenerator(encoding_dims=16, out_channels=1, out_size=16, ch=4, num_classes=3).eval()
    z = torch.randn(2, 16)
    y = torch.tensor([0, 1])
    with torch.no_grad():
        base = g(z, y)
        z2 = z.clone()
        z2[:, -g.z_chunks[-1] :] += 1.0  # only the chunk of the last block
        assert not torch.allclose(g(z2, y), base)
        assert not torch.allclose(g(z, torch.tensor([2, 2])), base)
    with pytest.raises(ValueError, match="labels"):
        g(z)
    with pytest.raises(ValueError, match="channel_multipliers"):
        BigGANGenerator(encoding_dims=16, out_size=16, ch=4, channel_multipliers=[1, 1])


def test_biggan_orthogonal_init():
    g = BigGANGenerator(encoding_dims=16, out_channels=1, out_size=16, ch=4)
    w = g.linear.parametrizations.weight.original  # [out, in], out >= in: orthonormal columns
    assert torch.allclose(w.T @ w, torch.eye(w.size(1)), atol=1e-4)


# ---------------------------------------------------------------------------------------------
# CutMix and the loss terms
# ---------------------------------------------------------------------------------------------
def test_cutmix_masks_boxes_inversion_and_warmup():
    torch.manual_seed(0)
    m = cutmix_masks(4000, 16, 16)
    assert m.shape == (4000, 1, 16, 16)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    # Beta(1, 1) box area and inversion with p=0.5: real fraction is 0.5 on average
    assert abs(m.mean().item() - 0.5) < 0.02
    # the fake pixels form a box, or (inverted mask) the real pixels do
    for mask in m[:200, 0]:
        assert _is_box(mask == 0) or _is_box(mask == 1)
    assert not _is_box(torch.eye(4, dtype=torch.bool))  # the check can fail
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(cutmix_masks(5, 8, 8, generator=g1), cutmix_masks(5, 8, 8, generator=g2))
    assert [mix_probability(e, 0, warmup_epochs=4) for e in range(6)] == [
        0.0,
        0.125,
        0.25,
        0.375,
        0.5,
        0.5,
    ]
    assert mix_probability(0, 50, warmup_steps=100) == 0.25


def test_cutmix_target_map_equals_the_mask():
    """An oracle D (logit = +/-20 where the pixel comes from the real/fake image) has ~zero
    per-pixel CutMix loss and accuracy 1: the decoder target of the mixed image is the mask."""
    torch.manual_seed(0)
    d = PixelAffineD(scale=20.0)  # real images are +1, fakes -1
    loss = UNetDiscriminatorLoss(mix_prob=1.0)
    real = torch.ones(8, 1, 8, 8)
    loss.train_ops(ConstantG(-1.0), d, _opt(d, 0.0), real, "cpu")
    mask = loss.last_mask
    assert mask is not None and 0 < mask.mean() < 1
    scalars = loss.log_scalars()
    assert scalars["unet/pixel_acc_cutmix"] > 0.999
    assert scalars["unet/pixel_acc_real"] > 0.999 and scalars["unet/pixel_acc_fake"] > 0.999
    # the same oracle against the inverted target would be maximally wrong
    mixed = mix(real, -real, mask)
    logits = d(mixed)[1]
    assert F.binary_cross_entropy_with_logits(logits, mask) < 1e-6
    assert F.binary_cross_entropy_with_logits(logits, 1 - mask) > 10
    terms = unet_discriminator_terms(*d(real), *d(-real), *d(mixed), mask)
    assert terms["dec_mix"] < 1e-6


def test_consistency_is_zero_for_a_decoder_linear_in_the_mixing():
    torch.manual_seed(0)
    real, fake = torch.randn(4, 1, 8, 8), torch.randn(4, 1, 8, 8)
    mask = cutmix_masks(4, 8, 8)
    affine = PixelAffineD()
    terms = unet_discriminator_terms(
        *affine(real), *affine(fake), *affine(mix(real, fake, mask)), mask
    )
    assert terms["cons"] < 1e-10
    unet = UNetDiscriminator(in_channels=1, image_size=8, ch=4)
    terms = unet_discriminator_terms(*unet(real), *unet(fake), *unet(mix(real, fake, mask)), mask)
    assert terms["cons"] > 1e-6  # a real U-Net is not linear in its input


def test_discriminator_loss_one_forward_and_detached_result():
    calls = []
    d = PixelAffineD()
    d.register_forward_hook(lambda m, i, o: calls.append(i[0].size(0)))
    loss = UNetDiscriminatorLoss(mix_prob=1.0)
    out = loss.train_ops(ConstantG(), d, _opt(d), torch.ones(6, 1, 8, 8), "cpu")
    assert calls == [18]  # real + fake + mixed in one forward pass
    assert not out.requires_grad and out.dim() == 0
    calls.clear()
    loss = UNetDiscriminatorLoss(mix_prob=0.5, warmup_epochs=10)
    loss.train_ops(ConstantG(), d, _opt(d), torch.ones(6, 1, 8, 8), "cpu", epoch=0)
    assert calls == [12]  # r_mix is 0 in the first warm-up epoch: no CutMix batch
    assert "unet/pixel_acc_cutmix" not in loss.log_scalars()
    assert all(isinstance(v, torch.Tensor) for v in loss.log_scalars().values())


def test_discriminator_loss_and_metric_under_bf16_autocast():
    torch.manual_seed(0)
    d = UNetDiscriminator(in_channels=1, image_size=8, ch=4)
    g = BigGANGenerator(encoding_dims=8, out_channels=1, out_size=8, ch=4)
    real = torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = UNetDiscriminatorLoss(mix_prob=1.0)
        value = loss.train_ops(g, d, _opt(d), real, "cpu")
        acc = UNetCutMixAccuracy().evaluate(g, d, [(real, None)], "cpu")
    assert torch.isfinite(value) and "unet/consistency" in loss.log_scalars()
    assert 0.0 <= acc <= 1.0


def test_losses_decrease_against_a_fixed_opponent():
    torch.manual_seed(0)
    d = UNetDiscriminator(in_channels=1, image_size=8, ch=4)
    g = BigGANGenerator(encoding_dims=8, out_channels=1, out_size=8, ch=4)
    real = torch.tanh(torch.randn(16, 1, 8, 8) + 1.0)
    d_loss = UNetDiscriminatorLoss(mix_prob=0.5)
    d_opt = _opt(d, 2e-3)
    d_values = [d_loss.train_ops(g, d, d_opt, real, "cpu") for _ in range(25)]
    assert torch.stack(d_values[-5:]).mean() < 0.8 * torch.stack(d_values[:5]).mean()
    g_loss = UNetGeneratorLoss()
    g_opt = _opt(g, 2e-3)
    g_values = [g_loss.train_ops(g, d, g_opt, real, "cpu") for _ in range(25)]
    assert torch.stack(g_values[-5:]).mean() < 0.8 * torch.stack(g_values[:5]).mean()
    assert not any(v.requires_grad for v in d_values + g_values)


# ---------------------------------------------------------------------------------------------
# metric
# ---------------------------------------------------------------------------------------------
def test_cutmix_accuracy_metric():
    real = torch.ones(10, 1, 8, 8)
    loader = [(real[:5], torch.zeros(5)), (real[5:], torch.zeros(5))]
    metric = UNetCutMixAccuracy()
    assert metric.evaluate(ConstantG(-1.0), PixelAffineD(scale=20.0), loader, "cpu") == 1.0
    # a D that calls every pixel real is right on the real fraction of the masks only
    always_real = PixelAffineD(scale=0.0)
    with torch.no_grad():
        always_real.pixel.bias.fill_(1.0)
    acc = metric.evaluate(ConstantG(-1.0), always_real, loader, "cpu")
    g = torch.Generator().manual_seed(0)
    torch.randn(5, 4, generator=g)  # the metric draws noise before each batch's masks
    m1 = cutmix_masks(5, 8, 8, generator=g)
    torch.randn(5, 4, generator=g)
    m2 = cutmix_masks(5, 8, 8, generator=g)
    assert acc == pytest.approx(torch.cat([m1, m2]).mean().item())
    with pytest.raises(ValueError, match="no validation split"):
        metric.metric_ops(ConstantG(), always_real, "cpu", val_loader=None)


# ---------------------------------------------------------------------------------------------
# configs, trainer integration, EMA
# ---------------------------------------------------------------------------------------------
def _unet_tiny_dict(out_dir, **trainer):
    models = {
        "generator": {
            "name": "biggan_generator",
            "args": {"encoding_dims": 8, "ch": 4},
            "optimizer": {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.0, 0.999]}},
        },
        "discriminator": {
            "name": "unet_discriminator",
            "args": {"ch": 4},
            "optimizer": {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.0, 0.999]}},
        },
    }
    losses = [
        {"name": "unet_generator"},
        {"name": "unet_discriminator", "args": {"warmup_steps": 2}},
    ]
    t = {"epochs": 1, "max_steps": 4, "sample_size": 4, **trainer}
    cfg = tiny_config(out_dir, models=models, losses=losses, trainer=t)
    cfg["data"]["val"] = {"args": {"split": "test"}, "batch_size": 32}
    cfg["metrics"] = [{"name": "unet_cutmix_accuracy", "args": {"max_batches": 1}}]
    return cfg


def _unet_tiny(out_dir, **trainer):
    return config.config_from_dict(_unet_tiny_dict(out_dir, **trainer))


def test_tiny_run_logs_pixel_accuracies_and_metric(tmp_path):
    trainer, loader = build_trainer(_unet_tiny(tmp_path / "run"))
    assert trainer.models["generator"].out_size == 16  # taken from the data
    trainer.train(loader)
    trainer.complete()
    scalars = trainer.loss_scalars()
    for key in ("unet/pixel_acc_real", "unet/pixel_acc_fake", "unet/mix_prob"):
        assert isinstance(scalars[key], torch.Tensor)
    acc = trainer.run_metrics()["unet_cutmix_accuracy"]
    assert 0.0 <= acc <= 1.0
    assert list((tmp_path / "run" / "samples").glob("*discriminator_decision.png"))


def test_metric_without_held_back_data_fails_before_training(tmp_path):
    cfg = _unet_tiny_dict(tmp_path / "run")
    del cfg["data"]["val"]
    with pytest.raises(ConfigError, match="no validation split") as info:
        build_trainer(config.config_from_dict(cfg))
    assert info.value.key == "metrics.0"


def test_samples_come_from_the_ema_generator(tmp_path):
    cfg = _unet_tiny(tmp_path / "run", ema={"decay": 0.9, "start_step": 0})
    trainer, loader = build_trainer(cfg)
    ema = trainer.ema["generator"].module
    assert trainer.eval_generator is ema and ema is not trainer.generator
    calls = {"ema": 0, "trained": 0}
    ema.register_forward_hook(lambda *a: calls.__setitem__("ema", calls["ema"] + 1))
    trainer.generator.register_forward_hook(
        lambda *a: calls.__setitem__("trained", calls["trained"] + 1)
    )
    trainer._make_sample_noise()
    trainer.write_samples()
    assert calls == {"ema": 1, "trained": 0}
    # the metric can use it too
    metric = UNetCutMixAccuracy(max_batches=1, use_ema=True)
    metric.metric_ops(trainer.generator, trainer.discriminator, "cpu", trainer.val_loader, ema)
    assert calls == {"ema": 2, "trained": 0}


@pytest.mark.parametrize("name", ["unetgan_digits.yaml", "unetgan_digits_long.yaml"])
def test_digits_config_builds(tmp_path, name):
    cfg = config.load_config(
        CONFIGS / name,
        [f"out_dir={tmp_path / 'run'}", "logging.tensorboard=false"],
    )
    trainer, _ = build_trainer(cfg)
    assert isinstance(trainer.discriminator, UNetDiscriminator)
    assert isinstance(trainer.generator, BigGANGenerator)
    assert trainer.ema and trainer.val_loader is not None
    # the short discriminator demo keeps chunks (measured: docs/unetgan.md)
    assert trainer.generator.latent == (
        "chunks" if name == "unetgan_digits.yaml" else "self_modulation"
    )
    assert [type(m).__name__ for m in trainer.metrics.values()] == ["UNetCutMixAccuracy"]


def test_celeba128_config_builds_with_the_paper_hyperparameters(tmp_path):
    write_celeba(tmp_path / "data", num_images=8, size=(40, 32))
    cfg = config.load_config(
        CONFIGS / "unetgan_celeba128.yaml",
        [
            f"out_dir={tmp_path / 'run'}",
            f"data.args.root={tmp_path / 'data'}",
            "data.args.crop_size=32",
            "data.loader.batch_size=2",
            "data.loader.num_workers=0",
            "models.generator.args.ch=1",
            "models.discriminator.args.ch=1",
            "models.generator.args.attention_resolutions=[]",
            "logging.tensorboard=false",
        ],
    )
    raw = config.load_config(CONFIGS / "unetgan_celeba128.yaml")
    assert raw.data.loader.batch_size == 50
    g_opt, d_opt = raw.models["generator"].optimizer, raw.models["discriminator"].optimizer
    assert (g_opt.args["lr"], d_opt.args["lr"]) == (5e-5, 2e-4)
    assert g_opt.args["betas"] == d_opt.args["betas"] == [0.0, 0.999]
    assert g_opt.args["eps"] == d_opt.args["eps"] == 1e-6
    assert (raw.trainer.ema.decay, raw.trainer.ema.start_step) == (0.9999, 21000)
    assert raw.trainer.ncritic == 1
    trainer, _ = build_trainer(cfg)
    assert trainer.generator.out_size == 128 and trainer.discriminator.image_size == 128
    assert not trainer.generator.attention and not trainer.discriminator.encoder_attention
    assert trainer.generator.latent == "self_modulation"  # the authors' unconditional BigGAN
    assert not trainer.discriminator.pixel_head_relu
    d_loss = next(x for x in trainer.losses.values() if isinstance(x, UNetDiscriminatorLoss))
    g_loss = next(x for x in trainer.losses.values() if isinstance(x, UNetGeneratorLoss))
    # the authors' CelebA script: CutMix + consistency on every step, their weights
    assert d_loss.mode == "celeba" and d_loss.current_mix_probability(0, 0) == 1.0
    assert (d_loss.real_fake_weight, d_loss.mix_weight, d_loss.consistency_weight) == (0.5, 1, 1)
    assert (g_loss.global_weight, g_loss.pixel_weight) == (0.5, 0.5)
