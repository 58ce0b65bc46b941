"""What the discriminator callbacks (r1_penalty, r2_penalty, lecam, diffaugment, ada) give a
discriminator that does not judge the batch's first element: CycleGAN's D_B, pix2pix's
conditional PatchGAN, the Context Encoder's region and SRGAN's high-resolution image."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from torchgan_ext import config, run
from torchgan_ext.callbacks import ADA, DiffAugment, R1Penalty
from torchgan_ext.cli import main
from torchgan_ext.losses.train_ops import judged_reals, least_squares_threshold
from torchgan_ext.models.context_encoder import ContextEncoderDiscriminator
from torchgan_ext.models.pix2pix import PatchGANDiscriminator
from torchgan_ext.models.srgan import SRGANDiscriminator
from torchgan_ext.testing import write_paired_images, write_unpaired_images

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


# ------------------------------------------------------------------------------------------
# the shared helper
# ------------------------------------------------------------------------------------------
def _patchgan(**args):
    return PatchGANDiscriminator(1, 1, num_layers=1, base_channels=2, **args)


def test_judged_reals_picks_the_image_and_condition_each_discriminator_judges():
    a, b = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    labels = torch.tensor([0, 1])
    plain = torch.nn.Module()
    assert judged_reals(plain, a, labels) == (a, None)
    plain.label_type = "required"
    assert judged_reals(plain, a, labels) == (a, labels)
    assert judged_reals(_patchgan(conditional=False, judges="b"), a, b) == (b, None)
    assert judged_reals(_patchgan(conditional=False, judges="a"), a, b) == (a, None)
    assert judged_reals(_patchgan(conditional=True, judges="b"), a, b) == (b, a)
    assert judged_reals(_patchgan(conditional=True, judges="a"), a, b) == (a, b)
    with pytest.raises(ValueError, match="^model: .*not a pair of image tensors"):
        judged_reals(_patchgan(conditional=False), a, labels)
    for d in (
        ContextEncoderDiscriminator(1, 16, base_channels=2),
        SRGANDiscriminator(in_channels=1, width=2, hidden=4),
    ):
        with pytest.raises(ValueError, match="^model: .* judges the .*not an image of the batch"):
            judged_reals(d, a, b)


def test_least_squares_losses_declare_the_midpoint_of_their_targets():
    from torchgan_ext.losses import LeastSquaresDiscriminatorLoss
    from torchgan_ext.losses.cyclegan import CycleGANDiscriminatorLoss
    from torchgan_ext.losses.pix2pix import Pix2PixDiscriminatorLoss

    assert least_squares_threshold(CycleGANDiscriminatorLoss()) == 0.5
    assert least_squares_threshold(Pix2PixDiscriminatorLoss(gan_mode="lsgan")) == 0.5
    assert least_squares_threshold(Pix2PixDiscriminatorLoss()) is None
    assert least_squares_threshold(LeastSquaresDiscriminatorLoss(a=-1.0, b=1.0)) == 0.0


# ------------------------------------------------------------------------------------------
# augmentations keep an image and its condition pixel-aligned
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "callback",
    [
        DiffAugment(["translation", "cutout"]),
        DiffAugment(["color", "translation", "cutout"]),
        ADA(target=None, p=1.0, groups=["blit", "geom"]),
        ADA(target=None, p=1.0),
    ],
)
def test_a_conditional_pair_is_moved_together(callback):
    torch.manual_seed(0)
    d = _patchgan(conditional=True).train()
    image = torch.rand(4, 1, 16, 16) * 0.9 + 0.1  # no zeros: padding and cutout show as 0
    x, c = callback._pre_hook(d, (image, image.clone()))
    assert x.shape == c.shape == image.shape
    assert not torch.equal(c, image)  # the condition was transformed too
    colour = "color" in getattr(callback, "policy", getattr(callback, "groups", ()))
    if not colour:  # the same geometric transformation of both
        torch.testing.assert_close(x, c)
        return
    # colour changes only the judged image, per image an affine map of its grey values, so
    # the moved pixels still line up: x = a_i c + b_i wherever the condition kept a pixel
    assert not torch.allclose(x, c)
    for xi, ci in zip(x, c, strict=True):
        keep = ci != 0
        design = torch.stack([ci[keep], torch.ones_like(ci[keep])], 1)
        fit = torch.linalg.lstsq(design, xi[keep][:, None]).solution
        torch.testing.assert_close(design @ fit, xi[keep][:, None], atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------
# 2-step runs of the shipped configs: the right images reach D, or a clear refusal
# ------------------------------------------------------------------------------------------
_COMMON = [
    "trainer.max_steps=2",
    "trainer.sample_every=100",
    "trainer.checkpoint_every=100",
    "logging.progress=false",
    "logging.tensorboard=false",
    "data.loader.batch_size=2",
]


def _pix2pix(tmp_path, callback):
    root = write_paired_images(tmp_path / "pairs", size=32)
    sets = [
        f"data.args.root={root}",
        "data.args.image_size=32",
        "data.args.load_size=32",
        "models.generator.args.base_channels=2",
        "models.discriminator.args.base_channels=2",
        "models.discriminator.args.num_layers=1",
    ]
    return config.load_config(
        CONFIGS / "pix2pix_digits.yaml",
        [f"out_dir={tmp_path / 'run'}", f"callbacks=[{callback}]", *_COMMON, *sets],
    )


def _cyclegan(tmp_path, callback):
    root = write_unpaired_images(tmp_path / "domains", size=16)
    sets = [f"data.args.root={root}", "data.args.image_size=16", "data.args.load_size=16"]
    for g in ("generator", "generator_ba"):
        sets += [f"models.{g}.args.base_channels=2", f"models.{g}.args.num_blocks=1"]
    for d in ("discriminator", "discriminator_a"):
        sets += [f"models.{d}.args.base_channels=2", f"models.{d}.args.num_layers=1"]
    return config.load_config(
        CONFIGS / "cyclegan_digits.yaml",
        [f"out_dir={tmp_path / 'run'}", f"callbacks=[{callback}]", *_COMMON, *sets],
    )


@pytest.fixture
def r1_calls(monkeypatch):
    """``[(real_inputs, labels, [(D, image, condition) of D's calls in the step])]`` of each
    R1 regularisation step."""
    calls, steps = [], []
    forward = PatchGANDiscriminator.forward

    def spy(self, x, condition=None):
        calls.append((self, x.detach().clone(), condition))
        return forward(self, x, condition)

    regulariser = R1Penalty.regulariser

    def record(self, trainer, d):
        start = len(calls)
        value = regulariser(self, trainer, d)
        steps.append((trainer.real_inputs, trainer.labels, calls[start:]))
        return value

    monkeypatch.setattr(PatchGANDiscriminator, "forward", spy)
    monkeypatch.setattr(R1Penalty, "regulariser", record)
    return steps


def test_r1_on_pix2pix_judges_the_target_given_the_input(tmp_path, r1_calls):
    result = run(_pix2pix(tmp_path, "{name: r1_penalty}"))
    assert result.step == 2 and len(r1_calls) == 2
    for real_inputs, labels, calls in r1_calls:
        ((_, image, condition),) = calls
        torch.testing.assert_close(image, labels)  # the target y ...
        torch.testing.assert_close(condition, real_inputs)  # ... given the input x
        assert not torch.equal(image, real_inputs)


@pytest.mark.parametrize(("model", "domain"), [("discriminator", 1), ("discriminator_a", 0)])
def test_r1_on_cyclegan_judges_each_discriminators_domain(tmp_path, r1_calls, model, domain):
    result = run(_cyclegan(tmp_path, f"{{name: r1_penalty, args: {{model: {model}}}}}"))
    assert result.step == 2 and len(r1_calls) == 2
    d = getattr(result.trainer, model)
    for real_inputs, labels, calls in r1_calls:
        ((judge, image, condition),) = calls
        assert judge is d and condition is None
        torch.testing.assert_close(image, (real_inputs, labels)[domain])
    # domain A is dark, domain B bright (write_unpaired_images): the right one was penalised
    assert (image.mean() > 0) == (domain == 1)


@pytest.mark.parametrize("callback", ["r2_penalty", "lecam"])
def test_regularisers_that_need_generated_images_refuse_translators(tmp_path, callback):
    with pytest.raises(Exception, match="translates images") as info:
        run(_pix2pix(tmp_path, f"{{name: {callback}}}"))
    assert info.value.key == "callbacks.0.args.model"


@pytest.mark.parametrize("callback", ["diffaugment", "ada"])
def test_augmentations_train_pix2pix_with_the_condition_augmented(tmp_path, callback):
    seen = []
    hook = DiffAugment._pre_hook if callback == "diffaugment" else ADA._pre_hook

    def spy(self, module, args):
        out = hook(self, module, args)
        seen.append((args, out))
        return out

    cls = DiffAugment if callback == "diffaugment" else ADA
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cls, "_pre_hook", spy)
        args = "{p: 1.0, target: null}" if callback == "ada" else "{}"
        result = run(_pix2pix(tmp_path, f"{{name: {callback}, args: {args}}}"))
    assert result.step == 2
    # every training call of D: an image and its condition, both transformed
    assert seen and all(len(out) == 2 for _, out in seen)
    assert all(not torch.equal(out[1], args[1]) for args, out in seen)


def test_ada_threshold_defaults_to_the_least_squares_midpoint(tmp_path):
    result = run(_cyclegan(tmp_path, "{name: ada, args: {speed_kimg: 0.001, interval: 1}}"))
    assert result.trainer.callbacks["ada"].threshold == 0.5
    given = run(_cyclegan(tmp_path / "given", "{name: ada, args: {threshold: 0.25}}"))
    assert given.trainer.callbacks["ada"].threshold == 0.25
    logits = run(_pix2pix(tmp_path / "logits", "{name: ada}"))  # gan_mode: vanilla
    assert logits.trainer.callbacks["ada"].threshold == 0.0


def _context_encoder_argv(tmp_path, callback):
    return [
        str(CONFIGS / "context_encoder_digits.yaml"),
        "--set", "data.args.source=sklearn",
        "--set", "data.args.image_size=16",
        "--set", "trainer.max_steps=2",
        "--set", "data.loader.batch_size=4",
        "--set", "models.generator.args.bottleneck=8",
        "--set", "models.generator.args.base_channels=2",
        "--set", "models.discriminator.args.base_channels=2",
        "--set", "logging.progress=false",
        "--set", f"callbacks=[{callback}]",
        "--set", f"out_dir={tmp_path / 'run'}",
        "--device", "cpu",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("callback", "fragment"),
    [
        ("{name: r1_penalty}", "judges the region predicted by the context encoder"),
        ("{name: lecam}", "judges the region predicted by the context encoder"),
        ("{name: ada}", "ADA cannot tell its real calls"),
    ],
)
def test_the_context_encoder_is_refused_before_training(tmp_path, capsys, callback, fragment):
    assert main(_context_encoder_argv(tmp_path, callback)) == 2
    err = capsys.readouterr().err.strip()
    assert "callbacks.0" in err and fragment in err, err
    assert len(err.splitlines()) == 1, err
    assert not list((tmp_path / "run").rglob("ckpt-*.pt"))  # nothing trained


@pytest.mark.parametrize("callback", ["{name: diffaugment}", "{name: ada, args: {target: null}}"])
def test_the_context_encoder_trains_with_a_fixed_augmentation(tmp_path, callback):
    assert main(_context_encoder_argv(tmp_path, callback)) == 0
