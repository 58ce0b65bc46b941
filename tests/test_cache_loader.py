"""Batched reads of the decoded cache and its loader: a batch read at once is the per-item read,
bit for bit, in and out of worker processes; :class:`CacheLoader` is the DataLoader's batches
and random stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from torchgan_ext.data import CacheLoader, CelebA, Cityscapes, collate
from torchgan_ext.data.cache import DecodedCache
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.testing import write_celeba, write_cityscapes

ORDER = [7, 2, 11, 0, 5, 5, 9, 1, 3, 10, 4]  # shuffled, with a repeat and a short last batch


def _cached(dataset, path, mirror=True):
    build_cache(dataset.cache_plan(), path, mirror=mirror)
    return DecodedCache(dataset, path, mirror=mirror)


def _equal(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    rng = np.random.default_rng(1)

    def draw(index, attributes, size):  # textured: a wrong item or a flip changes pixels
        return rng.integers(0, 256, (*size, 3), dtype=np.uint8)

    return write_celeba(tmp_path_factory.mktemp("celeba"), 12, size=(218, 178), draw=draw).root


@pytest.mark.parametrize("workers", [0, 2])
def test_batched_read_equals_item_reads_bit_for_bit(celeba_root, tmp_path, workers):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    loader = CacheLoader(
        cached, batch_size=4, sampler=ORDER, num_workers=workers, collate_fn=collate
    )
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 3]
    for k, (images, labels) in enumerate(batches):
        idx = ORDER[4 * k : 4 * k + 4]
        assert images.is_contiguous(memory_format=torch.channels_last)
        assert _equal(images, torch.stack([cached[i][0] for i in idx]))  # per-item cache reads
        assert _equal(images, torch.stack([ds[i][0] for i in idx]))  # the uncached items
        assert _equal(labels, torch.stack([ds[i][1] for i in idx]))


def _draws(plan, b, height, width):
    """A batch's random windows and flips as the cache has always drawn them (a resumed run
    depends on the stream): crop tops, then lefts, then ``torch.rand(b) < 0.5`` for flips."""
    tops = lefts = [0] * b
    if plan.crop is not None and plan.random_crop:
        tops = torch.randint(0, height - plan.crop[0] + 1, (b,)).tolist()
        lefts = torch.randint(0, width - plan.crop[1] + 1, (b,)).tolist()
    flips = (torch.rand(b) < 0.5).tolist() if plan.flip else [False] * b
    return tops, lefts, flips


def _replay(cached, order, batch_size, fields):
    """The loader's batches of ``cached`` in ``order``, and the same items cut and flipped one
    by one from the uncropped, unflipped items with the same random draws."""
    loader = CacheLoader(
        cached,
        batch_size=batch_size,
        sampler=order,
        collate_fn=collate,
        generator=torch.Generator(),
    )
    torch.manual_seed(3)
    batches = list(loader)
    torch.manual_seed(3)  # the same draws, replayed per item
    full = [cached.plan.load(i) for i in range(len(cached))]
    expected, flipped = [], set()
    height, width = next(iter(full[0].values())).shape[-2:]
    ch, cw = cached.plan.crop or (height, width)
    for k in range(len(batches)):
        idx = order[batch_size * k : batch_size * (k + 1)]
        tops, lefts, flips = _draws(cached.plan, len(idx), height, width)
        items = []
        for i, j in enumerate(idx):
            win = (slice(None), slice(tops[i], tops[i] + ch), slice(lefts[i], lefts[i] + cw))
            cut = [full[j][name][win] for name in fields]
            items.append([x.flip(-1) if flips[i] else x for x in cut])
            flipped.add(flips[i])
        expected.append([torch.stack(x) for x in zip(*items, strict=True)])
    assert flipped == {True, False}
    return batches, expected


@pytest.mark.parametrize("mirror", [True, False])
def test_flips_of_a_batch_are_the_per_item_draws(celeba_root, tmp_path, mirror):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c", mirror=mirror)
    assert cached.plan.flip and cached.plan.crop is None  # whole stored images
    batches, expected = _replay(cached, [4, 1, 5, 0, 3, 2, 1, 7, 6], 4, ["image"])
    for (images, _), (image,) in zip(batches, expected, strict=True):
        assert _equal(images, image)


@pytest.mark.parametrize("mirror", [True, False])
def test_random_crops_and_flips_of_a_batch_are_the_per_item_windows(tmp_path, mirror):
    city = write_cityscapes(tmp_path, images={"train": 6}, size=(32, 64))
    ds = Cityscapes(city.root, split="train", target="semantic", image_size=32, crop_size=[16, 24])
    cached = _cached(ds, tmp_path / "c", mirror=mirror)
    assert cached.plan.random_crop and cached.plan.flip
    batches, expected = _replay(cached, [4, 1, 5, 0, 3, 2, 1], 3, ["image", "target"])
    for (images, targets), (image, target) in zip(batches, expected, strict=True):
        assert _equal(images, image) and _equal(targets, target[:, 0].long())


@pytest.mark.parametrize("workers", [0, 2])
def test_cache_loader_gives_the_dataloaders_batches_and_random_stream(
    celeba_root, tmp_path, workers
):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    assert ds.flip
    cached = _cached(ds, tmp_path / "c")
    sampler = list(range(len(ds)))
    runs = []
    for cls in (CacheLoader, DataLoader):
        torch.manual_seed(5)  # no generator: the iterator's base seed comes from the global RNG
        loader = cls(cached, batch_size=3, sampler=sampler, num_workers=workers, collate_fn=collate)
        batches = [b for _ in range(2) for b in loader]  # two epochs
        runs.append((batches, torch.get_rng_state(), torch.rand(4)))
    (a, state_a, next_a), (b, state_b, next_b) = runs
    assert _equal(a, b) and torch.equal(state_a, state_b) and torch.equal(next_a, next_b)
    if workers == 0:
        assert type(iter(CacheLoader(cached, batch_size=3))).__name__ == "_UnannotatedIterator"


def test_flip_draws_are_torch_rand(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    for b in (4, 4, 3):  # the kept buffer, and a short batch
        torch.manual_seed(b)
        drawn = cached._uniform(b)
        state = torch.get_rng_state()
        torch.manual_seed(b)
        assert drawn == torch.rand(b).tolist() and torch.equal(state, torch.get_rng_state())
