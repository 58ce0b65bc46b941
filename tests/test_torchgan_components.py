"""torchgan's own models and losses, reached by registry name, train through the launcher."""

from pathlib import Path

import pytest
import torch
import yaml
from torchgan import models as tgm

from torchgan_ext import MODELS, config, run
from torchgan_ext.cli import main
from torchgan_ext.testing import tiny_config

ROOT = Path(__file__).resolve().parent.parent
ADAM = {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.5, 0.999]}}


def _model(name, **args):
    return {"name": name, "args": {"step_channels": 4, **args}, "optimizer": ADAM}


# (id, generator, discriminator, losses, data args)
COMBOS = [
    (
        "dcgan-began-historical-feature",
        _model("dcgan_generator", encoding_dims=8),
        _model("dcgan_discriminator"),
        [
            "boundary_equilibrium_generator",
            "historical_average_generator",
            "feature_matching_generator",
            "boundary_equilibrium_discriminator",
            "historical_average_discriminator",
        ],
        {},
    ),
    (
        "dcgan-least-squares",
        _model("dcgan_generator", encoding_dims=8),
        _model("dcgan_discriminator"),
        ["least_squares_generator", "least_squares_discriminator"],
        {},
    ),
    (
        "conditional-wgan-gp",
        _model("conditional_gan_generator", encoding_dims=8),
        _model("conditional_gan_discriminator"),
        ["wasserstein_generator", "wasserstein_discriminator", "wasserstein_gradient_penalty"],
        {},
    ),
    (
        "acgan-aux-classifier",
        _model("acgan_generator", encoding_dims=8),
        _model("acgan_discriminator"),
        [
            "minimax_generator",
            "minimax_discriminator",
            "auxiliary_classifier_generator",
            "auxiliary_classifier_discriminator",
        ],
        {},
    ),
    (
        "autoencoding-began-dragan",
        _model("autoencoding_generator", encoding_dims=8),
        _model("autoencoding_discriminator", energy=False),
        [
            "boundary_equilibrium_generator",
            "boundary_equilibrium_discriminator",
            "dragan_gradient_penalty",
        ],
        {},
    ),
    (
        "autoencoding-energy-based",
        _model("autoencoding_generator", encoding_dims=8),
        _model("autoencoding_discriminator", embeddings=True),
        ["energy_based_generator", "energy_based_pulling_away_term", "energy_based_discriminator"],
        {},
    ),
]


@pytest.mark.parametrize("case, gen, dis, losses, data_args", COMBOS, ids=[c[0] for c in COMBOS])
def test_torchgan_combo_trains(tmp_path, case, gen, dis, losses, data_args):
    cfg = tiny_config(
        tmp_path / "run",
        models={"generator": gen, "discriminator": dis},
        losses=[{"name": n} for n in losses],
        trainer={"max_steps": 2, "sample_size": 4},
    )
    cfg["data"]["args"].update(data_args)
    loaded = config.config_from_dict(cfg)
    before = {
        k: v.clone() for k, v in MODELS.get(gen["name"])(**_derived(gen)).state_dict().items()
    }
    result = run(loaded)
    assert result.step == 2
    g = result.trainer.generator
    assert any(not torch.equal(before[k], v) for k, v in g.state_dict().items() if k in before)
    assert list((tmp_path / "run" / "samples").glob("*.png"))


def _derived(model):
    args = dict(model["args"])
    args.setdefault("out_size", 16)
    args.setdefault("out_channels", 1)
    if "conditional" in model["name"] or "acgan" in model["name"]:
        args.setdefault("num_classes", 10)
    return args


def test_infogan_forward_backward():
    g = MODELS.get("infogan_generator")(
        dim_dis=3, dim_cont=2, encoding_dims=8, out_size=16, out_channels=1, step_channels=4
    )
    d = MODELS.get("infogan_discriminator")(
        dim_dis=3, dim_cont=2, in_size=16, in_channels=1, step_channels=4
    )
    assert isinstance(g, tgm.InfoGANGenerator) and isinstance(d, tgm.InfoGANDiscriminator)
    z = torch.randn(2, 8)
    dis = torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float()
    cont = torch.rand(2, 2)
    x = g(z, dis, cont)
    assert x.shape == (2, 1, 16, 16)
    score, q_dis, q_cont = d(x, True)
    loss = score.sum() - q_dis.log_prob(dis).sum() - q_cont.log_prob(cont).sum()
    loss.backward()
    assert all(p.grad is not None for p in g.parameters())
    assert d.dis_categorical.weight.grad is not None and d.cont_mean.weight.grad is not None
    # what torchgan's losses call: noise alone (codes drawn from the prior), a plain score
    assert g(z).shape == (2, 1, 16, 16)
    assert d(x).shape == score.shape
    with pytest.raises(ValueError, match="both"):
        g(z, dis)
    noise = g.sampler(7, "cpu")
    assert noise[1].shape == (7, 3) and noise[1].argmax(1).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert noise[2].shape == (7, 2) and noise[2].abs().max() <= 1
    codes = g.training_codes(5, torch.device("cpu"))
    assert codes["dis_code"].sum(1).tolist() == [1.0] * 5 and codes["cont_code"].shape == (5, 2)


def test_infogan_learns_to_recover_its_codes(tmp_path):
    """minimax + mutual_information_penalty through the Trainer: after 150 steps the
    discriminator's Q head recovers the categorical code of generated digits (chance: 25%)."""
    adam = {"name": "adam", "args": {"lr": 1.0e-3, "betas": [0.5, 0.999]}}
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 150, "epochs": 100, "sample_size": 8})
    cfg["models"] = {
        "generator": {
            "name": "infogan_generator",
            "args": {"dim_dis": 4, "dim_cont": 2, "encoding_dims": 8, "step_channels": 8},
            "optimizer": adam,
        },
        "discriminator": {
            "name": "infogan_discriminator",
            "args": {"dim_dis": 4, "dim_cont": 2, "step_channels": 8},
            "optimizer": adam,
        },
    }
    cfg["losses"] = [
        {"name": "minimax_generator"},
        {"name": "minimax_discriminator"},
        {"name": "mutual_information_penalty"},
    ]
    result = run(config.config_from_dict(cfg))
    t = result.trainer
    assert t.step == 150 and list((tmp_path / "r" / "samples").glob("*.png"))
    g, d = t.generator.eval(), t.discriminator.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        dis, cont = g.sample_codes(512, "cpu")
        _, q_dis, q_cont = d(g(torch.randn(512, 8), dis, cont), True)
    accuracy = (q_dis.probs.argmax(1) == dis.argmax(1)).float().mean()
    correlation = torch.corrcoef(torch.stack([q_cont.loc[:, 0], cont[:, 0]]))[0, 1]
    assert accuracy >= 0.9, accuracy
    assert correlation >= 0.5, correlation


def test_loss_needing_a_value_the_run_lacks_is_a_config_error(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 1})
    cfg["losses"].append({"name": "mutual_information_penalty"})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{path}: losses: loss MutualInformationPenalty needs 'dis_code'" in err
    assert "infogan_generator" in err


def test_loss_input_error_lists_the_valid_names(tmp_path):
    from torchgan.losses import GeneratorLoss

    from torchgan_ext import LOSSES, build_trainer
    from torchgan_ext.errors import ConfigError

    class NeedsFoo(GeneratorLoss):
        def train_ops(self, generator, foo):
            raise AssertionError("never called")

    LOSSES.register("needs_foo", NeedsFoo)  # the next test starts from the default plugins
    cfg = tiny_config(tmp_path / "r", trainer={"max_steps": 1})
    cfg["losses"].append({"name": "needs_foo"})
    with pytest.raises(ConfigError) as e:
        build_trainer(config.config_from_dict(cfg))
    assert e.value.key == "losses"
    message = str(e.value)
    assert "loss NeedsFoo needs 'foo'" in message
    assert "valid: generator, discriminator, optimizer_generator, optimizer_discriminator, " in (
        message
    )
    assert "real_inputs" in message and "eval_generator" in message


@pytest.mark.parametrize("name", ["dcgan_digits.yaml", "infogan_digits.yaml"])
def test_digits_configs_run_through_the_cli(tmp_path, capsys, name):
    out = tmp_path / "run"
    code = main(
        [
            str(ROOT / "configs" / name),
            "--set", "trainer.max_steps=2",
            "--set", "logging.progress=false",
            "--set", f"out_dir={out}",
            "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "checkpoints").glob("*.pt"))) == 1
    assert list((out / "samples").glob("*.png"))


def test_every_shipped_config_is_exercised_by_a_test():
    here = Path(__file__).parent
    text = "\n".join(p.read_text() for p in here.glob("test_*.py"))
    missing = [p.name for p in sorted((ROOT / "configs").glob("*.yaml")) if p.name not in text]
    assert not missing, f"shipped configs that no test loads: {missing}"
