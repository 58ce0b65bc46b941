"""segmentation_net, its loss and run, and the segmentation score (pix2pix's FCN-score).

The scores are checked against a plain numpy reference (the FCN / pix2pix formulas written out
again), on controlled label maps: perfect predictions, hand-computed partial cases and ignored
pixels. The judge is trained by the shipped config on a miniature Cityscapes tree and loaded
back from its run directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from torchgan_ext import config, run
from torchgan_ext._registry import METRICS
from torchgan_ext.build import build
from torchgan_ext.data.cityscapes import TRAIN_CLASS_NAMES, Cityscapes, train_ids_to_color
from torchgan_ext.errors import ConfigError
from torchgan_ext.losses.segmentation import SegmentationCrossEntropyLoss
from torchgan_ext.metrics.segmentation_labels import (
    TRAIN_ID_COLORS,
    ConfusionMatrix,
    color_to_train_ids,
    label_to_train_ids,
    onehot_to_train_ids,
    segmentation_scores,
)
from torchgan_ext.metrics.segmentation_score import SegmentationScore, SegmenterAccuracy
from torchgan_ext.models import SegmentationNet
from torchgan_ext.plugins.segmentation_runs import segmentation_score_from_run
from torchgan_ext.testing import write_cityscapes

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
K = 19


# ---------------------------------------------------------------------------------------------
# the numpy reference: FCN's histogram and scores, written out with numpy only
# ---------------------------------------------------------------------------------------------
def reference_scores(target, pred, n=K, absent="skip"):
    t, p = np.asarray(target).ravel(), np.asarray(pred).ravel()
    keep = (t >= 0) & (t < n)
    hist = np.bincount(n * t[keep].astype(int) + p[keep], minlength=n * n).reshape(n, n)
    diag = np.diag(hist).astype(float)
    if absent == "zero":  # the pix2pix authors' util.py: 1e-12 turns 0/0 into 0
        acc = diag / (hist.sum(1) + 1e-12)
        iou = diag / (hist.sum(1) + hist.sum(0) - diag + 1e-12)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = diag / hist.sum(1)
            iou = diag / (hist.sum(1) + hist.sum(0) - diag)
    return diag.sum() / hist.sum(), np.nanmean(acc), np.nanmean(iou)


def scores_of(target, pred, absent="skip"):
    cm = ConfusionMatrix(K)
    cm.update(torch.as_tensor(target), torch.as_tensor(pred))
    s = segmentation_scores(cm.hist, absent, TRAIN_CLASS_NAMES)
    return s["pixel_accuracy"], s["class_accuracy"], s["class_iou"]


def test_perfect_prediction_scores_one_and_ignored_pixels_do_not_count():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, K, (2, 16, 16), generator=g)
    target[:, :4] = 255
    pred = torch.where(target == 255, torch.randint(0, K, target.shape, generator=g), target)
    assert scores_of(target, pred) == (1.0, 1.0, 1.0)
    cm = ConfusionMatrix(K)
    cm.update(target, pred)
    assert int(cm.ignored) == 2 * 4 * 16 and int(cm.hist.sum()) == 2 * 12 * 16


def test_known_partial_case_by_hand():
    target = torch.tensor([[0, 0, 1, 1, 255]])
    pred = torch.tensor([[0, 1, 1, 1, 0]])  # the ignored pixel's prediction must not count
    acc, cls, iou = scores_of(target, pred)
    assert acc == pytest.approx(3 / 4)
    assert cls == pytest.approx((1 / 2 + 1) / 2)
    assert iou == pytest.approx((1 / 2 + 2 / 3) / 2)  # road 1/(2+1-1), sidewalk 2/(2+3-2)
    # the authors' convention: the 17 absent classes count as 0 in the class means
    _, cls0, iou0 = scores_of(target, pred, "zero")
    assert cls0 == pytest.approx(1.5 / K) and iou0 == pytest.approx((1 / 2 + 2 / 3) / K)
    # a class predicted but absent from the targets has IoU 0 and takes part in the mean
    _, _, iou2 = scores_of(torch.tensor([[0, 0]]), torch.tensor([[0, 5]]))
    assert iou2 == pytest.approx((1 / 2 + 0) / 2)


@pytest.mark.parametrize("absent", ["skip", "zero"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_the_numpy_reference(seed, absent):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, K, size=(3, 24, 24))
    target[rng.random(target.shape) < 0.2] = 255
    target[target == 7] = 6  # a class without targets
    pred = np.where(rng.random(target.shape) < 0.6, target % 255, rng.integers(0, K, target.shape))
    pred = np.where(pred == 255, 0, pred)
    got = scores_of(torch.from_numpy(target), torch.from_numpy(pred), absent)
    assert got == pytest.approx(reference_scores(target, pred, absent=absent), abs=1e-9)


# ---------------------------------------------------------------------------------------------
# label inputs -> train ids
# ---------------------------------------------------------------------------------------------
def _ids(seed=0, shape=(2, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, K, shape, generator=g)
    ids[:, 0, :3] = 255
    return ids


def _onehot(ids):
    return F.one_hot(ids.clamp(max=K), K + 1)[..., :K].permute(0, 3, 1, 2).float()


def test_colour_and_onehot_label_maps_round_trip():
    ids = _ids()
    assert torch.equal(label_to_train_ids(train_ids_to_color(ids), "color"), ids)
    assert torch.equal(label_to_train_ids(_onehot(ids), "onehot"), ids)
    assert len(TRAIN_ID_COLORS) == K and TRAIN_ID_COLORS[0] == (128, 64, 128)  # road


def test_official_colour_maps_give_the_train_ids_of_their_label_ids():
    """gtFine_color.png colours (all 34 labels, what cityscapes_pairs reads) -> train ids."""
    from torchgan_ext.data.cityscapes import label_ids_to_color, label_ids_to_train_ids

    label_ids = torch.arange(34).view(1, 2, 17)
    color = label_ids_to_color(label_ids)  # [1, 3, 2, 17] in [-1, 1]
    expected = label_ids_to_train_ids(label_ids)
    got = label_to_train_ids(color, "color")
    polegroup, pole = 18, 17  # one colour: it counts for pole, the class with a train id
    same = label_ids != polegroup
    assert torch.equal(got[same], expected[same])
    assert got.flatten()[polegroup] == expected.flatten()[pole]


def test_bad_label_maps_are_named_errors():
    color = train_ids_to_color(_ids())
    color[0, :, 2, 2] = torch.tensor([250, 171, 160]) / 127.5 - 1  # not in the palette
    with pytest.raises(ValueError, match=r"^label_input: 1 pixel.*\(250, 171, 160\).*valid: road"):
        label_to_train_ids(color, "color")
    color[0, :, 2, 2] = torch.tensor([250, 170, 160]) / 127.5 - 1  # parking: no train id
    assert label_to_train_ids(color, "color")[0, 2, 2] == 255
    with pytest.raises(ValueError, match="not a whole 0..255 value"):
        label_to_train_ids(train_ids_to_color(_ids()) + 0.003, "color")
    with pytest.raises(ValueError, match=r"^label_input: a color label map is \[B, 3, H, W\]"):
        label_to_train_ids(_onehot(_ids()), "color")
    bad = _onehot(_ids())
    bad[0, 1, 0, 0] = 0.5
    with pytest.raises(ValueError, match="0/1 with at most one 1 per pixel"):
        label_to_train_ids(bad, "onehot")
    with pytest.raises(ValueError, match="did you mean 'onehot'"):
        label_to_train_ids(bad, "one_hot")
    with pytest.raises(ValueError, match="^label_format: colour label maps use the 19"):
        label_to_train_ids(color, "color", num_classes=34)


def test_per_batch_work_needs_no_host_synchronisation():
    """On the meta device any data-dependent host read (``.item()``, ``bool(t)``, masking by
    a boolean tensor) raises: conversion, judge, prediction and accumulation run there."""
    ids = _ids()
    ids_m, _, _ = color_to_train_ids(train_ids_to_color(ids).to("meta"))
    onehot_to_train_ids(_onehot(ids).to("meta"))
    metric = SegmentationScore(SegmentationNet(width=2, depth=2).to("meta"))
    pred = metric.predict(metric.segmenter, torch.zeros(2, 3, 8, 8, device="meta"), (8, 8))
    cm = ConfusionMatrix(K, "meta")
    cm.update(ids_m, pred)
    assert cm.hist.device.type == "meta" and cm.hist.shape == (K, K)
    with pytest.raises((RuntimeError, NotImplementedError)):
        bool(ids_m.sum())  # what a host synchronisation would do here


# ---------------------------------------------------------------------------------------------
# the metric with controlled judges and generators
# ---------------------------------------------------------------------------------------------
class ColourJudge(nn.Module):
    """Labels a photo by exact colour lookup (an oracle for photos drawn in label colours)."""

    num_classes = K

    def forward(self, x):
        ids, _, _ = color_to_train_ids(x)
        return F.one_hot(ids.clamp(max=K), K + 1)[..., :K].permute(0, 3, 1, 2).float()


class Constant(nn.Module):
    """A 'generator' that paints everything in one train id's colour."""

    def __init__(self, train_id):
        super().__init__()
        self.register_buffer("rgb", torch.tensor(TRAIN_ID_COLORS[train_id]) / 127.5 - 1)

    def forward(self, label):
        return self.rgb.view(1, 3, 1, 1).expand(label.size(0), 3, *label.shape[-2:])


class Pairs(Dataset):
    """``(label_input, photo)`` items the way the pairs dataset yields them."""

    def __init__(self, ids, photos, label_format="color"):
        self.ids, self.photos, self.label_format = ids, photos, label_format

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        ids = self.ids[i : i + 1]
        label = train_ids_to_color(ids) if self.label_format == "color" else _onehot(ids)
        return label[0], self.photos[i]


@pytest.mark.parametrize("label_format", ["color", "onehot"])
def test_score_of_generated_and_real_photos(label_format):
    ids = _ids(shape=(6, 8, 8))
    noisy = ids.clone()
    noisy[:, 4:] = (noisy[:, 4:] + 1) % K  # the judge misreads half of each real photo
    loader = DataLoader(Pairs(ids, train_ids_to_color(noisy), label_format), batch_size=4)
    metric = SegmentationScore(ColourJudge(), segmenter_source="oracle", score="pixel_accuracy")

    identity = nn.Identity() if label_format == "color" else ColourFromOnehot()
    assert metric.metric_ops("cpu", generator=identity, val_loader=loader) == 1.0
    r = metric.last_result
    assert (r["class_iou"], r["class_accuracy"], r["images"]) == (1.0, 1.0, 6)
    assert r["label_format"] == label_format and r["segmenter"] == "oracle"
    assert r["ignored_pixels"] == 6 * 3 and r["pixels"] == 6 * 61
    want = reference_scores(ids, noisy.clamp(max=K - 1))
    assert [r["real"][k] for k in ("pixel_accuracy", "class_accuracy", "class_iou")] == (
        pytest.approx(list(want))
    )

    value = metric.metric_ops("cpu", generator=Constant(2), val_loader=loader)  # all building
    want = reference_scores(ids, torch.full_like(ids, 2))
    assert value == pytest.approx(want[0])
    assert metric.last_result["class_iou"] == pytest.approx(want[2])
    assert metric.last_result["per_class_iou"]["building"] == pytest.approx(
        float((ids == 2).sum() / (ids != 255).sum())
    )


class ColourFromOnehot(nn.Module):
    def forward(self, onehot):
        return train_ids_to_color(onehot_to_train_ids(onehot))


def test_metric_uses_the_ema_generator_and_max_images():
    ids = _ids(shape=(6, 8, 8))
    loader = DataLoader(Pairs(ids, train_ids_to_color(ids)), batch_size=4)
    metric = SegmentationScore(ColourJudge(), max_images=5, score="pixel_accuracy")
    value = metric.metric_ops("cpu", Constant(2), loader, eval_generator=nn.Identity())
    assert value == 1.0 and metric.last_result["images"] == 5
    no_ema = SegmentationScore(ColourJudge(), use_ema=False, real=False)
    assert no_ema.metric_ops("cpu", nn.Identity(), loader, eval_generator=Constant(2)) == 1.0
    assert "real" not in no_ema.last_result


def test_metric_errors():
    ids = _ids(shape=(2, 8, 8))
    loader = DataLoader(Pairs(ids, train_ids_to_color(ids)), batch_size=2)
    with pytest.raises(TypeError, match="^segmenter: expected a trained nn.Module"):
        SegmentationScore("weights.pt")
    with pytest.raises(ValueError, match="^segmenter: .* trained for 34 classes .* have 19"):
        SegmentationScore(SegmentationNet(num_classes=34, width=2, depth=1))
    with pytest.raises(ValueError, match="did you mean 'class_iou'"):
        SegmentationScore(ColourJudge(), score="class_io")
    with pytest.raises(ValueError, match="evaluates the label -> photo model named 'generator'"):
        SegmentationScore(ColourJudge()).metric_ops("cpu", val_loader=loader)
    plain = nn.Conv2d(3, 34, 1)  # no num_classes attribute: caught on its output
    with pytest.raises(ValueError, match=r"\(x\) returns 34 class scores .* counts 19 classes"):
        SegmentationScore(plain, "x").metric_ops("cpu", nn.Identity(), loader)
    colours = [train_ids_to_color(ids[i : i + 1])[0] for i in range(2)]
    colours[1][:, 0, 0] = torch.tensor([1.0, 1.0, 1.0])  # white
    loader = DataLoader(TensorDataset(torch.stack(colours), torch.stack(colours)), batch_size=1)
    with pytest.raises(ValueError, match=r"^label_input: 1 pixel.*\(255, 255, 255\)"):
        SegmentationScore(ColourJudge()).metric_ops("cpu", nn.Identity(), loader)


# ---------------------------------------------------------------------------------------------
# the loss
# ---------------------------------------------------------------------------------------------
def test_loss_ignores_pixels_and_logs_pixel_accuracy():
    loss = SegmentationCrossEntropyLoss()
    logits = torch.randn(2, K, 4, 4)
    labels = _ids(shape=(2, 4, 4))
    keep = labels != 255
    manual = -F.log_softmax(logits, 1).gather(1, labels.clamp(max=K - 1)[:, None])[:, 0][keep]
    assert float(loss(logits, labels)) == pytest.approx(float(manual.mean()), rel=1e-6)
    net = SegmentationNet(width=2, depth=2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    value = loss.train_ops(net, opt, torch.rand(2, 3, 4, 4) * 2 - 1, labels)
    assert not value.requires_grad and torch.isfinite(value)
    assert 0 <= float(loss.log_scalars()["segmenter/pixel_accuracy"]) <= 1
    with pytest.raises(ValueError, match="per-pixel labels.*target: train_ids"):
        loss.train_ops(net, opt, torch.zeros(2, 3, 4, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="^label_smoothing: must be in"):
        SegmentationCrossEntropyLoss(label_smoothing=1.0)


# ---------------------------------------------------------------------------------------------
# the shipped config trains the judge; segmentation_score loads it from the run
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def city_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("city")
    return write_cityscapes(root, images={"train": 4, "val": 3}, size=(32, 64)).root


TINY = [
    "data.args.image_size=[32, 32]",
    "data.args.crop_size=16",
    "data.val.args.image_size=[32, 32]",
    "data.loader.batch_size=2",
    "data.loader.num_workers=0",
    "models.segmenter.args.width=4",
    "models.segmenter.args.depth=3",
    "trainer.epochs=2",
    "trainer.max_steps=3",
    "logging.progress=false",
    "logging.tensorboard=false",
]


@pytest.fixture(scope="module")
def judge_run(city_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "segmentation"
    cfg = config.load_config(
        CONFIGS / "segmentation_cityscapes.yaml",
        [f"out_dir={out}", f"data.args.root={city_root}", *TINY],
    )
    return out, run(cfg)


class CityPairs(Dataset):
    """Colour label maps and photos of the miniature val split (what the pairs dataset does)."""

    label_format = "color"

    def __init__(self, root):
        self.base = Cityscapes(root, "val", target="train_ids", image_size=[32, 32])

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        image, ids = self.base[i]
        return train_ids_to_color(ids), image


def test_config_trains_the_segmenter_with_the_torchgan_trainer(judge_run):
    out, result = judge_run
    assert result.step == 3 and (out / "config.yaml").is_file()
    state = torch.load(result.checkpoint, weights_only=True)
    assert set(state["models"]) == {"segmenter"}
    details = result.trainer.metrics["SegmenterAccuracy"].last_result
    assert details["images"] == 3 and 0 <= details["class_iou"] <= 1  # the val split
    assert result.metrics["segmenter_accuracy"] == details["class_iou"]
    loss = result.trainer.losses["SegmentationCrossEntropyLoss"]
    assert set(loss.log_scalars()) == {"segmenter/pixel_accuracy"}


def test_segmentation_score_loads_the_trained_judge(judge_run, city_root):
    out, result = judge_run
    metric = segmentation_score_from_run(weights=str(out), score="pixel_accuracy")
    trained = torch.load(result.checkpoint, weights_only=True)["models"]["segmenter"]
    loaded = metric.segmenter.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in trained.items())
    assert metric.segmenter_source == str(result.checkpoint) and not metric.segmenter.training

    loader = DataLoader(CityPairs(city_root), batch_size=2)
    generator = nn.Conv2d(3, 3, 1)
    value = metric.metric_ops("cpu", generator=generator, val_loader=loader)
    # the same numbers by hand: the loaded judge's arg-max against the label maps
    targets, fake, real = [], [], []
    with torch.no_grad():
        for label, photo in loader:
            targets.append(label_to_train_ids(label, "color"))
            fake.append(metric.segmenter(generator(label).clamp(-1, 1)).argmax(1))
            real.append(metric.segmenter(photo).argmax(1))
    target = torch.cat(targets).numpy()
    want_fake = reference_scores(target, torch.cat(fake).numpy())
    want_real = reference_scores(target, torch.cat(real).numpy())
    r = metric.last_result
    assert value == pytest.approx(want_fake[0])
    assert (r["pixel_accuracy"], r["class_accuracy"], r["class_iou"]) == pytest.approx(want_fake)
    real_scores = (r["real"]["pixel_accuracy"], r["real"]["class_accuracy"], r["real"]["class_iou"])
    assert real_scores == pytest.approx(want_real)
    assert r["images"] == 3 and r["label_format"] == "color"


def test_judge_files_never_fall_back_to_random_weights(judge_run, tmp_path):
    out, result = judge_run
    with pytest.raises(ValueError, match="^weights: .*never with random weights"):
        segmentation_score_from_run()
    with pytest.raises(FileNotFoundError, match=r"^weights: segmenter checkpoint .*none\.pt does"):
        segmentation_score_from_run(weights=str(tmp_path / "none.pt"))
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="segmentation_cityscapes.yaml"):
        segmentation_score_from_run(weights=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match=r"^weights: .* trained for 19 classes, but the label"):
        segmentation_score_from_run(weights=str(out), num_classes=34)
    wide = tmp_path / "wide.pt"
    torch.save(SegmentationNet(num_classes=34, width=2, depth=1).state_dict(), wide)
    with pytest.raises(ValueError, match=r"^weights: .*wide\.pt holds a segmenter trained for 34"):
        segmentation_score_from_run(weights=str(wide), segmenter_args={"width": 2, "depth": 1})
    with pytest.raises(ValueError, match="^weights: .*does not fit segmenter 'segmentation_net'"):
        segmentation_score_from_run(weights=str(out), segmenter_args={"width": 8})
    with pytest.raises(ValueError, match="^segmenter: 'attribute_classifier', but .* holds a"):
        segmentation_score_from_run(weights=str(out), segmenter="attribute_classifier")
    # a bare state dict with its arguments works
    bare = tmp_path / "bare.pt"
    torch.save(SegmentationNet(width=2, depth=1).state_dict(), bare)
    metric = segmentation_score_from_run(weights=str(bare), segmenter_args={"width": 2, "depth": 1})
    assert metric.segmenter.num_classes == K


@pytest.mark.parametrize(
    ("args", "key", "fragment"),
    [
        ({}, "metrics.0.args.weights", "never with random weights"),
        ({"weights": "MISSING"}, "metrics.0.args.weights", "does not exist"),
        ({"segmenter_args": {"widht": 4}}, "metrics.0.args.segmenter_args.widht", "'width'"),
        ({"score": "iou"}, "metrics.0.args.score", "class_iou"),
        ({"label_format": "colour"}, "metrics.0.args.label_format", "did you mean 'color'"),
    ],
)
def test_launcher_names_the_config_key(judge_run, tmp_path, args, key, fragment):
    out, _ = judge_run
    full = {"weights": str(out), **args}
    if not args:
        del full["weights"]
    elif full["weights"] == "MISSING":
        full["weights"] = str(tmp_path / "nothing.pt")
    with pytest.raises(ConfigError) as info:
        build(METRICS, "segmentation_score", full, key="metrics.0.args")
    assert info.value.key == key, info.value
    assert fragment in info.value.message


def test_segmenter_accuracy_needs_a_segmenter_and_train_ids(city_root):
    metric = SegmenterAccuracy()
    loader = DataLoader(CityPairs(city_root), batch_size=2)
    with pytest.raises(ValueError, match="model named 'segmenter'"):
        metric.metric_ops("cpu", val_loader=loader)
    with pytest.raises(ValueError, match=r"needs \(image, train_ids \[H, W\]\) items"):
        metric.metric_ops("cpu", segmenter=SegmentationNet(width=2, depth=1), val_loader=loader)


def test_shipped_config_builds_with_its_defaults(city_root, tmp_path):
    from torchgan_ext import build_trainer

    cfg = config.load_config(
        CONFIGS / "segmentation_cityscapes.yaml",
        [
            f"out_dir={tmp_path / 'run'}",
            f"data.args.root={city_root}",
            "data.loader.num_workers=0",
            "data.loader.batch_size=2",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    trainer, loader = build_trainer(cfg)
    assert trainer.model_names == ["segmenter"]
    net = trainer.segmenter
    assert (net.num_classes, net.in_channels, len(net.stages), len(net.scores)) == (19, 3, 5, 3)
    assert loader.dataset.image_size == 256 and loader.dataset.target == "train_ids"
    assert trainer.val_loader.dataset.image_size == 256  # the full 256x256 frames


def test_validate_and_label_format_detection():
    from types import SimpleNamespace

    ids = _ids(shape=(2, 8, 8))
    loader = DataLoader(Pairs(ids, train_ids_to_color(ids)), batch_size=2)
    metric = SegmentationScore(ColourJudge())
    with pytest.raises(ValueError, match="model named 'generator'"):
        metric.validate(SimpleNamespace(val_loader=loader, generator=None))
    with pytest.raises(ValueError, match="reference: val needs a validation split"):
        SegmentationScore(ColourJudge(), reference="val").validate(
            SimpleNamespace(val_loader=None, generator=nn.Identity())
        )
    metric.validate(SimpleNamespace(val_loader=loader, generator=nn.Identity()))
    # without the dataset attribute: told apart by the channels; 5 channels fit neither
    five = DataLoader(TensorDataset(torch.zeros(2, 5, 4, 4), torch.zeros(2, 3, 4, 4)))
    with pytest.raises(ValueError, match="^label_format: cannot tell .* shape \\(1, 5, 4, 4\\)"):
        metric.metric_ops("cpu", nn.Identity(), five)
    onehot = DataLoader(TensorDataset(_onehot(ids), train_ids_to_color(ids)), batch_size=2)
    assert metric.metric_ops("cpu", ColourFromOnehot(), onehot) == 1.0
    assert metric.last_result["label_format"] == "onehot"


# ---------------------------------------------------------------------------------------------
# end to end: a label -> photo run scored by the judge's run, through the launcher
# ---------------------------------------------------------------------------------------------
PAIRS_PLUGIN = """
import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss
from torchgan.models import Discriminator

from torchgan_ext import hookimpl
from torchgan_ext.data.cityscapes import Cityscapes, train_ids_to_color


class ColourPairs(torch.utils.data.Dataset):
    label_format = "color"
    channels = 3
    num_classes = 19

    def __init__(self, root, split="val"):
        self.base = Cityscapes(root, split, target="train_ids", image_size=[32, 32])

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        image, ids = self.base[i]
        return train_ids_to_color(ids), image


class LabelToPhoto(Discriminator):
    def __init__(self):
        super().__init__(input_dims=3, label_type="none")
        self.net = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.net(x))


class PairL1(DiscriminatorLoss):
    def train_ops(self, generator, optimizer_generator, real_inputs, labels):
        optimizer_generator.zero_grad()
        loss = (generator(real_inputs) - labels).abs().mean()
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


@hookimpl
def torchgan_ext_register_datasets(registry):
    registry.register("colour_pairs_test", ColourPairs)


@hookimpl
def torchgan_ext_register_models(registry):
    registry.register("label_to_photo_test", LabelToPhoto)


@hookimpl
def torchgan_ext_register_losses(registry):
    registry.register("pair_l1_test", PairL1)
"""


def test_translation_run_is_scored_through_the_launcher(
    judge_run, city_root, tmp_path, monkeypatch
):
    import json
    import sys

    import yaml

    from torchgan_ext.cli import main

    out, _ = judge_run
    (tmp_path / "pairs_plugin_test.py").write_text(PAIRS_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = {
        "seed": 0,
        "device": "cpu",
        "out_dir": str(tmp_path / "translation"),
        "plugins": ["pairs_plugin_test"],
        "data": {
            "name": "colour_pairs_test",
            "args": {"root": str(city_root), "split": "train"},
            "loader": {"batch_size": 2, "num_workers": 0},
            "val": {"args": {"split": "val"}},
        },
        "models": {
            "generator": {
                "name": "label_to_photo_test",
                "optimizer": {"name": "adam", "args": {"lr": 1.0e-3}},
            }
        },
        "losses": [{"name": "pair_l1_test"}],
        "metrics": [{"name": "segmentation_score", "args": {"weights": str(out)}}],
        "trainer": {"epochs": 1, "max_steps": 2, "ncritic": 1},
        "logging": {"progress": False, "tensorboard": False},
    }
    path = tmp_path / "translation.yaml"
    path.write_text(yaml.safe_dump(cfg))
    try:
        assert main([str(path)]) == 0
        assert main([str(path), "--evaluate"]) == 0
        report = json.loads((tmp_path / "translation" / "metrics.json").read_text())
        details = report["details"]["segmentation_score"]
        assert report["metrics"]["segmentation_score"] == details["class_iou"]
        assert details["images"] == 3 and details["label_format"] == "color"
        assert set(details["real"]) >= {"pixel_accuracy", "class_accuracy", "class_iou"}
        assert details["segmenter"].endswith(".pt")
        # a judge run that does not exist: exit code 2, the key named
        cfg["metrics"][0]["args"]["weights"] = str(tmp_path / "no_judge")
        path.write_text(yaml.safe_dump(cfg))
        assert main([str(path)]) == 2
    finally:
        sys.modules.pop("pairs_plugin_test", None)


@pytest.mark.parametrize("size", [(256, 256), (32, 64), (100, 60)])
def test_segmentation_net_keeps_the_input_grid(size):
    net = SegmentationNet(num_classes=7, in_channels=2, width=2, depth=5).eval()
    assert net(torch.zeros(1, 2, *size)).shape == (1, 7, *size)
    assert len(net.scores) == 3  # FCN-8s: strides 32, 16 and 8


def test_pickled_metric_carries_no_network():
    import pickle

    metric = pickle.loads(pickle.dumps(SegmentationScore(ColourJudge(), segmenter_source="j")))
    with pytest.raises(
        ValueError, match=r"segmenter \(j\) was dropped when this metric was pickled"
    ):
        _ = metric.segmenter


@pytest.mark.slow
@pytest.mark.parametrize("label_format", ["color", "onehot"])
def test_pix2pix_cityscapes_config_is_scored_by_the_trained_judge(
    judge_run, city_root, tmp_path, label_format
):
    """The real pieces together: configs/pix2pix_cityscapes.yaml on the miniature tree, its
    generator scored by segmentation_score with the judge trained above (generated and real)."""
    import json

    from torchgan_ext.evaluate import evaluate

    out, _ = judge_run
    overrides = [
        f"data.args.root={city_root}",
        f"data.args.label_format={label_format}",
        "data.args.image_size=32",
        "data.args.load_size=36",
        "data.loader.num_workers=0",
        f"out_dir={tmp_path / 'run'}",
        "device=cpu",
        "trainer.max_steps=2",
        "logging.progress=false",
        "logging.tensorboard=false",
        "models.generator.args.base_channels=4",
        "models.discriminator.args.base_channels=4",
        f"metrics=[{{name: segmentation_score, args: {{weights: {out}}}}}]",
    ]
    cfg = config.load_config(CONFIGS / "pix2pix_cityscapes.yaml", overrides)
    result = run(cfg)
    assert result.trainer.step == 2
    # the final evaluation ran on the last generator (eval_every is far away)
    assert result.trainer.last_metrics_step == 2
    assert 0.0 <= result.trainer.last_metrics["segmentation_score"] <= 1.0
    report = evaluate(cfg)  # --evaluate: the generated and the real photos, with the record
    details = report.details["segmentation_score"]
    assert details["label_format"] == label_format
    assert report.metrics["segmentation_score"] == pytest.approx(details["class_iou"])
    for kind in (details, details["real"]):
        for key in ("pixel_accuracy", "class_accuracy", "class_iou"):
            assert 0.0 <= kind[key] <= 1.0
    json.dumps(report.details)  # as written to metrics.json
