"""The photographs bundled with scikit-image, as a small offline image dataset.

``skimage.data`` ships a few real photographs inside the scikit-image wheel (no download), e.g.
``astronaut`` (512x512), ``coffee`` (400x600), ``chelsea`` (a cat, 300x451), ``rocket``
(427x640), ``hubble_deep_field`` (872x1000) and ``retina`` (1411x1411). They are enough to
train and check a small super-resolution model on a CPU with no data directory:

.. code-block:: yaml

    data:
      name: super_resolution
      args:
        dataset: {name: skimage_photos, args: {photos: [astronaut, coffee, rocket]}}
        scale: 4
      val: {args: {dataset: {name: skimage_photos, args: {photos: [chelsea]}}, crop: none}}

``skimage.data.cat`` is the same picture as ``chelsea`` and is therefore not offered (a
"held-back" ``chelsea`` must not appear in training under another name).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .._validation import close_matches

__all__ = ["SkimagePhotos", "PHOTOS"]

#: Photographs of ``skimage.data`` (name -> what it shows); colour unless marked grey.
PHOTOS = {
    "astronaut": "Eileen Collins, colour, 512x512",
    "brick": "a brick wall, grey, 512x512",
    "camera": "the cameraman, grey, 512x512",
    "chelsea": "Chelsea the cat, colour, 300x451",
    "clock": "a wall clock (motion blur), grey, 300x400",
    "coffee": "a cup of coffee, colour, 400x600",
    "coins": "Greek coins, grey, 303x384",
    "grass": "grass, grey, 512x512",
    "gravel": "gravel, grey, 512x512",
    "hubble_deep_field": "the Hubble eXtreme Deep Field, colour, 872x1000",
    "immunohistochemistry": "a stained tissue section, colour, 512x512",
    "moon": "the lunar surface, grey, 512x512",
    "page": "a scanned page of text, grey, 191x384",
    "retina": "a human retina, colour, 1411x1411",
    "rocket": "a rocket launch, colour, 427x640",
    "text": "photographed text, grey, 172x448",
}


def load_photo(name: str, channels: int = 3) -> torch.Tensor:
    """One bundled photo as a ``[channels, H, W]`` float tensor in [-1, 1].

    Grey photos are repeated to 3 channels; colour photos are converted to grey (BT.601
    luma) for ``channels: 1``.
    """
    import skimage.data

    array = np.asarray(getattr(skimage.data, name)())
    image = torch.from_numpy(array.astype(np.float32) / 127.5 - 1.0)
    image = image.unsqueeze(0) if image.dim() == 2 else image.permute(2, 0, 1)[:3]
    if channels == 3 and image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    elif channels == 1 and image.shape[0] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        image = (image * weights).sum(0, keepdim=True)
    return image.contiguous()


class SkimagePhotos(Dataset):
    """Whole photographs from ``skimage.data``, one item per photo (bundled, offline).

    Meant as the source of ``super_resolution`` (``dataset: {name: skimage_photos, ...}``),
    which cuts the crops and makes the low-resolution inputs.

    Args:
        photos: Names from :data:`PHOTOS`, in this order (default: the six colour photos
            astronaut, coffee, chelsea, rocket, hubble_deep_field, retina).
        channels: 3 (grey photos repeated) or 1 (colour photos converted to luma).

    Yields:
        ``[channels, H, W]`` float tensors in [-1, 1] (sizes differ between photos). The
        tensors are held in memory and returned as they are: do not modify them in place.

    Attributes:
        channels: As given. ``image_size``: ``None`` (the photos differ in size).
        names: The photo names, by index.
    """

    image_size = None

    def __init__(
        self,
        photos: Sequence[str] = (
            "astronaut",
            "coffee",
            "chelsea",
            "rocket",
            "hubble_deep_field",
            "retina",
        ),
        channels: int = 3,
    ) -> None:
        if isinstance(photos, str) or not isinstance(photos, Sequence) or not photos:
            raise TypeError(
                f"photos: must be a non-empty list of names, got {photos!r}; valid: "
                f"{', '.join(PHOTOS)}"
            )
        for i, name in enumerate(photos):
            if name not in PHOTOS:
                hint = close_matches(name, PHOTOS)
                if name == "cat":
                    hint = "'cat' is the same picture as 'chelsea'; use 'chelsea'"
                raise ValueError(f"photos.{i}: unknown skimage photo {name!r}; {hint}")
        if len(set(photos)) != len(photos):
            raise ValueError(f"photos: lists a name twice: {list(photos)}")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels: must be 1 or 3, got {channels!r}")
        self.names = list(photos)
        self.channels = channels
        self.images = [load_photo(name, channels) for name in self.names]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]
