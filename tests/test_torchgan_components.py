"""torchgan's own models and losses, reached by registry name, train through the launcher."""

import pytest
import torch

from torchgan_ext import MODELS, config, run
from torchgan_ext.testing import tiny_config

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
    z = torch.randn(2, 8)
    dis = torch.nn.functional.one_hot(torch.tensor([0, 2]), 3).float()
    cont = torch.rand(2, 2)
    x = g(z, dis, cont)
    assert x.shape == (2, 1, 16, 16)
    out = d(x, True)
    sum(o.float().sum() for o in out if isinstance(o, torch.Tensor)).backward()
    assert any(p.grad is not None for p in g.parameters())
