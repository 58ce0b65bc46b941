"""torchgan's minimax / least-squares / Wasserstein losses, trained without a host sync per step."""

import copy
import sys

import pytest
import torch
from torchgan import losses as tl
from torchgan import models as tgm

from torchgan_ext import build_trainer, config
from torchgan_ext._registry import LOSSES
from torchgan_ext.losses import minimax, wasserstein
from torchgan_ext.losses.penalty import sample_gradient_penalty
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
    loss = wasserstein.WassersteinDiscriminatorLoss(clip=(-0.01, 0.01))
    opt = torch.optim.SGD(d.parameters(), lr=0.0)  # no update: only the clamp changes weights
    loss.train_ops(g, d, opt, torch.rand(4, 3, 16, 16), "cpu")
    assert max(float(p.detach().abs().max()) for p in d.parameters()) <= 0.01


def test_conditional_model_without_labels_is_a_clear_error():
    g, d = _models(True)
    loss = minimax.MinimaxDiscriminatorLoss()
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


class LinearCritic(torch.nn.Module):
    """D(x) = <w, x>: the gradient at every sample is w."""

    label_type = "none"

    def __init__(self, numel, norm):
        super().__init__()
        w = torch.randn(numel, generator=torch.Generator().manual_seed(0))
        self.w = torch.nn.Parameter(w / w.norm() * norm)

    def forward(self, x):
        return x.flatten(1) @ self.w


@pytest.mark.parametrize("name", ["wasserstein_gradient_penalty", "dragan_gradient_penalty"])
def test_penalty_is_per_sample_zero_for_a_unit_gradient_critic(name):
    critic = LinearCritic(3 * 16 * 16, norm=1.0)
    g, _ = _models(False)
    loss = LOSSES.get(name)()
    opt = torch.optim.SGD(critic.parameters(), lr=0.1)
    value = loss.train_ops(g, critic, opt, torch.rand(8, 3, 16, 16), "cpu")
    assert isinstance(value, torch.Tensor) and not value.requires_grad
    assert value.item() == pytest.approx(0.0, abs=1e-10)
    assert all(p.grad is None for p in g.parameters())  # the penalty never reaches G
    original = {"wasserstein_gradient_penalty": tl.WassersteinGradientPenalty}.get(name)
    if original is not None:  # torchgan's whole-batch norm: (sqrt(8) - 1)^2
        batch_value = original().train_ops(g, critic, opt, torch.rand(8, 3, 16, 16), "cpu")
        assert batch_value == pytest.approx((8**0.5 - 1) ** 2, rel=1e-4)


def test_penalty_matches_a_per_sample_autograd_reference():
    torch.manual_seed(0)
    critic = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=2),
        torch.nn.LeakyReLU(0.2),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(1),
    )
    x = torch.randn(5, 3, 8, 8)
    critic(x)
    points = x.clone().requires_grad_(True)
    ours = sample_gradient_penalty(points, critic(points), center=1.0, reduction="none")
    for i in range(5):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(xi).sum(), xi)
        assert ours[i].item() == pytest.approx(((grad.norm() - 1) ** 2).item(), rel=1e-5)
    ours.mean().backward()  # trainable through (double backward); biases do not shape the gradient
    weights = [p for p in critic.parameters() if p.dim() > 1]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_wgan_gp_step_decreases_the_penalty():
    critic = LinearCritic(3 * 16 * 16, norm=3.0)
    g, _ = _models(False)
    loss = wasserstein.WassersteinGradientPenalty(lambd=1.0)
    opt = torch.optim.SGD(critic.parameters(), lr=0.05)
    real = torch.rand(4, 3, 16, 16)
    first = loss.train_ops(g, critic, opt, real, "cpu").item()
    for _ in range(20):
        last = loss.train_ops(g, critic, opt, real, "cpu").item()
    assert first == pytest.approx(4.0, rel=1e-5)  # (3 - 1)^2
    assert last < 0.1 * first


def test_wgan_gp_digits_config_trains_a_few_steps(tmp_path):
    from pathlib import Path

    from torchgan_ext import run

    path = Path(__file__).resolve().parents[1] / "configs" / "wgan_gp_digits.yaml"
    cfg = config.load_config(
        path,
        [
            f"out_dir={tmp_path / 'run'}",
            "trainer.max_steps=6",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    result = run(cfg)
    trainer = result.trainer
    assert result.step == 6
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in trainer.discriminator.modules())
    assert any(
        isinstance(loss, wasserstein.WassersteinGradientPenalty) for loss in trainer.losses.values()
    )


def test_mutual_information_step_equals_torchgan_and_returns_a_tensor():
    from torchgan_ext._registry import MODELS

    torch.manual_seed(0)
    gen = MODELS.get("infogan_generator")(
        dim_dis=3, dim_cont=2, encoding_dims=8, out_size=16, out_channels=1, step_channels=4
    )
    dis = MODELS.get("infogan_discriminator")(
        dim_dis=3, dim_cont=2, in_size=16, in_channels=1, step_channels=4
    )
    codes = gen.training_codes(6, torch.device("cpu"))
    results = []
    for loss in (
        tl.MutualInformationPenalty(lambd=0.5),
        LOSSES.get("mutual_information_penalty")(0.5),
    ):
        g_, d_ = copy.deepcopy(gen), copy.deepcopy(dis)
        opt_g = torch.optim.Adam(g_.parameters(), 1e-3)
        opt_d = torch.optim.Adam(d_.parameters(), 1e-3)
        torch.manual_seed(1)
        value = loss.train_ops(
            g_, d_, opt_g, opt_d, codes["dis_code"], codes["cont_code"], "cpu", 6
        )
        results.append((value, [p.detach().clone() for p in [*g_.parameters(), *d_.parameters()]]))
    (ref_value, ref_params), (value, params) = results
    assert isinstance(ref_value, float) and isinstance(value, torch.Tensor)
    assert not value.requires_grad and value.item() == ref_value
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params, strict=True))


@pytest.mark.parametrize("label_type", ["generated", "required"])
@pytest.mark.parametrize(
    "name, original",
    [
        ("auxiliary_classifier_generator", tl.AuxiliaryClassifierGeneratorLoss),
        ("auxiliary_classifier_discriminator", tl.AuxiliaryClassifierDiscriminatorLoss),
    ],
)
def test_acgan_class_terms_equal_torchgan_and_return_tensors(name, original, label_type):
    torch.manual_seed(0)
    g = tgm.ACGANGenerator(num_classes=3, encoding_dims=8, out_size=16, step_channels=4)
    g.label_type = label_type
    d = tgm.ACGANDiscriminator(num_classes=3, in_size=16, step_channels=4)
    real = torch.rand(6, 3, 16, 16) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    ref_value, ref_params = _step(original(), copy.deepcopy(g), copy.deepcopy(d), real, labels)
    value, params = _step(LOSSES.get(name)(), g, d, real, labels)
    assert isinstance(ref_value, float) and isinstance(value, torch.Tensor)
    assert not value.requires_grad and value.item() == ref_value
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params, strict=True))


def test_acgan_class_terms_explain_a_wrong_setup():
    g, d = _models(False)  # an unconditional generator
    opt = torch.optim.Adam(g.parameters())
    with pytest.raises(ValueError, match="conditional generator"):
        LOSSES.get("auxiliary_classifier_generator")().train_ops(g, d, opt, "cpu", 4, None)
    acgan_g = tgm.ACGANGenerator(num_classes=3, encoding_dims=8, out_size=16, step_channels=4)
    with pytest.raises(ValueError, match="class labels"):
        LOSSES.get("auxiliary_classifier_discriminator")().train_ops(
            acgan_g, d, opt, torch.rand(4, 3, 16, 16), "cpu", None
        )


def _ae_models(embeddings):
    torch.manual_seed(0)
    g = tgm.AutoEncodingGenerator(encoding_dims=8, out_size=16, step_channels=4)
    d = tgm.AutoEncodingDiscriminator(in_size=16, step_channels=4, embeddings=embeddings)
    return g, d


def _run(loss, g, d, real, kind):
    opt_g = torch.optim.Adam(g.parameters(), 1e-3)
    opt_d = torch.optim.Adam(d.parameters(), 1e-3)
    torch.manual_seed(1)
    if kind == "g":
        value = loss.train_ops(g, d, opt_g, "cpu", real.shape[0])
    elif kind == "d_batch":  # torchgan's EBGAN critic step also takes batch_size
        value = loss.train_ops(g, d, opt_d, real, "cpu", real.shape[0])
    else:  # feature matching: the generator step sees the real batch
        value = loss.train_ops(g, d, opt_g, real, "cpu")
    return value, [p.detach().clone() for p in [*g.parameters(), *d.parameters()]]


@pytest.mark.parametrize(
    "name, original, kind, embeddings",
    [
        ("energy_based_generator", tl.EnergyBasedGeneratorLoss, "g", True),
        ("energy_based_generator", tl.EnergyBasedGeneratorLoss, "g", False),
        ("energy_based_discriminator", tl.EnergyBasedDiscriminatorLoss, "d_batch", True),
        ("energy_based_pulling_away_term", tl.EnergyBasedPullingAwayTerm, "g", True),
        ("feature_matching_generator", tl.FeatureMatchingGeneratorLoss, "real", None),
    ],
)
def test_ebgan_and_feature_matching_steps_equal_torchgan(name, original, kind, embeddings):
    g, d = _models(False) if embeddings is None else _ae_models(embeddings)
    real = torch.rand(6, 3, 16, 16) * 2 - 1
    ref_value, ref_params = _run(original(), copy.deepcopy(g), copy.deepcopy(d), real, kind)
    value, params = _run(LOSSES.get(name)(), g, d, real, kind)
    assert isinstance(ref_value, float | torch.Tensor)
    assert isinstance(value, torch.Tensor) and not value.requires_grad
    assert value.item() == float(ref_value)
    assert all(torch.equal(a, b) for a, b in zip(params, ref_params, strict=True))
    if embeddings is not None:
        assert d.embeddings is embeddings  # restored after the step
