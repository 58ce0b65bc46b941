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
)


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
