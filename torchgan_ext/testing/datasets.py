"""A base class for dataset tests, in the style of torchvision's ``datasets_utils.DatasetTestCase``.

A subclass names the dataset (registry name or class), writes its fake data under ``tmp_path``
and declares what every item holds; the base class supplies the generic tests::

    import torch
    from torchgan_ext.testing import DatasetTestCase, write_celeba

    class TestCelebA(DatasetTestCase):
        DATASET_NAME = "celeba"
        EXPECTED_LENGTH = 4                               # the train split of 6 images
        FEATURE_TYPES = (torch.Tensor, torch.Tensor)      # (image, attribute labels)
        FEATURE_SHAPES = ((3, 8, 8), (2,))
        FEATURE_DTYPES = (torch.float32, torch.float32)

        def write_fake_data(self, root):
            fake = write_celeba(root, num_images=6, size=(22, 18))
            return {"root": str(fake.root), "attributes": ["Male", "Young"], "image_size": 8}

The generic tests: the dataset builds (and is the class registered under ``DATASET_NAME``), its
length is ``EXPECTED_LENGTH``, every item has the declared types, shapes and dtypes (float
tensors finite and, with ``VALUE_RANGE``, inside it), an index past the end raises
``IndexError``, it loads through a ``DataLoader`` with ``num_workers`` 0 and 2, and a missing
root directory is a clear error naming the path (set ``ROOT_ARG = None`` for datasets without a
root). Subclasses add their own specific tests next to these.

Importing this module does not import pytest (it is not a dependency of the package); the tests
import it when they run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError

__all__ = ["DatasetTestCase", "write_image_folder"]


def write_image_folder(
    root: str | os.PathLike,
    classes: Sequence[str] | None = ("a", "b"),
    per_class: int = 3,
    size: tuple[int, int] = (12, 10),
    seed: int = 0,
) -> Path:
    """Write a folder of small random RGB images (PNG and JPEG alternately).

    Args:
        root: The folder to create.
        classes: One subfolder per class; ``None`` writes the images into ``root`` itself.
        per_class: Images per class (or in total without classes).
        size: ``(height, width)``.
        seed: Seed of the pixel values.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    base = Path(root)
    rng = np.random.default_rng(seed)
    folders = [base / c for c in classes] if classes is not None else [base]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
            ext = "png" if i % 2 == 0 else "jpg"
            Image.fromarray(pixels).save(folder / f"{i:04d}.{ext}")
    return base


class DatasetTestCase:
    """Generic tests of one dataset; subclass it as ``Test<Name>`` (pytest collects it).

    Class attributes to set:
        DATASET_NAME: Registry name in :data:`torchgan_ext.DATASETS` (or set
            ``DATASET_CLASS``).
        DATASET_CLASS: The dataset class (default: the class registered as ``DATASET_NAME``).
        EXPECTED_LENGTH: ``len(dataset)`` for the fake data.
        FEATURE_TYPES: Type of each element of an item; one type means the item is that object
            itself (not a 1-tuple).
        FEATURE_SHAPES: Shape of each tensor element (``None`` entries are not checked).
        FEATURE_DTYPES: dtype of each tensor element (``None`` entries are not checked).
        VALUE_RANGE: ``(low, high)`` every floating-point element lies in (``None``: only
            finiteness is checked). Default ``(-1, 1)``, the GAN image range.
        ROOT_ARG: Constructor argument naming the data directory (``None``: no such argument,
            the missing-root test is skipped).
        BATCH_SIZE: Batch size of the DataLoader tests (items must collate).
        MISSING_ROOT_ERRORS: Exceptions accepted for a missing root.

    Method to implement:
        write_fake_data(root): Write the fake data below ``root`` (a fresh ``tmp_path``) and
        return the constructor arguments.
    """

    DATASET_NAME: str | None = None
    DATASET_CLASS: type | None = None
    EXPECTED_LENGTH: int
    FEATURE_TYPES: tuple[type, ...]
    FEATURE_SHAPES: tuple[tuple[int, ...] | None, ...] | None = None
    FEATURE_DTYPES: tuple[torch.dtype | None, ...] | None = None
    VALUE_RANGE: tuple[float, float] | None = (-1.0, 1.0)
    ROOT_ARG: str | None = "root"
    BATCH_SIZE: int = 2
    MISSING_ROOT_ERRORS: tuple[type[BaseException], ...] = (
        ValueError,
        FileNotFoundError,
        ConfigError,
    )

    # -- to implement ------------------------------------------------------------------------
    def write_fake_data(self, root: Path) -> dict[str, Any]:
        """Write the fake data under ``root``; return the constructor arguments."""
        raise NotImplementedError(f"{type(self).__name__} must implement write_fake_data")

    # -- helpers -----------------------------------------------------------------------------
    def dataset_class(self) -> type:
        if self.DATASET_CLASS is not None:
            return self.DATASET_CLASS
        if self.DATASET_NAME is None:
            raise TypeError(f"{type(self).__name__} sets neither DATASET_NAME nor DATASET_CLASS")
        from .._registry import DATASETS

        return DATASETS.get(self.DATASET_NAME)

    def create_dataset(self, root: Path, **overrides: Any) -> Dataset:
        """Write the fake data under ``root`` and build the dataset (``overrides`` win)."""
        args = {**self.write_fake_data(root), **overrides}
        return self.dataset_class()(**args)

    def check_item(self, item: Any, where: str = "item") -> None:
        """Assert that ``item`` has the declared types, shapes, dtypes and value range."""
        types = self.FEATURE_TYPES
        if len(types) == 1:
            elements = (item,)
        else:
            assert isinstance(item, tuple | list), (
                f"{where}: expected a tuple of {len(types)} elements, got {type(item).__name__}"
            )
            assert len(item) == len(types), f"{where}: {len(item)} elements, expected {len(types)}"
            elements = tuple(item)
        shapes = self.FEATURE_SHAPES or (None,) * len(types)
        dtypes = self.FEATURE_DTYPES or (None,) * len(types)
        for i, (element, kind) in enumerate(zip(elements, types, strict=True)):
            label = f"{where}[{i}]" if len(types) > 1 else where
            assert isinstance(element, kind), (
                f"{label}: expected {kind.__name__}, got {type(element).__name__}"
            )
            if not isinstance(element, torch.Tensor):
                continue
            if shapes[i] is not None:
                assert tuple(element.shape) == tuple(shapes[i]), (
                    f"{label}: shape {tuple(element.shape)}, expected {tuple(shapes[i])}"
                )
            if dtypes[i] is not None:
                assert element.dtype == dtypes[i], (
                    f"{label}: dtype {element.dtype}, expected {dtypes[i]}"
                )
            if element.is_floating_point():
                assert torch.isfinite(element).all(), f"{label}: non-finite values"
                if self.VALUE_RANGE is not None:
                    low, high = self.VALUE_RANGE
                    lo, hi = float(element.min()), float(element.max())
                    assert low <= lo and hi <= high, (
                        f"{label}: values in [{lo}, {hi}], expected within [{low}, {high}]"
                    )

    # -- the generic tests -------------------------------------------------------------------
    def test_builds(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        assert isinstance(dataset, self.dataset_class())
        if self.DATASET_NAME is not None:
            from .._registry import DATASETS

            assert DATASETS.get(self.DATASET_NAME) is type(dataset)

    def test_len(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        assert len(dataset) == self.EXPECTED_LENGTH

    def test_every_item_has_the_declared_features(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        assert len(dataset) > 0
        for index in range(len(dataset)):
            self.check_item(dataset[index], f"item {index}")

    def test_index_past_the_end_raises_index_error(self, tmp_path):
        import pytest

        dataset = self.create_dataset(tmp_path)
        with pytest.raises(IndexError):
            dataset[len(dataset)]
        with pytest.raises(IndexError):
            dataset[len(dataset) + 7]

    def test_data_loader_with_0_and_2_workers(self, tmp_path):
        dataset = self.create_dataset(tmp_path)
        for num_workers in (0, 2):
            loader = DataLoader(
                dataset, batch_size=self.BATCH_SIZE, num_workers=num_workers, shuffle=False
            )
            seen = 0
            for batch in loader:
                single = len(self.FEATURE_TYPES) == 1
                n = len(batch) if single else len(batch[0])
                for i in range(n):
                    if single:
                        item = batch[i]
                    else:
                        item = tuple(element[i] for element in batch)
                    self.check_item(item, f"num_workers={num_workers}: batch item {seen + i}")
                seen += n
            assert seen == len(dataset), f"num_workers={num_workers}: {seen} items loaded"

    def test_missing_root_is_a_clear_error(self, tmp_path):
        import pytest

        if self.ROOT_ARG is None:
            pytest.skip(f"{self.DATASET_NAME or self.DATASET_CLASS} takes no root directory")
        missing = tmp_path / "no_such_directory"
        args = self.write_fake_data(tmp_path / "data")
        args[self.ROOT_ARG] = str(missing)
        with pytest.raises(self.MISSING_ROOT_ERRORS) as info:
            self.dataset_class()(**args)
        assert str(missing) in str(info.value), f"the message does not name {missing}: {info.value}"
