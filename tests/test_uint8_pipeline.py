"""`output: uint8` datasets: the trainer turns uint8 image batches into [-1, 1] on the device."""

import torch
from torch.utils.data import DataLoader, default_collate

from torchgan_ext import config, run
from torchgan_ext.data import CelebA
from torchgan_ext.data.collate import collate
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


def _hwc_images(n: int, h: int = 5, w: int = 7) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [
        torch.randint(0, 256, (h, w, 3), dtype=torch.uint8, generator=g).permute(2, 0, 1)
        for _ in range(n)
    ]


def test_collate_stacks_hwc_uint8_images_channels_last_with_equal_values():
    images = _hwc_images(4)
    labels = [torch.tensor([float(i), 1.0]) for i in range(4)]
    batch = list(zip(images, labels, strict=True))
    got = collate(batch)
    want = default_collate(batch)
    assert isinstance(got, list) and len(got) == 2
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    assert not got[0].is_contiguous()
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # bare image samples too
    assert torch.equal(collate(images), default_collate(images))


def test_collate_leaves_other_batches_to_default_collate():
    contiguous = [x.contiguous() for x in _hwc_images(3)]
    floats = [x.float() for x in _hwc_images(3)]
    for batch in (contiguous, floats):
        got = collate(batch)
        assert got.is_contiguous() and torch.equal(got, default_collate(batch))
    mixed = _hwc_images(2) + [_hwc_images(1)[0].contiguous()]  # one stored CHW: default path
    assert torch.equal(collate(mixed), default_collate(mixed))


def test_collate_in_workers_and_prepare_batch_layout(tmp_path):
    fake = write_celeba(tmp_path, num_images=8, size=(40, 32))
    dataset = CelebA(fake.root, split="all", crop_size=32, image_size=16, output="uint8")
    loader = DataLoader(dataset, batch_size=4, num_workers=1, collate_fn=collate)
    plain = DataLoader(dataset, batch_size=4, num_workers=0)
    for (x, y), (xd, yd) in zip(loader, plain, strict=True):
        assert x.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(x, xd) and torch.equal(y, yd)
        contiguous = prepare_batch(x, torch.device("cpu"))
        nhwc = prepare_batch(x, torch.device("cpu"), channels_last=True)
        assert contiguous.is_contiguous()
        assert nhwc.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(contiguous, nhwc)
        assert torch.equal(contiguous, xd.float() / 127.5 - 1)


def test_uint8_resize_equals_torchvision_and_keeps_the_decoder_layout():
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    from torchgan_ext.data._io import resize_image

    g = torch.Generator().manual_seed(0)
    for shape, size in [
        ((3, 178, 178), (128, 128)),
        ((3, 60, 44), (24, 40)),
        ((1, 30, 20), (9, 7)),
    ]:
        chw = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
        hwc = chw.permute(1, 2, 0).contiguous().permute(2, 0, 1)  # as decode_image stores it
        crop = hwc[:, 1:, 2:]  # a crop view that is not contiguous in any layout
        for image in (chw, hwc, crop):
            want = TF.resize(
                image, list(size), interpolation=InterpolationMode.BILINEAR, antialias=True
            )
            got = resize_image(image, size)
            assert torch.equal(got, want)
            assert got.permute(1, 2, 0).is_contiguous()  # HWC-stored, as collate expects
    floats = torch.rand(3, 20, 20, generator=g)
    assert resize_image(floats, (10, 10)).shape == (3, 10, 10)
