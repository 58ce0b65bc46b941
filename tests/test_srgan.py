"""SRGAN: SRResNet / discriminator shapes, losses, VGG features and weights, the photo dataset,
pre-training without a discriminator, the hand-over via ``init_from``, and every SR config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from torchgan_ext import DATASETS, LOSSES, MODELS, build_trainer, load_config, load_plugins, run
from torchgan_ext.data import SkimagePhotos
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses import PixelMSELoss, SRGANDiscriminatorLoss, SRGANGeneratorLoss
from torchgan_ext.losses.perceptual import (
    RANDOM_FOR_TESTS,
    VGG19_FILE,
    VGGFeatures,
    vgg19_layer_names,
)
from torchgan_ext.models import SRGANDiscriminator, SRResNetGenerator
from torchgan_ext.models.srgan import bicubic_upscale, sr_pair, upsampling_factors
from torchgan_ext.testing import write_cityscapes
from torchgan_ext.trainer.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TINY_G = ["models.generator.args.width=4", "models.generator.args.num_blocks=1"]
TINY_D = ["models.discriminator.args.width=2", "models.discriminator.args.hidden=8"]
QUIET = ["logging.progress=false", "logging.tensorboard=false", "trainer.sample_size=2"]


def _tiny_generator(scale: int = 4, **kw) -> SRResNetGenerator:
    return SRResNetGenerator(scale=scale, width=4, num_blocks=1, **kw)


def _pair(n: int = 2, lr_size: int = 8, scale: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(n, 3, lr_size * scale, lr_size * scale, generator=g) * 2 - 1
    return F.avg_pool2d(hr, scale), hr


class _TinyFeatures(nn.Module):
    """A content network for tests: one fixed convolution."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


@pytest.fixture()
def tiny_content():
    """Registers ``_TinyFeatures`` as model ``tiny_sr_features`` (a test-only plugin)."""
    import sys
    import types

    from torchgan_ext import hookimpl

    module = types.ModuleType("tiny_sr_features_plugin")

    @hookimpl
    def torchgan_ext_register_models(registry):
        registry.register("tiny_sr_features", _TinyFeatures)

    module.torchgan_ext_register_models = torchgan_ext_register_models
    sys.modules[module.__name__] = module
    load_plugins([module.__name__])
    yield "tiny_sr_features"
    del sys.modules[module.__name__]


def _write_images(folder: Path, n: int = 3, size: tuple[int, int] = (40, 48)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
def test_registered():
    assert MODELS.get("srresnet_generator") is SRResNetGenerator
    assert MODELS.get("srgan_discriminator") is SRGANDiscriminator
    assert LOSSES.get("srgan_generator") is SRGANGeneratorLoss
    assert LOSSES.get("srgan_discriminator") is SRGANDiscriminatorLoss
    assert LOSSES.get("pixel_mse") is PixelMSELoss
    assert DATASETS.get("skimage_photos") is SkimagePhotos


@pytest.mark.parametrize("scale, factors", [(2, [2]), (3, [3]), (4, [2, 2]), (8, [2, 2, 2])])
def test_generator_shapes_per_scale(scale, factors):
    assert upsampling_factors(scale) == factors
    g = _tiny_generator(scale)
    shuffles = [m.upscale_factor for m in g.modules() if isinstance(m, nn.PixelShuffle)]
    assert shuffles == factors
    lr = torch.rand(2, 3, 6, 7) * 2 - 1
    sr = g(lr)
    assert sr.shape == (2, 3, 6 * scale, 7 * scale)
    sr.mean().backward()
    assert all(p.grad is not None for p in g.parameters())


@pytest.mark.parametrize("scale", [5, 7, 1, True])
def test_generator_rejects_other_scales(scale):
    with pytest.raises((TypeError, ValueError), match="^scale: "):
        SRResNetGenerator(scale=scale)


def test_generator_paper_architecture():
    g = SRResNetGenerator()  # defaults are the paper's
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].kernel_size == (9, 9) and convs[-1].kernel_size == (9, 9)
    assert len(g.body) == 16 and convs[0].out_channels == 64
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 2 * 16 + 1
    assert sum(isinstance(m, nn.PReLU) for m in g.modules()) == 1 + 16 + 2
    no_bn = SRResNetGenerator(width=8, num_blocks=2, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in no_bn.modules())


def test_generator_options():
    lr = torch.rand(1, 3, 5, 5) * 2 - 1
    skip = _tiny_generator(bicubic_skip=True)
    assert torch.equal(skip(lr), bicubic_upscale(lr, 4))  # zero output conv: exactly bicubic
    tanh = _tiny_generator(output_activation="tanh")
    assert tanh(lr).abs().max() < 1
    grey = SRResNetGenerator(scale=2, in_channels=1, out_channels=1, width=4, num_blocks=0)
    assert grey(torch.zeros(1, 1, 4, 4)).shape == (1, 1, 8, 8)
    with pytest.raises(ValueError, match="^output_activation: "):
        _tiny_generator(output_activation="sigmoid")
    with pytest.raises(ValueError, match="^width: "):
        SRResNetGenerator(width=0)


def test_unit_input_range_is_the_papers_lr_range_inside_the_network():
    """``unit`` maps the [-1, 1] input to [0, 1] before the first conv: conv(W, (x+1)/2)."""
    torch.manual_seed(0)
    unit = _tiny_generator(input_range="unit").eval()
    symmetric = _tiny_generator().eval()
    assert unit.input_range == "unit" and symmetric.input_range == "symmetric"
    symmetric.load_state_dict(unit.state_dict())  # the same parameters
    lr = torch.rand(2, 3, 5, 5) * 2 - 1
    torch.testing.assert_close(unit(lr), symmetric((lr + 1) / 2))
    assert not torch.allclose(unit(lr), symmetric(lr))
    # = the first conv with its weights halved and its bias shifted (away from the zero padding)
    conv = unit.head[0]
    big = torch.rand(1, 3, 24, 24) * 2 - 1
    halved = F.conv2d(big, conv.weight / 2, conv.bias + conv.weight.sum(dim=(1, 2, 3)) / 2)
    torch.testing.assert_close(conv((big + 1) / 2)[..., 4:-4, 4:-4], halved)
    with pytest.raises(ValueError, match="^input_range: "):
        _tiny_generator(input_range="[0, 1]")


def test_bicubic_upscale_is_the_imresize_kernel():
    # PIL's bicubic (a = -0.5, as MATLAB's imresize) on a float image
    rng = np.random.default_rng(0)
    a = rng.random((6, 5)).astype(np.float32)
    pil = np.asarray(Image.fromarray(a, mode="F").resize((20, 24), Image.BICUBIC))
    ours = bicubic_upscale(torch.from_numpy(a)[None, None], 4)[0, 0].numpy()
    assert np.abs(ours - pil).max() < 1e-5


def test_sampler_and_sample_grid():
    g = _tiny_generator()
    (noise,) = g.sampler(3, "cpu")
    assert noise.shape == (3, 3, 24, 24) and noise.min() >= -1 and noise.max() <= 1
    lr, hr = _pair(n=2)
    images, nrow = g.sample_grid((lr, hr), [noise])
    assert nrow == 3 and images.shape == (6, 3, 32, 32)
    assert torch.allclose(images[0], bicubic_upscale(lr, 4)[0].clamp(-1, 1))
    assert torch.allclose(images[1], g(lr)[0].clamp(-1, 1))
    assert torch.equal(images[2], hr[0]) and torch.equal(images[5], hr[1])
    images, nrow = g.sample_grid(None, [noise])  # no batch: (bicubic | SR) of the sampler
    assert nrow == 2 and images.shape == (6, 3, 96, 96)


@pytest.mark.parametrize("size", [16, 40, 96])
def test_discriminator_any_crop_size(size):
    d = SRGANDiscriminator(width=2, hidden=8)
    out = d(torch.rand(3, 3, size, size))
    assert out.shape == (3,)
    out.sum().backward()
    assert all(p.grad is not None for p in d.parameters())


def test_discriminator_paper_architecture():
    d = SRGANDiscriminator()
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 7
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512 * 36, 1024), (1024, 1)]
    # 96x96 crops reach the head as 6x6 maps: the adaptive pooling is the identity there
    assert d.features(torch.zeros(1, 3, 96, 96)).shape[-2:] == (6, 6)


# ------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------
def test_sr_pair_rejects_other_batches():
    with pytest.raises(ValueError, match="super_resolution"):
        sr_pair(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError):
        sr_pair((torch.zeros(2, 3, 8, 8), torch.zeros(2)))


def test_pixel_mse_train_ops():
    torch.manual_seed(0)
    g = _tiny_generator()
    opt = torch.optim.SGD(g.parameters(), lr=0.1)
    lr, hr = _pair()
    expected = F.mse_loss(g(lr), hr)
    before = [p.detach().clone() for p in g.parameters()]
    loss = PixelMSELoss().train_ops(g, opt, (lr, hr))
    assert not loss.requires_grad and loss.dim() == 0
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters(), strict=True))
    assert F.mse_loss(g(lr), hr) < expected


def test_srgan_generator_loss_terms():
    torch.manual_seed(0)
    loss = SRGANGeneratorLoss(
        content=_TinyFeatures(),
        feature_scale=0.5,
        content_weight=2.0,
        adversarial_weight=0.1,
        pixel_weight=3.0,
        pixel_loss="l1",
    )
    net = loss.content_network
    assert isinstance(net, _TinyFeatures) and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert "content_network" not in dict(loss.named_modules())  # never in checkpoints
    assert loss.state_dict() == {}
    sr = torch.rand(2, 3, 8, 8, requires_grad=True)
    hr = torch.rand(2, 3, 8, 8)
    d_sr = torch.tensor([0.3, -1.2])
    total, terms = loss(sr, hr, d_sr)
    content = F.mse_loss(0.5 * net(sr), 0.5 * net(hr))
    adversarial = -torch.log(torch.sigmoid(d_sr)).mean()
    pixel = (sr - hr).abs().mean()
    assert terms["content"].item() == pytest.approx(content.item(), rel=1e-6)
    assert terms["adversarial"].item() == pytest.approx(adversarial.item(), rel=1e-6)
    assert terms["pixel"].item() == pytest.approx(pixel.item(), rel=1e-6)
    weighted = 2.0 * content + 0.1 * adversarial + 3.0 * pixel
    assert total.item() == pytest.approx(weighted.item(), rel=1e-6)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_srgan_generator_train_ops_steps_only_the_generator():
    torch.manual_seed(0)
    g, d = _tiny_generator(), SRGANDiscriminator(width=2, hidden=8)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3)
    loss = SRGANGeneratorLoss(content=_TinyFeatures(), pixel_weight=1.0)
    g_before = [p.detach().clone() for p in g.parameters()]
    d_before = {k: v.clone() for k, v in d.state_dict().items()}
    value = loss.train_ops(g, opt_g, _pair(), discriminator=d)
    assert not value.requires_grad and torch.isfinite(value)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, g.parameters(), strict=True))
    assert all(p.grad is None for p in d.parameters())  # frozen during the generator step
    assert all(p.requires_grad for p in d.parameters())  # and unfrozen afterwards
    for k, v in d.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, d_before[k]), k
    assert set(loss.log_scalars()) == {"srgan/content", "srgan/adversarial", "srgan/pixel"}


def test_srgan_generator_loss_argument_errors(tiny_content):
    with pytest.raises(ValueError, match="^content: .*nothing to minimise"):
        SRGANGeneratorLoss(content="none", adversarial_weight=0.0)
    with pytest.raises(ValueError, match="^pixel_loss: "):
        SRGANGeneratorLoss(content="none", pixel_loss="huber")
    with pytest.raises(ValueError, match="content: unknown content network 'vgg91'"):
        SRGANGeneratorLoss(content="vgg91")
    with pytest.raises(ValueError, match="^adversarial_weight: "):
        SRGANGeneratorLoss(content="none", adversarial_weight=-1.0)
    # an adversarial term needs a discriminator
    loss = SRGANGeneratorLoss(content="none", pixel_weight=1.0)
    g = _tiny_generator()
    with pytest.raises(ValueError, match="^adversarial_weight: .*no model named 'discriminator'"):
        loss.train_ops(g, torch.optim.SGD(g.parameters(), lr=0.1), _pair())
    with pytest.raises(ValueError, match="no model named 'discriminator'"):
        loss.validate(SimpleNamespace(generator=g))  # checked before training
    # without one, a pixel-only srgan_generator trains
    pixel_only = SRGANGeneratorLoss(content="none", pixel_weight=1.0, adversarial_weight=0.0)
    _, hr = _pair()
    assert set(pixel_only.forward(torch.zeros_like(hr), hr, None)[1]) == {"pixel"}


def test_srgan_discriminator_loss():
    torch.manual_seed(0)
    g, d = _tiny_generator(), SRGANDiscriminator(width=2, hidden=8)
    d.eval()  # batch norm in eval mode so that the expected value can be recomputed
    lr, hr = _pair()
    d_hr, d_sr = d(hr), d(g(lr))
    expected = F.softplus(-d_hr).mean() + F.softplus(d_sr).mean()
    loss = SRGANDiscriminatorLoss()
    assert loss(d_hr, d_sr).item() == pytest.approx(expected.item(), rel=1e-6)
    g_before = {k: v.detach().clone() for k, v in g.named_parameters()}
    opt = torch.optim.SGD(d.parameters(), lr=0.1)
    value = loss.train_ops(g, d, opt, (lr, hr))
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    assert not value.requires_grad
    assert all(torch.equal(v, g_before[k]) for k, v in g.named_parameters())
    assert all(p.grad is None for p in g.parameters())
    assert loss(d(hr), d(g(lr).detach())) < expected  # the step lowered its loss


# ------------------------------------------------------------------------------------------
# VGG features and weights
# ------------------------------------------------------------------------------------------
def test_vgg19_layer_names_match_torchvision():
    from torchvision.models.vgg import cfgs, make_layers

    names = vgg19_layer_names()

    layers = make_layers(cfgs["E"])  # VGG19's features, without building the classifier
    assert len(names) == len(layers) == 37
    for name, layer in zip(names, layers, strict=True):
        kind = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}[name[:4]]
        assert isinstance(layer, kind), name
    assert names.index("relu5_4") == 35 and names.index("conv5_4") == 34


@pytest.fixture(scope="module")
def random_vggs():
    """relu2_2 and conv2_2 (the same layer before its ReLU) of one random VGG19."""
    with pytest.warns(UserWarning, match="for tests only"):
        post = VGGFeatures("relu2_2", weights=RANDOM_FOR_TESTS)
        pre = VGGFeatures("conv2_2", weights=RANDOM_FOR_TESTS)
    pre.features.load_state_dict(post.features[:-1].state_dict())
    return post, pre


def test_vgg_features_random_for_tests(random_vggs):
    post, pre = random_vggs
    x = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_()
    out = post(x)
    assert out.shape == (2, 128, 8, 8) and out.min() >= 0  # after the ReLU, one pooling
    out.mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # a loss network: input gradients
    assert not any(p.requires_grad for p in post.parameters())
    post.train()
    assert not post.training
    conv_out = pre(x.detach())
    assert len(pre.features) == len(post.features) - 1
    assert torch.equal(torch.relu(conv_out), post(x.detach())) and conv_out.min() < 0
    # ImageNet normalisation: the first convolution sees (x in [0, 1] - mean) / std
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    first = post.features[0](((x.detach() + 1) / 2 - mean) / std)
    assert torch.allclose(post.features[:1](((x.detach() + 1) * 0.5 - post.mean) / post.std), first)
    grey = post(x.detach()[:, :1])
    assert torch.equal(grey, post(x.detach()[:, :1].expand(-1, 3, -1, -1)))


def test_vgg_unknown_layer():
    with pytest.raises(ValueError, match="did you mean 'relu5_4'"):
        VGGFeatures("relu5_5", weights=RANDOM_FOR_TESTS)


def test_missing_vgg_weights_error_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    with pytest.raises(FileNotFoundError) as info:
        SRGANGeneratorLoss()  # content: vgg19 by default
    message = str(info.value)
    assert VGG19_FILE in message and str(hub / VGG19_FILE) in message
    assert "content: none" in message and "random" in message
    with pytest.raises(FileNotFoundError, match="the path given"):
        SRGANGeneratorLoss(weights=tmp_path / "nowhere.pth")


def test_wrong_vgg_weights_file_is_refused(tmp_path):
    path = tmp_path / "not_vgg.pth"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="does not fit"):
        VGGFeatures(weights=path)


def test_missing_weights_fail_the_build_with_the_loss_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = _write_images(tmp_path / "hr")
    config = load_config(
        CONFIGS / "srgan_x4.yaml",
        [
            f"data.args.root={folder}",
            f"data.val.args.root={folder}",
            "data.args.crop_size=16",
            "data.val.args.crop_size=16",
            "models.generator.init_from=null",
            "data.loader.num_workers=0",
            f"out_dir={tmp_path / 'run'}",
            *TINY_G,
            *TINY_D,
            *QUIET,
        ],
    )
    with pytest.raises(ConfigError, match=VGG19_FILE) as info:
        build_trainer(config, device="cpu")
    assert info.value.key == "losses.0.args.weights"


# ------------------------------------------------------------------------------------------
# the bundled photos
# ------------------------------------------------------------------------------------------
def test_skimage_photos():
    ds = SkimagePhotos(["chelsea", "camera"])
    assert len(ds) == 2 and ds.channels == 3 and ds.names == ["chelsea", "camera"]
    cat, camera = ds[0], ds[1]
    assert cat.shape == (3, 300, 451) and camera.shape == (3, 512, 512)
    assert cat.min() >= -1 and cat.max() <= 1 and cat.dtype == torch.float32
    import skimage.data

    expected = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1).float() / 127.5 - 1
    assert torch.equal(cat, expected)
    assert torch.equal(camera[0], camera[2])  # grey photos are repeated
    assert SkimagePhotos(["coffee"], channels=1)[0].shape == (1, 400, 600)


@pytest.mark.parametrize(
    "kwargs, match, arg",
    [
        ({"photos": ["astronot"]}, "did you mean 'astronaut'", "photos.0"),
        ({"photos": ["coffee", "cat"]}, "same picture as 'chelsea'", "photos.1"),
        ({"photos": []}, "non-empty", "photos"),
        ({"photos": "coffee"}, "non-empty", "photos"),
        ({"photos": ["coffee", "coffee"]}, "twice", "photos"),
        ({"photos": ["coffee"], "channels": 2}, "1 or 3", "channels"),
    ],
)
def test_skimage_photos_errors(kwargs, match, arg):
    with pytest.raises((TypeError, ValueError), match=match) as info:
        SkimagePhotos(**kwargs)
    assert str(info.value).startswith(f"{arg}: ")


def test_skimage_photo_errors_name_the_config_key(tmp_path):
    from torchgan_ext.config import DataConfig
    from torchgan_ext.loaders import build_dataset

    with pytest.raises(ConfigError, match="did you mean 'astronaut'") as info:
        build_dataset(DataConfig(name="skimage_photos", args={"photos": ["coffee", "astronot"]}))
    assert info.value.key == "data.args.photos.1"
    assert str(info.value).startswith("data.args.photos.1: unknown skimage photo 'astronot'")


# ------------------------------------------------------------------------------------------
# pre-training, hand-over and the shipped configs
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("div2k") / "hr", n=4, size=(40, 48))


def _div2k(folder: Path) -> list[str]:
    return [
        f"data.args.root={folder}",
        f"data.val.args.root={folder}",
        "data.args.crop_size=16",
        "data.val.args.crop_size=24",
        "data.args.repeats=2",
        "data.loader.batch_size=2",
        "data.loader.num_workers=0",
        "data.val.batch_size=2",
    ]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, hr_folder):
    """configs/srresnet_x4.yaml, tiny, trained 3 steps without a discriminator."""
    out = tmp_path_factory.mktemp("srresnet")
    config = load_config(
        CONFIGS / "srresnet_x4.yaml",
        [
            *_div2k(hr_folder),
            *TINY_G,
            *QUIET,
            "trainer.max_steps=3",
            "trainer.eval_every=3",
            "trainer.checkpoint_every=3",
            "models.generator.optimizer.args.lr=0.01",
            f"out_dir={out}",
        ],
    )
    trainer, _ = build_trainer(config, device="cpu")  # the same seed: the run's initial weights
    initial = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
    result = run(config)
    return result, initial


def test_pretraining_trains_without_a_discriminator(pretrained):
    result, _ = pretrained
    trainer = result.trainer
    assert trainer.model_names == ["generator"]
    assert result.step == 3
    # the generator was stepped at every iteration (no discriminator loss to schedule around)
    assert trainer.loss_information["generator_iters"] == 3
    assert trainer.loss_information["discriminator_iters"] == 0
    assert trainer.optimizer_generator.state_dict()["state"][0]["step"] == 3
    # PSNR/SSIM ran on the validation split and were logged with the bicubic baseline
    assert set(result.metrics) == {"psnr", "ssim"}  # the config's names
    assert np.isfinite(result.metrics["psnr"]) and 0 < result.metrics["ssim"] <= 1
    psnr_metric = trainer.metrics["PSNR"]
    assert psnr_metric.last_result["num_images"] == 4
    assert psnr_metric.last_result["crop_border"] == 4
    assert psnr_metric.last_result["bicubic"] > 0
    assert sorted((result.out_dir / "samples").glob("*.png"))
    assert (result.out_dir / "metrics.jsonl").is_file()


def test_handover_init_from_loads_the_pretrained_generator(pretrained, tiny_content, tmp_path):
    result, _ = pretrained
    ckpt = result.checkpoint
    assert ckpt is not None and ckpt.name == "ckpt-00000003.pt"
    saved = load_checkpoint(ckpt)["models"]["generator"]
    folder = Path(result.config.data.args["root"])
    config = load_config(
        CONFIGS / "srgan_x4.yaml",
        [
            *_div2k(folder),
            *TINY_G,
            *TINY_D,
            *QUIET,
            f"models.generator.init_from={ckpt}",
            f"losses.0.args.content={tiny_content}",
            f"out_dir={tmp_path / 'gan'}",
            "trainer.max_steps=2",
        ],
    )
    trainer, loader = build_trainer(config, device="cpu")
    got = trainer.generator.state_dict()
    assert set(got) == set(saved)
    assert all(torch.equal(got[k], saved[k]) for k in saved)
    # and they are the trained weights, not a fresh initialisation
    _, initial = pretrained
    assert set(initial) == set(saved)
    assert any(not torch.equal(saved[k], initial[k]) for k in saved)
    # the GAN phase trains from there: both models step, metrics run
    gan = run(config, overwrite=True)
    assert gan.step == 2
    info = gan.trainer.loss_information
    assert info["generator_iters"] == 2 and info["discriminator_iters"] == 2
    scalars = gan.trainer.losses["SRGANGeneratorLoss"].log_scalars()
    assert set(scalars) == {"srgan/content", "srgan/adversarial"}


def test_init_from_a_checkpoint_of_another_shape(pretrained, tmp_path):
    result, _ = pretrained
    config = load_config(
        CONFIGS / "srgan_photos_x4.yaml",
        [
            f"models.generator.init_from={result.checkpoint}",
            "models.generator.args.width=8",
            *QUIET,
            f"out_dir={tmp_path}",
        ],
    )
    with pytest.raises(ConfigError, match="do not fit") as info:
        build_trainer(config, device="cpu")
    assert info.value.key == "models.generator.init_from"


def test_photos_configs_run_and_hand_over(tmp_path):
    """The CPU configs themselves (tiny models): pre-train 2 steps, then the SRGAN fine-tune."""
    pre = load_config(
        CONFIGS / "srresnet_photos_x4.yaml",
        [
            *TINY_G,
            *QUIET,
            "data.args.repeats=1",
            "data.loader.batch_size=2",
            "data.args.crop_size=32",
            "trainer.max_steps=2",
            "trainer.eval_every=2",
            "trainer.checkpoint_every=2",
            f"out_dir={tmp_path / 'pre'}",
        ],
    )
    first = run(pre)
    assert first.step == 2 and set(first.metrics) == {"psnr", "ssim"}
    details = first.trainer.metrics["PSNR"].last_result
    assert details["num_images"] == 1 and details["crop_border"] == 4  # the held-back photo
    assert 20 < details["bicubic"] < 40
    val = first.trainer.val_loader.dataset
    assert val.source.names == ["chelsea"] and len(val) == 1
    assert "chelsea" not in first.trainer.data_loader.dataset.source.names
    gan = load_config(
        CONFIGS / "srgan_photos_x4.yaml",
        [
            *TINY_G,
            *TINY_D,
            *QUIET,
            "data.args.repeats=1",
            "data.loader.batch_size=2",
            "data.args.crop_size=32",
            "trainer.max_steps=2",
            "trainer.eval_every=2",
            "trainer.checkpoint_every=2",
            f"models.generator.init_from={first.checkpoint}",
            f"out_dir={tmp_path / 'gan'}",
        ],
    )
    trainer, _ = build_trainer(gan, device="cpu")
    saved = load_checkpoint(first.checkpoint)["models"]["generator"]
    assert all(torch.equal(trainer.generator.state_dict()[k], v) for k, v in saved.items())
    second = run(gan)
    assert second.step == 2 and np.isfinite(second.metrics["psnr"])


def test_shipped_init_from_paths_are_the_final_pretraining_checkpoints():
    pre = load_config(CONFIGS / "srresnet_x4.yaml")
    final = f"{pre.out_dir}/checkpoints/ckpt-{pre.trainer.max_steps:08d}.pt"
    for name in ("srgan_x4.yaml", "srgan_cityscapes_x4.yaml"):
        gan = load_config(CONFIGS / name).models["generator"]
        # the same generator as the one pre-trained, input range included
        assert gan.init_from == final and gan.args == pre.models["generator"].args
    photos = load_config(CONFIGS / "srresnet_photos_x4.yaml")
    final = f"{photos.out_dir}/checkpoints/ckpt-{photos.trainer.max_steps:08d}.pt"
    gan = load_config(CONFIGS / "srgan_photos_x4.yaml").models["generator"]
    assert gan.init_from == final
    assert gan.args.get("input_range") == photos.models["generator"].args.get("input_range")


def test_paper_hyperparameters_in_the_configs():
    pre = load_config(CONFIGS / "srresnet_x4.yaml")
    assert pre.data.args["crop_size"] == 96 and pre.data.args["scale"] == 4
    assert pre.data.loader.batch_size == 16 and pre.trainer.max_steps == 10**6
    assert pre.models["generator"].optimizer.args["lr"] == 1.0e-4
    paper_g = {"width": 64, "num_blocks": 16, "batch_norm": True, "input_range": "unit"}
    assert pre.models["generator"].args == paper_g
    gan = load_config(CONFIGS / "srgan_x4.yaml")
    assert gan.models["generator"].args == paper_g  # the pre-trained checkpoint's input range
    g_loss = gan.losses[0].args
    assert g_loss["content"] == "vgg19" and g_loss["layer"] == "relu5_4"
    assert g_loss["feature_scale"] == pytest.approx(1 / 12.75)
    assert g_loss["adversarial_weight"] == 1.0e-3
    assert gan.trainer.max_steps == 2 * 10**5
    assert gan.models["generator"].scheduler.args == {"milestones": [100000], "gamma": 0.1}


def test_cityscapes_config_builds(tmp_path, tiny_content):
    fake = write_cityscapes(tmp_path / "data", images={"train": 2, "val": 2}, size=(32, 64))
    config = load_config(
        CONFIGS / "srgan_cityscapes_x4.yaml",
        [
            f"data.args.dataset.args.root={fake.root}",
            f"data.val.args.dataset.args.root={fake.root}",
            "data.args.crop_size=16",
            "data.val.args.crop_size=24",
            "data.loader.batch_size=2",
            "data.loader.num_workers=0",
            "models.generator.init_from=null",
            f"losses.0.args.content={tiny_content}",
            f"out_dir={tmp_path / 'run'}",
            *TINY_G,
            *TINY_D,
            *QUIET,
        ],
    )
    trainer, loader = build_trainer(config, device="cpu")
    lr, hr = next(iter(loader))
    assert lr.shape == (2, 3, 4, 4) and hr.shape == (2, 3, 16, 16)
    assert trainer.generator.scale == 4
    assert len(trainer.val_loader.dataset) == 2
    # the unmodified config only lacks the data, the weights and the pre-trained checkpoint
    shipped = load_config(CONFIGS / "srgan_cityscapes_x4.yaml")
    assert shipped.data.args["dataset"]["name"] == "cityscapes"


@pytest.mark.parametrize(
    "name", ["srresnet_x4.yaml", "srgan_x4.yaml", "srresnet_photos_x4.yaml", "srgan_photos_x4.yaml"]
)
def test_sr_configs_build_as_shipped_sizes(name, hr_folder, tmp_path, tiny_content):
    """The shipped model sizes build (data pointed at a tiny folder, VGG by a tiny network)."""
    overrides = [f"out_dir={tmp_path}", *QUIET]
    if "photos" not in name:
        overrides += _div2k(hr_folder)
    if name.startswith("srgan"):
        overrides.append("models.generator.init_from=null")
    if name == "srgan_x4.yaml":
        overrides.append(f"losses.0.args.content={tiny_content}")
    config = load_config(CONFIGS / name, overrides)
    trainer, _ = build_trainer(config, device="cpu")
    g = trainer.generator
    expected = config.models["generator"].args
    assert len(g.body) == expected["num_blocks"]
    assert g.head[0].out_channels == expected["width"] and g.scale == 4
