"""DiffAugment and ADA: augmentation statistics, gradients, ADA's controller, resume, errors."""

from pathlib import Path

import pytest
import torch
from torch import nn
from torchgan.models import DCGANGenerator, Discriminator

from torchgan_ext import config, run
from torchgan_ext._registry import CALLBACKS
from torchgan_ext.augment import ada_augment, diff_augment
from torchgan_ext.augment.diffaugment import rand_cutout, rand_translation
from torchgan_ext.callbacks import ADA, DiffAugment
from torchgan_ext.errors import ConfigError
from torchgan_ext.testing import tiny_config, write_attribute_digits
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# -- the operations --------------------------------------------------------------------------
def test_translation_shifts_whole_images_by_at_most_an_eighth():
    torch.manual_seed(0)
    x = torch.zeros(256, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel: where it lands is the shift
    y = rand_translation(x)
    assert torch.equal(y.sum((1, 2, 3)), torch.ones(256))  # never pushed out of a 16 px frame
    pos = y[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 16 - 8, pos % 16 - 8
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # 16 / 8 = 2 pixels
    assert set(dy.tolist()) == {-2, -1, 0, 1, 2}  # every shift occurs
    assert (dy != 0).float().mean() > 0.6  # uniform over 5 values: 80% move
    # zero padding: a constant image gets zero borders where it moved
    ones = rand_translation(torch.ones(256, 1, 16, 16))
    assert bool(((ones == 0) | (ones == 1)).all()) and (ones == 0).any()


def test_cutout_zeroes_the_expected_fraction():
    torch.manual_seed(0)
    y = rand_cutout(torch.ones(4096, 1, 16, 16))
    # a square of side 8 centred uniformly on 0..16: the expected cut area, by enumeration
    side = torch.arange(16)
    cover = torch.stack([((side >= c - 4) & (side < c + 4)).float().sum() for c in range(17)])
    expected = float((cover.mean() / 16) ** 2)
    assert (y == 0).float().mean().item() == pytest.approx(expected, abs=0.01)
    per_image = (y == 0).flatten(1).sum(1)
    assert per_image.max() == 64 and per_image.min() >= 16  # whole square / a clipped corner


def test_color_ops_change_each_image_by_one_random_amount():
    torch.manual_seed(0)
    x = torch.zeros(512, 3, 4, 4)
    y = diff_augment(x, ["color"])  # grey zero images: only brightness acts
    per_image = y.flatten(1)
    assert torch.equal(per_image.min(1).values, per_image.max(1).values)  # constant per image
    assert per_image[:, 0].abs().max() <= 0.5 and per_image[:, 0].std() > 0.25


def test_diffaugment_gradients_reach_the_generator():
    torch.manual_seed(0)
    g = DCGANGenerator(encoding_dims=8, out_size=16, out_channels=1, step_channels=4)
    seen = []
    d = nn.Sequential(nn.Flatten(), nn.Linear(256, 1))
    callback = DiffAugment()
    d.register_forward_pre_hook(callback._pre_hook)  # the callback's hook, as installed
    d.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach()))
    fake = g(torch.randn(8, 8))
    d(fake).sum().backward()
    assert not torch.equal(seen[0], fake.detach())  # D saw augmented images
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None for gr in grads) and any(gr.abs().sum() > 0 for gr in grads)


@pytest.mark.parametrize("channels", [1, 3])
def test_ada_p0_is_the_identity_bit_for_bit_and_p1_changes_every_image(channels):
    torch.manual_seed(0)
    x = torch.rand(64, channels, 16, 16) * 2 - 1
    assert torch.equal(ada_augment(x, 0.0), x)
    assert torch.equal(ada_augment(x, torch.tensor(0.0)), x)
    changed = (ada_augment(x, 1.0) != x).flatten(1).any(1)
    assert bool(changed.all())


def test_ada_probability_controls_how_many_images_change():
    torch.manual_seed(0)
    x = torch.rand(2000, 3, 8, 8) * 2 - 1
    fractions = []
    for p in (0.05, 0.3):
        changed = (ada_augment(x, p, ["geom"]) != x).flatten(1).any(1)
        fractions.append(changed.float().mean().item())
    # 3 draws with probability p, 2 rotations with 1 - sqrt(1 - p): untouched (1 - p)^4
    for p, got in zip((0.05, 0.3), fractions, strict=True):
        assert got == pytest.approx(1 - (1 - p) ** 4, abs=0.03)


def test_ada_color_brightness_and_contrast_follow_the_paper():
    torch.manual_seed(0)
    # black grey images: hue and saturation keep grey, so the value is flip * c * b with
    # b ~ N(0, 0.2^2) and log2 c ~ N(0, 0.5^2): std 0.2 * sqrt(E[c^2]) = 0.2 * exp(0.12)
    y = ada_augment(torch.zeros(8000, 3, 2, 2), 1.0, ["color"])
    assert torch.allclose(y.amin((1, 2, 3)), y.amax((1, 2, 3)), atol=1e-5)  # grey stays grey
    expected = 0.2 * torch.exp(torch.tensor(2 * (0.5 * 0.6931) ** 2)).sqrt().item()
    assert y[:, 0, 0, 0].std().item() == pytest.approx(expected, rel=0.05)


def test_ada_blit_moves_pixels_without_blurring_power_of_two_images():
    torch.manual_seed(0)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(32, 1, 1, 1)
    y = ada_augment(x, 1.0, ["blit"])
    assert (y - y.round()).abs().max() < 1e-3  # integer pixel moves: values stay pixels
    assert (y != x).flatten(1).any(1).float().mean() > 0.9


# -- the callbacks in a trainer ---------------------------------------------------------------
class _SignD(Discriminator):
    """A discriminator whose answer is a constant sign (plus a parameter for the optimizer)."""

    def __init__(self, sign: float) -> None:
        super().__init__(1, "none")
        self.sign = sign
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return x.flatten(1).mean(1) * self.w + self.sign


def _sign_run(tmp_path, sign, p0):
    from torch.utils.data import DataLoader
    from torchgan.losses import MinimaxDiscriminatorLoss, MinimaxGeneratorLoss

    from torchgan_ext import Trainer

    adam = {"name": torch.optim.Adam, "args": {"lr": 1e-3}}
    models = {
        "generator": {
            "name": DCGANGenerator,
            "args": {"encoding_dims": 8, "out_size": 16, "out_channels": 1, "step_channels": 4},
            "optimizer": adam,
        },
        "discriminator": {"name": _SignD, "args": {"sign": sign}, "optimizer": adam},
    }
    ada = ADA(target=0.6, p=p0, speed_kimg=0.1, interval=4)
    trainer = Trainer(
        models,
        [MinimaxGeneratorLoss(), MinimaxDiscriminatorLoss()],
        device="cpu",
        out_dir=tmp_path,
        max_steps=8,
        callbacks={"ada": ada},
    )
    trainer.train(DataLoader(torch.rand(32, 1, 16, 16) * 2 - 1, batch_size=4, drop_last=True))
    return ada


def test_ada_p_rises_on_a_discriminator_that_is_always_right(tmp_path):
    ada = _sign_run(tmp_path, +1.0, 0.0)
    # two adjustments of 16 real images each, 16 / (0.1 * 1000) = 0.16 each
    assert float(ada.p) == pytest.approx(0.32)
    assert float(ada.rt) == 1.0
    assert ada.log_scalars()["augment/p"] is not None


def test_ada_p_falls_on_a_discriminator_that_is_always_wrong(tmp_path):
    ada = _sign_run(tmp_path, -1.0, 0.5)
    assert float(ada.p) == pytest.approx(0.18)
    assert float(ada.rt) == -1.0


def _tiny(out_dir, callbacks, steps, **trainer):
    cfg = tiny_config(
        out_dir,
        trainer={"max_steps": steps, "epochs": 10, "sample_size": 4, **trainer},
    )
    cfg["callbacks"] = callbacks
    return config.config_from_dict(cfg)


def test_ada_resume_is_exact(tmp_path):
    cb = [{"name": "ada", "args": {"speed_kimg": 0.05, "interval": 3}}]
    full = run(_tiny(tmp_path / "a", cb, 10, checkpoint_every=5))
    run(_tiny(tmp_path / "b", cb, 7, checkpoint_every=5))  # stops inside an interval
    resumed = run(_tiny(tmp_path / "b", cb, 10, checkpoint_every=5), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000007.pt"
    a, b = full.trainer.callbacks["ada"], resumed.trainer.callbacks["ada"]
    assert 0 < float(a.p) < 1 and torch.equal(a.p, b.p) and torch.equal(a.stats, b.stats)
    for k, v in full.trainer.discriminator.state_dict().items():
        assert torch.equal(v, resumed.trainer.discriminator.state_dict()[k]), k
    state = load_checkpoint(list_checkpoints(tmp_path / "b" / "checkpoints")[-1])
    assert torch.equal(state["callbacks"]["ada"]["p"], b.p.cpu())
    # the hooks leave the checkpoint's model keys alone
    assert state["models"]["discriminator"].keys() == full.trainer.discriminator.state_dict().keys()


def test_logged_scalars_include_ada_p(tmp_path):
    cb = [{"name": "ada", "args": {"speed_kimg": 0.05, "interval": 2}}]
    result = run(_tiny(tmp_path, cb, 4))
    scalars = result.trainer.loss_scalars()
    assert float(scalars["augment/p"]) == float(result.trainer.callbacks["ada"].p) > 0


# -- every switch on the shipped configs ------------------------------------------------------
SWITCHES = {
    "diffaugment": "[{name: diffaugment}]",
    "ada": "[{name: ada, args: {p: 0.5, speed_kimg: 0.1, interval: 2}}]",
}
PIXEL_SAFE = {  # U-Net GAN's per-pixel discriminator: pixel-preserving augmentations only
    "diffaugment": "[{name: diffaugment, args: {policy: [color, cutout]}}]",
    "ada": "[{name: ada, args: {p: 0.5, speed_kimg: 0.1, interval: 2, groups: [color]}}]",
}


def _shipped(tmp_path, name, callbacks, extra=()):
    overrides = [
        f"out_dir={tmp_path / 'run'}",
        "trainer.max_steps=2",
        "trainer.eval_every=null",
        "metrics=[]",
        "logging.tensorboard=false",
        "logging.progress=false",
        f"callbacks={callbacks}",
        *extra,
    ]
    return config.load_config(CONFIGS / name, overrides)


@pytest.mark.parametrize("switch", sorted(SWITCHES))
@pytest.mark.parametrize("name", ["dcgan_digits", "sagan_digits", "unetgan_digits", "stargan"])
def test_each_switch_trains_with_the_shipped_configs(tmp_path, name, switch):
    extra: list[str] = []
    callbacks = PIXEL_SAFE[switch] if name == "unetgan_digits" else SWITCHES[switch]
    if name == "stargan":
        write_attribute_digits(tmp_path / "data", num_images=40)
        extra = [f"data.args.root={tmp_path / 'data'}", "trainer.ncritic=1"]
        name = "stargan_digits"
    result = run(_shipped(tmp_path, f"{name}.yaml", callbacks, extra))
    assert result.step == 2
    cb = result.trainer.callbacks[switch]
    assert not cb._handles  # hooks removed after training
    if switch == "ada":
        # p moves only when the discriminator's signs on the real batch were seen
        assert float(cb.p) != 0.5


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("callbacks", "key", "fragment"),
    [
        (
            "[{name: diffaugment, args: {policy: [colour]}}]",
            "callbacks.0.args.policy.0",
            "did you mean 'color'",
        ),
        (
            "[{name: ada, args: {groups: [geometry]}}]",
            "callbacks.0.args.groups.0",
            "did you mean 'geom'",
        ),
        ("[{name: ada, args: {p: 1.5}}]", "callbacks.0.args.p", "in [0, 1]"),
        ("[{name: ada, args: {target: -0.1}}]", "callbacks.0.args.target", "in [0, 1]"),
        ("[{name: ada, args: {speed_kimg: 0}}]", "callbacks.0.args.speed_kimg", "positive"),
    ],
)
def test_bad_arguments_name_the_key(tmp_path, callbacks, key, fragment):
    with pytest.raises(ConfigError) as info:
        run(_shipped(tmp_path, "dcgan_digits.yaml", callbacks))
    assert info.value.key == key and fragment in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("switch", ["diffaugment", "ada"])
def test_pixel_moving_augmentation_on_a_per_pixel_discriminator_is_refused(tmp_path, switch):
    with pytest.raises(ConfigError) as info:
        run(_shipped(tmp_path, "unetgan_digits.yaml", SWITCHES[switch]))
    arg = "policy" if switch == "diffaugment" else "groups"
    assert info.value.key == f"callbacks.0.args.{arg}"
    assert "per-pixel" in str(info.value) and "\n" not in str(info.value)


def test_ada_without_a_real_image_discriminator_step_is_refused(tmp_path):
    from torch.utils.data import DataLoader
    from torchgan.losses import DiscriminatorLoss
    from torchgan.models import DCGANDiscriminator

    from torchgan_ext import Trainer

    class FakeOnly(DiscriminatorLoss):
        """A discriminator loss that never looks at real images."""

        def train_ops(self, generator, discriminator, optimizer_discriminator, device):
            optimizer_discriminator.zero_grad()
            fake = generator(torch.randn(4, generator.encoding_dims, device=device)).detach()
            loss = discriminator(fake).mean()
            loss.backward()
            optimizer_discriminator.step()
            return loss.detach()

    adam = {"name": torch.optim.Adam, "args": {"lr": 1e-3}}
    size = {"in_size": 16, "in_channels": 1, "step_channels": 4}
    models = {
        "generator": {
            "name": DCGANGenerator,
            "args": {"encoding_dims": 8, "out_size": 16, "out_channels": 1, "step_channels": 4},
            "optimizer": adam,
        },
        "discriminator": {"name": DCGANDiscriminator, "args": size, "optimizer": adam},
    }
    trainer = Trainer(
        models,
        [FakeOnly()],
        device="cpu",
        out_dir=tmp_path,
        max_steps=2,
        callbacks={"ada": ADA()},
    )
    loader = DataLoader(torch.rand(8, 1, 16, 16) * 2 - 1, batch_size=4, drop_last=True)
    trainer.set_batch(next(iter(loader)))
    with pytest.raises(ValueError, match="^target: .*no loss of this run takes the real batch"):
        trainer.callbacks["ada"].validate(trainer)
    with pytest.raises(ValueError, match="^target: .*no discriminator call"):
        trainer.train(loader)
    ADA(target=None, p=0.3).validate(trainer)  # a fixed p needs no real step
    assert CALLBACKS.get("ada") is ADA
