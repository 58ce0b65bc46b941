"""SAGAN generator / discriminator, hinge losses, and the SAGAN configs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from torchgan_ext import LOSSES, MODELS, build_trainer, load_config, run
from torchgan_ext.layers import SelfAttention2d, has_spectral_norm
from torchgan_ext.losses import HingeDiscriminatorLoss, HingeGeneratorLoss
from torchgan_ext.models import SAGANDiscriminator, SAGANGenerator
from torchgan_ext.testing import tiny_config

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size, step", [(32, 2), (64, 1), (128, 1), (256, 1)])
def test_shapes_and_backward_for_every_size(size, step):
    torch.manual_seed(0)
    g = SAGANGenerator(encoding_dims=8, out_size=size, out_channels=3, step_channels=step)
    d = SAGANDiscriminator(in_size=size, in_channels=3, step_channels=step)
    (z,) = g.sampler(2, torch.device("cpu"))
    fake = g(z)
    assert fake.shape == (2, 3, size, size)
    assert fake.abs().max() <= 1.0
    score = d(fake)
    assert score.shape == (2,)
    score.sum().backward()
    for model in (g, d):
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing
    assert g.label_type == d.label_type == "none"


def _attention_inputs(model: nn.Module, *inputs: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, args, _out: shapes.append(tuple(args[0].shape)))
        for m in model.modules()
        if isinstance(m, SelfAttention2d)
    ]
    with torch.no_grad():
        model.eval()(*inputs)
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize("size, default", [(32, 16), (64, 32), (128, 32)])
def test_attention_sits_at_the_configured_resolution(size, default):
    g = SAGANGenerator(8, size, 1, 1)
    d = SAGANDiscriminator(size, 1, 1)
    z = torch.randn(1, 8)
    assert [s[2:] for s in _attention_inputs(g, z)] == [(default, default)]
    assert [s[2:] for s in _attention_inputs(d, torch.randn(1, 1, size, size))] == [
        (default, default)
    ]
    g8 = SAGANGenerator(8, size, 1, 1, attention_resolution=8)
    d8 = SAGANDiscriminator(size, 1, 1, attention_resolution=8)
    assert [s[2:] for s in _attention_inputs(g8, z)] == [(8, 8)]
    assert [s[2:] for s in _attention_inputs(d8, torch.randn(1, 1, size, size))] == [(8, 8)]
    assert _attention_inputs(SAGANGenerator(8, size, 1, 1, attention=False), z) == []


def test_spectral_norm_everywhere_and_switch():
    for sn in (True, False):
        g = SAGANGenerator(8, 32, 3, 1, num_classes=4, spectral_norm=sn)
        d = SAGANDiscriminator(32, 3, 1, num_classes=4, spectral_norm=sn)
        for model in (g, d):
            layers = [
                m
                for m in model.modules()
                if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))
                and not getattr(m, "skip_weight_init", False)  # CBN gain/bias tables
            ]
            assert len(layers) > 10
            assert all(has_spectral_norm(m) is sn for m in layers)


def test_bad_arguments_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="^out_size: must be one of 32, 64, 128, 256"):
        SAGANGenerator(out_size=48)
    with pytest.raises(ValueError, match="^in_size: must be one of"):
        SAGANDiscriminator(in_size=512)
    with pytest.raises(ValueError, match="^attention_resolution: must be one of 8, 16, 32, 64"):
        SAGANGenerator(out_size=64, attention_resolution=4)
    with pytest.raises(ValueError, match="^attention_resolution: must be one of 32, 16, 8, 4"):
        SAGANDiscriminator(in_size=64, attention_resolution=64)
    with pytest.raises(ValueError, match="^num_classes: must be an integer >= 1"):
        SAGANGenerator(num_classes=0)
    with pytest.raises(ValueError, match="^init: unknown init method 'he'"):
        SAGANDiscriminator(in_size=32, step_channels=1, init="he")


def test_conditional_models():
    torch.manual_seed(0)
    g = SAGANGenerator(8, 32, 1, 1, num_classes=3)
    d = SAGANDiscriminator(32, 1, 1, num_classes=3)
    assert g.label_type == d.label_type == "required"
    z, labels = g.sampler(7, torch.device("cpu"))
    assert z.shape == (7, 8)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    # conditional batch norm starts neutral; give the classes different gains
    with torch.no_grad():
        for m in g.modules():
            if hasattr(m, "skip_weight_init"):
                m.weight.normal_()
    g.eval()
    z1 = z[:1].expand(3, -1)
    with torch.no_grad():
        images = g(z1, torch.tensor([0, 1, 2]))
    assert not torch.allclose(images[0], images[1])
    x = images[:1].expand(3, -1, -1, -1)
    with torch.no_grad():
        scores = d(x, torch.tensor([0, 1, 2]))
    assert len(set(scores.tolist())) == 3  # the projection term depends on the class
    with pytest.raises(ValueError, match="pass labels"):
        g(z)
    with pytest.raises(ValueError, match="pass labels"):
        d(x)


# ------------------------------------------------------------------------------------------
# hinge losses
# ------------------------------------------------------------------------------------------
def test_hinge_values():
    dx = torch.tensor([2.0, 0.5, -1.0])
    dgz = torch.tensor([-2.0, 0.0, 1.0])
    assert float(HingeDiscriminatorLoss()(dx, dgz)) == pytest.approx(
        (0 + 0.5 + 2) / 3 + (0 + 1 + 2) / 3
    )
    assert float(HingeDiscriminatorLoss("sum")(dx, dgz)) == pytest.approx(5.5)
    assert HingeDiscriminatorLoss("none")(dx, dgz).tolist() == [0.0, 1.5, 4.0]
    assert float(HingeGeneratorLoss()(dgz)) == pytest.approx(1 / 3)
    assert HingeGeneratorLoss("none")(dgz).tolist() == [2.0, -0.0, -1.0]
    with pytest.raises(ValueError, match="valid: mean, sum, none"):
        HingeGeneratorLoss("max")


def _models(num_classes=None):
    torch.manual_seed(0)
    g = SAGANGenerator(8, 32, 1, 1, num_classes=num_classes)
    d = SAGANDiscriminator(32, 1, 1, num_classes=num_classes)
    return g, d, torch.optim.SGD(g.parameters(), lr=0.1), torch.optim.SGD(d.parameters(), lr=0.1)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


@pytest.mark.parametrize("num_classes", [None, 3])
def test_hinge_train_ops_update_only_their_model(num_classes):
    g, d, og, od = _models(num_classes)
    real = torch.rand(4, 1, 32, 32) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0]) if num_classes else None
    g0, d0 = _flat(g), _flat(d)
    loss = HingeDiscriminatorLoss().train_ops(g, d, od, real, torch.device("cpu"), labels)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0 and not loss.requires_grad
    assert float(loss) >= 0.0
    assert not torch.equal(_flat(d), d0)
    g_params = _flat(g)
    assert torch.equal(g_params, g0)  # a D step leaves G alone
    assert all(p.grad is None for p in g.parameters())  # no graph through G in the D step
    d1 = _flat(d)
    loss = HingeGeneratorLoss().train_ops(g, d, og, torch.device("cpu"), 4, labels)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0 and not loss.requires_grad
    assert not torch.equal(_flat(g), g0)
    assert torch.equal(_flat(d), d1)


def test_hinge_train_ops_need_labels_for_conditional_models():
    g, d, og, od = _models(num_classes=3)
    with pytest.raises(ValueError, match="no labels"):
        HingeGeneratorLoss().train_ops(g, d, og, torch.device("cpu"), 2, None)
    with pytest.raises(ValueError, match="no labels"):
        HingeDiscriminatorLoss().train_ops(g, d, od, torch.randn(2, 1, 32, 32), "cpu", None)


def test_hinge_train_ops_generated_labels():
    """label_type='generated': the generator draws its labels, D judges with the same ones."""
    g, d, og, od = _models(num_classes=5)
    seen = {}

    class Spy(SAGANDiscriminator):
        def forward(self, x, labels=None):
            seen.setdefault("labels", []).append(labels)
            return super().forward(x, labels)

    spy = Spy(32, 1, 1, num_classes=5)
    g.label_type = "generated"
    HingeGeneratorLoss().train_ops(g, spy, og, "cpu", 6, None)
    (used,) = seen["labels"]
    assert used.shape == (6,) and used.max() < 5


# ------------------------------------------------------------------------------------------
# registry, configs and a real run
# ------------------------------------------------------------------------------------------
def test_registered_names():
    assert MODELS.get("sagan_generator") is SAGANGenerator
    assert MODELS.get("sagan_discriminator") is SAGANDiscriminator
    assert LOSSES.get("hinge_generator") is HingeGeneratorLoss
    assert LOSSES.get("hinge_discriminator") is HingeDiscriminatorLoss


def _sagan_models(**extra):
    opt = {"name": "adam", "args": {"lr": 1.0e-4, "betas": [0.0, 0.9]}}
    return {
        "generator": {
            "name": "sagan_generator",
            "args": {"encoding_dims": 8, "step_channels": 1, **extra},
            "optimizer": opt,
        },
        "discriminator": {
            "name": "sagan_discriminator",
            "args": {"step_channels": 1, **extra},
            "optimizer": opt,
        },
    }


@pytest.mark.parametrize("conditional", [True, False])
def test_two_step_run_on_digits(tmp_path, conditional):
    extra = {} if conditional else {"num_classes": None}
    cfg = tiny_config(
        tmp_path / "run",
        data={
            "name": "digits",
            "args": {"image_size": 32, "channels": 1, "split": "test"},
            "loader": {"batch_size": 8, "num_workers": 0, "shuffle": True, "drop_last": True},
        },
        models=_sagan_models(**extra),
        losses=[{"name": "hinge_generator"}, {"name": "hinge_discriminator"}],
        trainer={"epochs": 1, "max_steps": 2, "sample_size": 4},
    )
    result = run(load_config(data=cfg))
    assert result.step == 2
    assert sorted((result.out_dir / "samples").glob("*.png"))
    g = result.trainer.generator
    assert g.num_classes == (10 if conditional else None)
    assert g.label_type == ("required" if conditional else "none")
    resolved = (result.out_dir / "config.yaml").read_text()
    assert "out_size: 32" in resolved and "in_channels: 1" in resolved
    assert result.checkpoint is not None
    state = torch.load(result.checkpoint, weights_only=True)
    assert state  # state dicts only


def test_sagan_digits_config_builds():
    config = load_config(ROOT / "configs" / "sagan_digits.yaml", ["data.args.split=test"])
    trainer, loader = build_trainer(config, device="cpu")
    assert isinstance(trainer.generator, SAGANGenerator)
    assert trainer.generator.num_classes is None and trainer.discriminator.num_classes is None
    assert trainer.generator.label_type == "none"  # num_classes: null beats the dataset's 10
    assert trainer.generator.out_size == 32 and trainer.discriminator.in_channels == 1
    lrs = {n: getattr(trainer, n).param_groups[0]["lr"] for n in trainer.optimizer_names}
    assert sorted(lrs.values()) == [2.0e-4, 4.0e-4]


def test_sagan_celeba_config_builds(tmp_path):
    from torchgan_ext.testing import write_celeba

    write_celeba(tmp_path, num_images=6, size=(218, 178))
    config = load_config(
        ROOT / "configs" / "sagan_celeba.yaml",
        [
            f"data.args.root={tmp_path}",
            "data.args.image_size=32",
            "data.loader.batch_size=2",
            "data.loader.num_workers=0",
            "models.generator.args.step_channels=1",
            "models.discriminator.args.step_channels=1",
            "trainer.sample_size=2",
        ],
    )
    trainer, loader = build_trainer(config, device="cpu")
    assert trainer.generator.out_size == 32 and trainer.generator.out_channels == 3
    assert trainer.generator.label_type == "none"  # CelebA has attributes, no classes
    betas = {tuple(getattr(trainer, n).param_groups[0]["betas"]) for n in trainer.optimizer_names}
    assert betas == {(0.0, 0.9)}
    # and the shipped sizes themselves build (64 px as written, 128 px as documented)
    for size in (64, 128):
        cfg = load_config(
            ROOT / "configs" / "sagan_celeba.yaml",
            [f"data.args.root={tmp_path}", f"data.args.image_size={size}"],
        )
        assert cfg.data.args["image_size"] == size
