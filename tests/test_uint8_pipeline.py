"""`output: uint8` datasets: the trainer turns uint8 image batches into [-1, 1] on the device."""

import torch

from torchgan_ext import config, run
from torchgan_ext.data import CelebA
from torchgan_ext.testing import tiny_config, write_celeba
from torchgan_ext.trainer import prepare_batch


def test_prepare_batch_converts_uint8_images_only():
    images = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 1, 1, 3).repeat(2, 3, 1, 1)
    labels = torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8)  # 2-D: not an image
    masks = torch.zeros(2, 1, 4, 4, dtype=torch.long)
    out_images, out_labels, out_masks = prepare_batch(
        (images, labels, masks), torch.device("cpu"), channels_last=True
    )
    assert out_images.dtype == torch.float32
    assert torch.allclose(
        out_images[0, 0, 0], torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6
    )
    assert out_images.is_contiguous(memory_format=torch.channels_last)
    assert out_labels.dtype == torch.uint8 and out_masks.dtype == torch.long


def test_celeba_uint8_output_equals_float_output(tmp_path):
    fake = write_celeba(tmp_path, num_images=6, size=(40, 32))
    as_float = CelebA(fake.root, split="all", crop_size=32, image_size=16, flip=False)
    as_uint8 = CelebA(
        fake.root, split="all", crop_size=32, image_size=16, flip=False, output="uint8"
    )
    for i in range(len(as_float)):
        x8, y8 = as_uint8[i]
        xf, yf = as_float[i]
        assert x8.dtype == torch.uint8 and x8.shape == xf.shape
        assert torch.allclose(x8.float() / 127.5 - 1, xf, atol=1e-6)
        assert torch.equal(y8, yf)


def test_training_on_uint8_batches_sees_unit_range(tmp_path):
    fake = write_celeba(tmp_path / "data", num_images=12, size=(40, 32))
    cfg = tiny_config(tmp_path / "run", trainer={"max_steps": 2, "sample_size": 4})
    cfg["data"] = {
        "name": "celeba",
        "args": {"root": str(fake.root), "crop_size": 32, "image_size": 16, "output": "uint8"},
        "loader": {"batch_size": 4},
    }
    result = run(config.config_from_dict(cfg))
    t = result.trainer
    assert t.real_inputs.dtype == torch.float32
    assert -1.0 <= float(t.real_inputs.min()) and float(t.real_inputs.max()) <= 1.0
    assert t.sample_batch[0].dtype == torch.float32
