"""Batched reads of the decoded cache and its loader: a batch read at once is the per-item read,
bit for bit, in and out of worker processes; :class:`CacheLoader` is the DataLoader's batches
and random stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from torchgan_ext.data import (
    CacheLoader,
    CelebA,
    Cityscapes,
    ImageFolder,
    ResumableSampler,
    SuperResolution,
    collate,
)
from torchgan_ext.data.cache import DecodedCache
from torchgan_ext.data.cache_loader import READ_AHEAD_BYTES, Recycler
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.data.cityscapes_pairs import CityscapesPairs
from torchgan_ext.testing import write_celeba, write_cityscapes, write_image_folder

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


@pytest.mark.parametrize("workers,per_read", [(0, 1), (0, 2), (0, None), (2, None)])
def test_batched_read_equals_item_reads_bit_for_bit(celeba_root, tmp_path, workers, per_read):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    loader = CacheLoader(
        cached,
        batch_size=4,
        sampler=ORDER,
        num_workers=workers,
        collate_fn=collate,
        batches_per_read=per_read,
    )
    batches = list(loader)
    assert [len(b[0]) for b in batches] == [4, 4, 3]
    for k, (images, labels) in enumerate(batches):
        idx = ORDER[4 * k : 4 * k + 4]
        assert images.is_contiguous(memory_format=torch.channels_last)
        assert _equal(images, torch.stack([cached[i][0] for i in idx]))  # per-item cache reads
        assert _equal(images, torch.stack([ds[i][0] for i in idx]))  # the uncached items
        assert _equal(labels, torch.stack([ds[i][1] for i in idx]))


def _epoch_uniforms(seed, positions, per_item):
    """The contract of CacheLoader's in-process draws: row p of ``torch.rand(positions,
    draws)`` from a generator seeded with the iterator's base seed, the DataLoader's one int64
    draw from the loader's ``generator``."""
    base = torch.empty((), dtype=torch.int64).random_(generator=torch.Generator().manual_seed(seed))
    return torch.rand(positions, per_item, generator=torch.Generator().manual_seed(base.item()))


def _expected(cached, order, batch_size, fields, uniforms):
    """The items of ``order`` cut and flipped one by one from the uncropped, unflipped items,
    with the windows of their rows of ``uniforms``; stacked per batch."""
    plan = cached.plan
    full = [plan.load(i) for i in range(len(cached))]
    height, width = next(iter(full[0].values())).shape[-2:]
    ch, cw = plan.crop or (height, width)
    expected, flipped = [], set()
    for k in range(0, len(order), batch_size):
        items = []
        for q in range(k, min(k + batch_size, len(order))):
            u = uniforms[q].tolist() if uniforms is not None else []
            top = left = 0
            if plan.crop is not None and plan.random_crop:
                top = min(int(u[0] * (height - ch + 1)), height - ch)
                left = min(int(u[1] * (width - cw + 1)), width - cw)
            flip = plan.flip and u[-1] < 0.5
            flipped.add(flip)
            win = (slice(None), slice(top, top + ch), slice(left, left + cw))
            items.append(
                [
                    full[order[q]][name][win].flip(-1) if flip else full[order[q]][name][win]
                    for name in fields
                ]
            )
        expected.append([torch.stack(x) for x in zip(*items, strict=True)])
    return expected, flipped


def _loader(cached, order, batch_size, per_read=None, seed=3, **kw):
    gen = torch.Generator().manual_seed(seed)
    return CacheLoader(
        cached,
        batch_size=batch_size,
        sampler=order,
        collate_fn=collate,
        generator=gen,
        batches_per_read=per_read,
        **kw,
    )


@pytest.mark.parametrize("mirror", [True, False])
@pytest.mark.parametrize("per_read", [1, 2, None])
def test_flips_are_the_epoch_draws_whatever_the_read_size(celeba_root, tmp_path, mirror, per_read):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c", mirror=mirror)
    assert cached.plan.flip and cached.plan.crop is None and cached.draws == 1
    order = [4, 1, 5, 0, 3, 2, 1, 7, 6]
    torch.manual_seed(0)
    state = torch.get_rng_state()
    batches = list(_loader(cached, order, 4, per_read))
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left alone
    expected, flipped = _expected(cached, order, 4, ["image"], _epoch_uniforms(3, 9, 1))
    assert flipped == {True, False}
    assert [len(b[0]) for b in batches] == [4, 4, 1]
    for (images, _), (image,) in zip(batches, expected, strict=True):
        assert _equal(images, image)


@pytest.mark.parametrize("mirror", [True, False])
def test_random_crops_and_flips_are_the_epoch_draws(tmp_path, mirror):
    city = write_cityscapes(tmp_path, images={"train": 6}, size=(32, 64))
    ds = Cityscapes(city.root, split="train", target="semantic", image_size=32, crop_size=[16, 24])
    cached = _cached(ds, tmp_path / "c", mirror=mirror)
    assert cached.plan.random_crop and cached.plan.flip and cached.draws == 3
    order = [4, 1, 5, 0, 3, 2, 1]
    expected, flipped = _expected(cached, order, 3, ["image", "target"], _epoch_uniforms(3, 7, 3))
    assert flipped == {True, False}
    for per_read in (1, 2):
        batches = list(_loader(cached, order, 3, per_read))
        for (images, targets), (image, target) in zip(batches, expected, strict=True):
            assert _equal(images, image) and _equal(targets, target[:, 0].long())


def test_getitems_draws_from_the_global_generator(tmp_path):
    city = write_cityscapes(tmp_path, images={"train": 6}, size=(32, 64))
    ds = Cityscapes(city.root, split="train", target="semantic", image_size=32, crop_size=[16, 24])
    cached = _cached(ds, tmp_path / "c")
    torch.manual_seed(7)
    batch = cached.__getitems__([3, 0, 5]).value
    state = torch.get_rng_state()
    torch.manual_seed(7)
    assert _equal(batch, cached.read([3, 0, 5], torch.rand(3, 3).numpy()))
    assert torch.equal(state, torch.get_rng_state())
    with pytest.raises(ValueError, match=r"uniforms: expected shape \(3, 3\), got \(3, 1\)"):
        cached.read([3, 0, 5], np.zeros((3, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"sizes: \[2, 2\] add up to 4, not 3 indices"):
        cached.read([3, 0, 5], torch.rand(3, 3).numpy(), sizes=[2, 2])
    with pytest.raises(IndexError, match="index 6 out of range for 6 items"):
        cached.read([3, 6, 5], torch.rand(3, 3).numpy())


@pytest.mark.parametrize("per_read", [1, 3])
def test_a_resumed_epoch_continues_its_draws(celeba_root, tmp_path, per_read):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    sampler = ResumableSampler(len(ds), shuffle=True, seed=1)
    sampler.set_epoch(2)
    straight = list(_loader(cached, sampler, 2, per_read))
    for done in (1, 4):  # batches seen before the interruption
        sampler.set_epoch(2)
        sampler.set_start(2 * done)
        assert _equal(list(_loader(cached, sampler, 2, per_read)), straight[done:])


def test_two_ranks_draw_as_one_process(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    one = torch.cat([b[0] for b in _loader(cached, ResumableSampler(len(ds), seed=4), 2)])
    ranks = [
        torch.cat(
            [
                b[0]
                for b in _loader(
                    cached,
                    ResumableSampler(len(ds), seed=4, num_replicas=2, rank=r, drop_last=True),
                    1,
                )
            ]
        )
        for r in (0, 1)
    ]
    assert _equal(one[0::2], ranks[0]) and _equal(one[1::2], ranks[1])  # global position q


def test_batches_read_at_once_share_no_pixels(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    loader = _loader(cached, list(range(len(ds))), 2, per_read=3)
    batches = list(loader)
    kept = [b[0].clone() for b in batches]
    batches[0][0].fill_(0)  # a user changing one batch in place
    assert all(_equal(b[0], k) for b, k in zip(batches[1:], kept[1:], strict=True))
    again = list(loader)  # the next epoch's reads leave the kept batches as they were
    assert all(_equal(b[0], k) for b, k in zip(batches[1:], kept[1:], strict=True))
    assert not _equal(again[1][0], batches[1][0]) or not _equal(again[2][0], batches[2][0])


def test_cache_loader_takes_the_dataloaders_draws_and_batches(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    assert cached.draws == 0
    runs = []
    for cls in (CacheLoader, DataLoader):
        torch.manual_seed(5)  # no generator: the iterator's base seed comes from the global RNG
        loader = cls(cached, batch_size=3, sampler=list(range(12)), collate_fn=collate)
        batches = [b for _ in range(2) for b in loader]  # two epochs
        runs.append((batches, torch.get_rng_state()))
    (a, state_a), (b, state_b) = runs
    assert _equal(a, b) and torch.equal(state_a, state_b)
    assert type(iter(CacheLoader(cached, batch_size=3))).__name__ == "_ReadAheadIterator"
    assert type(iter(CacheLoader(cached, batch_size=None))).__name__ == "_UnannotatedIterator"


def test_with_workers_it_is_the_dataloader(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    runs = []
    for cls in (CacheLoader, DataLoader):
        torch.manual_seed(5)
        loader = cls(
            cached, batch_size=3, sampler=list(range(len(ds))), num_workers=2, collate_fn=collate
        )
        runs.append(([b for _ in range(2) for b in loader], torch.get_rng_state()))
    (a, state_a), (b, state_b) = runs
    assert _equal(a, b) and torch.equal(state_a, state_b)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_batches_per_read_must_be_a_positive_integer(celeba_root, tmp_path, bad):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    with pytest.raises(
        ValueError, match=f"batches_per_read: must be a positive integer or None, got {bad!r}"
    ):
        CacheLoader(ds, batch_size=2, batches_per_read=bad)


def test_default_read_size_fits_the_read_ahead_budget(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    assert cached.item_bytes == 20 * 20 * 3
    assert CacheLoader(cached, batch_size=4).read_ahead() == READ_AHEAD_BYTES // (4 * 1200)
    assert CacheLoader(cached, batch_size=4).read_ahead(4800) == READ_AHEAD_BYTES // (4 * 4800)
    assert CacheLoader(cached, batch_size=READ_AHEAD_BYTES).read_ahead() == 1
    assert not CacheLoader(ds, batch_size=4).can_read_ahead()  # no read(): per batch
    it = iter(CacheLoader(cached, batch_size=4, collate_fn=collate))
    assert it._per_read is None
    images, labels = next(it)  # the first read is one batch
    finished = 20 * 20 * 3 + labels[0].numel() * labels.element_size()  # + 40 attributes
    assert len(images) == 4 and labels.shape == (4, 40) and not it._ready
    assert it._per_read == READ_AHEAD_BYTES // (4 * finished)


def test_read_size_follows_what_a_finished_item_holds(tmp_path):
    city = write_cityscapes(tmp_path / "d", images={"train": 6}, size=(32, 32))
    ds = CityscapesPairs(city.root, split="train", label_format="onehot", image_size=32)
    cached = _cached(ds, tmp_path / "c")
    assert cached.item_bytes == 32 * 32 * 4  # stored: label ids and the photo, uint8
    it = iter(CacheLoader(cached, batch_size=1, collate_fn=collate))
    label, photo = next(it)
    assert label.shape == (1, 19, 32, 32) and label.dtype == torch.float32
    finished = 32 * 32 * (19 * 4 + 3)  # 19 float channels and the uint8 photo
    assert it._per_read == READ_AHEAD_BYTES // finished  # 20x fewer than the stored bytes say


def test_read_memory_is_reused_only_once_nothing_holds_it(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    loader = _loader(cached, list(range(12)), 4, per_read=3)  # one read per epoch
    first = [images for images, _ in loader]
    kept = [images.clone() for images in first]
    second = [images for images, _ in loader]  # the first epoch's batches are still held
    assert second[0].data_ptr() != first[0].data_ptr()
    assert all(_equal(a, b) for a, b in zip(first, kept, strict=True))
    pointer = second[0].data_ptr()
    del second
    third = [images for images, _ in loader]  # the second read's memory is free again
    assert third[0].data_ptr() == pointer and _equal(third, kept)
    assert all(_equal(a, b) for a, b in zip(first, kept, strict=True))
    array = first[-1].numpy()  # an array sharing a batch's pixels holds the read's memory
    del first, third
    fourth = [images for images, _ in loader]
    assert all(array.ctypes.data != x.data_ptr() for x in fourth)
    assert np.array_equal(array, kept[-1].numpy())


def test_recycler_hands_out_memory_nobody_references():
    recycle = Recycler(keep=1)
    a = recycle((2, 3), np.float32)
    b = recycle((6,), np.float32)  # `a` is held: other memory
    assert a.ctypes.data != b.ctypes.data and a.dtype == np.float32 and a.shape == (2, 3)
    pointer = a.ctypes.data
    del a
    c = recycle((4,), np.int16)  # a's memory (24 bytes) holds 8 bytes
    assert c.ctypes.data == pointer and c.shape == (4,) and c.dtype == np.int16
    array = torch.from_numpy(c[:2].T).numpy()  # a tensor of a view, an array of the tensor
    del c
    d = recycle((4,), np.int16)
    assert d.ctypes.data not in (pointer, b.ctypes.data)  # `array` still holds a's memory
    del array, d
    big = recycle((1000,), np.uint8)  # fits no free block: new; free ones beyond keep let go
    assert [blk.nbytes for blk, _ in recycle._blocks] == [24, 8, 1000]  # b's (held), d's, big's
    assert big.flags.writeable and b.flags.writeable
    held = [recycle((10,), np.uint8) for _ in range(20)]  # a user keeping every read
    assert len(recycle._blocks) >= 20
    del held
    for _ in range(3):  # released: the next calls reuse blocks and let the rest go
        last = recycle((10,), np.uint8)
    free = [blk for blk, owner in recycle._blocks if owner is None or owner() is None]
    assert len(free) == 1 and len(recycle._blocks) == 4  # b's, big's, last's (held), 1 free
    assert last.flags.writeable


def test_indices_must_be_integers(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    for bad in ([1.9, 2.5], [True, False]):
        with pytest.raises(TypeError, match="indices must be a sequence of integers"):
            cached.read(bad)
    assert _equal(cached.read(np.array([3, -1])), cached.read([3, 11]))  # NumPy ints, negatives


@pytest.mark.parametrize("drop_last", [True, False])
def test_read_ahead_keeps_the_dataloaders_batches(celeba_root, tmp_path, drop_last):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    order = list(range(11))
    plain = DataLoader(cached, batch_size=4, sampler=order, collate_fn=collate, drop_last=drop_last)
    for per_read in (1, 2, 5):
        loader = _loader(cached, order, 4, per_read, drop_last=drop_last)
        assert len(loader) == len(plain) and _equal(list(loader), list(plain))
    # a batch sampler of its own (repeats, more items than the dataset): the generic path
    batches = [[0, 1, 2, 3]] * 4 + [[5, 6]]
    custom = CacheLoader(cached, batch_sampler=batches, collate_fn=collate, batches_per_read=2)
    assert _equal(list(custom), list(DataLoader(cached, batch_sampler=batches, collate_fn=collate)))


def test_a_batch_sampler_with_repeats_continues_the_draws(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    batches = [[0, 1, 2, 3]] * 5  # 20 items drawn, the sampler has len(ds) = 8
    runs = []
    for per_read in (1, 3):
        gen = torch.Generator().manual_seed(3)
        loader = CacheLoader(
            cached,
            batch_sampler=batches,
            collate_fn=collate,
            generator=gen,
            batches_per_read=per_read,
        )
        runs.append([images for images, _ in loader])
    assert _equal(runs[0], runs[1]) and len(runs[0]) == 5
    assert len({tuple(images.flatten().tolist()) for images in runs[0]}) > 1  # new draws


def test_a_range_sampler_is_not_a_resumed_one(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    shifted = list(_loader(cached, range(2, 8), 3))
    expected, _ = _expected(cached, list(range(2, 8)), 3, ["image"], _epoch_uniforms(3, 6, 1))
    assert _equal([b[0] for b in shifted], [e[0] for e in expected])  # rows 0.., not 2..
    assert len(list(_loader(cached, range(-2, 6), 4))) == 2  # negative indices count from the end


def test_super_resolution_and_image_folder_through_the_cache_loader(tmp_path):
    root = write_image_folder(tmp_path / "f", classes=["a", "b"], per_class=3, size=(20, 28))
    folder = ImageFolder(root, image_size=12, labels=True)
    sr = SuperResolution(root=root, scale=2, crop_size=16, crop="center")
    for ds in (folder, sr):
        cached = _cached(ds, tmp_path / type(ds).__name__)
        order = [4, 0, 5, 1, 3]
        got = list(_loader(cached, order, 2, per_read=2))
        want = list(DataLoader(cached, batch_size=2, sampler=order, collate_fn=collate))
        assert _equal(got, want)
