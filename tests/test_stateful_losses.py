"""Losses that carry training state (BEGAN's k, historical averages) resume exactly."""

import pytest
import torch

from torchgan_ext import config, run
from torchgan_ext._registry import LOSSES
from torchgan_ext.losses import stateful
from torchgan_ext.testing import tiny_config
from torchgan_ext.trainer.checkpoint import list_checkpoints, load_checkpoint

OPT = {"name": "adam", "args": {"lr": 2.0e-4, "betas": [0.5, 0.999]}}
CASES = {
    "began": (
        {
            "generator": {
                "name": "autoencoding_generator",
                "args": {"encoding_dims": 8, "step_channels": 4},
                "optimizer": OPT,
            },
            "discriminator": {
                "name": "autoencoding_discriminator",
                "args": {"step_channels": 4, "energy": False},
                "optimizer": OPT,
            },
        },
        ["boundary_equilibrium_generator", "boundary_equilibrium_discriminator"],
    ),
    "historical": (
        None,
        [
            "minimax_generator",
            "minimax_discriminator",
            "historical_average_generator",
            "historical_average_discriminator",
        ],
    ),
}


def _cfg(out_dir, case, steps):
    models, losses = CASES[case]
    sections = {
        "losses": [{"name": n} for n in losses],
        "trainer": {"max_steps": steps, "epochs": 10, "sample_size": 4, "checkpoint_every": 5},
    }
    if models is not None:
        sections["models"] = models
    return config.config_from_dict(tiny_config(out_dir, **sections))


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_continues_the_loss_state_exactly(tmp_path, case):
    full = run(_cfg(tmp_path / "a", case, 12))
    run(_cfg(tmp_path / "b", case, 7))
    resumed = run(_cfg(tmp_path / "b", case, 12), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000007.pt"
    for name in ("generator", "discriminator"):
        a = full.trainer.models[name].state_dict()
        b = resumed.trainer.models[name].state_dict()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{case}: {name}.{k} differs after resume"
    # and the state is in the checkpoint, loadable without pickled objects
    state = load_checkpoint(list_checkpoints(tmp_path / "b" / "checkpoints")[-1])
    extra = [sd["_extra_state"] for sd in state["losses"].values() if "_extra_state" in sd]
    assert extra, state["losses"].keys()


def test_began_k_round_trips_and_historical_sums_follow_the_model():
    loss = LOSSES.get("boundary_equilibrium_discriminator")(init_k=0.0)
    loss.k = 0.37
    fresh = LOSSES.get("boundary_equilibrium_discriminator")()
    fresh.load_state_dict(loss.state_dict())
    assert fresh.k == pytest.approx(0.37)

    model = torch.nn.Linear(3, 2)
    hist = stateful.HistoricalAverageGeneratorLoss(lambd=1.0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist.train_ops(model, opt)  # first call records the parameters
    hist.train_ops(model, opt)
    copy = stateful.HistoricalAverageGeneratorLoss(lambd=1.0)
    copy.load_state_dict(hist.state_dict())
    assert copy.timesteps == hist.timesteps == 2
    assert all(torch.equal(a, b) for a, b in zip(copy.sum_parameters, hist.sum_parameters))
    with pytest.raises(ValueError, match="same model"):
        copy.train_ops(torch.nn.Linear(3, 2, bias=False), opt)
