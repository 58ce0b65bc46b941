"""StyleGAN2: modulated convolution against a plain reference, truncation, style mixing,
path-length regularisation, the 4-callback recipe (EMA, ADA / DiffAugment, R1, path length),
resume and ``--sample --truncation``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from torchgan_ext import config, run
from torchgan_ext.callbacks import PathLengthPenalty
from torchgan_ext.callbacks.path_length import path_lengths
from torchgan_ext.errors import ConfigError
from torchgan_ext.inference import load_run
from torchgan_ext.layers import ModulatedConv2d, modulated_conv2d
from torchgan_ext.layers.modulated import downsample2d, upsample2d
from torchgan_ext.models.stylegan2 import StyleGAN2Generator
from torchgan_ext.models.stylegan2_discriminator import StyleGAN2Discriminator
from torchgan_ext.sampling import sample_images
from torchgan_ext.testing import tiny_config

TINY_G = {"encoding_dims": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8}


def _generator(size: int = 16, **kw) -> StyleGAN2Generator:
    torch.manual_seed(0)
    return StyleGAN2Generator(out_size=size, out_channels=1, **{**TINY_G, **kw})


# -- modulated convolution ---------------------------------------------------------------------
def _reference(x, weight, styles, demodulate, padding):
    """One plain conv2d per sample with its modulated (and demodulated) weights."""
    outs = []
    for n in range(x.shape[0]):
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[n : n + 1], w, padding=padding))
    return torch.cat(outs)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [1, 3])
def test_modulated_conv_matches_a_per_sample_conv_loop(demodulate, kernel, fused):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 7, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(5, 4, kernel, kernel, generator=g, dtype=torch.float64)
    styles = torch.randn(3, 4, generator=g, dtype=torch.float64)
    out = modulated_conv2d(x, weight, styles, demodulate, padding=kernel // 2, fused=fused)
    torch.testing.assert_close(out, _reference(x, weight, styles, demodulate, kernel // 2))


def test_the_module_modulates_with_its_affine_style_and_upsamples():
    torch.manual_seed(0)
    layer = ModulatedConv2d(4, 6, 3, w_dim=5, up=True).double()
    with torch.no_grad():
        layer.affine.bias.normal_()  # styles that differ per channel
    x, w = torch.randn(2, 4, 5, 5, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    out = layer(x, w)
    weight = layer.weight * layer.weight_gain
    expected = _reference(upsample2d(x), weight, layer.affine(w), True, 1)
    torch.testing.assert_close(out, expected)
    assert out.shape == (2, 6, 10, 10)


def test_demodulation_gives_unit_output_std_for_unit_inputs():
    """The paper's claim (section 2.2): with i.i.d. unit inputs, every output map of a
    demodulated convolution has unit standard deviation whatever the style."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 64, 64, generator=g)
    out = modulated_conv2d(
        x, torch.randn(8, 64, 3, 3, generator=g), torch.rand(2, 64, generator=g) * 5, padding=1
    )
    std = out[:, :, 1:-1, 1:-1].std(dim=(2, 3))
    torch.testing.assert_close(std, torch.ones_like(std), atol=0.05, rtol=0)


def test_fir_resampling_keeps_constants_and_halves_or_doubles_the_size():
    x = torch.full((1, 2, 8, 8), 3.0)
    up, down = upsample2d(x), downsample2d(x)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full((1, 2, 2, 2), 3.0))


# -- the models --------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 16, 32])
def test_any_power_of_two_size_and_the_layer_count(size):
    g = _generator(size)
    d = StyleGAN2Discriminator(size, 1, channel_base=64, channel_max=8)
    assert g.num_ws == 2 * int(math.log2(size)) - 2
    images = g(torch.randn(4, 8))
    assert images.shape == (4, 1, size, size) and d(images).shape == (4,)


@pytest.mark.parametrize(
    ("cls", "args", "key"),
    [
        (StyleGAN2Generator, {"out_size": 24}, "out_size"),
        (StyleGAN2Generator, {"out_size": 4}, "out_size"),
        (StyleGAN2Generator, {"noise_mode": "fixed"}, "noise_mode"),
        (StyleGAN2Generator, {"style_mixing_prob": 1.5}, "style_mixing_prob"),
        (StyleGAN2Generator, {"truncation_psi": -0.5}, "truncation_psi"),
        (StyleGAN2Discriminator, {"in_size": 12}, "in_size"),
    ],
)
def test_bad_arguments_name_the_argument(cls, args, key):
    with pytest.raises((ValueError, TypeError), match=f"^{key}: "):
        cls(**args)


def test_w_avg_tracks_the_mapping_output_in_training_only():
    g = _generator()
    z = torch.randn(16, 8)
    g.train()
    w = g.mapping(z)
    torch.testing.assert_close(g.mapping.w_avg, (1 - 0.995) * w.detach().mean(0))
    before = g.mapping.w_avg.clone()
    g.eval()
    g(z)
    assert torch.equal(g.mapping.w_avg, before)


# -- truncation --------------------------------------------------------------------------------
def _trained_average(g: StyleGAN2Generator) -> StyleGAN2Generator:
    """A generator whose w_avg is the average of many mapped z (as after training)."""
    with torch.no_grad():
        g.mapping.w_avg.copy_(g.mapping(torch.randn(4096, 8)).mean(0))
    return g.eval()


def test_truncation_psi_0_gives_the_average_image_for_every_z():
    g = _trained_average(_generator(noise_mode="const"))
    g.truncation_psi = 0.0
    images = g(torch.randn(6, 8))
    avg = g.synthesis(g.mapping.w_avg.reshape(1, 1, -1).repeat(1, g.num_ws, 1))
    torch.testing.assert_close(images, avg.expand_as(images))


def test_truncation_psi_1_changes_nothing():
    g = _trained_average(_generator(noise_mode="const"))
    z = torch.randn(6, 8)
    plain = g.synthesis(g.mapping(z).unsqueeze(1).repeat(1, g.num_ws, 1))
    assert g.truncation_psi == 1.0
    torch.testing.assert_close(g(z), plain)


def test_truncation_reduces_the_variety_of_the_images():
    """The documented effect: the per-pixel standard deviation over images shrinks with psi."""
    g = _trained_average(_generator(noise_mode="const"))
    z = torch.randn(256, 8)
    stds = []
    for psi in (1.0, 0.7, 0.4, 0.0):
        g.truncation_psi = psi
        with torch.no_grad():
            stds.append(float(g(z).std(dim=0).mean()))
    assert stds == sorted(stds, reverse=True) and stds[-1] < 1e-5 < stds[2], stds


def test_truncation_cutoff_truncates_only_the_layers_below_it():
    g = _trained_average(_generator())
    z = torch.randn(3, 8)
    full, cut = g.style(z), g.style(z, psi=0.5, cutoff=2)
    avg = g.mapping.w_avg
    torch.testing.assert_close(cut[:, :2], avg + 0.5 * (full[:, :2] - avg))
    assert torch.equal(cut[:, 2:], full[:, 2:])


# -- style mixing ------------------------------------------------------------------------------
def test_style_mixing_uses_w1_below_the_cutoff_and_w2_from_it_on():
    """By construction: redraw the generator's random choices and build the mixed styles."""
    g = _generator(32, noise_mode="none", style_mixing_prob=1.0).train()
    z = torch.randn(4, 8)
    torch.manual_seed(123)
    images = g(z)
    torch.manual_seed(123)
    assert torch.rand(()) < 1.0  # the mixing draw
    cutoff = int(torch.randint(1, g.num_ws, ()))
    z2 = torch.randn_like(z)
    w1, w2 = g.mapping(z), g.mapping(z2)
    ws = torch.stack([w1 if layer < cutoff else w2 for layer in range(g.num_ws)], dim=1)
    torch.testing.assert_close(images, g.synthesis(ws))
    # and the mix is neither of the two unmixed images
    for w in (w1, w2):
        assert not torch.allclose(images, g.synthesis(w.unsqueeze(1).repeat(1, g.num_ws, 1)))


def test_no_style_mixing_with_probability_0_nor_in_eval_mode():
    for prob, train in ((0.0, True), (1.0, False)):
        g = _generator(noise_mode="none", style_mixing_prob=prob).train(train)
        z = torch.randn(4, 8)
        w = g.mapping(z).unsqueeze(1).repeat(1, g.num_ws, 1)
        torch.testing.assert_close(g(z), g.synthesis(w))


# -- path length -------------------------------------------------------------------------------
class _Linear(nn.Module):
    """g(z) = reshape(A z): J^T y = A^T y, known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.encoding_dims = 3
        self.a = nn.Parameter(torch.randn(16, 3, dtype=torch.float64))

    def forward(self, z):
        return (z.to(self.a.dtype) @ self.a.T).reshape(-1, 1, 4, 4)


def test_path_length_of_a_linear_generator_is_the_norm_of_a_transpose_y():
    g = _Linear()
    z = torch.randn(5, 3, dtype=torch.float64)
    noise = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    expected = ((noise.reshape(5, 16) / 4.0) @ g.a).norm(dim=1)
    torch.testing.assert_close(path_lengths(g, z, noise), expected)


def test_path_length_of_stylegan2_matches_a_per_sample_vjp():
    g = _generator(noise_mode="none", style_mixing_prob=0.0).double()
    z = torch.randn(3, 8, dtype=torch.float64)
    noise = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    lengths = path_lengths(g, z, noise)
    ws = g.style(z).detach()
    for i in range(3):
        _, (grad,) = torch.autograd.functional.vjp(
            lambda w: g.synthesis(w.unsqueeze(0)), (ws[i],), noise[i : i + 1] / 16.0
        )
        torch.testing.assert_close(lengths[i], grad.square().sum(1).mean().sqrt())
    assert lengths.requires_grad  # differentiable: the penalty trains the generator


# -- training with the recipe's callbacks ------------------------------------------------------
ADAM = {"name": "adam", "args": {"lr": 2.0e-3, "betas": [0.0, 0.99]}}
RECIPE = [
    {"name": "ema", "args": {"decay": 0.9}},
    {"name": "r1_penalty", "args": {"gamma": 1.0, "every": 2}},
    {"name": "path_length", "args": {"every": 2}},
]


def _stylegan2_config(out_dir, callbacks, max_steps=4, **trainer):
    cfg = tiny_config(out_dir)
    cfg["models"] = {
        "generator": {"name": "stylegan2_generator", "args": dict(TINY_G), "optimizer": ADAM},
        "discriminator": {
            "name": "stylegan2_discriminator",
            "args": {"channel_base": 64, "channel_max": 8},
            "optimizer": ADAM,
        },
    }
    cfg["data"]["loader"]["batch_size"] = 8
    cfg["trainer"].update(max_steps=max_steps, checkpoint_every=2, **trainer)
    cfg["callbacks"] = callbacks
    return config.config_from_dict(cfg)


@pytest.mark.parametrize(
    "augment",
    [
        {"name": "ada", "args": {"p": 0.2, "speed_kimg": 0.01, "interval": 1}},
        {"name": "diffaugment"},
    ],
)
def test_the_recipe_trains_with_ema_r1_path_length_and_augmentation(tmp_path, augment):
    result = run(_stylegan2_config(tmp_path, [*RECIPE, augment]))
    t = result.trainer
    assert t.step == 4
    ema = t.ema["generator"].module
    assert t.eval_generator is ema and not ema.training
    live = dict(t.generator.named_parameters())
    assert any(not torch.equal(p, live[k]) for k, p in ema.named_parameters())
    # the copy (eval mode) never tracks w itself: a non-zero w_avg was copied from the live one
    assert ema.mapping.w_avg.abs().sum() > 0 and t.generator.mapping.w_avg.abs().sum() > 0
    pl, r1 = t.callbacks["path_length"], t.callbacks["r1_penalty"]
    assert torch.isfinite(pl.last_value) and pl.pl_mean > 0 and r1.last_value > 0
    if augment["name"] == "ada":
        assert float(t.callbacks["ada"].p) != 0.2  # ADA saw the discriminator's real calls
    assert not t.callbacks[augment["name"]]._handles  # hooks removed: plain models again
    for model in t.models.values():
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_path_length_mean_and_weights_survive_resume_exactly(tmp_path):
    cbs = [{"name": "path_length", "args": {"every": 1}}]
    full = run(_stylegan2_config(tmp_path / "a", cbs, max_steps=4))
    run(_stylegan2_config(tmp_path / "b", cbs, max_steps=2))
    resumed = run(_stylegan2_config(tmp_path / "b", cbs, max_steps=4), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000002.pt"
    a, b = full.trainer.callbacks["path_length"], resumed.trainer.callbacks["path_length"]
    assert torch.equal(a.pl_mean, b.pl_mean) and a.pl_mean > 0
    for k, v in full.trainer.generator.state_dict().items():
        assert torch.equal(v, resumed.trainer.generator.state_dict()[k]), k


def test_path_length_regularisation_changes_the_generator(tmp_path):
    plain = run(_stylegan2_config(tmp_path / "plain", [], max_steps=2))
    reg = run(
        _stylegan2_config(
            tmp_path / "pl", [{"name": "path_length", "args": {"every": 1}}], max_steps=2
        )
    )
    assert any(
        not torch.equal(v, reg.trainer.generator.state_dict()[k])
        for k, v in plain.trainer.generator.state_dict().items()
    )


def test_path_length_refuses_a_conditional_generator(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg["models"]["generator"]["name"] = "conditional_gan_generator"
    cfg["models"]["discriminator"]["name"] = "conditional_gan_discriminator"
    cfg["callbacks"] = [{"name": "path_length"}]
    with pytest.raises(ConfigError, match="callbacks.0.*not a generator of noise alone"):
        run(config.config_from_dict(cfg))


@pytest.mark.parametrize(
    ("args", "key"),
    [({"decay": 1.5}, "decay"), ({"batch_shrink": 0}, "batch_shrink"), ({"every": 0}, "every")],
)
def test_bad_path_length_arguments_name_the_argument(args, key):
    with pytest.raises((ValueError, TypeError), match=f"^{key}: "):
        PathLengthPenalty(**args)


# -- sampling ----------------------------------------------------------------------------------
def test_sample_with_truncation_0_writes_the_average_image(tmp_path):
    cfg = _stylegan2_config(tmp_path / "run", [{"name": "ema", "args": {"decay": 0.9}}])
    run(cfg)
    loaded = load_run(tmp_path / "run", device="cpu")
    assert loaded.weights["generator"] == "ema" and loaded.generator.truncation_psi == 1.0
    varied = sample_images(loaded, 3, tmp_path / "plain")
    truncated = sample_images(loaded, 3, tmp_path / "psi0", truncation=0.0)
    assert loaded.generator.truncation_psi == 0.0

    def pixels(paths):
        return [torch.from_numpy(np.array(Image.open(p))) for p in paths]

    a, b = pixels(truncated.files), pixels(varied.files)  # (the noise inputs still differ)
    spread = lambda xs: torch.stack(xs).float().std(0).mean()  # noqa: E731
    assert spread(a) < spread(b)


def test_truncation_flag_is_refused_for_generators_without_it(tmp_path):
    cfg = config.config_from_dict(tiny_config(tmp_path / "run"))
    run(cfg)
    with pytest.raises(ConfigError, match="--truncation"):
        sample_images(load_run(tmp_path / "run", device="cpu"), 2, tmp_path / "g", truncation=0.5)


def test_cli_sample_truncation(tmp_path, capsys):
    import yaml

    from torchgan_ext.cli import main

    cfg = tiny_config(tmp_path / "run")
    cfg["models"]["generator"] = {"name": "stylegan2_generator", "args": dict(TINY_G)}
    cfg["models"]["generator"]["optimizer"] = ADAM
    cfg["trainer"]["max_steps"] = 1
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--truncation", "0.5"]) == 2
    assert "--truncation applies to --sample" in capsys.readouterr().err
    assert main([str(path)]) == 0
    assert main([str(path), "--sample", "3", "--truncation", "0.5"]) == 0
    assert len(list((tmp_path / "run" / "generated").glob("*.png"))) == 3
