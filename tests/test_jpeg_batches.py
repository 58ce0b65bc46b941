"""``data.decode: cuda``: workers read JPEG bytes, the device decodes each batch.

The decode step is device-agnostic, so its logic (crop, resize, flips, labels, the trainer's
hand-over) is tested on the CPU; the nvJPEG path itself runs in the CUDA-marked tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from torchgan_ext.cli import main
from torchgan_ext.data import CelebA, ImageFolder, collate
from torchgan_ext.data.jpeg_batches import (
    EncodedJpegs,
    JpegFiles,
    cuda_jpeg_unavailable,
)
from torchgan_ext.testing import tiny_config, write_celeba, write_image_folder
from torchgan_ext.trainer.batch import prepare_batch

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("celeba")
    rng = np.random.default_rng(0)

    def draw(index, attributes, size):  # smooth gradients: JPEG keeps them, resizing mixes them
        y, x = np.mgrid[0 : size[0], 0 : size[1]]
        base = np.stack([x * 255 // size[1], y * 255 // size[0], (x + y) % 256], -1)
        return (base + rng.integers(0, 16)).clip(0, 255).astype(np.uint8)

    return write_celeba(tmp, 12, size=(218, 178), draw=draw).root


def _loader(dataset, batch=4, workers=0):
    return DataLoader(dataset, batch_size=batch, num_workers=workers, collate_fn=collate)


def test_batches_decode_like_the_cpu_pipeline(celeba_root):
    ds = CelebA(celeba_root, split="all", image_size=32, flip=False, output="uint8")
    encoded = JpegFiles(ds)
    assert encoded.channels == 3 and encoded.image_size == 32 and len(encoded) == len(ds)
    batch = next(iter(_loader(encoded)))
    assert isinstance(batch, EncodedJpegs) and len(batch) == 4
    images, labels = batch.decode_to(CPU)
    reference = torch.stack([ds[i][0] for i in range(4)])
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32)
    # same decoder here (libjpeg-turbo); the float resize may round one level differently
    assert (images.int() - reference.int()).abs().max() <= 1
    assert torch.equal(labels, ds.labels[:4])


def test_the_trainer_decodes_on_its_device_and_scales_to_unit_range(celeba_root):
    ds = CelebA(celeba_root, split="all", image_size=32, flip=False, output="uint8")
    batch = next(iter(_loader(JpegFiles(ds), workers=2)))  # bytes come from the workers
    images, labels = prepare_batch(batch, CPU)
    assert images.dtype == torch.float32 and -1 <= images.min() and images.max() <= 1
    assert labels.shape == (4, len(ds.attributes))


def test_flips_and_image_folder_cover_crop(celeba_root, tmp_path):
    ds = CelebA(celeba_root, split="all", image_size=32, flip=False, output="uint8")
    plain = JpegFiles(ds).__getitems__([0, 1, 2, 3]).value
    flipped = EncodedJpegs(
        plain.data, plain.offsets, torch.tensor([1, 0, 1, 0]).bool(), None, plain.plan
    )
    a, b = plain.decode_to(CPU)[0], flipped.decode_to(CPU)
    assert torch.equal(b[0], a[0].flip(-1)) and torch.equal(b[1], a[1])
    root = write_image_folder(tmp_path / "f", classes=["a", "b"], per_class=4, size=(30, 40))
    jpegs = ImageFolder(root, image_size=16, labels=True, extensions=[".jpg"])
    images, labels = JpegFiles(jpegs).__getitems__([0, 1]).value.decode_to(CPU)
    reference = torch.stack([jpegs.load(i) for i in range(2)])
    assert images.shape == (2, 3, 16, 16) and (images.int() - reference.int()).abs().max() <= 1
    assert labels.tolist() == jpegs.targets[:2]


def test_png_files_and_other_datasets_are_refused(tmp_path):
    root = write_image_folder(tmp_path / "f", classes=None, per_class=4, size=(20, 20))
    with pytest.raises(ValueError, match=r"^decode: nvJPEG decodes JPEG files only; 2 file"):
        JpegFiles(ImageFolder(root, image_size=16))
    with pytest.raises(ValueError, match="cannot decode on the GPU"):
        JpegFiles(torch.utils.data.TensorDataset(torch.zeros(2)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_without_cuda_the_run_falls_back_with_a_clear_warning(celeba_root, tmp_path, capsys):
    assert "not CUDA" in cuda_jpeg_unavailable(CPU)
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 2, "sample_size": 4})
    cfg["data"] = {
        "name": "celeba",
        "args": {"root": str(celeba_root), "image_size": 16, "attributes": ["Male"]},
        "loader": {"batch_size": 4},
        "decode": "cuda",
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.warns(UserWarning, match=r"data.decode: cuda is unavailable \(the run is on cpu"):
        assert main([str(path)]) == 0
    cfg["data"]["cache"] = {"dir": str(tmp_path / "cache")}
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--overwrite"]) == 2
    assert "data.decode: cuda cannot be combined with data.cache" in capsys.readouterr().err


@pytest.mark.cuda
@needs_cuda
def test_nvjpeg_batches_match_the_cpu_decoder(celeba_root):
    assert cuda_jpeg_unavailable(torch.device("cuda")) is None
    ds = CelebA(celeba_root, split="all", image_size=32, flip=False, output="uint8")
    batch = JpegFiles(ds).__getitems__(list(range(8))).value
    gpu, labels = batch.decode_to(torch.device("cuda"))
    cpu, _ = batch.decode_to(CPU)
    assert gpu.is_cuda and labels.is_cuda and gpu.shape == cpu.shape
    diff = (gpu.cpu().int() - cpu.int()).abs()
    assert diff.float().mean() < 1.0 and diff.max() <= 8  # nvJPEG vs libjpeg-turbo IDCT


@pytest.mark.cuda
@needs_cuda
def test_a_cuda_run_decodes_on_the_gpu(celeba_root, tmp_path):
    from torchgan_ext import config, run

    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 2, "sample_size": 4})
    cfg["device"] = "cuda"
    cfg["data"] = {
        "name": "celeba",
        "args": {"root": str(celeba_root), "image_size": 16, "attributes": ["Male"]},
        "loader": {"batch_size": 4, "num_workers": 2},
        "decode": "cuda",
    }
    result = run(config.config_from_dict(cfg))
    assert result.step == 2 and result.trainer.real_inputs.is_cuda
