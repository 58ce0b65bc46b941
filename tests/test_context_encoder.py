"""Context Encoder: architecture sizes, masks, the loss against its formula, grids, a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from torchgan_ext.cli import main
from torchgan_ext.losses.context_encoder import (
    ContextEncoderDiscriminatorLoss,
    ContextEncoderGeneratorLoss,
    masked_l2,
)
from torchgan_ext.models.context_encoder import (
    ContextEncoderDiscriminator,
    ContextEncoderGenerator,
    conv_widths,
)

ROOT = Path(__file__).resolve().parents[1]


def _pair(side: int, mask: str = "center", channels: int = 3, **g):
    torch.manual_seed(0)
    args = {"bottleneck": 8, "base_channels": 2, "overlap": 1, **g}
    gen = ContextEncoderGenerator(channels, side, mask=mask, **args)
    disc = ContextEncoderDiscriminator(channels, side, mask=mask, base_channels=2)
    return gen, disc


@pytest.mark.parametrize("side", [16, 32, 64, 128])
@pytest.mark.parametrize("mask", ["center", "random_block"])
def test_generator_predicts_the_region_and_the_discriminator_judges_it(side, mask):
    gen, disc = _pair(side, mask)
    x = torch.rand(2, 3, side, side) * 2 - 1
    masked = gen.mask_batch(x)
    out = gen(masked.inputs)
    region = side // 2 if mask == "center" else side
    assert out.shape == (2, 3, region, region) == masked.target.shape
    assert out.abs().max() <= 1
    assert disc(out).shape == (2,)
    # a whole image is judged by the region the generator predicts
    assert torch.equal(disc(x), disc(masked.target)) if mask == "center" else True


def test_widths_follow_the_authors_networks():
    # 128x128: 64-64-128-256-512 (train.lua); 64x64: 64-128-256-512 (DCGAN)
    assert conv_widths(5, 64) == [64, 64, 128, 256, 512]
    assert conv_widths(4, 64) == [64, 128, 256, 512]
    gen = ContextEncoderGenerator(3, 128, bottleneck=40)
    convs = [m for m in gen.main.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 256, 512, 40]
    ups = [m for m in gen.main.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [u.out_channels for u in ups] == [512, 256, 128, 64, 3]  # 4x4 ... 64x64


def test_center_mask_keeps_the_overlap_visible_and_weighs_it_ten_times():
    gen = ContextEncoderGenerator(1, 16, overlap=1, fill=0.25, bottleneck=4, base_channels=2)
    x = torch.full((1, 1, 16, 16), -1.0)
    masked = gen.mask_batch(x)
    hole = masked.hole[0, 0]
    assert hole.sum() == 6 * 6 and hole[5:11, 5:11].all()  # centre 8x8 shrunk by 1 px
    assert torch.equal(masked.inputs[0, 0][hole.bool()], torch.full((36,), 0.25))
    assert (masked.inputs[0, 0][~hole.bool()] == -1).all()
    w = masked.weights[0, 0]
    assert w.shape == (8, 8) and (w[1:7, 1:7] == 1).all()
    assert w.sum() == 36 + 10 * (64 - 36)


def test_random_blocks_cover_at_most_a_quarter_and_differ_per_image():
    torch.manual_seed(0)
    gen = ContextEncoderGenerator(3, 32, "random_block", overlap=0, bottleneck=4, base_channels=2)
    masked = gen.mask_batch(torch.zeros(16, 3, 32, 32))
    cover = masked.hole.mean((1, 2, 3))
    assert (cover > 0).all() and (cover <= 0.25).all()
    assert not torch.equal(masked.hole[0], masked.hole[1])
    assert torch.equal(masked.weights, masked.hole)  # no overlap: the L2 is the hole's only


def test_generator_loss_is_the_weighted_l2_plus_the_adversarial_term():
    gen, disc = _pair(16, channels=1)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    masked = gen.mask_batch(x)
    fake = gen(masked.inputs)
    rec = (masked.weights * (fake - masked.target).square()).sum() / fake.numel()
    adv = F.softplus(-disc(fake)).mean()  # -log sigmoid(D)
    assert torch.allclose(masked_l2(fake, masked.target, masked.weights), rec)
    loss = ContextEncoderGeneratorLoss(lambda_rec=0.999, lambda_adv=0.001)
    optimizer = torch.optim.SGD(gen.parameters(), lr=0.0)
    got = loss.train_ops(gen, disc, optimizer, x)
    assert torch.allclose(got, 0.999 * rec + 0.001 * adv, atol=1e-6)
    assert disc.head.weight.grad is None  # the adversary is frozen in the generator step
    d_loss = ContextEncoderDiscriminatorLoss()
    got = d_loss.train_ops(gen, disc, torch.optim.SGD(disc.parameters(), lr=0.0), x)
    want = F.softplus(-disc(masked.target)).mean() + F.softplus(disc(fake.detach())).mean()
    assert torch.allclose(got, want, atol=1e-6)


def test_a_generator_without_masks_is_refused():
    from torchgan_ext.models.pix2pix import Pix2PixGenerator

    other = Pix2PixGenerator(1, 1, 32, base_channels=2)
    with pytest.raises(ValueError, match="mask_batch"):
        ContextEncoderGeneratorLoss().train_ops(
            other,
            _pair(32)[1],
            torch.optim.SGD(other.parameters(), lr=0.1),
            torch.zeros(2, 1, 32, 32),
        )


def test_grid_shows_masked_input_completion_and_original():
    gen, _ = _pair(16, channels=1)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    images, nrow = gen.sample_grid((x, torch.zeros(2)), [])
    assert nrow == 3 and images.shape == (6, 1, 16, 16)
    masked = gen.mask_batch(x)
    assert torch.equal(images[0], masked.inputs[0]) and torch.equal(images[2], x[0])
    visible = masked.hole[0] == 0
    assert torch.equal(images[1][visible], x[0][visible])  # only the hole is filled in


@pytest.mark.parametrize("value, match", [(1.5, "fill"), ([0.0, 0.0], "fill")])
def test_bad_arguments_name_the_argument(value, match):
    with pytest.raises(ValueError, match=match):
        ContextEncoderGenerator(3, 32, fill=value)
    with pytest.raises(ValueError, match="overlap"):
        ContextEncoderGenerator(3, 16, overlap=4)
    with pytest.raises(ValueError, match="image_size"):
        ContextEncoderGenerator(3, 24)


def test_digits_config_trains_through_torchgan_run(tmp_path):
    out = tmp_path / "run"
    argv = [
        str(ROOT / "configs" / "context_encoder_digits.yaml"),
        "--set", "data.args.source=sklearn",
        "--set", "data.args.image_size=16",
        "--set", "trainer.max_steps=3",
        "--set", "trainer.sample_every=3",
        "--set", "trainer.checkpoint_every=3",
        "--set", "data.loader.batch_size=8",
        "--set", "models.generator.args.bottleneck=8",
        "--set", "models.generator.args.base_channels=2",
        "--set", "models.discriminator.args.base_channels=2",
        "--set", "logging.progress=false",
        "--set", f"out_dir={out}",
        "--device", "cpu",
    ]  # fmt: skip
    assert main(argv) == 0
    assert (out / "checkpoints" / "ckpt-00000003.pt").is_file()
    with Image.open(out / "samples" / "step00000003_generator.png") as im:
        assert im.size == (3 * 18 + 2, 8 * 18 + 2)  # 8 rows of input | completion | original


def test_paper_config_trains_two_steps_on_an_image_folder(tmp_path):
    from torchgan_ext import load_config, run

    for i in range(4):
        Image.new("RGB", (40, 40), (60 * i, 100, 200 - 40 * i)).save(tmp_path / f"{i}.png")
    overrides = [
        f"data.args.root={tmp_path}",
        "data.args.image_size=32",
        "data.loader.batch_size=2",
        "data.loader.num_workers=0",
        "models.generator.args.overlap=1",
        "models.generator.args.bottleneck=8",
        "models.generator.args.base_channels=2",
        "models.discriminator.args.base_channels=2",
        "trainer.max_steps=2",
        "logging.progress=false",
        "logging.tensorboard=false",
        f"out_dir={tmp_path / 'run'}",
        "device=cpu",
    ]
    cfg = load_config(ROOT / "configs" / "context_encoder_paris.yaml", overrides)
    assert cfg.models["generator"].args["bottleneck"] == 8
    result = run(cfg)
    assert result.trainer.step == 2
    assert result.trainer.generator.fill.flatten().tolist() == pytest.approx(
        [2 * 117 / 255 - 1, 2 * 104 / 255 - 1, 2 * 123 / 255 - 1], abs=1e-4
    )
