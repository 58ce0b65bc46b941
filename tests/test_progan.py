"""Progressive GAN: networks, fade-in, the resolution schedule, the loss and exact resume."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from torchgan_ext import config, load_config, run
from torchgan_ext.callbacks.progressive import ProgressiveGrowing, fade_reals
from torchgan_ext.losses.penalty import gradient_norms
from torchgan_ext.losses.progan import ProGANDiscriminatorLoss
from torchgan_ext.models.progan import (
    ProGANDiscriminator,
    ProGANGenerator,
    box_downsample,
    feature_maps,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"fmap_base": 16, "fmap_max": 8}


def _pair(size=16, channels=1, **args):
    torch.manual_seed(0)
    g = ProGANGenerator(size, channels, **{**TINY, **args})
    d = ProGANDiscriminator(size, channels, **TINY)
    return g, d


def test_feature_maps_follow_the_paper_table():
    # table 2 (CelebA-HQ 1024): 512 maps up to 32x32, then halved per doubling down to 16
    maps = [feature_maps(s, 8192, 1.0, 512) for s in range(1, 10)]
    assert maps == [512, 512, 512, 512, 256, 128, 64, 32, 16]


def test_paper_networks_have_23_1m_parameters_each():
    g, d = ProGANGenerator(1024, 3), ProGANDiscriminator(1024, 3)
    assert g.encoding_dims == 512
    assert round(sum(p.numel() for p in g.parameters()) / 1e6, 1) == 23.1
    assert round(sum(p.numel() for p in d.parameters()) / 1e6, 1) == 23.1


def test_levels_set_the_image_size_and_eval_upsamples_to_the_full_size():
    g, d = _pair(32)
    assert g.current_size == 32 and g.num_levels == 4  # a new model works at full size
    z = torch.randn(3, g.encoding_dims)
    for level, alpha in [(0, 1.0), (1, 0.3), (2, 1.0), (3, 0.5)]:
        g.set_level(level, alpha)
        d.set_level(level, alpha)
        images = g(z)
        assert images.shape == (3, 1, 4 * 2**level, 4 * 2**level)
        assert d(images).shape == (3,)
    g.set_level(1, 1.0)
    g.eval()
    small = g.train()(z)
    big = g.eval()(z)
    assert big.shape == (3, 1, 32, 32)
    assert torch.equal(big, F.interpolate(small, size=32, mode="nearest"))


def test_fade_in_starts_from_the_previous_level_and_ends_at_the_new_block():
    g, d = _pair(16)
    z = torch.randn(4, g.encoding_dims)
    g.set_level(1)
    previous = g(z)
    g.set_level(2, 0.0)
    assert torch.allclose(g(z), F.interpolate(previous, scale_factor=2.0, mode="nearest"))
    g.set_level(2, 1.0)
    new = g(z)
    g.set_level(2, 0.25)
    mixed = 0.75 * F.interpolate(previous, scale_factor=2.0, mode="nearest") + 0.25 * new
    assert torch.allclose(g(z), mixed, atol=1e-6)

    x = torch.randn(4, 1, 16, 16)
    d.set_level(1)
    before = d(F.avg_pool2d(x, 2))
    d.set_level(2, 0.0)
    assert torch.allclose(d(x), before, atol=1e-6)
    d.set_level(2, 1.0)
    assert not torch.allclose(d(x), before)


def test_discriminator_box_downsamples_larger_inputs():
    _, d = _pair(16)
    d.set_level(1)
    x = torch.randn(2, 1, 16, 16)
    assert torch.allclose(d(x), d(x.reshape(2, 1, 8, 2, 8, 2).mean((3, 5))), atol=1e-6)
    with pytest.raises(ValueError, match="images: expected square images of 8x8"):
        d(torch.randn(2, 1, 12, 12))


def test_level_and_alpha_are_in_the_state_dict():
    g, _ = _pair(16)
    g.set_level(1, 0.5)
    fresh, _ = _pair(16)
    fresh.load_state_dict(g.state_dict())
    assert (fresh.level, float(fresh.alpha), fresh.fading) == (1, 0.5, True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"out_size": 12}, "out_size: must be a power of two >= 8"),
        ({"fmap_max": 0}, "fmap_max"),
        (
            {"out_size": 64, "fmap_base": 8},
            r"^fmap_base: 8 \(fmap_decay 1.0\) gives 0 feature maps at 32x32; at least 32 ",
        ),
        ({"out_size": 64, "fmap_base": 31}, "^fmap_base: 31 .* at 64x64; at least 32 for 64x64"),
    ],
)
def test_bad_generator_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProGANGenerator(**{"out_size": 16, "out_channels": 1, **kwargs})


def test_bad_discriminator_arguments_name_themselves():
    for kwargs, match in [
        ({"fmap_base": 8}, "^fmap_base: 8 .* at 32x32; at least 32"),
        ({"mbstd_group_size": 0}, "^mbstd_group_size: must be a positive integer"),
        ({"mbstd_channels": 0}, "^mbstd_channels: must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=match):
            ProGANDiscriminator(64, 1, **{"fmap_max": 4, **kwargs})
    ProGANDiscriminator(64, 1, fmap_base=32, fmap_max=4)  # the least fmap_base that works


def test_set_level_checks_its_arguments():
    g, _ = _pair(16)
    with pytest.raises(ValueError, match=r"level: must be an integer in \[0, 2\]"):
        g.set_level(3)
    with pytest.raises(ValueError, match="alpha: level 0"):
        g.set_level(0, 0.5)


# -- schedule and reals ------------------------------------------------------------------------
def test_schedule_follows_the_authors_training_schedule():
    cb = ProgressiveGrowing(stabilise_kimg=600, fade_kimg=600)
    cb.num_levels = 7  # 4 -> 256
    k = 1000
    assert cb.schedule(0) == (0, 1.0)
    assert cb.schedule(600 * k) == (0, 1.0)  # 4x4 stabilised
    assert cb.schedule(750 * k) == (1, 0.25)  # fading 8x8 in
    assert cb.schedule(1200 * k) == (1, 1.0)
    assert cb.schedule(2100 * k) == (2, 0.5)
    assert cb.schedule(6599 * k) == (5, 1.0) and cb.schedule(6900 * k) == (6, 0.5)
    assert cb.schedule(7200 * k) == (6, 1.0) == cb.schedule(10**8)
    late = ProgressiveGrowing(start_resolution=32, stabilise_kimg=1, fade_kimg=0)
    late.num_levels = 7
    assert late.schedule(0) == (3, 1.0) and late.schedule(1000) == (4, 1.0)


def test_fade_reals_is_the_authors_box_filter_and_crossfade():
    x = torch.rand(2, 3, 16, 16)
    eight = x.reshape(2, 3, 8, 2, 8, 2).mean((3, 5))
    assert torch.allclose(fade_reals(x, 8, 1.0), eight)
    four = eight.reshape(2, 3, 4, 2, 4, 2).mean((3, 5))
    up = four.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(fade_reals(x, 8, 0.0), up)
    assert torch.allclose(fade_reals(x, 8, 0.3), 0.3 * eight + 0.7 * up, atol=1e-6)
    assert torch.equal(box_downsample(x, 16), x)


# -- loss -------------------------------------------------------------------------------------
def test_discriminator_loss_is_wgan_gp_plus_drift():
    g, d = _pair(8)
    g.set_level(1)
    d.set_level(1)
    real = torch.randn(4, 1, 8, 8)
    loss = ProGANDiscriminatorLoss(wgan_lambda=10.0, wgan_target=2.0, drift=0.001)
    torch.manual_seed(3)
    terms = loss.terms(g, d, real)
    torch.manual_seed(3)
    fake = g(torch.randn(4, g.encoding_dims)).detach()
    eps = torch.rand(4)
    mixed = eps.view(4, 1, 1, 1) * real + (1 - eps.view(4, 1, 1, 1)) * fake
    norms = gradient_norms(d, mixed)
    d_real = d(real)
    assert torch.allclose(terms["gp"], ((norms - 2.0) ** 2).mean())
    assert torch.allclose(terms["drift"], d_real.square().mean())
    want = d(fake).mean() - d_real.mean() + 10.0 / 4.0 * terms["gp"] + 0.001 * terms["drift"]
    assert torch.allclose(loss.combine(terms), want)
    loss.combine(terms).backward()  # through the penalty: double backward
    assert all(torch.isfinite(p.grad).all() for p in d.parameters() if p.grad is not None)
    assert all(p.grad is None for p in g.parameters())


# -- runs ---------------------------------------------------------------------------------------
def _cfg(out_dir, steps, checkpoint_every=100, size=None):
    model = {"fmap_base": 16, "fmap_max": 8}
    g_args = {**model, "out_size": size} if size else model
    d_args = {**model, "in_size": size} if size else model
    adam = {"name": "adam", "args": {"lr": 1.0e-3, "betas": [0.0, 0.99], "eps": 1.0e-8}}
    return config.config_from_dict(
        {
            "seed": 0,
            "device": "cpu",
            "out_dir": str(out_dir),
            "data": {
                "name": "digits",
                "args": {"image_size": 16, "channels": 1, "split": "test"},
                "loader": {"batch_size": 16, "num_workers": 0, "shuffle": True, "drop_last": True},
            },
            "models": {
                "generator": {"name": "progan_generator", "args": g_args, "optimizer": adam},
                "discriminator": {
                    "name": "progan_discriminator",
                    "args": d_args,
                    "optimizer": adam,
                },
            },
            "losses": [{"name": "progan_generator"}, {"name": "progan_discriminator"}],
            # 16 images a step: steps 1-3 at 4x4, 4-6 fade 8x8 in (alpha .25, .5, .75),
            # 7-9 at 8x8, 10 fades 16x16 in (alpha .25)
            "callbacks": [
                {
                    "name": "progressive_growing",
                    "args": {"stabilise_kimg": 0.032, "fade_kimg": 0.064},
                }
            ],
            "trainer": {
                "epochs": 5,
                "max_steps": steps,
                "sample_size": 4,
                "checkpoint_every": checkpoint_every,
                "ema": {"decay": 0.9},
            },
            "logging": {"progress": False, "tensorboard": False},
        }
    )


def _state(trainer):
    out = {}
    for name, model in trainer.eval_models().items():
        out[name] = model.state_dict()
    for name, model in trainer.models.items():
        out[f"trained/{name}"] = model.state_dict()
    return out


def test_resume_inside_a_fade_in_is_exact(tmp_path):
    full = run(_cfg(tmp_path / "a", 10))
    first = run(_cfg(tmp_path / "b", 5, checkpoint_every=5))
    cb = first.trainer.callbacks["progressive_growing"]
    assert (cb.level, cb.alpha, cb.images) == (1, 0.5, 80)  # stopped inside the fade-in
    resumed = run(_cfg(tmp_path / "b", 10, checkpoint_every=5), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000005.pt"
    a, b = full.trainer, resumed.trainer
    ca, cb = a.callbacks["progressive_growing"], b.callbacks["progressive_growing"]
    assert (ca.level, ca.alpha, ca.images) == (cb.level, cb.alpha, cb.images) == (2, 0.25, 160)
    assert b.generator.level == b.ema["generator"].module.level == b.discriminator.level == 2
    sa, sb = _state(a), _state(b)
    for name in sa:
        for k, v in sa[name].items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, sb[name][k]), f"{name}.{k} differs after resume"
            else:
                assert v == sb[name][k], f"{name}.{k}"
    oa = a.optimizer_discriminator.state_dict()["state"]
    ob = b.optimizer_discriminator.state_dict()["state"]
    assert oa.keys() == ob.keys() and oa
    assert all(torch.equal(oa[i]["exp_avg_sq"], ob[i]["exp_avg_sq"]) for i in oa)
    assert all(int(oa[i]["step"]) == 1 for i in oa)  # reset when step 10 began a fade-in


def test_optimizer_state_is_reset_when_a_fade_in_starts_and_ends(tmp_path):
    result = run(_cfg(tmp_path, 4))  # step 4 starts the fade-in of 8x8
    steps = {int(s["step"]) for s in result.trainer.optimizer_generator.state.values()}
    assert steps == {1}


def test_per_resolution_batch_sizes_use_the_first_images(tmp_path):
    cfg = config.config_to_dict(_cfg(tmp_path, 6))
    cfg["callbacks"][0]["args"]["batch_sizes"] = {8: 6}
    result = run(config.config_from_dict(cfg))
    trainer = result.trainer
    # steps 1-3: 16 images at 4x4; steps 4-6: the first 6 of each batch at 8x8
    assert trainer.callbacks["progressive_growing"].images == 3 * 16 + 3 * 6
    assert trainer.real_inputs.shape == (6, 1, 8, 8) and trainer.batch_size == 6
    with pytest.raises(ValueError, match="batch_sizes: 6 is not a resolution"):
        ProgressiveGrowing(batch_sizes={6: 2})


def test_callback_refuses_data_of_another_size(tmp_path):
    from torchgan_ext import build_trainer
    from torchgan_ext.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        build_trainer(_cfg(tmp_path, 2, size=8))
    assert caught.value.key == "data.args.image_size"
    assert "the data's images are (16, 16) but the progressive models grow to 8x8" in str(
        caught.value
    )


def test_callback_names_the_model_of_another_size(tmp_path):
    from torchgan_ext import build_trainer
    from torchgan_ext.errors import ConfigError

    cfg = config.config_to_dict(_cfg(tmp_path, 2))
    cfg["models"]["generator"]["args"]["out_size"] = 32
    with pytest.raises(ConfigError) as caught:
        build_trainer(config.config_from_dict(cfg))
    assert caught.value.key == "models.generator.args.out_size"
    assert (
        "model 'generator' grows to 32x32 but progressive_growing needs every progressive "
        "model at the data's 16x16; set 16"
    ) in str(caught.value)


@pytest.mark.parametrize(
    "sizes, key, says",
    [
        ({"generator": 16}, "models.generator.args.out_size", "set 32 or leave it out"),
        (
            {"generator": 16, "discriminator": 64},
            "models.generator.args.out_size",
            "model 'discriminator' grows to 64x64 too (its in_size)",
        ),
        ({"discriminator": 64}, "models.discriminator.args.in_size", "the data's 32x32"),
        ({"generator": 16, "discriminator": 16}, "data.args.image_size", "set 16 here"),
    ],
)
def test_a_size_mismatch_names_the_key_to_change_on_the_command_line(
    tmp_path, capsys, sizes, key, says
):
    """``torchgan-run`` on the shipped digits config with a model size that disagrees with
    the schedule: one line naming the model's (or the data's) size key, not ``callbacks.0``."""
    import yaml

    from torchgan_ext.cli import main

    cfg = yaml.safe_load((ROOT / "configs" / "progan_digits.yaml").read_text())
    cfg["out_dir"] = str(tmp_path / "run")
    for name, size in sizes.items():
        arg = "out_size" if name == "generator" else "in_size"
        cfg["models"][name]["args"][arg] = size
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))  # the models in config order
    assert main([str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"torchgan-run: error: {path}: {key}: "), err[0]
    assert says in err[0] and "callbacks.0" not in err[0]
    assert not list((tmp_path / "run").rglob("ckpt-*.pt"))  # nothing trained


def test_digits_config_trains_through_torchgan_run(tmp_path):
    from PIL import Image

    from torchgan_ext.cli import main

    out = tmp_path / "run"
    argv = [str(ROOT / "configs" / "progan_digits.yaml"), "--device", "cpu"]
    sets = [
        "trainer.max_steps=6",
        "trainer.sample_every=3",
        "trainer.sample_size=4",
        "data.loader.batch_size=8",
        "models.generator.args.fmap_base=16",
        "models.discriminator.args.fmap_base=16",
        "callbacks.0.args.stabilise_kimg=0.016",
        "callbacks.0.args.fade_kimg=0.016",
        "logging.progress=false",
        "logging.tensorboard=false",
        f"out_dir={out}",
    ]
    assert main(argv + [x for s in sets for x in ("--set", s)]) == 0
    with Image.open(out / "samples" / "step00000006_generator.png") as im:
        assert im.size == (2 * 34 + 2, 2 * 34 + 2)  # 8x8 grids upsampled to 32x32
    # the checkpoint holds the level: --sample draws the grown-so-far model at the full size
    resolved = [str(out / "config.yaml"), "--device", "cpu"]
    assert main(resolved + ["--sample", "2"]) == 0
    with Image.open(out / "generated" / "000000.png") as im:
        assert im.size == (32, 32)


def test_ada_sees_the_downscaled_reals_when_listed_after_the_schedule(tmp_path):
    from torchgan_ext.errors import ConfigError

    ada = {"name": "ada", "args": {"speed_kimg": 0.01, "interval": 1}}
    cfg = config.config_to_dict(_cfg(tmp_path / "a", 4))
    cfg["callbacks"].append(ada)
    # ADA raises at the end of a step whose discriminator calls never got the batch's reals
    result = run(config.config_from_dict(cfg))
    assert result.step == 4 and result.trainer.callbacks["ada"].images == 0  # 4 adjustments
    cfg = config.config_to_dict(_cfg(tmp_path / "b", 4))
    cfg["callbacks"].insert(0, ada)
    with pytest.raises(ConfigError, match="callbacks.1: callback 'ada' comes before progressive"):
        run(config.config_from_dict(cfg))


def test_paper_config_trains_two_steps_on_an_image_folder(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.new("RGB", (40, 40), (60 * i, 100, 200 - 40 * i)).save(tmp_path / f"{i}.png")
    overrides = [
        f"data.args.root={tmp_path}",
        "data.args.image_size=16",
        "data.loader.batch_size=2",
        "data.loader.num_workers=0",
        "models.generator.args.fmap_base=16",
        "models.discriminator.args.fmap_base=16",
        "trainer.max_steps=2",
        "logging.progress=false",
        "logging.tensorboard=false",
        f"out_dir={tmp_path / 'run'}",
        "device=cpu",
    ]
    cfg = load_config(ROOT / "configs" / "progan_celebahq256.yaml", overrides)
    assert cfg.callbacks[0].args["stabilise_kimg"] == 800
    result = run(cfg)
    assert result.trainer.step == 2
    assert result.trainer.generator.encoding_dims == 16  # min(fmap_base, fmap_max)
    assert math.isfinite(float(result.trainer.loss_scalars()["progan/d_gp"]))
