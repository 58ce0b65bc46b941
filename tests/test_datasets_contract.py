"""Every registered dataset through :class:`torchgan_ext.testing.DatasetTestCase`.

One subclass per dataset: it writes the on-disk fake (or uses the bundled data) and declares
the items; the base class runs the generic tests (builds, length, every item's types/shapes/
dtypes/range, IndexError past the end, DataLoader with 0 and 2 workers, missing root).
"""

from pathlib import Path

import torch

from torchgan_ext import DATASETS
from torchgan_ext.testing import (
    DatasetTestCase,
    write_celeba,
    write_cityscapes,
    write_image_folder,
    write_paired_images,
    write_unpaired_images,
)


def read_png(path: Path) -> torch.Tensor:
    """A PNG as float [-1, 1] ``[C, H, W]`` (the datasets' convention)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(pixels).permute(2, 0, 1) / 127.5 - 1


class TestDigits(DatasetTestCase):
    DATASET_NAME = "digits"
    ROOT_ARG = None  # bundled with scikit-learn
    EXPECTED_LENGTH = 297  # the test split
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (image, class)
    FEATURE_SHAPES = ((3, 8, 8), ())
    FEATURE_DTYPES = (torch.float32, torch.int64)
    BATCH_SIZE = 64

    def write_fake_data(self, root: Path) -> dict:
        return {"image_size": 8, "channels": 3, "split": "test"}

    def test_labels_are_the_ten_classes(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        labels = {int(dataset[i][1]) for i in range(len(dataset))}
        assert labels == set(range(10))


class TestCelebA(DatasetTestCase):
    DATASET_NAME = "celeba"
    EXPECTED_LENGTH = 4  # 6 images, partition 3:1:1 -> 4 train, 1 valid, 1 test
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (image, 0/1 attribute vector)
    FEATURE_SHAPES = ((3, 8, 8), (2,))
    FEATURE_DTYPES = (torch.float32, torch.float32)

    def write_fake_data(self, root: Path) -> dict:
        self.fake = write_celeba(root, num_images=6, size=(22, 18))
        return {
            "root": str(root),  # the parent of celeba/
            "attributes": ["Male", "Young"],
            "crop_size": 16,
            "image_size": 8,
        }

    def test_labels_are_the_files_rows(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        rows = self.fake.indices("train")
        for i, row in enumerate(rows):
            expected = self.fake.labels_of(row, ["Male", "Young"])
            assert dataset[i][1].tolist() == expected


class TestCityscapes(DatasetTestCase):
    DATASET_NAME = "cityscapes"
    EXPECTED_LENGTH = 4  # write_cityscapes' default train split
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (image, train-id map)
    FEATURE_SHAPES = ((3, 8, 8), (8, 8))
    FEATURE_DTYPES = (torch.float32, torch.int64)

    def write_fake_data(self, root: Path) -> dict:
        fake = write_cityscapes(root, size=(16, 32))
        return {"root": str(fake.root), "target": "train_ids", "crop_size": 8}

    def test_train_ids_are_classes_or_ignore(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        for i in range(len(dataset)):
            ids = dataset[i][1]
            assert bool(((ids >= 0) & (ids < 19) | (ids == 255)).all())


class TestSuperResolution(DatasetTestCase):
    DATASET_NAME = "super_resolution"
    EXPECTED_LENGTH = 6  # 3 images, repeats 2
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (lr, hr)
    FEATURE_SHAPES = ((3, 4, 4), (3, 8, 8))
    FEATURE_DTYPES = (torch.float32, torch.float32)

    def write_fake_data(self, root: Path) -> dict:
        folder = write_image_folder(root / "hr", classes=None, per_class=3, size=(12, 10))
        return {"root": str(folder), "scale": 2, "crop_size": 8, "repeats": 2}

    def test_lr_is_the_downscaled_hr(self, tmp_path):
        from torchgan_ext.data.super_resolution import bicubic_downscale

        dataset = self.create_dataset(tmp_path, flip=False)
        lr, hr = dataset[0]
        assert torch.equal(lr, bicubic_downscale(hr, 2))


class TestImageFolder(DatasetTestCase):
    DATASET_NAME = "image_folder"
    EXPECTED_LENGTH = 6  # two classes of 3
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (image, class index)
    FEATURE_SHAPES = ((3, 8, 8), ())
    FEATURE_DTYPES = (torch.float32, torch.int64)

    def write_fake_data(self, root: Path) -> dict:
        folder = write_image_folder(root / "images", classes=("cat", "dog"), per_class=3)
        return {"root": str(folder), "image_size": 8, "labels": True}

    def test_classes_from_the_folders(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        assert dataset.classes == ["cat", "dog"]
        assert [int(dataset[i][1]) for i in range(len(dataset))] == [0, 0, 0, 1, 1, 1]


class TestImageFolderUnlabelled(TestImageFolder):
    """Without ``labels`` an item is the image alone (a bare tensor, not a 1-tuple)."""

    FEATURE_TYPES = (torch.Tensor,)
    FEATURE_SHAPES = ((1, 8, 8),)
    FEATURE_DTYPES = (torch.float32,)

    def write_fake_data(self, root: Path) -> dict:
        return {**super().write_fake_data(root), "labels": False, "channels": 1}

    def test_classes_from_the_folders(self, tmp_path):
        assert self.create_dataset(tmp_path).classes is None


class TestSkimagePhotos(DatasetTestCase):
    DATASET_NAME = "skimage_photos"
    ROOT_ARG = None  # bundled with scikit-image
    EXPECTED_LENGTH = 2
    FEATURE_TYPES = (torch.Tensor,)  # the whole photo
    FEATURE_SHAPES = None  # photos differ in size: see test_whole_photos
    FEATURE_DTYPES = (torch.float32,)
    BATCH_SIZE = 1

    def write_fake_data(self, root: Path) -> dict:
        return {"photos": ["coins", "camera"], "channels": 1}

    def test_whole_photos(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        assert [tuple(dataset[i].shape) for i in range(2)] == [(1, 303, 384), (1, 512, 512)]


def test_every_registered_dataset_has_a_test_case():
    covered = {
        cls.DATASET_NAME
        for cls in globals().values()
        if isinstance(cls, type) and issubclass(cls, DatasetTestCase) and cls.DATASET_NAME
    }
    missing = sorted(set(DATASETS.list()) - covered)
    assert not missing, f"datasets without a DatasetTestCase subclass in {__file__}: {missing}"


class TestPairedImages(DatasetTestCase):
    DATASET_NAME = "paired_images"
    EXPECTED_LENGTH = 4  # write_paired_images' default train split
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (input A, target B)
    FEATURE_SHAPES = ((3, 8, 8), (3, 8, 8))
    FEATURE_DTYPES = (torch.float32, torch.float32)

    def write_fake_data(self, root: Path) -> dict:
        return {"root": str(write_paired_images(root, size=16)), "image_size": 8, "load_size": 12}

    def test_crop_and_flip_keep_the_halves_aligned(self, tmp_path):
        # B is A's negative: any misalignment of crop or flip breaks a + b == 0
        dataset = self.create_dataset(tmp_path, image_size=16, load_size=16)
        torch.manual_seed(0)
        for _ in range(3):
            for i in range(len(dataset)):
                a, b = dataset[i]
                assert torch.allclose(a + b, torch.zeros_like(a), atol=1e-6)

    def test_folders_layout_and_direction(self, tmp_path):
        root = write_paired_images(tmp_path / "f", {"val": 2}, size=16, layout="folders")
        dataset = DATASETS.get("paired_images")(
            root=str(root), split="val", layout="folders", image_size=16, direction="b2a"
        )
        a, b = dataset[1]
        expected_a = read_png(root / "B" / "val" / "0001.png")
        assert len(dataset) == 2 and torch.allclose(a, expected_a, atol=1e-6)
        assert torch.allclose(a + b, torch.zeros_like(a), atol=1e-6)


class TestUnpairedImages(DatasetTestCase):
    DATASET_NAME = "unpaired_images"
    EXPECTED_LENGTH = 5  # the larger domain (trainB)
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (image of A, image of B)
    FEATURE_SHAPES = ((3, 8, 8), (3, 8, 8))
    FEATURE_DTYPES = (torch.float32, torch.float32)

    def write_fake_data(self, root: Path) -> dict:
        return {"root": str(write_unpaired_images(root, size=16)), "image_size": 8}

    def test_each_side_comes_from_its_domain(self, tmp_path):
        # the fake's domain A is dark (< 128), domain B bright (>= 128)
        dataset = self.create_dataset(tmp_path)
        for i in range(len(dataset)):
            a, b = dataset[i]
            assert a.max() < 0.01 and b.min() >= 0.0


class TestCityscapesPairs(DatasetTestCase):
    DATASET_NAME = "cityscapes_pairs"
    EXPECTED_LENGTH = 4
    FEATURE_TYPES = (torch.Tensor, torch.Tensor)  # (one-hot label map, photo)
    FEATURE_SHAPES = ((19, 16, 16), (3, 16, 16))
    FEATURE_DTYPES = (torch.float32, torch.float32)

    def write_fake_data(self, root: Path) -> dict:
        self.fake = write_cityscapes(root, size=(32, 32))
        return {
            "root": str(self.fake.root),
            "label_format": "onehot",
            "image_size": 16,
            "load_size": 32,
        }

    def test_label_and_photo_share_crop_and_flip(self, tmp_path):
        # the fake photo's red channel is 7 * label id: the one-hot map must agree everywhere
        from torchgan_ext.data.cityscapes import label_ids_to_train_ids

        dataset = self.create_dataset(tmp_path)
        assert dataset.label_format == "onehot" and dataset.channels_a == 19
        torch.manual_seed(0)
        for i in range(len(dataset)):
            onehot, photo = dataset[i]
            ids = torch.round((photo[0] + 1) * 127.5 / 7).long()
            expected = label_ids_to_train_ids(ids)
            got = torch.where(onehot.sum(0) > 0, onehot.argmax(0), 255)
            assert torch.equal(got, expected)

    def test_color_format_is_the_palette(self, tmp_path):
        from torchgan_ext.data.cityscapes import label_ids_to_color

        dataset = self.create_dataset(tmp_path, label_format="color", load_size=16)
        assert dataset.label_format == "color" and dataset.channels_a == 3
        label, photo = dataset[0]
        ids = torch.round((photo[0] + 1) * 127.5 / 7).long()
        # squashed 32 -> 16 with nearest neighbours: colours stay pure palette entries
        colors = label_ids_to_color(torch.arange(34)[None, :])  # [3, 1, 34]
        palette = {tuple(c) for c in colors.flatten(1).T.tolist()}
        assert {tuple(c) for c in label.flatten(1).T.tolist()} <= palette
        assert ids.shape == label.shape[-2:]
