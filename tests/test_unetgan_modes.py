"""U-Net GAN's CutMix modes and loss weights against hand-computed formulas; the per-pixel head.

The references below are written out element by element with ``math`` (no torch loss
functions), from the authors' training step (train_fns.py of boschresearch/unetgan, read for
the facts): D loss = 0.5 (real + fake) + mean(CutMix BCE of both heads) + MSE consistency.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchgan.models import Generator

from torchgan_ext.losses.cutmix import mix
from torchgan_ext.losses.unet import CUTMIX_MODES, UNetDiscriminatorLoss
from torchgan_ext.models import UNetDiscriminator

# B = 2 images of 1 x 2 x 2 pixels
G_REAL = [1.0, -0.5]
G_FAKE = [0.2, -1.0]
G_MIX = [0.3, 0.7]
P_REAL = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, -0.5, 0.25]]
P_FAKE = [[-0.3, 0.4, -2.0, 1.5], [0.0, -0.7, 0.9, -1.2]]
P_MIX = [[0.1, -0.2, 0.6, -0.8], [1.3, -0.4, 0.05, 0.0]]
MASK = [[1, 1, 0, 0], [0, 1, 0, 1]]


def _bce(logit: float, target: float) -> float:
    """-t log(sigmoid(l)) - (1 - t) log(1 - sigmoid(l)), written out."""
    p = 1.0 / (1.0 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _reference_terms() -> dict[str, float]:
    real_fake = (
        _mean([_bce(v, 1) for v in G_REAL])
        + _mean([_bce(v, 0) for v in G_FAKE])
        + _mean([_bce(v, 1) for row in P_REAL for v in row])
        + _mean([_bce(v, 0) for row in P_FAKE for v in row])
    )
    cutmix = _mean([_bce(v, 0) for v in G_MIX]) + _mean(
        [_bce(v, m) for row, mrow in zip(P_MIX, MASK) for v, m in zip(row, mrow)]
    )
    target = [
        [m * r + (1 - m) * f for r, f, m in zip(rr, fr, mr)]
        for rr, fr, mr in zip(P_REAL, P_FAKE, MASK)
    ]
    cons = _mean([(v - t) ** 2 for row, trow in zip(P_MIX, target) for v, t in zip(row, trow)])
    return {"real_fake": real_fake, "cutmix": cutmix, "cons": cons}


def _tensors(mixed: bool = True) -> list[torch.Tensor | None]:
    def pix(rows: list[list[float]]) -> torch.Tensor:
        return torch.tensor(rows, dtype=torch.float64).view(2, 1, 2, 2)

    out = [
        torch.tensor(G_REAL, dtype=torch.float64),
        pix(P_REAL),
        torch.tensor(G_FAKE, dtype=torch.float64),
        pix(P_FAKE),
    ]
    if mixed:
        out += [torch.tensor(G_MIX, dtype=torch.float64), pix(P_MIX), pix(MASK)]
    return out


AUTHORS = {"real_fake_weight": 0.5, "mix_weight": 1.0, "consistency_weight": 1.0}


@pytest.mark.parametrize(
    ("mode", "weights", "mixed", "expected"),
    [
        # the authors' CelebA script: every step, 0.5 (real + fake) + CutMix + consistency
        ("celeba", AUTHORS, True, lambda t: 0.5 * t["real_fake"] + t["cutmix"] + t["cons"]),
        # the authors' FFHQ script: a mixed step replaces the normal terms ...
        ("ffhq", AUTHORS, True, lambda t: t["cutmix"] + t["cons"]),
        # ... and a normal step has only them
        ("ffhq", AUTHORS, False, lambda t: 0.5 * t["real_fake"]),
        # ours (defaults, all weights 1): the CutMix terms on top of the normal ones
        ("ours", {}, True, lambda t: t["real_fake"] + t["cutmix"] + t["cons"]),
        ("ours", {}, False, lambda t: t["real_fake"]),
        (
            "ours",
            {"real_fake_weight": 2.0, "mix_weight": 3.0, "consistency_weight": 0.25},
            True,
            lambda t: 2.0 * t["real_fake"] + 3.0 * t["cutmix"] + 0.25 * t["cons"],
        ),
    ],
)
def test_each_mode_matches_the_hand_computed_loss(mode, weights, mixed, expected):
    loss = UNetDiscriminatorLoss(mode=mode, **weights)
    value = loss(*_tensors(mixed))
    assert value.item() == pytest.approx(expected(_reference_terms()), rel=1e-12)


def test_head_weights_scale_each_head():
    loss = UNetDiscriminatorLoss(mode="ffhq", global_weight=2.0, pixel_weight=0.0)
    expected = 2.0 * _mean([_bce(v, 0) for v in G_MIX]) + _reference_terms()["cons"]
    assert loss(*_tensors()).item() == pytest.approx(expected, rel=1e-12)


class _ConstantGenerator(Generator):
    """Ignores z: always the same images (so a test can recompute the step)."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__(4, label_type="none")
        self.images = nn.Parameter(images.clone())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.images.expand(z.size(0), -1, -1, -1)


def _step(loss: UNetDiscriminatorLoss, epoch: int = 0, step: int = 0) -> tuple:
    torch.manual_seed(0)
    real = torch.rand(3, 1, 8, 8) * 2 - 1
    gen = _ConstantGenerator(torch.rand(1, 1, 8, 8) * 2 - 1)
    disc = UNetDiscriminator(in_channels=1, image_size=8, ch=2, channel_multipliers=[1])
    opt = torch.optim.SGD(disc.parameters(), lr=0.0)  # the step leaves D as it was
    loss.last_mask = None
    value = loss.train_ops(gen, disc, opt, real, torch.device("cpu"), epoch=epoch, step=step)
    return value, real, gen.images.detach().expand(3, -1, -1, -1), disc


def _manual(disc: nn.Module, real, fake, mask, *, normal: float, mixed: bool) -> float:
    g_r, p_r = disc(real)
    g_f, p_f = disc(fake)
    terms = {
        "real_fake": (
            nn.functional.softplus(-g_r).mean()
            + nn.functional.softplus(g_f).mean()
            + nn.functional.softplus(-p_r).mean()
            + nn.functional.softplus(p_f).mean()
        ).item()
    }
    total = normal * terms["real_fake"]
    if mixed:
        g_m, p_m = disc(mix(real, fake, mask))
        pixel_bce = nn.functional.softplus(p_m) - mask * p_m  # BCE(l, t) = softplus(l) - t l
        cutmix = nn.functional.softplus(g_m).mean() + pixel_bce.mean()
        cons = ((p_m - (mask * p_r + (1 - mask) * p_f)) ** 2).mean()
        total += (cutmix + cons).item()
    return total


def test_celeba_mode_mixes_on_every_step_from_the_start():
    loss = UNetDiscriminatorLoss(mode="celeba", real_fake_weight=0.5)
    for step in range(4):
        value, real, fake, disc = _step(loss, epoch=0, step=step)
        assert loss.last_mask is not None
        assert loss.log_scalars()["unet/mix_prob"].item() == 1.0
        expected = _manual(disc, real, fake, loss.last_mask, normal=0.5, mixed=True)
        assert value.item() == pytest.approx(expected, rel=1e-5)


def test_ffhq_mode_mixed_step_has_no_real_fake_terms():
    loss = UNetDiscriminatorLoss(mode="ffhq", mix_prob=1.0, real_fake_weight=0.5)
    value, real, fake, disc = _step(loss)
    assert loss.last_mask is not None
    expected = _manual(disc, real, fake, loss.last_mask, normal=0.0, mixed=True)
    assert value.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("mode", ["ffhq", "ours"])
def test_warmup_modes_do_not_mix_before_the_warmup(mode):
    loss = UNetDiscriminatorLoss(mode=mode, warmup_epochs=100, real_fake_weight=0.5)
    assert loss.current_mix_probability(50, 0) == pytest.approx(0.25)  # 0.5 x 50 / 100
    value, real, fake, disc = _step(loss, epoch=0)
    assert loss.last_mask is None
    expected = _manual(disc, real, fake, None, normal=0.5, mixed=False)
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_ours_mode_adds_the_mixed_terms_to_the_normal_ones():
    loss = UNetDiscriminatorLoss(mode="ours", mix_prob=1.0)
    value, real, fake, disc = _step(loss)
    expected = _manual(disc, real, fake, loss.last_mask, normal=1.0, mixed=True)
    assert value.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mode": "cifar"}, "mode: unknown 'cifar'; valid: ours, celeba, ffhq"),
        ({"mode": "celeba", "mix_prob": 0.5}, "mix_prob: mode 'celeba' mixes on every step"),
        ({"mode": "celeba", "warmup_epochs": 20}, "warmup_epochs: mode 'celeba'"),
        ({"real_fake_weight": -1}, "real_fake_weight: must be >= 0"),
    ],
)
def test_bad_mode_arguments(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        UNetDiscriminatorLoss(**args)
    assert set(CUTMIX_MODES) == {"ours", "celeba", "ffhq"}


def test_pixel_head_reads_the_decoder_output_without_relu():
    torch.manual_seed(0)
    authors = UNetDiscriminator(in_channels=1, image_size=8, ch=2, channel_multipliers=[1])
    old = UNetDiscriminator(
        in_channels=1, image_size=8, ch=2, channel_multipliers=[1], pixel_head_relu=True
    )
    old.load_state_dict(authors.state_dict())  # same parameters: checkpoints load both ways
    seen = {}
    authors.decoder[-1].register_forward_hook(lambda m, i, o: seen.update(h=o))
    x = torch.randn(2, 1, 8, 8)
    _, pixel = authors(x)
    h = seen["h"]
    assert (h < 0).any()  # the ReLU would make a difference
    torch.testing.assert_close(pixel, authors.pixel_conv(h))
    _, pixel_old = old(x)
    torch.testing.assert_close(pixel_old, authors.pixel_conv(torch.relu(h)))
    assert not torch.allclose(pixel, pixel_old)
