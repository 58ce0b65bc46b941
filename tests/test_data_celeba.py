"""The ``celeba`` dataset on miniature CelebA trees written by ``torchgan_ext.testing``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from torchgan_ext import DATASETS
from torchgan_ext.build import data_info
from torchgan_ext.cli import main
from torchgan_ext.data import CelebA
from torchgan_ext.testing import CELEBA_ATTRIBUTES, index_color, write_celeba

SMALL = (22, 18)  # (height, width): fast tests; crop_size 18 removes 2 rows top and bottom
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _small(root, num_images=20, **kw):
    return write_celeba(root, num_images, size=SMALL, **kw)


def _to_uint8(image: torch.Tensor) -> torch.Tensor:
    return ((image + 1) * 127.5).round().clamp(0, 255).to(torch.int64)


def _index_of(image: torch.Tensor) -> int:
    """Recover the file index from the flat colour written by the default drawer."""
    mean = _to_uint8(image).float().mean(dim=(1, 2))
    r, g, b = ((mean - 16) / 32).round().long().tolist()
    return r + 8 * g + 64 * b


@pytest.fixture()
def fake(tmp_path):
    return _small(tmp_path)


def test_registered():
    assert DATASETS.get("celeba") is CelebA


def test_split_lengths_and_order(fake):
    for split, n in (("train", 12), ("valid", 4), ("test", 4), ("all", 20)):
        ds = CelebA(fake.root, split=split, crop_size=18, image_size=16)
        assert len(ds) == n
        assert ds.filenames == [fake.filenames[i] for i in fake.indices(split)]


def test_root_may_be_parent_or_celeba_folder(fake):
    a = CelebA(fake.root.parent, crop_size=18)
    b = CelebA(fake.root, crop_size=18)
    assert a.filenames == b.filenames and len(a) == 12


def test_label_vectors_follow_attribute_order(fake):
    names = ["Young", "Male", "Black_Hair"]
    ds = CelebA(fake.root, split="all", attributes=names, crop_size=18, flip=False)
    assert ds.attributes == names
    assert ds.labels.dtype == torch.float32 and ds.labels.shape == (20, 3)
    for i in range(20):
        _, labels = ds[i]
        assert labels.tolist() == fake.labels_of(i, names)
    info = data_info(ds)
    assert info["num_attributes"] == 3 and info["attributes"] == names
    assert info["channels"] == 3 and info["image_size"] == 128


def test_default_is_all_forty_attributes(fake):
    ds = CelebA(fake.root, split="test", crop_size=18)
    assert ds.attributes == list(CELEBA_ATTRIBUTES)
    i = fake.indices("test")[0]
    assert ds[0][1].tolist() == fake.labels_of(i)


def test_image_and_labels_are_paired(fake):
    ds = CelebA(fake.root, split="all", attributes=["Smiling"], crop_size=18, image_size=16)
    for i in range(len(ds)):
        image, labels = ds[i]
        assert _index_of(image) == i
        assert labels.item() == fake.labels[i, CELEBA_ATTRIBUTES.index("Smiling")]
    assert index_color(3) != index_color(4)


def _banded(index, attrs, size):
    """White top band, black bottom band (2 rows each), grey face region."""
    image = np.full((size[0], size[1], 3), 128, dtype=np.uint8)
    image[:2] = 255
    image[-2:] = 0
    return image


def test_center_crop_removes_the_bands(tmp_path):
    fake = _small(tmp_path, 6, draw=_banded)
    ds = CelebA(fake.root, split="all", crop_size=18, image_size=None, flip=False)
    image, _ = ds[0]
    assert image.shape == (3, 18, 18) and ds.image_size == 18
    assert (_to_uint8(image) - 128).abs().max() <= 6  # JPEG ringing only
    whole = CelebA(fake.root, split="all", crop_size=None, image_size=None, flip=False)
    full = _to_uint8(whole[0][0])
    assert full.shape == (3, 22, 18)
    assert full[:, 0].float().mean() > 240 and full[:, -1].float().mean() < 15
    rect = CelebA(fake.root, split="all", crop_size=[20, 18], image_size=[10, 9], flip=False)
    assert rect[0][0].shape == (3, 10, 9) and rect.image_size == (10, 9)


def test_resize_range_and_dtype(fake):
    ds = CelebA(fake.root, crop_size=18, image_size=32)
    image, labels = ds[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert image.min() >= -1 and image.max() <= 1


def _half(index, attrs, size):
    image = np.zeros((size[0], size[1], 3), dtype=np.uint8)
    image[:, size[1] // 2 :] = 255
    return image


def test_flip_only_on_train_and_reproducible(tmp_path):
    fake = _small(tmp_path, 20, draw=_half)

    def orientations(split, seed):
        ds = CelebA(fake.root, split=split, crop_size=18, image_size=None)
        torch.manual_seed(seed)
        return [bool(ds[i][0][:, :, 0].mean() > 0) for i in range(len(ds))]

    train = orientations("train", 0)
    assert any(train) and not all(train)  # both orientations occur
    assert orientations("train", 0) == train  # torch's RNG drives the flips
    assert not any(orientations("test", 0))  # never flipped outside train
    ds = CelebA(fake.root, split="train", crop_size=18, image_size=None, flip=False)
    assert not any(bool(ds[i][0][:, :, 0].mean() > 0) for i in range(len(ds)))


def test_crlf_and_lf_give_the_same_data(tmp_path):
    lf = _small(tmp_path / "lf")
    crlf = _small(tmp_path / "crlf", crlf=True)
    assert b"\r\n" in crlf.files["attributes"].read_bytes()
    assert b"\r\n" not in lf.files["attributes"].read_bytes()
    a = CelebA(lf.root, split="valid", crop_size=18)
    b = CelebA(crlf.root, split="valid", crop_size=18)
    assert a.filenames == b.filenames and torch.equal(a.labels, b.labels)


def test_written_files_have_the_official_quirks(fake):
    lines = fake.files["attributes"].read_text().split("\n")
    assert lines[0] == "20"
    assert lines[1].endswith(" ") and lines[1].split() == list(CELEBA_ATTRIBUTES)
    assert "  " in lines[2] and lines[2].startswith("000001.jpg ")
    part = fake.files["partition"].read_text().split("\n")
    assert part[0] == "000001.jpg 0"  # no header


def test_no_count_line_and_image_id_header(tmp_path):
    fake = _small(tmp_path)
    path = fake.files["attributes"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["image_id " + lines[1], *lines[2:]]) + "\n")
    ds = CelebA(fake.root, split="all", attributes=["Bald"], crop_size=18)
    assert len(ds) == 20
    assert ds.labels[:, 0].tolist() == fake.labels[:, CELEBA_ATTRIBUTES.index("Bald")].tolist()


def test_count_mismatch_warns(tmp_path):
    fake = _small(tmp_path)
    path = fake.files["attributes"]
    path.write_text("25" + path.read_text()[2:])
    with pytest.warns(UserWarning, match="count line says 25"):
        CelebA(fake.root, split="all", crop_size=18)


def test_kaggle_csv_copy_with_nested_image_folder(tmp_path):
    fake = _small(tmp_path, 10)
    base = fake.root
    rows = fake.files["attributes"].read_text().splitlines()[2:]
    csv = ["image_id," + ",".join(CELEBA_ATTRIBUTES)]
    csv += [",".join(r.split()) for r in rows]
    (base / "list_attr_celeba.csv").write_text("\n".join(csv) + "\n")
    part = fake.files["partition"].read_text().split()
    pairs = [f"{part[i]},{part[i + 1]}" for i in range(0, len(part), 2)]
    (base / "list_eval_partition.csv").write_text("\n".join(["image_id,partition", *pairs]))
    fake.files["attributes"].unlink()
    fake.files["partition"].unlink()
    nested = base / "img_align_celeba" / "img_align_celeba"
    nested.mkdir()
    for name in fake.filenames:
        os.replace(base / "img_align_celeba" / name, nested / name)
    ds = CelebA(tmp_path, split="train", attributes=["Male"], crop_size=18, flip=False)
    assert ds.filenames == [fake.filenames[i] for i in fake.indices("train")]
    assert ds.image_dir == nested
    assert _index_of(ds[1][0]) == fake.indices("train")[1]


def test_holdout_without_partition_file(tmp_path):
    fake = _small(tmp_path, partition=None)
    assert not (fake.root / "list_eval_partition.txt").exists()
    test = CelebA(fake.root, split="test", num_test=5, crop_size=18)
    train = CelebA(fake.root, split="train", num_test=5, crop_size=18)
    assert len(test) == 5 and len(train) == 15
    assert set(test.filenames).isdisjoint(train.filenames)
    assert set(test.filenames) | set(train.filenames) == set(fake.filenames)
    again = CelebA(fake.root, split="test", num_test=5, crop_size=18)
    assert again.filenames == test.filenames  # fixed seed
    assert test.filenames != fake.filenames[:5]  # shuffled, not the first rows
    with pytest.raises(ValueError, match="^split: .*list_eval_partition.txt"):
        CelebA(fake.root, split="valid", crop_size=18)
    with pytest.raises(ValueError, match="^num_test: .*leaves no training images"):
        CelebA(fake.root, split="train", crop_size=18)  # default num_test 2000 > 20 rows


def test_works_with_a_dataloader_and_workers(fake):
    ds = CelebA(fake.root, attributes=["Male", "Young"], crop_size=18, image_size=16)
    loader = DataLoader(ds, batch_size=4, num_workers=2)
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and labels.shape == (4, 2)


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------
def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CelebA(tmp_path / "nowhere")
    msg = str(e.value)
    assert msg.startswith("root: ")
    assert str(tmp_path / "nowhere") in msg and "img_align_celeba" in msg
    assert "list_attr_celeba.txt" in msg


def test_root_that_is_not_celeba(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="^root: .*does not look like a celeba directory"):
        CelebA(tmp_path / "other")


def test_missing_attribute_file(fake):
    fake.files["attributes"].unlink()
    with pytest.raises(FileNotFoundError, match="missing attribute file .*list_attr_celeba.txt"):
        CelebA(fake.root)


def test_unknown_attribute_did_you_mean(fake):
    with pytest.raises(ValueError) as e:
        CelebA(fake.root, attributes=["Male", "Blond_Hiar"])
    assert str(e.value).startswith("attributes: ")
    assert "'Blond_Hiar'" in str(e.value) and "did you mean 'Blond_Hair'" in str(e.value)
    assert str(fake.files["attributes"]) in str(e.value)


@pytest.mark.parametrize(
    "attributes, match",
    [("Male", "list of attribute names"), ([], "empty"), (["Male", "Male"], "twice")],
)
def test_bad_attribute_lists(fake, attributes, match):
    with pytest.raises((TypeError, ValueError), match=match) as e:
        CelebA(fake.root, attributes=attributes)
    assert str(e.value).startswith("attributes: ")


def _edit_line(path: Path, line_no: int, fn) -> None:
    lines = path.read_text().split("\n")
    lines[line_no - 1] = fn(lines[line_no - 1])
    path.write_text("\n".join(lines))


def test_malformed_row_names_file_and_line(fake):
    path = fake.files["attributes"]
    _edit_line(path, 7, lambda s: s.rsplit(" ", 1)[0])  # drop the last value
    with pytest.raises(ValueError) as e:
        CelebA(fake.root)
    assert f"{path}, line 7" in str(e.value) and "found 39 values" in str(e.value)


def test_bad_value_names_file_line_and_attribute(fake):
    path = fake.files["attributes"]
    _edit_line(path, 5, lambda s: s[:-2] + " 2")
    with pytest.raises(ValueError) as e:
        CelebA(fake.root)
    assert f"{path}, line 5" in str(e.value) and "'Young'" in str(e.value)


def test_malformed_partition_row(fake):
    path = fake.files["partition"]
    _edit_line(path, 3, lambda s: s.replace(" 0", " 7"))
    with pytest.raises(ValueError, match=f"{path}, line 3"):
        CelebA(fake.root)


def test_missing_image_is_named_and_can_be_skipped(fake):
    gone = fake.root / "img_align_celeba" / fake.filenames[2]
    gone.unlink()
    with pytest.raises(FileNotFoundError) as e:
        CelebA(fake.root, split="train", crop_size=18)
    assert str(gone) in str(e.value) and "skip_missing" in str(e.value)
    ds = CelebA(fake.root, split="train", crop_size=18, skip_missing=True)
    assert len(ds) == 11 and fake.filenames[2] not in ds.filenames
    # an image that disappears after construction is reported with its path when read
    ds = CelebA(fake.root, split="test", crop_size=18)
    (fake.root / "img_align_celeba" / ds.filenames[0]).unlink()
    with pytest.raises(FileNotFoundError, match=f"missing image file .*{ds.filenames[0]}"):
        ds[0]


def test_corrupt_image_is_named(fake):
    bad = fake.root / "img_align_celeba" / fake.filenames[0]
    bad.write_bytes(b"not a jpeg at all")
    ds = CelebA(fake.root, split="train", crop_size=18)
    with pytest.raises(ValueError, match=f"cannot decode image {bad}"):
        ds[0]


def test_image_smaller_than_crop(fake):
    ds = CelebA(fake.root)  # default crop 178 > 18x22 images
    with pytest.raises(ValueError, match="^crop_size: .*smaller than crop_size 178x178") as e:
        ds[0]
    assert fake.filenames[0] in str(e.value)


@pytest.mark.parametrize(
    "kwargs, arg, match",
    [
        ({"split": "tain"}, "split", "did you mean 'train'"),
        ({"split": "validation"}, "split", "valid"),
        ({"crop_size": 0}, "crop_size", "positive"),
        ({"image_size": [1, 2, 3]}, "image_size", "height, width"),
        ({"flip": "yes"}, "flip", "true or false"),
        ({"num_test": 0}, "num_test", "positive"),
    ],
)
def test_argument_errors_name_the_argument(fake, kwargs, arg, match):
    with pytest.raises((TypeError, ValueError), match=match) as e:
        CelebA(fake.root, **kwargs)
    assert str(e.value).startswith(f"{arg}: ")


# ------------------------------------------------------------------------------------------
# the shipped config, through the command line
# ------------------------------------------------------------------------------------------
def test_celeba_config_runs_through_the_cli(tmp_path, capsys):
    fake = _small(tmp_path / "data", 24)
    out = tmp_path / "run"
    code = main(
        [
            str(CONFIGS / "celeba_dcgan64.yaml"),
            "--set", f"data.args.root={fake.root.parent}",
            "--set", "data.args.attributes=[Black_Hair, Blond_Hair, Male, Young]",
            "--set", "data.args.crop_size=18",
            "--set", "data.args.image_size=16",
            "--set", "data.loader.batch_size=4",
            "--set", "data.loader.num_workers=0",
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
    resolved = (out / "config.yaml").read_text()
    assert "out_size: 16" in resolved and "Blond_Hair" in resolved
    assert list((out / "checkpoints").glob("*.pt"))
