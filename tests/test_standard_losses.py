"""torchgan's minimax / least-squares / Wasserstein losses, trained without a host sync per step."""

import copy
import sys

import pytest
import torch
from torchgan import losses as tl
from torchgan import models as tgm

from torchgan_ext import build_trainer, config
from torchgan_ext._registry import LOSSES
from torchgan_ext.losses import standard
from torchgan_ext.testing import tiny_config

PAIRS = [
    ("minimax_generator", tl.MinimaxGeneratorLoss, {}),
    ("minimax_discriminator", tl.MinimaxDiscriminatorLoss, {"label_smoothing": 0.1}),
    ("least_squares_generator", tl.LeastSquaresGeneratorLoss, {"c": 0.9}),
    ("least_squares_discriminator", tl.LeastSquaresDiscriminatorLoss, {"a": -1.0, "b": 1.0}),
    ("wasserstein_generator", tl.WassersteinGeneratorLoss, {}),
    ("wasserstein_discriminator", tl.WassersteinDiscriminatorLoss, {"clip": (-0.01, 0.01)}),
]


def _models(conditional: bool):
    torch.manual_seed(0)
    if conditional:
        g = tgm.ConditionalGANGenerator(
            num_classes=3, encoding_dims=8, out_size=16, step_channels=4
        )
        d = tgm.ConditionalGANDiscriminator(num_classes=3, in_size=16, step_channels=4)
    else:
        g = tgm.DCGANGenerator(encoding_dims=8, out_size=16, step_channels=4)
        d = tgm.DCGANDiscriminator(in_size=16, step_channels=4)
    return g, d


def _step(loss, g, d, real, labels):
    opt_g = torch.optim.Adam(g.parameters(), 1e-3)
    opt_d = torch.optim.Adam(d.parameters(), 1e-3)
    torch.manual_seed(1)
    if isinstance(loss, tl.GeneratorLoss):
        value = loss.train_ops(g, d, opt_g, "cpu", real.shape[0], labels)
    else:
        value = loss.train_ops(g, d, opt_d, real, "cpu", labels)
    return value, [p.detach().clone() for p in [*g.parameters(), *d.parameters()]]


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("name, original, args", PAIRS)
def test_same_step_as_torchgan_but_a_tensor_is_returned(name, original, args, conditional):
    ours = LOSSES.get(name)(**args)
    assert isinstance(ours, original)  # the same loss, forward and arguments
    real = torch.rand(6, 3, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0, 1, 2]) if conditional else None
    g, d = _models(conditional)
    ref_value, ref_params = _step(
        original(**args), copy.deepcopy(g), copy.deepcopy(d), real, labels
    )
    value, params = _step(ours, g, d, real, labels)
    assert isinstance(ref_value, float)
    assert isinstance(value, torch.Tensor) and not value.requires_grad
    assert value.item() == ref_value  # same random draws, same arithmetic: bit-identical
    for a, b in zip(params, ref_params, strict=True):
        assert torch.equal(a, b)


def test_wasserstein_critic_weights_clipped_before_the_step():
    g, d = _models(False)
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(100)
    loss = standard.WassersteinDiscriminatorLoss(clip=(-0.01, 0.01))
    opt = torch.optim.SGD(d.parameters(), lr=0.0)  # no update: only the clamp changes weights
    loss.train_ops(g, d, opt, torch.rand(4, 3, 16, 16), "cpu")
    assert max(float(p.detach().abs().max()) for p in d.parameters()) <= 0.01


def test_conditional_model_without_labels_is_a_clear_error():
    g, d = _models(True)
    loss = standard.MinimaxDiscriminatorLoss()
    opt = torch.optim.Adam(d.parameters())
    with pytest.raises(ValueError, match="label_type='required'.*no labels"):
        loss.train_ops(g, d, opt, torch.rand(4, 3, 16, 16), "cpu")


def _syncs_during_training(tmp_path, steps, monkeypatch):
    """Calls of the Tensor methods that wait for the device, while training ``steps`` steps."""
    cfg = tiny_config(
        tmp_path / f"run{steps}",
        trainer={"max_steps": steps, "epochs": 100, "sample_size": 4, "checkpoint_every": 1000},
        logging={"progress": False, "tensorboard": False, "refresh_rate": 1000, "log_every": 1000},
    )
    trainer, loader = build_trainer(config.config_from_dict(cfg))
    counts = {"n": 0}
    for method in ("item", "tolist", "__float__", "__int__", "__bool__"):
        original = getattr(torch.Tensor, method)

        def counting(self, *a, _original=original, **k):
            # torch.optim reads its step counters, host tensors even on CUDA: not a device sync
            if "torch/optim/" not in sys._getframe(1).f_code.co_filename.replace("\\", "/"):
                counts["n"] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, method, counting)
    trainer.train(loader)
    monkeypatch.undo()
    return counts["n"]


def test_training_steps_make_no_host_sync(tmp_path, monkeypatch):
    """The count of host syncs does not grow with the number of steps (only the end of the run,
    its checkpoint, samples and log line, reads values)."""
    short = _syncs_during_training(tmp_path, 4, monkeypatch)
    long = _syncs_during_training(tmp_path, 12, monkeypatch)
    assert long == short, (short, long)
