"""The decoded cache of the translation pairs (``cityscapes_pairs``, ``paired_images``): the
same batches as the uncached items where nothing is random, one crop and flip for both images of
a pair where it is, and the unpaired datasets refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from torchgan_ext.cli import main
from torchgan_ext.config import load_config
from torchgan_ext.data import CacheLoader, collate
from torchgan_ext.data.cache import DecodedCache
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.data.cityscapes import CITYSCAPES_CLASSES, label_ids_to_train_ids
from torchgan_ext.data.cityscapes_pairs import (
    CityscapesPairs,
    label_ids_to_onehot,
    train_ids_to_onehot,
)
from torchgan_ext.data.paired import PairedImages, UnpairedImages
from torchgan_ext.runner import run
from torchgan_ext.testing import write_cityscapes, write_paired_images, write_unpaired_images
from torchgan_ext.trainer.batch import prepare_batch

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
FORMATS = ["color", "onehot"]


def _cached(dataset, path):
    build_cache(dataset.cache_plan(), path)
    return DecodedCache(dataset, path)


def _batches(dataset, batch_size=2):
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate, shuffle=False)
    return [prepare_batch(b, CPU) for b in loader]  # what the model sees


def _equal(got, want):
    """Lists of ``[input, target]`` batches: the same tensors (dtype, shape and values)."""
    pairs = [(x, y) for g, w in zip(got, want, strict=True) for x, y in zip(g, w, strict=True)]
    return all(x.dtype == y.dtype and torch.equal(x, y) for x, y in pairs)


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return write_cityscapes(tmp_path_factory.mktemp("city"), images={"train": 4, "val": 3})


# -- nothing random: the uncached batches, bit for bit --------------------------------------
@pytest.mark.parametrize("label_format", FORMATS)
@pytest.mark.parametrize("split", ["val", "train"])
def test_cityscapes_pairs_cached_batches_equal_uncached(city, tmp_path, label_format, split):
    # 32x64 frames squashed to 20x20 (val: image_size; train: load_size = image_size, no flip)
    ds = CityscapesPairs(
        city.root, split=split, label_format=label_format, image_size=20, flip=False
    )
    cached = _cached(ds, tmp_path / "c")
    assert cached.draws == 0 and cached.channels_a == ds.channels_a
    stored = np.load(tmp_path / "c" / "label.npy", mmap_mode="r")
    assert stored.shape == (len(ds), 20, 20, 3 if label_format == "color" else 1)
    got, want = _batches(cached), _batches(ds)
    assert _equal(got, want)
    channels = 3 if label_format == "color" else 19
    assert got[0][0].shape == (2, channels, 20, 20) and got[0][1].shape == (2, 3, 20, 20)


@pytest.mark.parametrize(
    ("layout", "direction", "channels_a"), [("aligned", "a2b", 3), ("folders", "b2a", 1)]
)
def test_paired_images_cached_batches_equal_uncached(tmp_path, layout, direction, channels_a):
    root = write_paired_images(tmp_path / "p", {"train": 2, "val": 3}, size=16, layout=layout)
    ds = PairedImages(
        root, split="val", layout=layout, direction=direction, image_size=12,
        channels_a=channels_a,
    )  # fmt: skip
    cached = _cached(ds, tmp_path / "c")
    got = _batches(cached)
    assert _equal(got, _batches(ds))
    assert got[0][0].shape == (2, ds.channels_a, 12, 12)
    assert got[0][1].shape == (2, ds.channels_b, 12, 12)  # b2a: the grey A is the target


# -- random crops and flips: one window for both images of a pair ---------------------------
_PALETTE = torch.zeros(256, 3, dtype=torch.uint8)
for _cls in CITYSCAPES_CLASSES:
    if _cls.id >= 0:
        _PALETTE[_cls.id] = torch.tensor(_cls.color, dtype=torch.uint8)


def _window(photo: torch.Tensor) -> tuple[int, int, bool]:
    """``(top, left, flipped)`` of a crop of the default drawer's photo (green = x, blue = y)."""
    green, blue = photo[1].long(), photo[2].long()
    flipped = bool(green[0, 0] > green[0, -1])
    xs = torch.arange(photo.shape[-1])
    left = int(green[0].min())
    expected_green = left + (xs.flip(0) if flipped else xs)
    assert torch.equal(green, expected_green.expand_as(green))
    top = int(blue[0, 0])
    assert torch.equal(blue, (top + torch.arange(photo.shape[-2]))[:, None].expand_as(blue))
    return top, left, flipped


@pytest.mark.parametrize("label_format", FORMATS)
def test_cityscapes_pairs_random_crops_and_flips_keep_label_and_photo_aligned(
    tmp_path, label_format
):
    # square 24 px frames at load_size 24: no resampling, so the drawer's photo stays an exact
    # function of the label map (red = 7 * label id) and of the position (green = x, blue = y)
    fake = write_cityscapes(tmp_path / "d", images={"train": 4}, size=(24, 24))
    ds = CityscapesPairs(
        fake.root, split="train", label_format=label_format, image_size=16, load_size=24
    )
    cached = _cached(ds, tmp_path / "c")
    assert np.load(tmp_path / "c" / "photo.npy", mmap_mode="r").shape == (4, 2, 24, 24, 3)
    assert cached.draws == 3
    windows = set()
    torch.manual_seed(0)
    for _ in range(4):
        label, photo = collate(cached.__getitems__([0, 1, 2, 3]))
        assert photo.shape == (4, 3, 16, 16) and photo.dtype == torch.uint8
        ids = photo[:, 0].long() // 7
        if label_format == "color":
            assert label.shape == (4, 3, 16, 16) and label.dtype == torch.uint8
            assert torch.equal(label, _PALETTE[ids].permute(0, 3, 1, 2))
        else:
            assert label.shape == (4, 19, 16, 16) and label.dtype == torch.float32
            assert torch.equal(label, train_ids_to_onehot(label_ids_to_train_ids(ids)))
        windows.update(_window(p) for p in photo)
    assert {w[2] for w in windows} == {False, True}  # both flips drawn
    assert len({w[:2] for w in windows}) > 4  # crops at many places
    assert all(0 <= t <= 8 and 0 <= left <= 8 for t, left, _ in windows)
    # the launcher's loader (per-epoch draws) cuts the same aligned windows
    loader = CacheLoader(cached, batch_size=2, shuffle=True, collate_fn=collate)
    for label, photo in loader:
        if label_format == "color":
            assert torch.equal(label, _PALETTE[photo[:, 0].long() // 7].permute(0, 3, 1, 2))
        for p in photo:
            _window(p)


@pytest.mark.parametrize("mirror", [True, False])
def test_paired_images_random_crops_and_flips_keep_a_and_b_aligned(tmp_path, mirror):
    root = write_paired_images(tmp_path / "p", {"train": 3}, size=16, seed=3)
    ds = PairedImages(root, split="train", image_size=12, load_size=20)
    build_cache(ds.cache_plan(), tmp_path / "c", mirror=mirror)  # flips: stored or at read time
    cached = DecodedCache(ds, tmp_path / "c", mirror=mirror)
    full = [ds._cache_load(i) for i in range(len(ds))]  # A and B at 20 x 20
    assert full[0]["a"].shape == (3, 20, 20)
    seen = set()
    torch.manual_seed(0)
    for _ in range(5):
        a, b = collate(cached.__getitems__([0, 1, 2]))
        assert a.shape == b.shape == (3, 3, 12, 12) and a.dtype == torch.uint8
        for i in range(3):
            # the window (top, left, flip) of the stored A that this crop of A is ...
            found = [
                (t, left, f)
                for t in range(9)
                for left in range(9)
                for f in (False, True)
                if torch.equal(_cut(full[i]["a"], t, left, f), a[i])
            ]
            assert found, "a crop of A that is no window of the stored A"
            # ... cuts B as well
            assert any(torch.equal(_cut(full[i]["b"], *w), b[i]) for w in found)
            seen.update(found)
    assert {f for *_, f in seen} == {False, True} and len({w[:2] for w in seen}) > 3


def _cut(image: torch.Tensor, top: int, left: int, flip: bool) -> torch.Tensor:
    out = image[:, top : top + 12, left : left + 12]
    return out.flip(-1) if flip else out


# -- refused, stale -------------------------------------------------------------------------
def test_unpaired_datasets_are_refused_in_one_line(city, tmp_path):
    ds = CityscapesPairs(city.root, split="train", image_size=16, unpaired=True)
    with pytest.raises(ValueError, match=r"^dir: cityscapes_pairs with unpaired: true ") as e:
        DecodedCache(ds, tmp_path / "c")
    assert "\n" not in str(e.value) and "unpaired: false" in str(e.value)
    root = write_unpaired_images(tmp_path / "u")
    with pytest.raises(ValueError, match=r"^dir: unpaired_images pairs every A image") as e:
        build_cache(UnpairedImages(root).cache_plan(), tmp_path / "c")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "c").exists()


def test_cyclegan_config_with_a_cache_is_a_one_line_error(city, tmp_path, capsys):
    args = [
        str(ROOT / "configs" / "cyclegan_cityscapes.yaml"),
        "--set", f"data.args.root={city.root}",
        "--set", f"data.cache.dir={tmp_path / 'cache'}",
        "--set", f"out_dir={tmp_path / 'run'}",
        "--build-cache",
    ]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "data.cache.dir: cityscapes_pairs with unpaired: true" in err
    assert len(err.splitlines()) == 1


def test_a_cache_of_another_load_size_or_label_format_is_stale(city, tmp_path):
    ds = CityscapesPairs(city.root, split="train", image_size=16, load_size=20)
    _cached(ds, tmp_path / "c")
    other = CityscapesPairs(city.root, split="train", image_size=16, load_size=18)
    with pytest.raises(ValueError, match=r"^dir: the cache .* built from other data \(stored 20"):
        build_cache(other.cache_plan(), tmp_path / "c")
    with pytest.raises(ValueError, match=r"stored 20 -> 18"):
        DecodedCache(other, tmp_path / "c")
    onehot = CityscapesPairs(city.root, split="train", label_format="onehot", image_size=16)
    with pytest.raises(ValueError, match=r"label_format 'color' -> 'onehot'"):
        DecodedCache(onehot, tmp_path / "c")


# -- the launcher ---------------------------------------------------------------------------
@pytest.mark.parametrize("label_format", ["color", "onehot"])
def test_pix2pix_cityscapes_config_trains_from_its_cache(city, tmp_path, label_format):
    overrides = [
        f"data.args.root={city.root}",
        f"data.args.label_format={label_format}",
        "data.args.image_size=32",
        "data.args.load_size=36",
        "data.loader.num_workers=0",
        f"data.cache.dir={tmp_path / 'cache'}",
        f"out_dir={tmp_path / 'run'}",
        "device=cpu",
        "trainer.max_steps=3",
        "logging.progress=false",
        "logging.tensorboard=false",
        "models.generator.args.base_channels=4",
        "models.discriminator.args.base_channels=4",
    ]
    result = run(load_config(ROOT / "configs" / "pix2pix_cityscapes.yaml", overrides))
    assert result.trainer.step == 3
    assert isinstance(result.trainer.data_loader, CacheLoader)
    train = np.load(tmp_path / "cache" / "train" / "photo.npy", mmap_mode="r")
    assert train.shape == (4, 2, 36, 36, 3)  # load_size, mirrored copies for the flips
    val = np.load(tmp_path / "cache" / "val" / "label.npy", mmap_mode="r")
    channels = 3 if label_format == "color" else 1  # colours, or the label ids
    assert val.shape == (3, 32, 32, channels)  # image_size, no flips off the training split
    assert list((tmp_path / "run" / "samples").glob("*.png"))


def test_onehot_label_maps_are_torch_one_hot_with_ignored_pixels_zero():
    # the cached onehot batches are built per batch with train_ids_to_onehot: check it against
    # torch's one_hot (ignored pixels, 255, all zero)
    ids = torch.randint(
        0, 34, (3, 9, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    train = label_ids_to_train_ids(ids)
    assert bool((train == 255).any())
    valid = train < 19
    want = torch.nn.functional.one_hot(torch.where(valid, train, 0), 19) * valid[..., None]
    got = train_ids_to_onehot(train)
    assert got.dtype == torch.float32 and got.shape == (3, 19, 9, 7)
    assert torch.equal(got, want.movedim(-1, 1).float())
    # from label ids: a batch (the cache's finish) or one item's map (the uncached items)
    assert torch.equal(label_ids_to_onehot(ids[:, None]), got)
    assert torch.equal(label_ids_to_onehot(ids[1:2]), got[1])
    assert torch.equal(label_ids_to_onehot(ids[:, None].long()), got)
