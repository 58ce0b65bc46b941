"""pix2pix and CycleGAN: architectures, losses, the image history, four-model runs, grids,
bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from torchgan_ext import config, run
from torchgan_ext.data.cityscapes_pairs import CityscapesPairs, train_ids_to_onehot
from torchgan_ext.data.paired import PairedImages, UnpairedImages
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses.cyclegan import ImageHistory
from torchgan_ext.losses.pix2pix import Pix2PixDiscriminatorLoss, Pix2PixGeneratorLoss
from torchgan_ext.models.cyclegan import CycleGANGenerator
from torchgan_ext.models.pix2pix import PatchGANDiscriminator, Pix2PixGenerator, display_images
from torchgan_ext.testing import write_cityscapes, write_paired_images, write_unpaired_images
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
OPT = {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.5, 0.999]}}


# ------------------------------------------------------------------------------------------
# architectures
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("side", [32, 64, 128, 256])
def test_unet_goes_down_to_one_pixel_at_every_power_of_two(side):
    g = Pix2PixGenerator(3, 2, side, base_channels=1, norm="instance")
    assert g.num_layers == side.bit_length() - 1 and len(g.up) == g.num_layers - 1
    with torch.no_grad():
        y = g(torch.zeros(1, 3, side, side))
    assert y.shape == (1, 2, side, side) and y.abs().max() <= 1


def test_unet_skips_and_dropout_follow_the_paper():
    g = Pix2PixGenerator(3, 3, 256, base_channels=8)  # the paper's 64, divided by 8
    convs = [next(m for m in layer if isinstance(m, torch.nn.Conv2d)) for layer in g.down]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64, 64, 64, 64, 64]
    assert len(g.down[0]) == 1 and len(g.down[-1]) == 2  # no norm on the first and innermost
    # decoder: CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 (inputs with the skips) / 8
    assert [u.conv.in_channels for u in g.up] == [64, 128, 128, 128, 128, 64, 32]
    assert [u.dropout for u in g.up] == [0.5, 0.5, 0.5, 0, 0, 0, 0]
    # dropout at test time (the paper's noise): eval-mode outputs still vary
    g = Pix2PixGenerator(3, 3, 32, base_channels=4).eval()
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(g(x), g(x))
    g = Pix2PixGenerator(3, 3, 32, base_channels=4, dropout_at_test=False).eval()
    assert torch.equal(g(x), g(x))


def test_patchgan_sees_70x70_patches_and_returns_a_map():
    d = PatchGANDiscriminator(3, 3)
    assert d.receptive_field() == 70
    assert d(torch.randn(1, 3, 256, 256), torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert PatchGANDiscriminator(num_layers=1).receptive_field() == 16
    # an output logit only depends on its patch: change a far corner, the first logit stays
    d = PatchGANDiscriminator(3, 3, conditional=False, base_channels=4, norm="none")
    x = torch.randn(1, 3, 128, 128)
    y = x.clone()
    y[..., 100:, 100:] = 0
    with torch.no_grad():
        assert torch.equal(d(x)[..., 0, 0], d(y)[..., 0, 0])
    with pytest.raises(ValueError, match="conditional"):
        PatchGANDiscriminator()(torch.randn(1, 3, 32, 32))


def test_cyclegan_generator_is_the_paper_resnet():
    g = CycleGANGenerator(3, 3, num_blocks=9)
    pads = [m for m in g.modules() if isinstance(m, torch.nn.ReflectionPad2d)]
    assert len(pads) == 2 + 2 * 9
    assert any(isinstance(m, torch.nn.InstanceNorm2d) for m in g.modules())
    g = CycleGANGenerator(19, 3, direction="b2a", image_size=32, base_channels=2, num_blocks=1)
    assert g(torch.randn(2, 3, 32, 32)).shape == (2, 19, 32, 32)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Pix2PixGenerator(image_size=48), "image_size: must be a power of two"),
        (lambda: Pix2PixGenerator(image_size=16), "image_size: must be a power of two"),
        (lambda: Pix2PixGenerator(norm="layer"), "norm: unknown"),
        (lambda: PatchGANDiscriminator(judges="c"), "judges: unknown"),
        (lambda: CycleGANGenerator(direction="ab"), "direction: unknown"),
    ],
)
def test_model_arguments_are_checked(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_label_maps_are_drawn_in_the_cityscapes_palette():
    ids = torch.tensor([[[0, 13], [255, 10]]])  # road, car, ignore, sky
    rgb = display_images(train_ids_to_onehot(ids))
    pixels = ((rgb[0] + 1) * 127.5).round().long().permute(1, 2, 0).tolist()
    assert pixels == [[[128, 64, 128], [0, 0, 142]], [[0, 0, 0], [70, 130, 180]]]


# ------------------------------------------------------------------------------------------
# losses and the history
# ------------------------------------------------------------------------------------------
def test_pix2pix_losses_are_the_papers_objectives():
    torch.manual_seed(0)
    g = Pix2PixGenerator(3, 3, 32, base_channels=2, dropout=0.0)
    d = PatchGANDiscriminator(3, 3, base_channels=2)
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    opt = torch.optim.SGD(d.parameters(), lr=0.0)
    loss = Pix2PixDiscriminatorLoss().train_ops(g, d, opt, x, y)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    with torch.no_grad():
        real, fake = d(y, x), d(g(x), x)
        expected = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    assert not loss.requires_grad and torch.allclose(loss, expected)
    opt = torch.optim.SGD(g.parameters(), lr=0.0)
    d.zero_grad(set_to_none=True)
    loss = Pix2PixGeneratorLoss().train_ops(g, d, opt, x, y)
    with torch.no_grad():
        out = g(x)
        fake = d(out, x)
        expected = bce(fake, torch.ones_like(fake)) + 100 * (out - y).abs().mean()
    assert torch.allclose(loss, expected)
    assert all(p.grad is None for p in d.parameters())  # D was frozen during the G step
    with pytest.raises(ValueError, match="image pairs"):
        Pix2PixGeneratorLoss().train_ops(g, d, opt, x, torch.tensor([0, 1]))


def test_history_fills_then_swaps_half_the_time_and_round_trips():
    torch.manual_seed(0)
    pool = ImageHistory(4, seed=1)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and pool.count == 4
    returned = torch.cat([pool.query(torch.full((1, 1, 1, 1), 10.0 + i)) for i in range(200)])
    from_history = (returned.flatten() < 10) | (returned.flatten() < 10.0 + torch.arange(200))
    assert 60 < int(from_history.sum()) < 140  # about half are older images
    state = pool.state_dict()
    copy = ImageHistory(4, seed=99)
    copy.load_state_dict(state)
    batch = torch.full((3, 1, 1, 1), 500.0)
    assert torch.equal(pool.query(batch), copy.query(batch))
    assert torch.equal(pool.images, copy.images)
    with pytest.raises(ValueError, match="pool_size"):
        ImageHistory(2).load_state_dict(state)


# ------------------------------------------------------------------------------------------
# runs: four models, exact resume, grids
# ------------------------------------------------------------------------------------------
def _cyclegan_cfg(tmp_path, out, steps, **data_args):
    root = write_unpaired_images(tmp_path / "data", size=16)
    g = {"image_size": 16, "base_channels": 2, "num_blocks": 1}
    d = {"conditional": False, "base_channels": 2, "num_layers": 1, "norm": "instance"}
    return config.config_from_dict(
        {
            "seed": 0,
            "device": "cpu",
            "out_dir": str(tmp_path / out),
            "data": {
                "name": "unpaired_images",
                "args": {"root": str(root), "image_size": 16, **data_args},
                "loader": {"batch_size": 2, "num_workers": 0, "shuffle": True, "drop_last": True},
            },
            "models": {
                "generator": {"name": "cyclegan_generator", "args": g, "optimizer": OPT},
                "generator_ba": {
                    "name": "cyclegan_generator",
                    "args": {**g, "direction": "b2a"},
                    "optimizer": OPT,
                },
                "discriminator": {"name": "patchgan_discriminator", "args": d, "optimizer": OPT},
                "discriminator_a": {
                    "name": "patchgan_discriminator",
                    "args": {**d, "judges": "a"},
                    "optimizer": OPT,
                },
            },
            "losses": [
                {"name": "cyclegan_generator"},
                {"name": "cyclegan_discriminator", "args": {"pool_size": 3}},
            ],
            "trainer": {
                "epochs": 10,
                "max_steps": steps,
                "sample_size": 2,
                "checkpoint_every": 3,
                "ema": {"decay": 0.9},
            },
            "logging": {"progress": False, "tensorboard": False},
        }
    )


def test_cyclegan_resumes_exactly_with_its_histories(tmp_path):
    full = run(_cyclegan_cfg(tmp_path, "a", 6))
    run(_cyclegan_cfg(tmp_path, "b", 3))
    resumed = run(_cyclegan_cfg(tmp_path, "b", 6), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000003.pt"
    for name in ("generator", "generator_ba", "discriminator", "discriminator_a"):
        a = full.trainer.models[name].state_dict()
        b = resumed.trainer.models[name].state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    # the histories (3 images each, full) are in the checkpoint, with their random state
    state = load_checkpoint(list_checkpoints(tmp_path / "b" / "checkpoints")[0])
    (loss_state,) = [sd for sd in state["losses"].values() if "history_a._extra_state" in sd]
    assert loss_state["history_b._extra_state"]["images"].shape == (3, 3, 16, 16)
    # both generators have an EMA copy, and each draws its own cycle
    assert set(full.trainer.ema) == {"generator", "generator_ba"}
    samples = sorted(p.name for p in (tmp_path / "a" / "samples").glob("*.png"))
    assert "step00000006_generator.png" in samples and "step00000006_generator_ba.png" in samples
    with Image.open(tmp_path / "a" / "samples" / "step00000006_generator.png") as im:
        assert im.size == (3 * 18 + 2, 2 * 18 + 2)  # rows A | G(A) | F(G(A)), 2 px padding


def test_generator_grids_show_the_cycle_and_the_pairs():
    a = torch.rand(2, 3, 32, 32) * 2 - 1
    b = torch.rand(2, 19, 32, 32)
    g = CycleGANGenerator(3, 19, image_size=32, base_channels=2, num_blocks=1)
    f = CycleGANGenerator(3, 19, direction="b2a", image_size=32, base_channels=2, num_blocks=1)
    images, nrow = f.sample_grid((a, b), [], models={"generator": g, "generator_ba": f})
    assert nrow == 3 and images.shape == (6, 3, 32, 32)  # B | F(B) | G(F(B)), B coloured
    p = Pix2PixGenerator(19, 3, 32, base_channels=2)
    images, nrow = p.sample_grid((b, a), [])
    assert nrow == 3 and images.shape == (6, 3, 32, 32)
    assert torch.equal(images[2], a[0])  # the target


# ------------------------------------------------------------------------------------------
# bad input: one line naming the key or file and what is valid
# ------------------------------------------------------------------------------------------
def test_aligned_image_of_the_wrong_width_names_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    Image.new("RGB", (30, 16)).save(tmp_path / "train" / "x.png")
    with pytest.raises(ValueError, match=r"x\.png: is 30x16 .*width twice the height") as info:
        PairedImages(str(tmp_path))
    assert "\n" not in str(info.value)


def test_folders_not_in_the_layout_are_named(tmp_path):
    write_paired_images(tmp_path / "f", layout="folders")
    with pytest.raises(FileNotFoundError, match="split: no folder .*layout: folders"):
        PairedImages(str(tmp_path / "f"))
    (tmp_path / "u" / "trainA").mkdir(parents=True)
    (tmp_path / "u" / "trainB").mkdir()
    with pytest.raises(FileNotFoundError, match=r"split: no images .* in .*trainA"):
        UnpairedImages(str(tmp_path / "u"))
    with pytest.raises(FileNotFoundError, match="split: no folder .*testA.*folders found: trainA"):
        UnpairedImages(str(tmp_path / "u"), split="test")


def test_label_ids_outside_the_table_name_the_file(tmp_path):
    fake = write_cityscapes(tmp_path, size=(16, 16))
    path = fake.target_path(fake.images["train"][0])
    Image.fromarray((torch.full((16, 16), 40, dtype=torch.uint8)).numpy()).save(path)
    dataset = CityscapesPairs(str(fake.root), label_format="onehot", image_size=16)
    with pytest.raises(ValueError, match=r"labelIds\.png: label id 40 is not in the Cityscapes"):
        dataset[0]


def test_config_errors_name_the_key(tmp_path):
    cfg = _cyclegan_cfg(tmp_path, "c", 1, split="val")
    with pytest.raises(ConfigError) as info:
        run(cfg)
    assert "data.args.split" in str(info.value) and "valA" in str(info.value)


# ------------------------------------------------------------------------------------------
# the shipped Cityscapes configs (pix2pix_cityscapes.yaml, cyclegan_cityscapes.yaml) train on a
# miniature Cityscapes tree
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "label_format"),
    [("pix2pix", "color"), ("pix2pix", "onehot"), ("cyclegan", "color"), ("cyclegan", "onehot")],
)
def test_cityscapes_configs_train_a_few_steps(tmp_path, name, label_format):
    from torchgan_ext.config import load_config

    fake = write_cityscapes(tmp_path / "data", size=(32, 64))
    overrides = [
        f"data.args.root={fake.root}",
        f"data.args.label_format={label_format}",
        "data.args.image_size=32",
        "data.args.load_size=36",
        "data.loader.num_workers=0",
        f"out_dir={tmp_path / 'run'}",
        "device=cpu",
        "trainer.max_steps=2",
        "logging.progress=false",
        "logging.tensorboard=false",
    ]
    models = ["generator", "discriminator"]
    if name == "cyclegan":
        models += ["generator_ba", "discriminator_a"]
        overrides += ["models.generator.args.num_blocks=1", "models.generator_ba.args.num_blocks=1"]
    overrides += [f"models.{m}.args.base_channels=4" for m in models]
    cfg = load_config(ROOT / "configs" / f"{name}_cityscapes.yaml", overrides)
    result = run(cfg)
    assert result.trainer.step == 2
    grids = sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png"))
    expected = {"pix2pix": ["generator"], "cyclegan": ["generator", "generator_ba"]}[name]
    assert grids == [f"step00000002_{g}.png" for g in expected]
    channels = 19 if label_format == "onehot" else 3
    assert result.trainer.generator.in_channels == channels


def test_digit_tasks_are_what_the_demos_claim():
    from torchgan_ext.testing.translation_digits import (
        NUM_HELD_BACK,
        digit_split,
        outline,
        stroke_width,
    )

    train, train_labels = digit_split("train")
    held, held_labels = digit_split("held_back")
    assert len(held) == len(held_labels) == NUM_HELD_BACK and len(train) == 1500
    assert train.shape[1:] == (1, 32, 32) and 0 <= train.min() and train.max() <= 1
    edges = outline(held)
    assert set(edges.unique().tolist()) == {0.0, 1.0}
    assert edges.mean() < (held > 0.35).float().mean() * 1.5  # a line, not the filled digit
    thin, bold = stroke_width(held, bold=False), stroke_width(held, bold=True)
    assert bool((thin <= held).all() and (held <= bold).all())
    assert bold.mean() > 1.5 * thin.mean()
