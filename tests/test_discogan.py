"""DiscoGAN: architecture sizes, the losses against their formulas, the update interval and
rate schedule, grids, a four-model run through torchgan-run, exact resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from torchgan_ext import load_config, run
from torchgan_ext.cli import main
from torchgan_ext.losses.discogan import (
    DiscoGANDiscriminatorLoss,
    DiscoGANGeneratorLoss,
    feature_matching,
)
from torchgan_ext.models.discogan import DiscoGANDiscriminator, DiscoGANGenerator
from torchgan_ext.testing import write_unpaired_images

ROOT = Path(__file__).resolve().parents[1]


def _models(side=16, ca=1, cb=3):
    torch.manual_seed(0)
    g = DiscoGANGenerator(ca, cb, "a2b", side, base_channels=2)
    f = DiscoGANGenerator(ca, cb, "b2a", side, base_channels=2)
    d_b = DiscoGANDiscriminator(ca, cb, "b", side, base_channels=2)
    d_a = DiscoGANDiscriminator(ca, cb, "a", side, base_channels=2)
    return g, f, d_b, d_a


@pytest.mark.parametrize("side", [16, 32, 64, 128])
def test_shapes_at_several_sizes(side):
    g, f, d_b, d_a = _models(side)
    a = torch.rand(2, 1, side, side) * 2 - 1
    fake_b = g(a)
    assert fake_b.shape == (2, 3, side, side) and f(fake_b).shape == a.shape
    logits, feats = d_b.features(fake_b)
    assert logits.shape == (2,) and d_a(a).shape == (2,)
    assert len(feats) == max(0, int(torch.tensor(side // 4).log2()) - 1)


def test_paper_network_at_64():
    g = DiscoGANGenerator(3, 3, image_size=64)
    convs = [m.out_channels for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    ups = [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert convs == [64, 128, 256, 512] and ups == [256, 128, 64, 3]
    d = DiscoGANDiscriminator(image_size=64)
    assert [f.shape[1] for f in d.features(torch.zeros(2, 3, 64, 64))[1]] == [128, 256, 512]


def _batch(side=16):
    torch.manual_seed(1)
    return torch.rand(4, 1, side, side) * 2 - 1, torch.rand(4, 3, side, side) * 2 - 1


def test_generator_loss_is_the_authors_formula():
    g, f, d_b, d_a = _models()
    a, b = _batch()
    rate = 0.01

    def direction(x, y, fwd, bwd, d):
        fake = fwd(x)
        logits, ff = d.features(fake)
        _, rf = d.features(y)
        fm = sum(((r.mean(0) - q.mean(0)) ** 2).mean() for r, q in zip(rf, ff))
        rec = F.mse_loss((bwd(fake) + 1) / 2, (x + 1) / 2)
        gan = F.binary_cross_entropy(torch.sigmoid(logits), torch.ones_like(logits))
        return (1 - rate) * (0.1 * gan + 0.9 * fm) + rate * rec

    want = direction(a, b, g, f, d_b) + direction(b, a, f, g, d_a)
    loss = DiscoGANGeneratorLoss(update_interval=1)
    opt = [torch.optim.SGD(m.parameters(), lr=0.0) for m in (g, f)]
    got = loss.train_ops(g, f, d_b, d_a, *opt, a, b)
    assert torch.allclose(got, want, atol=1e-5)
    assert d_b.head.weight.grad is None  # the discriminators are frozen


def test_discriminator_loss_is_half_the_bce_per_domain():
    g, f, d_b, d_a = _models()
    a, b = _batch()
    want = 0.5 * (
        F.softplus(-d_b(b)).mean()
        + F.softplus(d_b(g(a))).mean()
        + F.softplus(-d_a(a)).mean()
        + F.softplus(d_a(f(b))).mean()
    )
    opt = [torch.optim.SGD(m.parameters(), lr=0.0) for m in (d_b, d_a)]
    got = DiscoGANDiscriminatorLoss(update_interval=1).train_ops(g, f, d_b, d_a, *opt, a, b)
    assert torch.allclose(got, want, atol=1e-5)


def test_feature_matching_of_equal_batch_means_is_zero():
    x = torch.randn(4, 2, 3, 3)
    assert feature_matching([x], [x.flip(0)]) == pytest.approx(0.0, abs=1e-12)
    assert feature_matching([x], [x + 1]) == pytest.approx(1.0)


def test_update_interval_and_rate_follow_the_authors_loop():
    g, f, d_b, d_a = _models()
    a, b = _batch()
    gl = DiscoGANGeneratorLoss(curriculum=4, update_interval=3)
    dl = DiscoGANDiscriminatorLoss(update_interval=3)
    g_opt = [torch.optim.SGD(m.parameters(), lr=0.01) for m in (g, f)]
    d_opt = [torch.optim.SGD(m.parameters(), lr=0.01) for m in (d_b, d_a)]
    stepped = []
    for _ in range(6):
        before_d = d_b.head.weight.clone()
        before_g = g.main[0][0].weight.clone()
        dl.train_ops(g, f, d_b, d_a, *d_opt, a, b)
        gl.train_ops(g, f, d_b, d_a, *g_opt, a, b)
        stepped.append(
            ("d" if not torch.equal(before_d, d_b.head.weight) else "")
            + ("g" if not torch.equal(before_g, g.main[0][0].weight) else "")
        )
    assert stepped == ["d", "g", "g", "d", "g", "g"]  # iters % 3 == 0: D, else G
    assert gl.iteration == dl.iteration == 6 and gl.rate() == 0.5
    state = gl.state_dict()
    fresh = DiscoGANGeneratorLoss(curriculum=4)
    fresh.load_state_dict(state)
    assert fresh.iteration == 6


def test_grey_and_colour_domains_in_one_grid():
    g, f, _, _ = _models()
    a, b = _batch()
    images, nrow = g.sample_grid((a, b), [], models={"generator": g, "generator_ba": f})
    assert nrow == 3 and images.shape == (12, 3, 16, 16)  # A | G(A) | F(G(A)), grey in RGB


def _overrides(tmp_path, out, steps):
    root = write_unpaired_images(tmp_path / "data", size=16)
    return [
        f"data.args.root={root}",
        "data.args.image_size=16",
        "data.args.channels_a=3",
        "data.loader.batch_size=2",
        f"trainer.max_steps={steps}",
        "trainer.checkpoint_every=3",
        "trainer.sample_every=3",
        "trainer.sample_size=2",
        "logging.progress=false",
        f"out_dir={tmp_path / out}",
    ] + [
        f"models.{m}.args.base_channels=2"
        for m in ("generator", "generator_ba", "discriminator", "discriminator_a")
    ]


@pytest.mark.slow
def test_digits_config_trains_through_torchgan_run_and_resumes_exactly(tmp_path):
    argv = [str(ROOT / "configs" / "discogan_digits.yaml"), "--device", "cpu"]
    sets = [x for o in _overrides(tmp_path, "a", 6) for x in ("--set", o)]
    assert main(argv + sets) == 0
    grids = sorted(p.name for p in (tmp_path / "a" / "samples").glob("*.png"))
    assert "step00000006_generator.png" in grids and "step00000006_generator_ba.png" in grids
    with Image.open(tmp_path / "a" / "samples" / "step00000006_generator.png") as im:
        assert im.size == (3 * 18 + 2, 2 * 18 + 2)
    cfg = load_config(ROOT / "configs" / "discogan_digits.yaml", _overrides(tmp_path, "b", 3))
    run(cfg, device="cpu")
    cfg = load_config(ROOT / "configs" / "discogan_digits.yaml", _overrides(tmp_path, "b", 6))
    resumed = run(cfg, resume=True, device="cpu")
    full = load_config(ROOT / "configs" / "discogan_digits.yaml", _overrides(tmp_path, "c", 6))
    full = run(full, device="cpu")
    for name in ("generator", "generator_ba", "discriminator", "discriminator_a"):
        want = full.trainer.models[name].state_dict()
        got = resumed.trainer.models[name].state_dict()
        for k in want:
            assert torch.equal(want[k], got[k]), f"{name}.{k} differs after resume"


def test_paper_config_trains_two_steps(tmp_path):
    overrides = [o for o in _overrides(tmp_path, "p", 2) if "channels_a" not in o]
    overrides += ["data.loader.num_workers=0", "logging.tensorboard=false"]
    cfg = load_config(ROOT / "configs" / "discogan_edges2shoes.yaml", overrides)
    assert cfg.losses[1].args["curriculum"] == 10000
    result = run(cfg, device="cpu")
    assert result.trainer.step == 2
