"""R1 / R2 gradient penalties and LeCam as callbacks: formulas, lazy scaling, anchors, resume,
every shipped digits GAN, bad input."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from torchgan_ext import config, run
from torchgan_ext.callbacks import LeCam, R1Penalty, R2Penalty
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses.regularisers import lecam_regulariser
from torchgan_ext.testing import tiny_config, write_attribute_digits

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


class TinyD(nn.Module):
    """A small non-linear critic on 1x4x4 images (no batch norm: samples independent)."""

    def __init__(self, dtype=torch.float64):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
        self.to(dtype)

    def forward(self, x):
        return self.net(x).flatten()


class TinyG(nn.Module):
    encoding_dims = 3

    def __init__(self, dtype=torch.float64):
        super().__init__()
        self.net = nn.Linear(3, 16).to(dtype)

    def forward(self, z):
        return torch.tanh(self.net(z.to(self.net.weight.dtype))).view(-1, 1, 4, 4)


def _trainer(d, step=1, real=None, g=None, lr=1.0):
    torch.manual_seed(0)
    real = torch.randn(5, 1, 4, 4, dtype=torch.float64) if real is None else real
    names = ["discriminator"] + (["generator"] if g is not None else [])
    return SimpleNamespace(
        step=step,
        model_names=names,
        discriminator=d,
        generator=g,
        optimizers={"optimizer_discriminator": torch.optim.SGD(d.parameters(), lr=lr)},
        real_inputs=real,
        labels=None,
    )


def _r1_reference(d, x, gamma):
    """gamma/2 * mean over samples of ||grad_x D(x_i)||^2, one sample at a time."""
    total = 0.0
    for xi in x:
        xi = xi[None].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d(xi).sum(), xi, create_graph=True)
        total = total + g.pow(2).sum()
    return gamma / 2 * total / len(x)


def test_r1_matches_a_plain_autograd_reference():
    d = TinyD()
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    value = R1Penalty(gamma=3.0).penalty(d, x, None)
    torch.testing.assert_close(value, _r1_reference(d, x, 3.0), rtol=1e-12, atol=0)
    # differentiable with respect to the critic's weights (double backward)
    (grad,) = torch.autograd.grad(value, d.net[1].weight)
    assert grad.abs().sum() > 0


def test_r1_of_a_linear_critic_is_half_gamma_times_the_weight_norm():
    d = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    x = torch.randn(4, 1, 4, 4)
    value = R1Penalty(gamma=10.0).penalty(d, x, None)
    torch.testing.assert_close(value, 5.0 * d[1].weight.pow(2).sum())


def test_tuple_outputs_use_the_chosen_element():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(16, 1), nn.Linear(16, 3)

        def forward(self, x):
            return self.a(x.flatten(1)), self.b(x.flatten(1))

    d = TwoHeads()
    x = torch.randn(4, 1, 4, 4)
    torch.testing.assert_close(R1Penalty(gamma=2.0).penalty(d, x, None), d.a.weight.pow(2).sum())
    g1 = R1Penalty(gamma=2.0, output=1).penalty(d, x, None)  # sum of the 3 logits per sample
    torch.testing.assert_close(g1, d.b.weight.sum(0).pow(2).sum())


def _step_delta(every, step):
    torch.manual_seed(1)
    d = TinyD()
    before = copy.deepcopy(d.state_dict())
    trainer = _trainer(d, step=step)
    R1Penalty(gamma=2.0, every=every).on_train_batch_end(trainer)
    return {k: d.state_dict()[k] - before[k] for k in before}, trainer


def test_lazy_r1_runs_every_k_steps_scaled_by_k():
    delta1, trainer = _step_delta(every=1, step=3)
    # SGD(lr=1) step on R1 alone: the change is minus the gradient of R1
    torch.manual_seed(1)
    ref = TinyD()
    (grad,) = torch.autograd.grad(_r1_reference(ref, trainer.real_inputs, 2.0), ref.net[1].weight)
    torch.testing.assert_close(delta1["net.1.weight"], -grad)
    for step in (1, 2, 3, 5):  # not a multiple of 4: nothing happens
        delta, _ = _step_delta(every=4, step=step)
        assert all(v.abs().sum() == 0 for v in delta.values())
    delta4, _ = _step_delta(every=4, step=8)  # gamma * k: four times the single step
    for k in delta1:
        torch.testing.assert_close(delta4[k], 4 * delta1[k])


def test_r2_penalises_generated_images():
    torch.manual_seed(0)
    d, g = TinyD(), TinyG()
    trainer = _trainer(d, g=g)
    torch.manual_seed(5)
    value = R2Penalty(gamma=4.0).regulariser(trainer, d)
    torch.manual_seed(5)
    fake = g(torch.randn(5, 3, dtype=torch.float64))
    torch.testing.assert_close(value, _r1_reference(d, fake.detach(), 4.0))


def test_lecam_formula_paper_and_one_sided():
    d_real, d_fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    a_real, a_fake = torch.tensor(0.2), torch.tensor(-0.4)
    paper = lecam_regulariser(d_real, d_fake, a_real, a_fake, one_sided=False)
    expected = ((1.4**2 + 1.6**2) + (0.3**2 + 2.8**2)) / 2
    torch.testing.assert_close(paper, torch.tensor(expected))
    one_sided = lecam_regulariser(d_real, d_fake, a_real, a_fake, one_sided=True)
    torch.testing.assert_close(one_sided, torch.tensor(1.4**2 / 2))  # only D(x) above a_F


def test_lecam_anchors_follow_the_ema():
    """With weight 0 the critic stays fixed, so the anchors are a plain EMA of its means."""
    torch.manual_seed(0)
    d, g = TinyD(), TinyG()
    lecam = LeCam(weight=0.0, decay=0.9, start_step=3)
    exp_real = exp_fake = None
    for step in range(1, 7):
        real = torch.randn(4, 1, 4, 4, dtype=torch.float64)
        trainer = _trainer(d, step=step, real=real, g=g)
        torch.manual_seed(100 + step)
        lecam.on_train_batch_end(trainer)
        torch.manual_seed(100 + step)
        with torch.no_grad():
            m_real = d(real).mean()
            m_fake = d(g(torch.randn(4, 3, dtype=torch.float64))).mean()
        decay = 0.9 if step >= 3 else 0.0  # before start_step the anchors follow the means
        exp_real = m_real if exp_real is None else decay * exp_real + (1 - decay) * m_real
        exp_fake = m_fake if exp_fake is None else decay * exp_fake + (1 - decay) * m_fake
        torch.testing.assert_close(lecam.anchor_real, exp_real)
        torch.testing.assert_close(lecam.anchor_fake, exp_fake)
    assert not torch.equal(lecam.anchor_real, m_real)  # averaged, not the last value


def _tiny_run(out_dir, callbacks, max_steps=4, **trainer):
    cfg = tiny_config(out_dir)
    cfg["trainer"].update(max_steps=max_steps, checkpoint_every=2, **trainer)
    cfg["callbacks"] = callbacks
    return config.config_from_dict(cfg)


def test_lecam_anchors_and_weights_survive_resume_exactly(tmp_path):
    lecam = {"name": "lecam", "args": {"decay": 0.5, "start_step": 0}}
    cbs = [lecam, {"name": "r1_penalty", "args": {"every": 2}}]
    full = run(_tiny_run(tmp_path / "a", cbs, max_steps=6))
    run(_tiny_run(tmp_path / "b", cbs, max_steps=3))
    resumed = run(_tiny_run(tmp_path / "b", cbs, max_steps=6), resume=True)
    assert resumed.resumed_from.name == "ckpt-00000003.pt"
    a, b = full.trainer.callbacks["lecam"], resumed.trainer.callbacks["lecam"]
    assert torch.equal(a.anchor_real, b.anchor_real) and torch.equal(a.anchor_fake, b.anchor_fake)
    for k, v in full.trainer.discriminator.state_dict().items():
        assert torch.equal(v, resumed.trainer.discriminator.state_dict()[k]), k
    saved = torch.load(full.checkpoint, weights_only=True)["callbacks"]["lecam"]
    assert torch.equal(saved["anchor_real"], a.anchor_real)


def test_the_regularisation_step_changes_the_discriminator(tmp_path):
    plain = run(_tiny_run(tmp_path / "plain", []))
    r1 = run(_tiny_run(tmp_path / "r1", [{"name": "r1_penalty", "args": {"gamma": 100.0}}]))
    gen_equal = all(  # from the second step on, the generator meets another critic
        torch.equal(v, r1.trainer.generator.state_dict()[k])
        for k, v in plain.trainer.generator.state_dict().items()
    )
    d_equal = all(
        torch.equal(v, r1.trainer.discriminator.state_dict()[k])
        for k, v in plain.trainer.discriminator.state_dict().items()
    )
    assert not d_equal and not gen_equal
    value = r1.trainer.callbacks["r1_penalty"].last_value
    assert value.requires_grad is False and torch.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def attribute_digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribute_digits")
    write_attribute_digits(root, num_images=24, size=8)
    return root


#: Shipped digits configs shrunk to a few tiny steps.
_SHRINK = {
    "dcgan_digits.yaml": ["data.args.image_size=16", "data.loader.batch_size=8"],
    "sagan_digits.yaml": ["data.loader.batch_size=4"],
    "unetgan_digits.yaml": ["data.loader.batch_size=4", "metrics=[]", "data.val=null"],
    "stargan_digits.yaml": [
        "data.args.image_size=8",
        "data.loader.batch_size=4",
        "models.discriminator.args.repeat_num=2",
        "models.generator.args.conv_dim=4",
        "models.discriminator.args.conv_dim=4",
        "metrics=[]",
        "data.val=null",
    ],
}


@pytest.mark.parametrize("callback", ["r1_penalty", "r2_penalty", "lecam"])
@pytest.mark.parametrize("shipped", sorted(_SHRINK))
def test_each_regulariser_trains_every_digits_gan(shipped, callback, tmp_path, attribute_digits):
    sets = [
        f"out_dir={tmp_path / 'run'}",
        "trainer.max_steps=2",
        "trainer.sample_every=100",
        "trainer.eval_every=100",
        "logging.progress=false",
        "logging.tensorboard=false",
        f"callbacks=[{{name: {callback}, args: {{every: 2}}}}]",
        *_SHRINK[shipped],
    ]
    if shipped == "stargan_digits.yaml":
        sets.append(f"data.args.root={attribute_digits}")
    result = run(config.load_config(CONFIGS / shipped, sets))
    assert result.step == 2
    reg = result.trainer.callbacks[callback]
    assert reg.last_value is not None and torch.isfinite(reg.last_value)
    if callback == "lecam":
        assert torch.isfinite(reg.anchor_real) and torch.isfinite(reg.anchor_fake)


@pytest.mark.parametrize(
    ("args", "key", "fragment"),
    [
        ({"name": "r1_penalty", "args": {"gamma": -1.0}}, "callbacks.0.args.gamma", ">= 0"),
        ({"name": "r2_penalty", "args": {"every": 0}}, "callbacks.0.args.every", ">= 1"),
        ({"name": "lecam", "args": {"decay": 1.5}}, "callbacks.0.args.decay", "[0, 1]"),
        ({"name": "lecam", "args": {"decay": -0.1}}, "callbacks.0.args.decay", ">= 0"),
        ({"name": "lecam", "args": {"weight": -1}}, "callbacks.0.args.weight", ">= 0"),
        ({"name": "r1_penalty", "args": {"output": 1}}, "callbacks.0.args.output", "one value"),
        ({"name": "r1_penalty", "args": {"model": "critic"}}, "callbacks.0.args.model", "no model"),
    ],
)
def test_bad_arguments_name_the_key(tmp_path, args, key, fragment):
    with pytest.raises(ConfigError) as info:
        run(_tiny_run(tmp_path / "bad", [args]))
    assert info.value.key == key, info.value
    assert fragment in info.value.message
    assert "\n" not in str(info.value)


def test_a_discriminator_without_a_score_is_refused():
    class Features(TinyD):
        def forward(self, x):
            return {"features": self.net(x)}

    with pytest.raises(TypeError, match="^model: Features does not return a score"):
        R1Penalty().validate(_trainer(Features()))


def test_conditional_discriminator_needs_labels():
    class Conditional(TinyD):
        label_type = "required"

        def forward(self, x, labels):
            return super().forward(x) + labels

    trainer = _trainer(Conditional())
    with pytest.raises(ValueError, match="^model: Conditional is conditional.*no labels"):
        R1Penalty().validate(trainer)
    trainer.labels = torch.arange(5, dtype=torch.float64)
    R1Penalty().validate(trainer)


def test_r1_on_a_compiled_discriminator_runs_it_eagerly():
    """torch.compile has no double backward: the penalty pass calls the module eagerly (were
    it compiled here, the backward below would raise)."""
    d = TinyD(torch.float32)
    x = torch.randn(3, 1, 4, 4)
    expected = _r1_reference(d, x, 2.0)
    d.compile()
    value = R1Penalty(gamma=2.0).penalty(d, x, None)
    value.backward()
    torch.testing.assert_close(value, expected)
    assert d._compiled_call_impl is not None  # still compiled for the training step


def test_the_check_before_training_changes_no_statistics_and_no_random_numbers():
    class NormedG(TinyG):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(16).double()

        def forward(self, z):
            return torch.tanh(self.norm(self.net(z.double()))).view(-1, 1, 4, 4)

    g = NormedG()
    trainer = _trainer(TinyD(), g=g)
    torch.manual_seed(3)
    LeCam().validate(trainer)
    assert torch.equal(g.norm.running_mean, torch.zeros(16)) and g.training
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(1))
