"""The ``image_folder`` and ``super_resolution`` datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from torchgan_ext import DATASETS
from torchgan_ext.build import data_info
from torchgan_ext.config import DataConfig
from torchgan_ext.data import ImageFolder, SuperResolution
from torchgan_ext.data.super_resolution import bicubic_downscale
from torchgan_ext.errors import ConfigError
from torchgan_ext.loaders import build_dataset
from torchgan_ext.testing import write_cityscapes


def _u8(image: torch.Tensor) -> torch.Tensor:
    return ((image + 1) * 127.5).round().to(torch.int64)


def _position_image(h: int, w: int, blue: int = 100) -> np.ndarray:
    """Pixel (y, x) = (x, y, blue): lossless PNGs whose content encodes position."""
    image = np.empty((h, w, 3), np.uint8)
    image[..., 0] = np.arange(w)[None, :]
    image[..., 1] = np.arange(h)[:, None]
    image[..., 2] = blue
    return image


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture()
def classes(tmp_path):
    """cat: 2 images (one nested), dog: 1 image; class colour in the blue channel."""
    root = tmp_path / "pets"
    _save(root / "cat" / "a.png", _position_image(20, 30, blue=10))
    _save(root / "cat" / "more" / "b.jpg", np.full((16, 16, 3), 10, np.uint8))
    _save(root / "dog" / "c.png", _position_image(24, 24, blue=200))
    (root / "dog" / "notes.txt").write_text("not an image")
    _save(root / "dog" / ".hidden.png", _position_image(8, 8))
    return root


# ------------------------------------------------------------------------------------------
# image_folder
# ------------------------------------------------------------------------------------------
def test_image_folder_registered():
    assert DATASETS.get("image_folder") is ImageFolder
    assert DATASETS.get("super_resolution") is SuperResolution


def test_image_folder_labels_from_subfolders(classes):
    ds = ImageFolder(classes, image_size=8, labels=True)
    assert len(ds) == 3  # the text file and the hidden file are skipped
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    assert [f.relative_to(classes).as_posix() for f in ds.files] == [
        "cat/a.png",
        "cat/more/b.jpg",
        "dog/c.png",
    ]
    assert ds.targets == [0, 0, 1]
    for i in range(3):
        image, label = ds[i]
        assert image.shape == (3, 8, 8) and label.dtype == torch.int64
        blue = _u8(image)[2].float().mean()
        assert (blue > 100) == (label.item() == 1)  # image and label belong together
    assert data_info(ds) == {"channels": 3, "image_size": 8, "num_classes": 2}


def test_image_folder_without_labels_and_resize_crop(classes):
    ds = ImageFolder(classes, image_size=10)
    image = ds[0]  # 20x30 -> cover 10x10 -> 10x15 -> center crop 10x10
    assert isinstance(image, torch.Tensor) and image.shape == (3, 10, 10)
    red = _u8(image)[0, 5]
    assert red[0] > 4 and red[-1] < 26  # the left and right edges were cropped away
    assert torch.equal(red, red.sort().values)  # not flipped (flip defaults to false)
    full = ImageFolder(classes, image_size=None)
    assert full[0].shape == (3, 20, 30)
    assert torch.equal(_u8(full[0])[0, 0], torch.arange(30))
    rect = ImageFolder(classes, image_size=[6, 12])
    assert rect[0].shape == (3, 6, 12) and rect.image_size == (6, 12)


def test_image_folder_grey_and_flip(classes):
    ds = ImageFolder(classes, image_size=None, channels=1, flip=True)
    assert ds.channels == 1 and ds[2].shape == (1, 24, 24)
    torch.manual_seed(0)
    firsts = {
        int(_u8(ImageFolder(classes, image_size=None, flip=True)[0])[0, 0, 0]) for _ in range(12)
    }
    assert firsts == {0, 29}  # both orientations of the 30-wide gradient


def test_image_folder_errors(tmp_path, classes):
    with pytest.raises(FileNotFoundError, match="^root: .*does not exist") as e:
        ImageFolder(tmp_path / "missing")
    assert str(tmp_path / "missing") in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="^root: no images"):
        ImageFolder(tmp_path / "empty")
    _save(classes / "loose.png", _position_image(8, 8))
    with pytest.raises(ValueError, match="^labels: .*outside any class folder") as e:
        ImageFolder(classes, labels=True)
    assert "loose.png" in str(e.value)
    assert len(ImageFolder(classes)) == 4  # without labels the loose file is just an image
    with pytest.raises(ValueError, match="^channels: .*1 or 3"):
        ImageFolder(classes, channels=4)
    with pytest.raises(ValueError, match="^extensions: cannot decode .bmp"):
        ImageFolder(classes, extensions=[".bmp"])
    assert len(ImageFolder(classes, extensions=["png"])) == 3
    (classes / "cat" / "broken.png").write_bytes(b"garbage")
    ds = ImageFolder(classes)
    with pytest.raises(ValueError, match="cannot decode image .*broken.png"):
        ds[ds.files.index(classes / "cat" / "broken.png")]


# ------------------------------------------------------------------------------------------
# super_resolution
# ------------------------------------------------------------------------------------------
@pytest.fixture()
def hr_folder(tmp_path):
    root = tmp_path / "hr"
    _save(root / "0.png", _position_image(40, 50))
    _save(root / "sub" / "1.png", _position_image(36, 36, blue=30))
    return root


def test_sr_pairs_from_a_folder(hr_folder):
    ds = SuperResolution(root=hr_folder, scale=4, crop_size=24)
    assert len(ds) == 2 and ds.image_size == 24 and ds.lr_size == 6 and ds.channels == 3
    torch.manual_seed(0)
    lefts = set()
    for _ in range(5):
        lr, hr = ds[0]
        assert lr.shape == (3, 6, 6) and hr.shape == (3, 24, 24)
        assert torch.equal(lr, bicubic_downscale(hr, 4))  # lr is the downscale of this hr
        u = _u8(hr)
        xs, ys = u[0, 0], u[1, :, 0]
        assert torch.equal(ys, torch.arange(int(ys[0]), int(ys[0]) + 24))  # a real window
        assert sorted(xs.tolist()) == list(range(int(xs.min()), int(xs.min()) + 24))
        lefts.add(int(xs.min()))
    assert len(lefts) > 1  # random crops


def test_sr_center_crop_is_fixed(hr_folder):
    ds = SuperResolution(root=hr_folder, scale=2, crop_size=20, crop="center")
    lr, hr = ds[0]
    u = _u8(hr)
    assert int(u[0, 0, 0]) == 15 and int(u[1, 0, 0]) == 10  # (50-20)/2, (40-20)/2
    assert lr.shape == (3, 10, 10) and not ds.flip
    assert torch.equal(ds[0][1], hr)


def test_sr_bicubic_downscale_values():
    flat = torch.full((3, 12, 12), 0.25)
    assert torch.allclose(bicubic_downscale(flat, 3), torch.full((3, 4, 4), 0.25), atol=1e-6)
    ramp = torch.linspace(-1, 1, 16).expand(1, 16, 16)
    lr = bicubic_downscale(ramp, 4)
    assert lr.shape == (1, 4, 4)
    assert torch.all(lr[0, 0, 1:] > lr[0, 0, :-1])  # monotone like its source
    blocks = ramp.unfold(2, 4, 4).mean(-1)[0, 0]  # the 4-pixel block means
    assert torch.allclose(lr[0, 0, 1:-1], blocks[1:-1], atol=0.02)
    assert bicubic_downscale(torch.ones(2, 3, 8, 8), 2).shape == (2, 3, 4, 4)


def test_sr_whole_images_and_repeats(hr_folder):
    ds = SuperResolution(root=hr_folder, scale=3, crop="none", repeats=3)
    assert len(ds) == 6 and ds.image_size is None
    lr, hr = ds[3]  # repeats wrap around: item 3 is image 1
    assert hr.shape == (3, 36, 36) and lr.shape == (3, 12, 12)
    lr, hr = ds[0]
    assert hr.shape == (3, 39, 48) and lr.shape == (3, 13, 16)  # trimmed to multiples of 3


def _sr(**args):
    """A super_resolution dataset built by the launcher (which builds a nested ``dataset``)."""
    return build_dataset(DataConfig(name="super_resolution", args=args))


def test_sr_from_a_registered_dataset(tmp_path):
    fake = write_cityscapes(tmp_path, images={"train": 3, "val": 1}, size=(32, 64))
    spec = {"name": "cityscapes", "args": {"root": str(fake.root), "split": "train"}}
    ds = _sr(dataset=spec, scale=2, crop_size=16)
    assert len(ds) == 3 and isinstance(ds.source, DATASETS.get("cityscapes"))
    lr, hr = ds[0]
    assert hr.shape == (3, 16, 16) and lr.shape == (3, 8, 8)
    assert torch.equal(lr, bicubic_downscale(hr, 2))
    u = _u8(hr)
    assert torch.equal(u[2, :, 0], torch.arange(int(u[2, 0, 0]), int(u[2, 0, 0]) + 16))
    # the source's target is ignored: a (image, target) item still gives image crops
    spec["args"]["target"] = "semantic"
    assert _sr(dataset=spec, scale=2, crop_size=16)[1][1].shape == (3, 16, 16)
    # the component itself takes a dataset object
    source = DATASETS.get("cityscapes")(root=str(fake.root), split="train")
    assert SuperResolution(dataset=source, scale=2, crop_size=16).source is source


def test_sr_errors(tmp_path, hr_folder):
    def err(match, arg, **kw):  # the component names the argument
        with pytest.raises((TypeError, ValueError), match=match) as e:
            SuperResolution(**kw)
        assert str(e.value).startswith(f"{arg}: ")
        return e.value

    def launcher_err(match, key, **kw):  # the launcher names the config key
        with pytest.raises(ConfigError, match=match) as e:
            _sr(**kw)
        assert e.value.key == key
        return e.value

    err("scale: must be an integer >= 2", "scale", root=hr_folder, scale=1)
    err("not a multiple of scale 3 \\(try 93\\)", "crop_size", root=hr_folder, scale=3,
        crop_size=94)  # fmt: skip
    err("unknown crop 'rand'; did you mean 'random'", "crop", root=hr_folder, crop="rand")
    err("exactly one of root", "root")
    err("exactly one of root", "root", root=hr_folder, dataset=[1, 2])
    err("repeats", "repeats", root=hr_folder, repeats=0)
    err("name: <dataset>", "dataset", dataset="cityscapes")
    err("nested", "dataset", dataset=SuperResolution(root=hr_folder))
    launcher_err("scale: must|must be an integer >= 2", "data.args.scale", root=str(hr_folder),
                 scale=1)  # fmt: skip
    launcher_err("exactly one of root", "data.args.root", root=str(hr_folder),
                 dataset={"name": "digits"})  # fmt: skip
    launcher_err("name: <dataset>", "data.args.dataset", dataset="cityscapes")
    launcher_err("name: <dataset>", "data.args.dataset", dataset={"args": {}})
    e = launcher_err("citiscapes", "data.args.dataset.name", dataset={"name": "citiscapes"})
    assert "did you mean 'cityscapes'" in str(e)
    launcher_err("did you mean 'train'", "data.args.dataset.args.split",
                 dataset={"name": "digits", "args": {"split": "trian"}})  # fmt: skip
    launcher_err("did you mean 'split'", "data.args.dataset.args.splt",
                 dataset={"name": "digits", "args": {"splt": "train"}})  # fmt: skip
    launcher_err("nested", "data.args.dataset.name", dataset={"name": "super_resolution"})
    with pytest.raises(FileNotFoundError, match="^root: .*does not exist"):
        SuperResolution(root=tmp_path / "nope")
    launcher_err("does not exist", "data.args.root", root=str(tmp_path / "nope"))
    small = SuperResolution(root=hr_folder, crop_size=48, scale=4)
    with pytest.raises(ValueError, match="0.png is 40x50 .* smaller than crop_size 48"):
        small[0]


def test_sr_with_digits_source_yields_grey_pairs():
    ds = _sr(
        dataset={"name": "digits", "args": {"image_size": 16, "split": "test"}},
        scale=2,
        crop_size=8,
    )
    assert ds.channels == 1 and len(ds) == 297
    lr, hr = ds[0]
    assert lr.shape == (1, 4, 4) and hr.shape == (1, 8, 8)


def test_items_are_built_with_one_thread_and_the_setting_is_restored(classes, monkeypatch):
    from torchgan_ext.data import _io

    seen = []
    original = _io.resize_image

    def spy(image, size):
        seen.append(torch.get_num_threads())
        return original(image, size)

    monkeypatch.setattr("torchgan_ext.data.image_folder.resize_image", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ImageFolder(classes, image_size=8)[0]
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
