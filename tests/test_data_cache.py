"""The decoded dataset cache: same pixels as without it, safe against stale, killed and corrupt
builds, readable from workers, and shared by the ranks of a torchrun job."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from torchgan_ext import config
from torchgan_ext.cli import main
from torchgan_ext.data import (
    CacheLoader,
    CelebA,
    Cityscapes,
    ImageFolder,
    SuperResolution,
    collate,
)
from torchgan_ext.data.cache import DecodedCache
from torchgan_ext.data.cache_store import build_cache
from torchgan_ext.runner import run
from torchgan_ext.testing import (
    tiny_config,
    write_celeba,
    write_cityscapes,
    write_image_folder,
)
from torchgan_ext.testing.processes import torchrun
from torchgan_ext.trainer.batch import prepare_batch

CPU = torch.device("cpu")


def _cached(dataset, path, **kw):
    build_cache(dataset.cache_plan(), path, **kw)
    return DecodedCache(dataset, path, mirror=kw.get("mirror", True))


def _batches(dataset, batch_size=4, workers=0):
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate, shuffle=False
    )
    return [prepare_batch(b, CPU) for b in loader]


def _equal(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("celeba")
    rng = np.random.default_rng(0)

    def draw(index, attributes, size):  # textured, so resizing and flips change pixels
        return rng.integers(0, 256, (*size, 3), dtype=np.uint8)

    return write_celeba(tmp, 24, size=(218, 178), draw=draw).root


# -- same pixels ----------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["uint8", "float"])
def test_celeba_cached_batches_equal_uncached_bit_for_bit(celeba_root, tmp_path, output):
    ds = CelebA(celeba_root, split="all", crop_size=170, image_size=20, flip=False, output=output)
    cached = _cached(ds, tmp_path / "c")
    assert cached.channels == 3 and cached.image_size == 20 and cached.attributes == ds.attributes
    for a, b in zip(_batches(cached), _batches(ds), strict=True):
        assert _equal(a, b)  # what the model sees: uint8 -> [-1, 1] on the device
    raw = collate(cached.__getitems__([5, 0, 7]))
    assert raw[0].dtype == torch.uint8 and raw[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("mirror", [True, False])
def test_flips_happen_per_step_on_cached_data(celeba_root, tmp_path, mirror):
    ds = CelebA(celeba_root, split="train", crop_size=170, image_size=20, output="uint8")
    assert ds.flip and len(ds) >= 8
    cached = _cached(ds, tmp_path / "c", mirror=mirror)
    stored = np.load(tmp_path / "c" / "image.npy", mmap_mode="r")
    n = len(ds)
    assert stored.shape == ((n, 2, 20, 20, 3) if mirror else (n, 20, 20, 3))
    reference = torch.stack([ds._load(i) for i in range(8)])
    torch.manual_seed(0)
    seen = set()
    for _ in range(6):
        images, _ = collate(cached.__getitems__(list(range(8))))
        for i in range(8):
            same = torch.equal(images[i], reference[i])
            assert same or torch.equal(images[i], reference[i].flip(-1))
            seen.add(same)
    assert seen == {True, False}


def test_cityscapes_targets_match_uncached(tmp_path):
    city = write_cityscapes(tmp_path, images={"train": 4, "val": 3}, size=(32, 64))
    for target in ("none", "semantic", "train_ids", "color", "instance"):
        ds = Cityscapes(city.root, split="val", target=target, image_size=16, crop_size=[16, 24])
        cached = _cached(ds, tmp_path / target)
        for a, b in zip(_batches(cached, 2), _batches(ds, 2), strict=True):
            assert _equal(a, b), target


def test_cityscapes_random_crops_keep_image_and_target_aligned(tmp_path):
    city = write_cityscapes(tmp_path, images={"train": 4}, size=(32, 64))
    ds = Cityscapes(city.root, split="train", target="semantic", image_size=32, crop_size=[16, 24])
    cached = _cached(ds, tmp_path / "c")
    assert np.load(tmp_path / "c" / "image.npy", mmap_mode="r").shape[-3:] == (32, 64, 3)
    torch.manual_seed(1)
    for _ in range(3):
        images, targets = collate(cached.__getitems__([0, 1, 2, 3]))
        assert images.shape == (4, 3, 16, 24) and targets.shape == (4, 16, 24)
        # the drawer writes red = 7 * label id: crops and flips hit image and target alike
        assert torch.equal(images[:, 0].long(), 7 * targets)


def test_image_folder_and_super_resolution(tmp_path):
    root = write_image_folder(tmp_path / "f", classes=["a", "b"], per_class=3, size=(20, 28))
    ds = ImageFolder(root, image_size=12, labels=True)
    cached = _cached(ds, tmp_path / "c1")
    assert _equal(_batches(cached, 3), _batches(ds, 3)) and cached.num_classes == 2
    sr = SuperResolution(root=root, scale=2, crop_size=16, crop="center")
    cached = _cached(sr, tmp_path / "c2")
    for a, b in zip(_batches(cached, 3), _batches(sr, 3), strict=True):
        assert _equal(a, b)
    with pytest.raises(ValueError, match="crop: center"):
        SuperResolution(root=root, scale=2, crop_size=16).cache_plan()


def test_dataset_without_plan_or_size_is_refused(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", crop_size=None, image_size=None)
    with pytest.raises(ValueError, match="^dir: celeba with crop_size: null"):
        ds.cache_plan()


# -- safety ----------------------------------------------------------------------------------
def test_stale_key_is_a_one_line_error_or_a_rebuild(celeba_root, tmp_path):
    root = tmp_path / "celeba"
    shutil.copytree(celeba_root, root)
    ds = CelebA(root, split="all", image_size=20, output="uint8")
    _cached(ds, tmp_path / "c")
    other = CelebA(root, split="all", image_size=16, output="uint8")
    with pytest.raises(ValueError, match=r"^dir: the cache .*c was built from other data "):
        build_cache(other.cache_plan(), tmp_path / "c")
    with pytest.raises(ValueError, match=r"image_size \[20, 20\] -> \[16, 16\]"):
        DecodedCache(other, tmp_path / "c")
    # a source file rewritten after the build
    victim = root / "img_align_celeba" / ds.filenames[3]
    victim.write_bytes(victim.read_bytes())
    os.utime(victim, ns=(1, 1))
    with pytest.raises(ValueError, match=f"changed, first img_align_celeba/{ds.filenames[3]}"):
        build_cache(ds.cache_plan(), tmp_path / "c")
    info = build_cache(ds.cache_plan(), tmp_path / "c", on_stale="rebuild")
    assert info.built and DecodedCache(ds, tmp_path / "c")[0][0].shape == (3, 20, 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "celeba"]  # no leftovers


def test_corrupt_or_truncated_cache_file_is_detected(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", image_size=20)
    _cached(ds, tmp_path / "c")
    file = tmp_path / "c" / "image.npy"
    with open(file, "r+b") as fh:
        fh.truncate(file.stat().st_size - 7)
    with pytest.raises(ValueError, match=r"^dir: cache file .*image\.npy is truncated or corrupt"):
        DecodedCache(ds, tmp_path / "c")
    file.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="image.npy is missing or has no valid header"):
        DecodedCache(ds, tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="no cache at .*--build-cache"):
        DecodedCache(ds, tmp_path / "none")


def test_disk_space_and_read_only_dir(celeba_root, tmp_path, monkeypatch):
    ds = CelebA(celeba_root, split="all", image_size=20)
    import torchgan_ext.data.cache_store as store

    real = shutil.disk_usage
    monkeypatch.setattr(store.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with pytest.raises(OSError, match=r"^dir: the cache of 24 items needs .* GiB .* only 0.00"):
        build_cache(ds.cache_plan(), tmp_path / "full" / "c")
    assert not (tmp_path / "full" / "c").exists()
    assert [p.name for p in (tmp_path / "full").iterdir()] == []  # temporary folder removed
    monkeypatch.undo()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder's parent should be")
    with pytest.raises(PermissionError, match=r"^dir: cannot write the cache in .*blocked"):
        build_cache(ds.cache_plan(), blocked / "c")


KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    from torchgan_ext.data import CelebA
    from torchgan_ext.data.cache_store import build_cache
    ds = CelebA(sys.argv[1], split="all", image_size=20)
    plan = ds.cache_plan()
    load = plan.load
    def slow(i):
        if i == 5:
            print("half", flush=True)
            time.sleep(60)
        return load(i)
    object.__setattr__(plan, "load", slow)
    build_cache(plan, sys.argv[2])
    """
)


@pytest.mark.slow
def test_killed_build_leaves_no_valid_looking_cache(celeba_root, tmp_path):
    script = tmp_path / "build.py"
    script.write_text(KILLED_BUILD)
    cache = tmp_path / "caches" / "train"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(celeba_root), str(cache)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "half"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    leftovers = [p.name for p in cache.parent.iterdir()]
    assert leftovers == [f".train.building-{os.uname().nodename}-{proc.pid}"]
    ds = CelebA(celeba_root, split="all", image_size=20)
    with pytest.raises(FileNotFoundError, match="no cache at"):
        DecodedCache(ds, cache)
    assert build_cache(ds.cache_plan(), cache).built  # and the dead build's folder is gone
    assert [p.name for p in cache.parent.iterdir()] == ["train"]


# -- workers, launcher, torchrun ------------------------------------------------------------
def test_workers_read_the_same_batches_without_copying_the_arrays(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", image_size=20, flip=False, output="uint8")
    cached = _cached(ds, tmp_path / "c")
    cached[0]  # opens the mapping in this process
    mapped = cached._arrays["image"]
    assert isinstance(mapped.base, np.memmap) and not mapped.flags.writeable
    assert len(pickle.dumps(cached)) < 8000 + len(pickle.dumps(ds))  # no array inside
    assert _equal(_batches(cached, 5, workers=2), _batches(cached, 5, workers=0))


def _cache_config(tmp_path, celeba_root, **trainer):
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 4, "sample_size": 4, **trainer})
    cfg["data"] = {
        "name": "celeba",
        "args": {"root": str(celeba_root), "image_size": 16, "attributes": ["Male", "Young"]},
        "loader": {"batch_size": 4, "num_workers": 0},
        "cache": {"dir": str(tmp_path / "cache")},
    }
    return cfg


def test_build_cache_from_the_cli_then_train_and_resume_exactly(celeba_root, tmp_path, capsys):
    cfg = _cache_config(tmp_path, celeba_root, checkpoint_every=2)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--build-cache"]) == 0
    assert "cache " in capsys.readouterr().out and (tmp_path / "cache" / "train").is_dir()
    assert main([str(path), "--build-cache"]) == 0
    assert ": up to date" in capsys.readouterr().out
    full = run(config.config_from_dict(cfg))
    assert isinstance(full.trainer.data_loader, CacheLoader)  # the unannotated in-process reads
    cfg["out_dir"] = str(tmp_path / "run2")
    cfg["trainer"]["max_steps"] = 2
    run(config.config_from_dict(cfg))
    cfg["trainer"]["max_steps"] = 4
    resumed = run(config.config_from_dict(cfg), resume=True)
    assert resumed.step == 4
    for k, v in full.trainer.generator.state_dict().items():
        assert torch.equal(v, resumed.trainer.generator.state_dict()[k]), k


def test_workers_reading_a_cache_get_a_warning_naming_the_key(celeba_root, tmp_path):
    cfg = _cache_config(tmp_path, celeba_root, max_steps=1)
    cfg["data"]["loader"]["num_workers"] = 1
    with pytest.warns(
        UserWarning, match=r"data.loader.num_workers: 1 with data.cache: .* set num_workers: 0"
    ):
        assert run(config.config_from_dict(cfg)).step == 1
    cfg["data"]["loader"]["num_workers"] = 0
    cfg["out_dir"] = str(tmp_path / "run0")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        run(config.config_from_dict(cfg))


def test_a_run_that_builds_its_cache_trains_as_one_that_finds_it(celeba_root, tmp_path):
    # the build's DataLoader drew its worker seed from the global RNG: the run that built the
    # cache initialised its models from another random state than every later run
    cfg = _cache_config(tmp_path, celeba_root)
    first = run(config.config_from_dict(cfg))  # builds the cache
    cfg["out_dir"] = str(tmp_path / "run2")
    second = run(config.config_from_dict(cfg))  # finds it
    for k, v in first.trainer.generator.state_dict().items():
        assert torch.equal(v, second.trainer.generator.state_dict()[k]), k


def test_building_a_cache_leaves_the_global_rng_alone(celeba_root, tmp_path):
    state = torch.get_rng_state()
    _cached(CelebA(celeba_root, image_size=16), tmp_path / "c")
    assert torch.equal(torch.get_rng_state(), state)


def test_cache_config_errors_are_one_line(celeba_root, tmp_path, capsys):
    cfg = _cache_config(tmp_path, celeba_root)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--set", "data.skip_corrupt=true"]) == 2
    assert "data.skip_corrupt: cannot be combined with data.cache" in capsys.readouterr().err
    cfg["data"] = tiny_config(tmp_path)["data"]
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--build-cache"]) == 2
    assert "data.cache: --build-cache needs data.cache" in capsys.readouterr().err
    assert main([str(path), "--set", f"data.cache.dir={tmp_path}/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "data.cache.dir: dataset Digits cannot be cached" in err and len(err.splitlines()) == 1
    assert main([str(path), "--set", "data.cache.on_stale=never"]) == 2
    assert "data.cache" in capsys.readouterr().err


RANK_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from torchgan_ext import config, run
    result = run(config.load_config(sys.argv[1]), overwrite=True)
    rank = int(os.environ["RANK"])
    torch.save({"batch": result.trainer.real_inputs.clone()},
               os.path.join(sys.argv[2], f"rank{rank}.pt"))
    """
)


@pytest.mark.slow
def test_two_gloo_processes_share_one_cache(celeba_root, tmp_path):
    cfg = _cache_config(tmp_path, celeba_root, max_steps=3)
    cfg["data"]["loader"]["num_workers"] = 1
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    start = time.time()
    proc = torchrun(script, path, tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["train"]  # one build, no leftover
    meta = (tmp_path / "cache" / "train" / "meta.json").stat()
    assert start <= meta.st_mtime
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)["batch"]
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)["batch"]
    assert r0.shape == r1.shape == (4, 3, 16, 16) and not torch.equal(r0, r1)
