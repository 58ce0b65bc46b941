"""StyleGAN2 details that follow the authors' code (NVlabs/stylegan2-ada-pytorch): the
path-length penalty's gradient through its running mean, style mixing's second noise leaving
``w_avg`` alone, the shipped configs' lazy-regularisation correction; argument errors of the
discriminator and ``--truncation``; metrics at psi = 1 whatever ``truncation_psi``."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from test_stylegan2 import _Linear
from torch import nn

from torchgan_ext import config, load_plugins, run
from torchgan_ext.callbacks import PathLengthPenalty
from torchgan_ext.cli import main
from torchgan_ext.errors import ConfigError
from torchgan_ext.evaluate import evaluate
from torchgan_ext.inference import load_run
from torchgan_ext.models.stylegan2 import StyleGAN2Generator
from torchgan_ext.models.stylegan2_discriminator import StyleGAN2Discriminator
from torchgan_ext.models.truncation import untruncated
from torchgan_ext.sampling import sample_images
from torchgan_ext.testing import tiny_config

ROOT = Path(__file__).resolve().parent.parent
TINY_G = {"encoding_dims": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8}
TINY_D = {"channel_base": 64, "channel_max": 8}
ADAM = {"name": "adam", "args": {"lr": 2.0e-3, "betas": [0.0, 0.99]}}
PLUGIN = "torchgan_ext.testing.extractors"


def _stylegan2(out_dir, g_args=None, **trainer) -> dict:
    cfg = tiny_config(out_dir)
    cfg["models"] = {
        "generator": {
            "name": "stylegan2_generator",
            "args": {**TINY_G, **(g_args or {})},
            "optimizer": ADAM,
        },
        "discriminator": {"name": "stylegan2_discriminator", "args": TINY_D, "optimizer": ADAM},
    }
    cfg["data"]["loader"]["batch_size"] = 8
    cfg["trainer"].update({"max_steps": 2, **trainer})
    return cfg


# -- path length: the running mean stays in the penalty's graph -------------------------------
# g(z) = reshape(A z): the length of sample j is |A^T y_j| and its gradient is known
def test_path_length_gradient_flows_through_the_updated_mean():
    """P = w mean_j (l_j - m)^2 with m = (1 - b) a + b mean_i l_i (the authors' loss.py: the
    lerp is not detached), so dP/dl_j = 2w/B [(l_j - m) - b mean_i (l_i - m)]; by the chain
    rule with dl_j/dA = y_j (A^T y_j)^T / l_j."""
    torch.manual_seed(0)
    g, (w, b, a, n) = _Linear(), (2.0, 0.5, 0.3, 4)
    pl = PathLengthPenalty(weight=w, decay=b, batch_shrink=1, every=1)
    pl.pl_mean = torch.tensor(a)
    trainer = SimpleNamespace(real_inputs=torch.zeros(n, 1, 4, 4))
    torch.manual_seed(7)
    value = pl.regulariser(trainer, g)
    (grad,) = torch.autograd.grad(value, g.a)

    torch.manual_seed(7)  # the same draws: z (unused by a linear map), then the direction
    torch.randn(n, 3)
    y = torch.randn(n, 1, 4, 4, dtype=torch.float64).reshape(n, 16) / 4.0
    v = y @ g.a.detach()  # A^T y_j, [B, 3]
    lengths = v.norm(dim=1)
    m = (1 - b) * a + b * lengths.mean()
    d_l = 2 * w / n * ((lengths - m) - b * (lengths - m).mean())
    expected = torch.einsum("j,jp,jq->pq", d_l / lengths, y, v)
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-8)
    penalty = float(w * (lengths - m).square().mean())
    assert float(value.detach()) == pytest.approx(penalty, rel=1e-5)
    assert not pl.pl_mean.requires_grad and float(pl.pl_mean) == pytest.approx(float(m))
    # the check can tell: with a detached mean the gradient lacks the b-term
    detached = torch.einsum("j,jp,jq->pq", 2 * w / n * (lengths - m) / lengths, y, v)
    assert not torch.allclose(expected, detached, rtol=1e-3)


# -- style mixing: only the first noise moves w_avg ----------------------------------------
def test_style_mixing_second_noise_does_not_update_w_avg():
    torch.manual_seed(0)
    g = StyleGAN2Generator(out_size=16, out_channels=1, style_mixing_prob=1.0, **TINY_G)
    with torch.no_grad():
        g.mapping.w_avg.normal_()
    z = torch.randn(6, 8)
    before = g.mapping.w_avg.clone()
    w1 = copy.deepcopy(g).eval().mapping(z)  # eval mode: no update
    g.train()
    g(z)  # mixing with probability 1: a second batch of noise is mapped too
    torch.testing.assert_close(g.mapping.w_avg, before.lerp(w1.mean(0), 1 - 0.995))
    # the mapping's own switch, as the authors' skip_w_avg_update
    g.mapping(torch.randn(6, 8), update_w_avg=False)
    torch.testing.assert_close(g.mapping.w_avg, before.lerp(w1.mean(0), 1 - 0.995))


# -- shipped configs: Adam corrected for the lazy regularisers -------------------------------
@pytest.mark.parametrize("name", ["stylegan2_digits", "stylegan2_ffhq256"])
def test_config_betas_are_corrected_for_lazy_regularisation(name):
    """beta2 ^ c with c = every / (every + 1) of the model's lazy regulariser (authors'
    training_loop.py), from 0.99: G with path_length, D with r1_penalty."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text())
    every = {cb["name"]: cb.get("args", {}).get("every") for cb in cfg["callbacks"]}
    for model, reg in (("generator", "path_length"), ("discriminator", "r1_penalty")):
        c = every[reg] / (every[reg] + 1)
        beta2 = cfg["models"][model]["optimizer"]["args"]["betas"][1]
        assert beta2 == pytest.approx(0.99**c, abs=1e-6), (model, beta2, 0.99**c)


# -- argument errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "args", "key"),
    [
        (StyleGAN2Discriminator, {"mbstd_channels": 3, **TINY_D}, "mbstd_channels"),
        (StyleGAN2Discriminator, {"mbstd_channels": 0}, "mbstd_channels"),
        (StyleGAN2Discriminator, {"mbstd_group_size": 0}, "mbstd_group_size"),
        (StyleGAN2Generator, {"truncation_psi": math.inf}, "truncation_psi"),
    ],
)
def test_bad_arguments_name_the_argument(cls, args, key):
    with pytest.raises((ValueError, TypeError), match=f"^{key}: "):
        cls(**args)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("mbstd_channels", 3, "must divide the 8 feature maps at 4x4"),
        ("mbstd_group_size", 0, "must be a positive integer"),
    ],
)
def test_launcher_names_the_minibatch_stddev_key(tmp_path, capsys, key, value, says):
    cfg = _stylegan2(tmp_path / "run")
    cfg["callbacks"] = [{"name": "r1_penalty", "args": {"every": 1}}]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--set", f"models.discriminator.args.{key}={value}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"models.discriminator.args.{key}: {says}" in err, err


def test_truncation_must_be_finite(tmp_path, capsys):
    cfg = _stylegan2(tmp_path / "run", max_steps=1)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 0
    loaded = load_run(tmp_path / "run", device="cpu")
    for psi in (math.inf, math.nan, -0.1):
        with pytest.raises(ConfigError, match="--truncation.*finite number >= 0"):
            sample_images(loaded, 2, tmp_path / "g", truncation=psi)
    capsys.readouterr()
    assert main([str(path), "--sample", "2", "--truncation", "inf"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--truncation" in err and "finite" in err and "\n" not in err, err
    assert not (tmp_path / "run" / "generated").exists()


# -- metrics at psi = 1 ------------------------------------------------------------------------
def test_untruncated_sets_psi_1_inside_and_restores_it_even_after_an_error():
    torch.manual_seed(0)
    g = StyleGAN2Generator(out_size=8, out_channels=1, truncation_psi=0.5, **TINY_G)
    wrapped = nn.Sequential(g)  # found as a submodule, as in a wrapper
    with untruncated(wrapped, None, g, nn.Linear(2, 2)):
        assert g.truncation_psi == 1.0
    assert g.truncation_psi == 0.5
    with pytest.raises(RuntimeError), untruncated(g):
        raise RuntimeError("boom")
    assert g.truncation_psi == 0.5


def test_compiled_generator_keeps_one_graph_per_psi_across_untruncated_switches():
    """Under ``compile: true`` grids run at the configured psi and metrics inside
    ``untruncated`` (psi 1): dynamo guards the float attribute, so each of the two values gets
    one graph, kept in the cache; switching back and forth reuses them (no recompile, no
    recompile-limit fallback) and both match the eager model."""
    from torch._dynamo.utils import counters

    torch.manual_seed(0)
    g = StyleGAN2Generator(
        out_size=8, out_channels=1, truncation_psi=0.7, noise_mode="const", **TINY_G
    )
    g.mapping.w_avg.normal_()  # a non-trivial average, so psi 0.7 and 1 differ
    eager = copy.deepcopy(g).eval()
    g.eval().compile(backend="eager")
    z = torch.randn(2, TINY_G["encoding_dims"])
    torch._dynamo.reset()
    counters.clear()
    try:
        with torch.no_grad(), torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
            for _ in range(4):
                truncated = g(z)
                with untruncated(g, eager):
                    free, free_eager = g(z), eager(z)
                assert torch.equal(truncated, eager(z)) and torch.equal(free, free_eager)
                assert not torch.allclose(truncated, free)
        assert counters["stats"]["unique_graphs"] == 2
        assert counters["frames"]["total"] == counters["frames"]["ok"] == 2
        assert g.truncation_psi == 0.7
    finally:
        torch._dynamo.reset()


def test_metrics_ignore_truncation_but_sample_grids_use_it(tmp_path):
    """A run whose generator has truncation_psi 0 (every sample the average image): its FID
    during training and by --evaluate equals --evaluate of the same checkpoint at psi 1, while
    its sample grid is one repeated image."""
    load_plugins([PLUGIN])
    metric = {"extractor": "tiny_feature_extractor", "num_samples": 32, "batch_size": 16}
    cfg = _stylegan2(
        tmp_path / "run",
        {"truncation_psi": 0.0, "noise_mode": "const"},
        max_steps=2,
        eval_every=2,
        sample_every=2,
        sample_size=4,
    )
    cfg["metrics"] = [{"name": "fid", "args": {**metric, "cache_dir": str(tmp_path / "c")}}]
    cfg["callbacks"] = [{"name": "ema", "args": {"decay": 0.9}}]
    result = run(config.config_from_dict(cfg))
    logged = result.metrics["fid"]
    g = result.trainer.eval_generator
    assert g.truncation_psi == 0.0 and result.trainer.generator.truncation_psi == 0.0
    grid = np.array(Image.open(sorted((tmp_path / "run" / "samples").glob("*.png"))[-1]))
    assert _tiles_equal(grid)  # psi 0: the average image, repeated (at psi 1 they differ)

    same = evaluate(config.config_from_dict(cfg))
    plain = copy.deepcopy(cfg)
    plain["models"]["generator"]["args"]["truncation_psi"] = 1.0
    untrunc = evaluate(config.config_from_dict(plain))
    assert untrunc.metrics["fid"] == pytest.approx(logged, rel=1e-5)
    assert same.metrics["fid"] == pytest.approx(logged, rel=1e-5)
    # and truncation does change what the generator makes (so the equality is not vacuous)
    z = torch.randn(4, 8)
    with torch.no_grad():
        truncated = g(z)
        with untruncated(g):
            free = g(z)
    assert truncated.std(0).mean() < 1e-5 < free.std(0).mean()


def _tiles_equal(grid: np.ndarray) -> bool:
    """A 2x2 grid of 16 px tiles (torchvision's 2 px padding) holds four equal images."""
    assert grid.shape[:2] == (38, 38), grid.shape
    tiles = [grid[2 + r : r + 18, 2 + c : c + 18] for r in (0, 18) for c in (0, 18)]
    return all(np.array_equal(tiles[0], t) for t in tiles[1:])
