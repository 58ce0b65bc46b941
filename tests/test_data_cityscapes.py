"""The ``cityscapes`` dataset on miniature trees written by ``torchgan_ext.testing``.

The fake images encode their label map and position (pixel ``(y, x)`` of the full frame is
``(7 * label_id, x, y)``), so every test can check that the image and its target went through
the same crop, flip and resize.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from torchgan_ext import DATASETS
from torchgan_ext.cli import main
from torchgan_ext.data import CITYSCAPES_CLASSES, Cityscapes
from torchgan_ext.data.cityscapes import (
    TRAIN_CLASS_NAMES,
    label_ids_to_color,
    label_ids_to_train_ids,
    train_ids_to_color,
)
from torchgan_ext.testing import cityscapes_pixel, write_cityscapes

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _u8(image: torch.Tensor) -> torch.Tensor:
    return ((image + 1) * 127.5).round().to(torch.int64)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes")
    return write_cityscapes(
        root,
        images={"train": 5, "val": 2, "test": 2, "train_extra": 2},
        modes=("fine", "coarse"),
        size=(32, 64),
    )


def test_registered():
    assert DATASETS.get("cityscapes") is Cityscapes


@pytest.mark.parametrize(
    "split, mode, n",
    [("train", "fine", 5), ("val", "fine", 2), ("test", "fine", 2), ("train_extra", "coarse", 2)],
)
def test_lengths_and_sorted_files(fake, split, mode, n):
    ds = Cityscapes(fake.root, split=split, mode=mode, target="semantic")
    assert len(ds) == n
    assert ds.images == fake.images[split]  # sorted by city, then name; stray files ignored
    gt = "gtFine" if mode == "fine" else "gtCoarse"
    assert ds.targets == [fake.target_path(p, "labelIds", gt) for p in ds.images]


def test_root_may_be_the_parent(fake):
    assert Cityscapes(fake.root.parent).images == Cityscapes(fake.root).images


def test_stray_files_exist_and_are_ignored(fake):
    assert any(p.name == ".DS_Store" for p in fake.stray)
    assert all(p not in Cityscapes(fake.root).images for p in fake.stray)


def test_target_none_yields_the_image_alone(fake):
    ds = Cityscapes(fake.root, split="val")
    image = ds[0]
    assert isinstance(image, torch.Tensor) and image.shape == (3, 32, 64)
    assert image.dtype == torch.float32 and -1 <= image.min() and image.max() <= 1
    assert ds.image_size == (32, 64) and ds.channels == 3 and ds.num_classes is None


def test_full_frame_pairing_and_values(fake):
    ds = Cityscapes(fake.root, split="val", target="semantic")
    for i, path in enumerate(fake.images["val"]):
        image, target = ds[i]
        ids = torch.from_numpy(fake.label_ids[path]).long()
        assert torch.equal(target, ids) and target.dtype == torch.int64
        expected = torch.tensor(
            [[cityscapes_pixel(int(ids[y, x]), y, x) for x in range(64)] for y in range(32)]
        ).permute(2, 0, 1)
        assert torch.equal(_u8(image), expected)


def _check_window(image, target, full_ids, crop):
    """Image and target show the same (possibly flipped) window of the full frame."""
    u = _u8(image)
    assert torch.equal(u[0] // 7, target)  # label encoded in the image == target
    xs, ys = u[1, 0], u[2, :, 0]
    assert torch.equal(ys, torch.arange(int(ys[0]), int(ys[0]) + crop[0]))
    flipped = bool(xs[0] > xs[-1])
    left = int(xs.min())
    window = full_ids[int(ys[0]) : int(ys[0]) + crop[0], left : left + crop[1]]
    if flipped:
        window = window.flip(-1)
    assert torch.equal(target, window)
    return (int(ys[0]), left), flipped


def test_random_crops_and_flips_are_paired(fake):
    ds = Cityscapes(fake.root, split="train", target="semantic", crop_size=[16, 24])
    assert ds.image_size == (16, 24)
    boxes, flips = set(), set()
    torch.manual_seed(0)
    for _ in range(4):
        for i, path in enumerate(fake.images["train"]):
            image, target = ds[i]
            assert image.shape == (3, 16, 24) and target.shape == (16, 24)
            full = torch.from_numpy(fake.label_ids[path]).long()
            box, flipped = _check_window(image, target, full, (16, 24))
            boxes.add(box)
            flips.add(flipped)
    assert len(boxes) > 5 and flips == {True, False}


def test_center_crop_and_no_flip_outside_training(fake):
    ds = Cityscapes(fake.root, split="val", target="semantic", crop_size=16)
    assert ds.image_size == 16
    for _ in range(3):
        image, target = ds[0]
        full = torch.from_numpy(fake.label_ids[fake.images["val"][0]]).long()
        box, flipped = _check_window(image, target, full, (16, 16))
        assert box == (8, 24) and not flipped


def test_crops_reproducible_with_torch_seed(fake):
    ds = Cityscapes(fake.root, split="train", target="train_ids", crop_size=8)
    torch.manual_seed(3)
    a = [ds[i][0] for i in range(len(ds))]
    torch.manual_seed(3)
    b = [ds[i][0] for i in range(len(ds))]
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_train_id_mapping(fake):
    table = {c.id: c.train_id for c in CITYSCAPES_CLASSES if c.id >= 0}
    assert len(table) == 34 and sorted(table) == list(range(34))
    assert sorted(t for t in table.values() if t != 255) == list(range(19))
    assert table[7] == 0 and table[26] == 13 and table[33] == 18  # road, car, bicycle
    assert table[0] == 255 and table[29] == 255  # unlabeled, caravan: ignored
    assert TRAIN_CLASS_NAMES[0] == "road" and TRAIN_CLASS_NAMES[18] == "bicycle"
    ids = torch.arange(256)
    mapped = label_ids_to_train_ids(ids)
    assert mapped[:34].tolist() == [table[i] for i in range(34)]
    assert (mapped[34:] == 255).all()

    ds = Cityscapes(fake.root, split="train", target="train_ids", crop_size=16)
    assert ds.num_classes == 19 and ds.ignore_index == 255
    torch.manual_seed(1)
    image, target = ds[0]
    label = _u8(image)[0] // 7
    assert torch.equal(target, torch.tensor([table[int(v)] for v in label.flatten()]).view(16, 16))
    assert set(target.unique().tolist()) <= set(range(19)) | {255}
    assert Cityscapes(fake.root, target="semantic").num_classes == 34


def test_color_target(fake):
    ds = Cityscapes(fake.root, split="val", target="color")
    image, color = ds[0]
    assert color.shape == (3, 32, 64) and color.dtype == torch.float32
    palette = torch.tensor([c.color for c in CITYSCAPES_CLASSES if c.id >= 0])
    ids = torch.from_numpy(fake.label_ids[fake.images["val"][0]]).long()
    assert torch.equal(_u8(color), palette[ids].permute(2, 0, 1))
    assert torch.equal(_u8(label_ids_to_color(ids)), _u8(color))


def test_instance_target(fake):
    ds = Cityscapes(fake.root, split="val", target="instance", crop_size=16)
    image, inst = ds[0]
    label = _u8(image)[0] // 7
    has_inst = torch.tensor([c.has_instances for c in CITYSCAPES_CLASSES if c.id >= 0])
    mask = has_inst[label]
    assert mask.any() and (~mask).any()
    assert torch.equal(inst[mask] // 1000, label[mask]) and (inst[mask] >= 24000).all()
    assert torch.equal(inst[~mask], label[~mask])


def test_resize_keeps_labels_nearest(fake):
    ds = Cityscapes(fake.root, split="val", target="semantic", image_size=16)
    assert ds.image_size == (16, 32)
    image, target = ds[0]
    assert image.shape == (3, 16, 32) and target.shape == (16, 32)
    full = torch.from_numpy(fake.label_ids[fake.images["val"][0]]).long()
    assert torch.equal(target, full[1::2, 1::2])  # nearest of 4x4 blocks at half size
    exact = Cityscapes(fake.root, split="val", target="train_ids", image_size=[8, 8], crop_size=4)
    assert exact.image_size == 4 and exact[0][1].shape == (4, 4)


def test_colorize_for_sample_grids():
    train_ids = torch.tensor([[0, 13], [255, 18]])
    rgb = _u8(train_ids_to_color(train_ids))
    assert rgb.shape == (3, 2, 2)
    assert rgb[:, 0, 0].tolist() == [128, 64, 128]  # road
    assert rgb[:, 0, 1].tolist() == [0, 0, 142]  # car
    assert rgb[:, 1, 0].tolist() == [0, 0, 0]  # ignored
    batch = Cityscapes.colorize(train_ids.expand(5, 2, 2))
    assert batch.shape == (5, 3, 2, 2) and batch.min() >= -1
    with pytest.raises(ValueError, match="kind"):
        Cityscapes.colorize(train_ids, kind="rgb")


def test_coarse_annotations(fake):
    ds = Cityscapes(fake.root, split="train_extra", mode="coarse", target="semantic")
    _, target = ds[0]
    assert (target == 0).float().mean() > 0.2  # coarse maps leave much unlabeled
    assert ds.targets[0].name.endswith("_gtCoarse_labelIds.png")


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------
def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        Cityscapes(tmp_path / "nowhere")
    assert str(e.value).startswith("root: ")
    assert str(tmp_path / "nowhere") in str(e.value) and "leftImg8bit/<split>" in str(e.value)


@pytest.mark.parametrize(
    "kwargs, arg, match",
    [
        ({"split": "trian"}, "split", "did you mean 'train'"),
        ({"split": "train_extra"}, "split", "for mode 'fine'"),
        ({"split": "test", "mode": "coarse"}, "split", "train_extra"),
        ({"mode": "extra"}, "mode", "valid: coarse, fine"),
        ({"target": "semantics"}, "target", "did you mean 'semantic'"),
        ({"target": "depth"}, "target", "train_ids"),
        ({"crop_size": -3}, "crop_size", "positive"),
        ({"image_size": 0}, "image_size", "positive"),
        ({"flip": 1}, "flip", "true or false"),
    ],
)
def test_argument_errors_name_the_argument(fake, kwargs, arg, match):
    with pytest.raises((TypeError, ValueError), match=match) as e:
        Cityscapes(fake.root, **kwargs)
    assert str(e.value).startswith(f"{arg}: ")


def test_missing_split_folder(tmp_path):
    fake = write_cityscapes(tmp_path, images={"train": 2})
    with pytest.raises(FileNotFoundError, match="^split: missing image folder .*leftImg8bit/val"):
        Cityscapes(fake.root, split="val")


def test_missing_target_reported_at_construction(tmp_path):
    fake = write_cityscapes(tmp_path, images={"train": 3}, stray_files=False)
    gone = fake.target_path(fake.images["train"][1], "labelIds")
    gone.unlink()
    with pytest.raises(FileNotFoundError, match="^target: ") as e:
        Cityscapes(fake.root, target="train_ids")
    assert str(gone) in str(e.value) and "1 of 3 images" in str(e.value)
    Cityscapes(fake.root, target="color")  # other targets are still there
    Cityscapes(fake.root, target="none")


def test_missing_target_folder(tmp_path):
    fake = write_cityscapes(tmp_path, images={"train": 2})
    shutil.rmtree(fake.root / "gtFine")
    with pytest.raises(FileNotFoundError, match="^target: missing target folder .*gtFine") as e:
        Cityscapes(fake.root, target="semantic")
    assert "target: none" in str(e.value)
    with pytest.raises(FileNotFoundError, match="gtCoarse"):
        Cityscapes(fake.root, mode="coarse", target="semantic")


def test_empty_split_folder(tmp_path):
    (tmp_path / "leftImg8bit" / "train" / "aachen").mkdir(parents=True)
    (tmp_path / "leftImg8bit" / "train" / "aachen" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no \\*_leftImg8bit.png files"):
        Cityscapes(tmp_path)


def test_crop_larger_than_image(fake):
    ds = Cityscapes(fake.root, split="val", crop_size=[64, 64])
    with pytest.raises(ValueError, match="^crop_size: .*smaller than crop_size 64x64") as e:
        ds[0]
    assert fake.images["val"][0].name in str(e.value)


def test_target_of_other_size(tmp_path):
    fake = write_cityscapes(tmp_path, images={"val": 1})
    from PIL import Image

    path = fake.target_path(fake.images["val"][0], "labelIds")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    with pytest.raises(ValueError, match="is \\(8, 8\\) but its image"):
        Cityscapes(fake.root, split="val", target="semantic")[0]


# ------------------------------------------------------------------------------------------
# the shipped config, through the command line
# ------------------------------------------------------------------------------------------
def test_cityscapes_config_runs_through_the_cli(tmp_path, capsys):
    fake = write_cityscapes(tmp_path / "data", images={"train": 6}, size=(32, 64))
    out = tmp_path / "run"
    code = main(
        [
            str(CONFIGS / "cityscapes_dcgan64.yaml"),
            "--set", f"data.args.root={fake.root}",
            "--set", "data.args.image_size=32",
            "--set", "data.args.crop_size=16",
            "--set", "data.loader.batch_size=3",
            "--set", "data.loader.num_workers=2",
            "--set", "models.generator.args.step_channels=4",
            "--set", "models.generator.args.encoding_dims=8",
            "--set", "models.discriminator.args.step_channels=4",
            "--set", "trainer.max_steps=2",
            "--set", "trainer.sample_size=4",
            "--set", "logging.progress=false",
            "--set", "logging.tensorboard=false",
            "--set", f"out_dir={out}",
            "--device", "cpu",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "out_size: 16" in (out / "config.yaml").read_text()
    assert list((out / "checkpoints").glob("*.pt"))
