"""StarGAN: models, label tiling, exclusive groups, per-sample penalty, losses, metric, configs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchgan.losses.functional import wasserstein_gradient_penalty

from torchgan_ext import build_trainer, config, run
from torchgan_ext._registry import LOSSES, METRICS, MODELS
from torchgan_ext.build import build
from torchgan_ext.cli import main
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses.classification import AttributeClassificationLoss
from torchgan_ext.losses.penalty import gradient_norms, interpolate, per_sample_gradient_penalty
from torchgan_ext.losses.stargan import (
    StarGANDiscriminatorLoss,
    StarGANGeneratorLoss,
    domain_classification_loss,
    target_labels,
)
from torchgan_ext.metrics.attribute_accuracy import AttributeAccuracy, ClassifierAccuracy
from torchgan_ext.models import AttributeClassifier, StarGANDiscriminator, StarGANGenerator
from torchgan_ext.models.attribute_labels import (
    as_attribute_vector,
    check_exclusive,
    flip_attribute,
    random_targets,
    resolve_exclusive_groups,
    single_flip_targets,
)
from torchgan_ext.models.stargan import tile_labels
from torchgan_ext.plugins.classifier_runs import (
    attribute_accuracy_from_run,
    resolve_classifier_weights,
)
from torchgan_ext.testing import write_attribute_digits, write_celeba
from torchgan_ext.testing.attribute_digits import ATTRIBUTE_DIGITS_ATTRIBUTES
from torchgan_ext.trainer.schedulers import StepwiseDecayLR

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
ATTRS = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]


def _labels(n: int = 6, seed: int = 0) -> torch.Tensor:
    """Attribute labels with exactly one hair colour per row."""
    return random_targets(n, 5, ((0, 1, 2),), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# registry and models
# ---------------------------------------------------------------------------------------------
def test_registered_names():
    assert MODELS.get("stargan_generator") is StarGANGenerator
    assert MODELS.get("stargan_discriminator") is StarGANDiscriminator
    assert MODELS.get("attribute_classifier") is AttributeClassifier
    assert LOSSES.get("stargan_generator") is StarGANGeneratorLoss
    assert LOSSES.get("stargan_discriminator") is StarGANDiscriminatorLoss
    assert LOSSES.get("attribute_classification") is AttributeClassificationLoss
    assert METRICS.get("attribute_accuracy") is attribute_accuracy_from_run  # -> AttributeAccuracy
    assert METRICS.entry("attribute_accuracy").data_args == {
        "c_dim": "num_attributes",
        "in_channels": "channels",
    }
    assert METRICS.get("classifier_accuracy") is ClassifierAccuracy


def test_generator_shapes_and_backward():
    g = StarGANGenerator(5, attributes=ATTRS, conv_dim=4, repeat_num=2)
    x = torch.rand(3, 3, 16, 12) * 2 - 1
    y = g(x, _labels(3))
    assert y.shape == x.shape
    assert y.abs().max() <= 1  # tanh
    y.square().mean().backward()
    assert all(p.grad is not None for p in g.parameters())
    # the paper's layout: 7x7 conv, two stride-2 downs, residual blocks, two ups, 7x7 + tanh
    convs = [m for m in g.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    assert convs[0].kernel_size == (7, 7) and convs[0].in_channels == 3 + 5
    assert [c.stride for c in convs[1:3]] == [(2, 2), (2, 2)]
    assert [type(c) for c in convs[-3:-1]] == [nn.ConvTranspose2d] * 2
    assert convs[-1].kernel_size == (7, 7) and isinstance(g.main[-1], nn.Tanh)
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(n.affine for n in norms)
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.zeros(1, 3, 10, 12), _labels(1))
    # one down/up conv pair for tiny images: a 2x bottleneck, sides multiples of 2
    g1 = StarGANGenerator(5, attributes=ATTRS, conv_dim=4, repeat_num=1, num_down=1)
    assert g1(torch.zeros(2, 3, 6, 10), _labels(2)).shape == (2, 3, 6, 10)
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g1.modules()) == 1
    assert g1.main[3].out_channels == 8  # bottleneck width 2 ** num_down * conv_dim


@pytest.mark.parametrize(("size", "repeat", "patch"), [(16, 3, 2), (64, 6, 1), (128, 6, 2)])
def test_discriminator_shapes_and_backward(size, repeat, patch):
    d = StarGANDiscriminator(5, image_size=size, conv_dim=2, repeat_num=repeat)
    src, cls = d(torch.randn(2, 3, size, size))
    assert src.shape == (2, 1, patch, patch)
    assert cls.shape == (2, 5)
    (src.mean() + cls.mean()).backward()
    assert all(p.grad is not None for p in d.parameters())
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == repeat and all(a.negative_slope == 0.01 for a in acts)


def test_model_argument_errors():
    with pytest.raises(ValueError, match="^c_dim: 4 but 5 attributes"):
        StarGANGenerator(4, attributes=ATTRS)
    with pytest.raises(ValueError, match=r"^repeat_num: 6 does not fit.*use repeat_num <= 4"):
        StarGANDiscriminator(5, image_size=48, repeat_num=6)
    with pytest.raises(ValueError, match="built for 16x16"):
        StarGANDiscriminator(5, image_size=16, conv_dim=2, repeat_num=3)(torch.zeros(1, 3, 32, 32))


def test_classifier_forward_backward():
    c = AttributeClassifier(5, conv_dim=4, repeat_num=2)
    logits = c(torch.randn(4, 3, 16, 16))
    assert logits.shape == (4, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in c.parameters())


# ---------------------------------------------------------------------------------------------
# label tiling
# ---------------------------------------------------------------------------------------------
def test_tile_labels_puts_the_vector_at_every_pixel():
    c = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    t = tile_labels(c, (3, 4))
    assert t.shape == (2, 3, 3, 4)
    for i in range(3):
        for j in range(4):
            assert torch.equal(t[:, :, i, j], c)


def test_generator_input_is_image_concatenated_with_tiled_labels():
    g = StarGANGenerator(5, attributes=ATTRS, conv_dim=4, repeat_num=0)
    seen: dict[str, torch.Tensor] = {}

    def record(module, inputs, output):
        seen["x"] = inputs[0]  # (returns None: the output is kept)

    g.main[0].register_forward_hook(record)
    x, c = torch.randn(2, 3, 8, 8), _labels(2)
    g(x, c)
    assert torch.equal(seen["x"][:, :3], x)
    assert torch.equal(seen["x"][:, 3:], c[:, :, None, None].expand(-1, -1, 8, 8))
    # domain indices are one-hot vectors
    g3 = StarGANGenerator(3, exclusive_groups=[], conv_dim=4, repeat_num=0)
    g3.main[0].register_forward_hook(record)
    g3(torch.randn(2, 3, 8, 8), torch.tensor([2, 0]))
    assert torch.equal(seen["x"][:, 3:, 5, 5], torch.tensor([[0.0, 0, 1], [1, 0, 0]]))


# ---------------------------------------------------------------------------------------------
# exclusive groups
# ---------------------------------------------------------------------------------------------
def test_default_group_is_the_selected_hair_colours():
    assert resolve_exclusive_groups(None, ATTRS, 5) == ((0, 1, 2),)
    assert resolve_exclusive_groups(None, ["Male", "Gray_Hair", "Blond_Hair"], 3) == ((1, 2),)
    assert resolve_exclusive_groups(None, ["Black_Hair", "Male"], 2) == ()
    assert resolve_exclusive_groups(None, None, 5) == ()
    assert resolve_exclusive_groups([], ATTRS, 5) == ()
    assert resolve_exclusive_groups([["Young", "Male"], [0, 2]], ATTRS, 5) == ((3, 4), (0, 2))


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        (
            [["Black_Hair", "Blnd_Hair"]],
            r"exclusive_groups\.0: unknown attribute 'Blnd_Hair'; "
            "did you mean 'Blond_Hair'",
        ),  # fmt: skip
        ([["Male"]], "at least two different"),
        ([[0, 1], [1, 2]], "also in group 0"),
        ([[0, 7]], r"index 7 is out of range \[0, 5\)"),
        ("Male", "expected a list of lists"),
    ],
)
def test_group_errors(groups, message):
    with pytest.raises((TypeError, ValueError), match=message) as e:
        StarGANGenerator(5, attributes=ATTRS, exclusive_groups=groups, conv_dim=2, repeat_num=0)
    assert str(e.value).startswith("exclusive_groups")  # the argument (and the group) at fault


def test_flip_sets_a_group_member_and_clears_the_others():
    groups = ((0, 1, 2),)
    c = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 1]])
    assert flip_attribute(c, 1, groups).tolist() == [[0, 1, 0, 1, 0], [0, 1, 0, 0, 1]]
    assert flip_attribute(c, 0, groups).tolist() == [[1, 0, 0, 1, 0], [1, 0, 0, 0, 1]]
    assert flip_attribute(c, 3, groups).tolist() == [[1, 0, 0, 0, 0], [0, 0, 1, 1, 1]]
    # without the group, hair colours toggle independently
    assert flip_attribute(c, 1).tolist() == [[1, 1, 0, 1, 0], [0, 1, 1, 0, 1]]
    for target in single_flip_targets(c, groups):
        assert check_exclusive(target, groups).all()
    assert not check_exclusive(flip_attribute(c, 1), groups).any()


def test_random_targets_respect_groups():
    t = random_targets(500, 5, ((0, 1, 2),), generator=torch.Generator().manual_seed(0))
    assert torch.equal(t[:, :3].sum(1), torch.ones(500))
    assert 0.4 < t[:, 3].mean() < 0.6 and 0.25 < t[:, 1].mean() < 0.42


def test_domain_indices_form_one_group():
    vec, groups = as_attribute_vector(torch.tensor([1, 0]), 3)
    assert vec.tolist() == [[0, 1, 0], [1, 0, 0]] and groups == ((0, 1, 2),)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        as_attribute_vector(torch.tensor([3]), 3)


class RecordingGenerator(StarGANGenerator):
    """Returns the images unchanged and records the target labels of every call."""

    def __init__(self, **kwargs):
        super().__init__(5, attributes=ATTRS, conv_dim=2, repeat_num=0, **kwargs)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, c):
        self.calls.append((x, self.target_vector(c)))
        return x + 0 * self.main[0].weight.sum()


def test_sample_grid_one_column_per_attribute_flip():
    g = RecordingGenerator()
    x, c = torch.rand(3, 3, 8, 8), _labels(3)
    images, nrow = g.sample_grid((x, c), g.sampler(3, "cpu"))
    assert nrow == 6 and images.shape == (3 * 6, 3, 8, 8)
    grid = images.view(3, 6, 3, 8, 8)
    assert torch.equal(grid[:, 0], x)  # first column: the real images
    targets = [t for _, t in g.calls]
    assert len(targets) == 5
    for j, t in enumerate(targets):
        assert torch.equal(t, flip_attribute(c, j, ((0, 1, 2),)))
    assert (targets[1][:, :3] == torch.tensor([0.0, 1, 0])).all()  # "to blond" clears the rest
    assert torch.equal(targets[3][:, 3], 1 - c[:, 3])  # Male toggled
    # the sampler's labels (the trainer's fixed "noise") respect the group as well
    s = g.sampler(50, "cpu")[0]
    assert s.shape == (50, 5) and check_exclusive(s, g.exclusive_groups).all()


# ---------------------------------------------------------------------------------------------
# per-sample gradient penalty
# ---------------------------------------------------------------------------------------------
def _reference_penalty(d: nn.Module, real, fake, alpha) -> torch.Tensor:
    """One autograd call per sample, each on its own: (||grad_x D(x_hat_i)||_2 - 1)^2, mean."""
    terms = []
    for i in range(real.size(0)):
        x = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(d(x)[0].sum(), x, create_graph=True)
        terms.append((g.flatten().norm() - 1) ** 2)
    return torch.stack(terms).mean()


def test_per_sample_penalty_matches_autograd_reference():
    torch.manual_seed(0)
    d = StarGANDiscriminator(5, image_size=16, conv_dim=4, repeat_num=3).double()
    real, fake = torch.randn(4, 3, 16, 16).double(), torch.randn(4, 3, 16, 16).double()
    alpha = torch.rand(4).double()
    ours, norms = per_sample_gradient_penalty(lambda x: d(x)[0], real, fake, alpha=alpha)
    ref = _reference_penalty(d, real, fake, alpha)
    torch.testing.assert_close(ours, ref)
    assert norms.shape == (4,)
    # the gradient w.r.t. the critic's weights (double backward) matches as well
    params = [p for n, p in d.named_parameters() if not n.startswith("cls")]  # source head
    g_ours = torch.autograd.grad(ours, params)
    g_ref = torch.autograd.grad(_reference_penalty(d, real, fake, alpha), params)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)
    # torchgan's penalty takes one norm over the whole batch: a different value
    x_hat = interpolate(real, fake, alpha).requires_grad_(True)
    batch = wasserstein_gradient_penalty(x_hat, d(x_hat)[0])
    assert not torch.allclose(batch, ours, rtol=1e-2)


def test_per_sample_penalty_is_zero_for_a_unit_gradient_critic_unlike_torchgan():
    w = torch.randn(3, 8, 8)
    w /= w.norm()

    def critic(x):  # D(x) = <w, x>: gradient norm exactly 1 at every sample
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(9, 3, 8, 8), torch.randn(9, 3, 8, 8)
    ours, norms = per_sample_gradient_penalty(critic, real, fake)
    torch.testing.assert_close(norms, torch.ones(9))
    assert float(ours) < 1e-10
    x_hat = interpolate(real, fake).requires_grad_(True)
    per_batch = wasserstein_gradient_penalty(x_hat, critic(x_hat))
    torch.testing.assert_close(per_batch, torch.tensor((9**0.5 - 1) ** 2))  # (sqrt(B) - 1)^2


def test_interpolation_coefficient_is_per_sample():
    real, fake = torch.ones(64, 1, 2, 2), torch.zeros(64, 1, 2, 2)
    x = interpolate(real, fake, generator=torch.Generator().manual_seed(0))
    per_sample = x.flatten(1)
    assert torch.equal(per_sample, per_sample[:, :1].expand_as(per_sample))  # one per sample
    assert per_sample[:, 0].unique().numel() == 64  # and different across samples
    norms = gradient_norms(lambda z: 3 * z.flatten(1).sum(1), torch.randn(5, 2, 2))
    torch.testing.assert_close(norms, torch.full((5,), 3 * 2.0))


# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------
def _tiny_pair():
    torch.manual_seed(0)
    g = StarGANGenerator(5, attributes=ATTRS, conv_dim=4, repeat_num=1)
    d = StarGANDiscriminator(5, image_size=8, conv_dim=4, repeat_num=2)
    return g, d


def test_classification_loss_forms():
    logits = torch.randn(4, 5)
    labels = (torch.rand(4, 5) < 0.5).float()
    manual = F.binary_cross_entropy_with_logits(logits, labels, reduction="none").sum(1).mean()
    torch.testing.assert_close(domain_classification_loss(logits, labels), manual)
    idx = torch.tensor([0, 4, 2, 2])
    ce = F.cross_entropy(logits, idx)
    torch.testing.assert_close(domain_classification_loss(logits, idx), ce)
    onehot = F.one_hot(idx, 5).float()
    torch.testing.assert_close(
        domain_classification_loss(logits, onehot, "ce"), F.cross_entropy(logits, idx)
    )


def _step(loss, g, d, x, c, seed=0):
    opt_g = torch.optim.SGD(g.parameters(), lr=0.0)
    opt_d = torch.optim.SGD(d.parameters(), lr=0.0)
    torch.manual_seed(seed)
    if isinstance(loss, StarGANDiscriminatorLoss):
        value = loss.train_ops(g, d, opt_d, x, c)
    else:
        value = loss.train_ops(g, d, opt_g, x, c)
    return value, {k.split("_", 1)[1]: v for k, v in loss.log_scalars().items()}


def test_discriminator_loss_combination_weights():
    g, d = _tiny_pair()
    x, c = torch.rand(4, 3, 8, 8) * 2 - 1, _labels(4)
    v1, t1 = _step(StarGANDiscriminatorLoss(), g, d, x, c)
    v2, t2 = _step(StarGANDiscriminatorLoss(lambda_cls=2.5, lambda_gp=0.5), g, d, x, c)
    assert set(t1) == {"adv_real", "adv_fake", "cls", "gp", "grad_norm"}
    for k in t1:  # same seed, same terms; only the weights differ
        torch.testing.assert_close(t1[k], t2[k])
    assert not v1.requires_grad
    torch.testing.assert_close(v1, t1["adv_real"] + t1["adv_fake"] + t1["cls"] + 10 * t1["gp"])
    torch.testing.assert_close(
        v2, t2["adv_real"] + t2["adv_fake"] + 2.5 * t2["cls"] + 0.5 * t2["gp"]
    )


def test_generator_loss_combination_weights():
    g, d = _tiny_pair()
    x, c = torch.rand(4, 3, 8, 8) * 2 - 1, _labels(4)
    v1, t1 = _step(StarGANGeneratorLoss(), g, d, x, c)
    v2, t2 = _step(StarGANGeneratorLoss(lambda_cls=3.0, lambda_rec=0.25), g, d, x, c)
    assert set(t1) == {"adv", "cls", "rec"}
    for k in t1:
        torch.testing.assert_close(t1[k], t2[k])
    torch.testing.assert_close(v1, t1["adv"] + t1["cls"] + 10 * t1["rec"])
    torch.testing.assert_close(v2, t2["adv"] + 3 * t2["cls"] + 0.25 * t2["rec"])


def test_generator_loss_translates_to_permuted_labels_and_back():
    g, d = RecordingGenerator(), StarGANDiscriminator(5, image_size=8, conv_dim=2, repeat_num=2)
    x, c = torch.rand(6, 3, 8, 8), _labels(6)
    torch.manual_seed(3)
    perm = torch.randperm(6)
    torch.manual_seed(3)
    _, terms = _step_g(g, d, x, c)
    (x1, t1), (x2, t2) = g.calls
    assert torch.equal(t1, c[perm])  # target: the batch's labels in random order
    assert torch.equal(x2, x1) and torch.equal(t2, c)  # reconstruction: back to the originals
    assert float(terms["rec"]) == 0.0  # identity generator reconstructs exactly


def _step_g(g, d, x, c):
    loss = StarGANGeneratorLoss()
    value = loss.train_ops(g, d, torch.optim.SGD(g.parameters(), lr=0.0), x, c)
    return value, {k.split("_", 1)[1]: v for k, v in loss.log_scalars().items()}


def test_each_step_updates_only_its_model():
    g, d = _tiny_pair()
    x, c = torch.rand(4, 3, 8, 8) * 2 - 1, _labels(4)
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    StarGANGeneratorLoss().train_ops(g, d, torch.optim.Adam(g.parameters(), 1e-2), x, c)
    assert all(torch.equal(a, p) for a, p in zip(before_d, d.parameters(), strict=True))
    assert not all(torch.equal(a, p) for a, p in zip(before_g, g.parameters(), strict=True))
    assert all(p.requires_grad for p in d.parameters())  # frozen only during the G step
    StarGANDiscriminatorLoss().train_ops(g, d, torch.optim.Adam(d.parameters(), 1e-2), x, c)
    assert not all(torch.equal(a, p) for a, p in zip(before_d, d.parameters(), strict=True))


def test_target_label_modes():
    c = _labels(8)
    torch.manual_seed(1)
    permuted = target_labels(c, "permute")
    assert sorted(map(tuple, permuted.tolist())) == sorted(map(tuple, c.tolist()))
    g = StarGANGenerator(5, attributes=ATTRS, conv_dim=2, repeat_num=0)
    rnd = target_labels(c, "random", g)
    assert rnd.shape == c.shape and check_exclusive(rnd, g.exclusive_groups).all()
    domains = target_labels(torch.tensor([0, 1, 2] * 20), "random", StarGANGenerator(3))
    assert domains.dtype == torch.long and set(domains.tolist()) == {0, 1, 2}
    with pytest.raises(ValueError, match="^target_labels: .*did you mean 'permute'"):
        StarGANGeneratorLoss(target_labels="permut")
    with pytest.raises(ValueError, match="^lambda_rec: must be a number >= 0"):
        StarGANGeneratorLoss(lambda_rec=-1)


def test_losses_need_labels_and_a_two_headed_discriminator():
    g, d = _tiny_pair()
    x = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="needs domain labels"):
        StarGANDiscriminatorLoss().train_ops(g, d, torch.optim.SGD(d.parameters(), 0.1), x, None)
    plain = nn.Sequential(nn.Conv2d(3, 1, 8))
    with pytest.raises(TypeError, match="like 'stargan_discriminator'"):
        StarGANGeneratorLoss().train_ops(
            g, plain, torch.optim.SGD(g.parameters(), 0.1), x, _labels(2)
        )


# ---------------------------------------------------------------------------------------------
# attribute_accuracy: known answers with a hand-set classifier
# ---------------------------------------------------------------------------------------------
def _sign_classifier(c_dim: int = 5) -> AttributeClassifier:
    """Logit j = mean over pixels of LeakyReLU(channel j): > 0 iff channel j is +1."""
    clf = AttributeClassifier(c_dim, in_channels=c_dim, conv_dim=c_dim, repeat_num=0)
    with torch.no_grad():
        conv = clf.features[0]
        conv.weight.zero_()
        for j in range(c_dim):
            conv.weight[j, j, 1, 1] = 1.0
        bn = clf.features[1]
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0)
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        lin = clf.head[-1]
        lin.weight.copy_(torch.eye(c_dim))
        lin.bias.zero_()
    return clf.eval()


def _encode(c: torch.Tensor, size: int = 4) -> torch.Tensor:
    """Images whose channel j is +1 where attribute j is set, else -1."""
    return tile_labels(2 * c - 1, (size, size)).contiguous()


class EncodingGenerator(nn.Module):
    """G(x, c) = the image encoding of ``c`` (perfect), the input (identity) or the encoding
    with attribute 3 never set."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.c_dim, self.in_channels = 5, 5
        self.attributes = list(ATTRS)
        self.exclusive_groups = ((0, 1, 2),)

    def forward(self, x, c):
        if self.mode == "identity":
            return x
        c = c.clone()
        if self.mode == "no_male":
            c[:, 3] = 0
        return _encode(c, x.size(-1))


@pytest.fixture
def sign_weights(tmp_path):
    path = tmp_path / "classifier.pt"
    torch.save(_sign_classifier().state_dict(), path)
    return path


def _known_answers(metric: AttributeAccuracy) -> None:
    c = _labels(40, seed=1)
    loader = DataLoader(TensorDataset(_encode(c), c), batch_size=16)
    assert metric.metric_ops("cpu", generator=EncodingGenerator("perfect"), val_loader=loader) == 1
    assert metric.last_result["real_accuracy"] == 1.0
    assert metric.last_result["images"] == 40 and metric.last_result["translations"] == 200

    # identity: right only for the hair column of the image's own colour: 1 of 5 columns
    value = metric.metric_ops("cpu", generator=EncodingGenerator("identity"), val_loader=loader)
    assert value == pytest.approx(0.2)
    per_target = metric.last_result["per_target"]
    for j, name in enumerate(ATTRS[:3]):
        assert per_target[name] == pytest.approx(float(c[:, j].mean()))
    assert per_target["Male"] == 0.0 and per_target["Young"] == 0.0

    # never sets Male: wrong exactly where the target has Male
    value = metric.metric_ops("cpu", generator=EncodingGenerator("no_male"), val_loader=loader)
    targets = torch.cat(single_flip_targets(c, ((0, 1, 2),)))
    assert value == pytest.approx(float((targets[:, 3] == 0).double().mean()))
    assert metric.last_result["per_attribute"]["Male"] == pytest.approx(value)
    assert metric.last_result["per_attribute"]["Young"] == 1.0
    assert set(metric.last_result) == {
        "value",
        "images",
        "translations",
        "per_target",
        "per_attribute",
        "real_accuracy",
        "real_per_attribute",
        "classifier",
    }


def test_attribute_accuracy_known_answers():
    """The component judges with the module it is given (no registry, no files)."""
    metric = AttributeAccuracy(_sign_classifier(), classifier_attributes=ATTRS)
    _known_answers(metric)
    assert metric.last_result["classifier"] == "AttributeClassifier"

    # max_images and the training split (reference: train) are honoured
    c = _labels(40, seed=1)
    loader = DataLoader(TensorDataset(_encode(c), c), batch_size=16)
    capped = AttributeAccuracy(_sign_classifier(), max_images=10, classifier_source="hand-set")
    capped.metric_ops("cpu", generator=EncodingGenerator("perfect"), data_loader=loader)
    assert capped.last_result["images"] == 10 and capped.last_result["classifier"] == "hand-set"


def test_attribute_accuracy_from_weights_file(sign_weights):
    """The launcher's factory: same classifier from the weights file, same numbers."""
    args = {"conv_dim": 5, "repeat_num": 0}
    metric = attribute_accuracy_from_run(
        weights=str(sign_weights), classifier_args=args, c_dim=5, in_channels=5
    )
    assert isinstance(metric, AttributeAccuracy)
    assert metric.classifier_attributes is None  # a bare state dict: no run config
    for k, v in _sign_classifier().state_dict().items():
        torch.testing.assert_close(metric.classifier.state_dict()[k], v)
    _known_answers(metric)
    assert metric.last_result["classifier"] == str(sign_weights)
    # through the launcher: c_dim and in_channels come from the dataset (registry data_args)
    built = build(
        METRICS,
        "attribute_accuracy",
        {"weights": str(sign_weights), "classifier_args": args},
        key="metrics.0.args",
        data={"num_attributes": 5, "channels": 5, "image_size": 4},
    )
    _known_answers(built)


def test_building_the_judge_draws_no_random_numbers(sign_weights):
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    attribute_accuracy_from_run(
        weights=str(sign_weights), classifier_args={"conv_dim": 5, "repeat_num": 0}, c_dim=5,
        in_channels=5,
    )  # fmt: skip
    assert torch.equal(torch.rand(4), expected)


def test_attribute_accuracy_component_errors():
    with pytest.raises(TypeError, match="^classifier: expected a trained nn.Module"):
        AttributeAccuracy("attribute_classifier")
    with pytest.raises(
        ValueError, match="^reference: unknown reference 'vall'; did you mean 'val'"
    ):
        AttributeAccuracy(_sign_classifier(), reference="vall")
    with pytest.raises(ValueError, match="^max_images: must be a positive integer"):
        AttributeAccuracy(_sign_classifier(), max_images=0)
    with pytest.raises(ValueError, match="^classification: unknown classification 'bc'"):
        AttributeAccuracy(_sign_classifier(), classification="bc")
    metric = AttributeAccuracy(_sign_classifier(), reference="val")
    c = _labels(4)
    loader = DataLoader(TensorDataset(_encode(c), c), batch_size=4)
    with pytest.raises(ValueError, match="^reference: val needs a validation split"):
        metric.loader(None, loader)
    with pytest.raises(ValueError, match="^reference: .*no validation split"):
        metric.validate(SimpleNamespace(val_loader=None, generator=EncodingGenerator("perfect")))
    metric = AttributeAccuracy(_sign_classifier(), classifier_attributes=ATTRS[::-1])
    with pytest.raises(ValueError, match="evaluates the model named 'generator'"):
        metric.metric_ops("cpu", generator=None, val_loader=loader)
    with pytest.raises(ValueError, match="needs a translation generator G\\(x, c\\) with c_dim"):
        metric.metric_ops("cpu", generator=nn.Identity(), val_loader=loader)
    with pytest.raises(ValueError, match="was trained on attributes"):
        metric.metric_ops("cpu", generator=EncodingGenerator("perfect"), val_loader=loader)
    # a classifier with another number of outputs: refused before and while evaluating
    wide = AttributeAccuracy(_sign_classifier(6))
    with pytest.raises(ValueError, match="has 6 outputs but the generator translates 5"):
        wide.validate(SimpleNamespace(val_loader=loader, generator=EncodingGenerator("perfect")))
    odd = AttributeAccuracy(
        nn.Sequential(nn.Flatten(), nn.Linear(5 * 4 * 4, 3)), classifier_source="x"
    )
    with pytest.raises(ValueError, match=r"classifier \(x\) returns logits of shape \(4, 3\)"):
        odd.metric_ops("cpu", generator=EncodingGenerator("perfect"), val_loader=loader)


def test_attribute_accuracy_never_uses_random_weights(tmp_path, sign_weights):
    with pytest.raises(ValueError, match="^weights: .*never with random weights"):
        attribute_accuracy_from_run()
    with pytest.raises(FileNotFoundError, match=r"^weights: .*nothing\.pt does not exist"):
        attribute_accuracy_from_run(weights=str(tmp_path / "nothing.pt"))
    (tmp_path / "empty_run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"^weights: no checkpoint \(ckpt-\*\.pt\)"):
        attribute_accuracy_from_run(weights=str(tmp_path / "empty_run"))
    with pytest.raises(FileNotFoundError, match="stargan_classifier_digits.yaml"):
        resolve_classifier_weights(tmp_path / "empty_run")
    # weights that do not fit the classifier's arguments: a clear error, not a random model
    with pytest.raises(ValueError, match="^weights: .*does not fit classifier 'attribute_class"):
        attribute_accuracy_from_run(
            weights=str(sign_weights), classifier_args={"conv_dim": 8}, c_dim=5, in_channels=5
        )
    torch.save({"models": {"other": {}}}, tmp_path / "run.pt")
    with pytest.raises(ValueError, match="^weights: .*has no model 'classifier'"):
        attribute_accuracy_from_run(weights=str(tmp_path / "run.pt"))
    with pytest.raises(ValueError, match="^classifier: unknown model 'atribute_classifier'"):
        attribute_accuracy_from_run(weights=str(sign_weights), classifier="atribute_classifier")
    with pytest.raises(ValueError, match="^classifier_args: missing required argument.*'c_dim'"):
        attribute_accuracy_from_run(weights=str(sign_weights))  # nothing gives c_dim
    with pytest.raises(ValueError, match="did you mean 'val'"):
        attribute_accuracy_from_run(
            weights=str(sign_weights), classifier_args={"conv_dim": 5, "repeat_num": 0},
            c_dim=5, in_channels=5, reference="vall",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "key", "fragment"),
    [
        ({}, "metrics.0.args.weights", "never with random weights"),
        ({"weights": "MISSING"}, "metrics.0.args.weights", "nothing.pt does not exist"),
        (
            {"classifier_args": {"conv_dm": 5}},
            "metrics.0.args.classifier_args.conv_dm",
            "did you mean 'conv_dim'",
        ),
        (
            {"classifier_args": {"conv_dim": 0}},
            "metrics.0.args.classifier_args.conv_dim",
            "must be a positive integer",
        ),
        ({"classifier_args": {"conv_dim": 8}}, "metrics.0.args.weights", "does not fit"),
        ({"classifier": "atribute_classifier"}, "metrics.0.args.classifier", "did you mean"),
        ({"reference": "vall"}, "metrics.0.args.reference", "did you mean 'val'"),
        ({"max_images": 0}, "metrics.0.args.max_images", "positive integer"),
    ],
)
def test_launcher_names_the_config_key(tmp_path, sign_weights, args, key, fragment):
    full = {"weights": str(sign_weights), "classifier_args": {"conv_dim": 5, "repeat_num": 0}}
    full.update(args)
    if not args:
        del full["weights"]
    elif full["weights"] == "MISSING":
        full["weights"] = str(tmp_path / "nothing.pt")
    data = {"num_attributes": 5, "channels": 5}
    with pytest.raises(ConfigError) as info:
        build(METRICS, "attribute_accuracy", full, key="metrics.0.args", data=data)
    assert info.value.key == key, info.value
    assert fragment in info.value.message
    with pytest.raises(ConfigError, match="unknown argument 'weight'.*did you mean 'weights'"):
        build(METRICS, "attribute_accuracy", {"weight": "x"}, key="metrics.0.args")


# ---------------------------------------------------------------------------------------------
# end to end: classifier run -> StarGAN run judged by it; shipped configs
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribute_digits")
    write_attribute_digits(root, num_images=40, size=8)
    return root


def _digits_data(root) -> dict:
    return {
        "name": "celeba",
        "args": {"root": str(root), "attributes": ATTRS, "crop_size": None, "image_size": 8},
        "loader": {"batch_size": 8, "num_workers": 0},
        "val": {"args": {"split": "valid"}},
    }


@pytest.fixture(scope="module")
def classifier_run(digits_root, tmp_path_factory):
    """A classifier trained for a few steps by the torchgan trainer (its only model)."""
    out = tmp_path_factory.mktemp("runs") / "classifier"
    cfg = config.load_config(
        CONFIGS / "stargan_classifier_digits.yaml",
        [
            f"out_dir={out}",
            f"data.args.root={digits_root}",
            "data.args.image_size=8",
            "data.loader.batch_size=8",
            "trainer.epochs=1",
            "trainer.max_steps=3",
            "trainer.eval_every=3",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    result = run(cfg)
    return out, result


def test_classifier_only_config_trains_with_the_torchgan_trainer(classifier_run):
    out, result = classifier_run
    assert result.step == 3
    assert result.checkpoint is not None and (out / "config.yaml").is_file()
    state = torch.load(result.checkpoint, weights_only=True)
    assert set(state["models"]) == {"classifier"}
    assert 0.0 <= result.metrics["classifier_accuracy"] <= 1.0
    details = result.trainer.metrics["ClassifierAccuracy"].last_result
    assert details["images"] == 4 and set(details["per_attribute"]) == set(ATTRS)  # valid split
    assert not list((out / "samples").glob("*.png"))  # nothing to sample: no generator
    loss = result.trainer.losses["AttributeClassificationLoss"]
    assert set(loss.log_scalars()) == {"classifier/accuracy", "classifier/attribute_accuracy"}


def test_stargan_digits_config_trains_and_is_judged(classifier_run, digits_root, tmp_path):
    clf_out, _ = classifier_run
    cfg = config.load_config(
        CONFIGS / "stargan_digits.yaml",
        [
            f"out_dir={tmp_path / 'stargan'}",
            f"data.args.root={digits_root}",
            "data.args.image_size=8",
            "data.loader.batch_size=4",
            "models.discriminator.args.repeat_num=2",
            "models.generator.args.conv_dim=4",
            "models.discriminator.args.conv_dim=4",
            f"metrics.0.args.weights={clf_out}",
            "metrics.0.args.max_images=3",
            "trainer.max_steps=6",
            "trainer.eval_every=6",
            "trainer.sample_every=6",
            "trainer.sample_size=3",
            "logging.progress=false",
        ],
    )
    result = run(cfg)
    trainer = result.trainer
    assert trainer.loss_information["discriminator_iters"] == 6
    assert trainer.loss_information["generator_iters"] == 2  # steps 0 and 5 with ncritic 5
    assert 0.0 <= result.metrics["attribute_accuracy"] <= 1.0
    details = trainer.metrics["AttributeAccuracy"].last_result
    assert details["images"] == 3 and details["translations"] == 15
    # the judge is the trained classifier of the classifier run, loaded exactly
    judge = trainer.metrics["AttributeAccuracy"].classifier
    trained = torch.load(sorted((clf_out / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    for k, v in judge.state_dict().items():
        torch.testing.assert_close(v, trained["models"]["classifier"][k])
    # data-derived arguments were filled in and written to config.yaml
    written = (tmp_path / "stargan" / "config.yaml").read_text()
    assert "c_dim: 5" in written and "Black_Hair" in written
    # one sample grid row per real image: real + 5 flips
    png = sorted((tmp_path / "stargan" / "samples").glob("*generator.png"))[-1]
    w, h = Image.open(png).size
    assert (w, h) == (6 * (8 + 2) + 2, 3 * (8 + 2) + 2)


def test_judge_of_a_run_directory(classifier_run):
    """The run's config.yaml gives the classifier's name, arguments and attributes."""
    clf_out, _ = classifier_run
    metric = attribute_accuracy_from_run(weights=str(clf_out))
    newest = sorted((clf_out / "checkpoints").glob("ckpt-*.pt"))[-1]
    assert metric.classifier_source == str(newest)
    assert metric.classifier_attributes == ATTRS
    assert isinstance(metric.classifier, AttributeClassifier) and not metric.classifier.training
    assert resolve_classifier_weights(clf_out) == (newest, clf_out)
    assert resolve_classifier_weights(clf_out / "checkpoints") == (newest, clf_out)
    assert resolve_classifier_weights(newest) == (newest, clf_out)
    with pytest.raises(ValueError, match="^classifier: 'stargan_discriminator', but .* holds"):
        attribute_accuracy_from_run(weights=str(clf_out), classifier="stargan_discriminator")


def test_judge_trained_on_other_attributes_is_refused(classifier_run, digits_root, tmp_path):
    clf_out, _ = classifier_run
    metric = attribute_accuracy_from_run(weights=str(clf_out))
    g = StarGANGenerator(5, attributes=ATTRS[::-1], conv_dim=2, repeat_num=0)
    c = _labels(2)
    loader = DataLoader(TensorDataset(torch.zeros(2, 3, 8, 8), c), batch_size=2)
    with pytest.raises(ValueError, match="was trained on attributes"):
        metric.metric_ops("cpu", generator=g, val_loader=loader)
    # through the launcher: refused before training, naming the metric
    cfg = config.load_config(
        CONFIGS / "stargan_digits.yaml",
        [
            f"out_dir={tmp_path / 'stargan'}",
            f"data.args.root={digits_root}",
            "data.args.image_size=8",
            f"data.args.attributes={ATTRS[::-1]}",
            "models.discriminator.args.repeat_num=2",
            f"metrics.0.args.weights={clf_out}",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    with pytest.raises(ConfigError, match="was trained on attributes") as info:
        build_trainer(cfg)
    assert info.value.key == "metrics.0"


def test_cli_missing_judge_exits_2(digits_root, tmp_path, capsys):
    code = main(
        [
            str(CONFIGS / "stargan_digits.yaml"),
            "--set",
            f"out_dir={tmp_path / 'stargan'}",
            "--set",
            f"data.args.root={digits_root}",
            "--set",
            f"metrics.0.args.weights={tmp_path / 'no_classifier'}",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "metrics.0.args.weights: classifier checkpoint" in err
    assert "does not exist" in err and "stargan_classifier_digits.yaml" in err


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("celeba")
    write_celeba(root, num_images=12, size=(218, 178))
    return root


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_stargan_celeba_config_has_the_authors_defaults(celeba_root, classifier_run, tmp_path):
    clf_out, _ = classifier_run
    raw = config.load_config(CONFIGS / "stargan_celeba.yaml")
    assert raw.data.args["attributes"] == ATTRS
    assert (raw.data.args["crop_size"], raw.data.args["image_size"]) == (178, 128)
    assert raw.data.args["flip"] is True and raw.data.loader.batch_size == 16
    assert raw.trainer.ncritic == 5 and raw.trainer.max_steps == 200000
    losses = {item.name: item.args for item in raw.losses}
    assert losses["stargan_discriminator"] == {"lambda_cls": 1.0, "lambda_gp": 10.0}
    assert losses["stargan_generator"] == {"lambda_cls": 1.0, "lambda_rec": 10.0}
    for m in raw.models.values():
        assert m.optimizer.args == {"lr": 1.0e-4, "betas": [0.5, 0.999]}

    cfg = config.load_config(
        CONFIGS / "stargan_celeba.yaml",
        [
            f"out_dir={tmp_path / 'run'}",
            f"data.args.root={celeba_root}",
            "data.loader.num_workers=0",
            "data.loader.batch_size=2",
            "data.val.batch_size=2",
            f"metrics.0.args.weights={clf_out}",
            "trainer.sample_size=2",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    trainer, _ = build_trainer(cfg)
    assert trainer.generator.c_dim == 5 and trainer.generator.exclusive_groups == ((0, 1, 2),)
    assert trainer.discriminator.image_size == (128, 128)
    assert len(trainer.step_schedulers) == 2 and not trainer.schedulers
    for sched in trainer.step_schedulers:  # the released code's decay: lr/1e5 every 1000
        assert isinstance(sched, StepwiseDecayLR)
        expected = {0: 1e-4, 100_999: 1e-4, 101_000: 1e-4 - 1e-9, 150_000: 1e-4 - 50e-9}
        expected[200_000] = 9.99e-5
        for step, lr in expected.items():
            sched.last_epoch = step - 1
            sched.step()  # the lr used after `step` finished iterations
            assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(lr, abs=1e-12)


def test_stargan_classifier_celeba_config_builds(celeba_root, tmp_path):
    cfg = config.load_config(
        CONFIGS / "stargan_classifier_celeba.yaml",
        [
            f"out_dir={tmp_path / 'run'}",
            f"data.args.root={celeba_root}",
            "data.loader.num_workers=0",
            "data.loader.batch_size=2",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    trainer, _ = build_trainer(cfg)
    assert trainer.model_names == ["classifier"]
    assert trainer.classifier.c_dim == 5


def test_stargan_configs_are_all_covered():
    shipped = {p.name for p in CONFIGS.glob("stargan*.yaml")}
    assert shipped == {
        "stargan_celeba.yaml",
        "stargan_classifier_celeba.yaml",
        "stargan_classifier_digits.yaml",
        "stargan_digits.yaml",
    }


def test_attribute_digits_encode_their_attributes(digits_root):
    from torchgan_ext.data.celeba import CelebA

    ds = CelebA(digits_root, split="all", crop_size=None, image_size=None, flip=False)
    assert ds.attributes == list(ATTRIBUTE_DIGITS_ATTRIBUTES)
    assert torch.equal(ds.labels[:, :3].sum(1), torch.ones(len(ds)))
    for i in range(len(ds)):
        image, labels = ds[i]
        rgb = (image + 1) / 2
        inner = rgb[:, 1:-1, 1:-1].flatten(1)
        chroma = inner.max(0).values - inner.min(0).values
        stroke = inner[:, chroma.argmax()]  # the most colourful pixel
        assert int(stroke[:3].argmax()) == int(labels[:3].argmax())  # red / green / blue
        corner = rgb[:, 0, 0].mean()
        assert (corner > 0.85) == bool(labels[4])  # Young: the frame
        if not labels[4]:
            assert (corner > 0.3) == bool(labels[3])  # Male: grey background
