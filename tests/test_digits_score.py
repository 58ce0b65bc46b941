"""The digit-classifier score used to judge generators trained on the bundled digits."""

import pytest
import torch
from sklearn.datasets import load_digits

from torchgan_ext._registry import MODELS
from torchgan_ext.testing import digits_score, score_digit_images


def _real_digits(size=None):
    d = load_digits()
    images = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size:
        images = torch.nn.functional.interpolate(images, size=size, mode="nearest")
    return images, d.target


def test_real_digits_score_high_and_cover_every_class():
    images, target = _real_digits()
    result = score_digit_images(images)
    assert 5.0 < result.score <= 10.0
    assert sum(result.counts) == len(images)
    assert min(result.counts) > 150  # 1797 digits, about 180 per class


def test_real_digits_upsampled_to_16_score_the_same_way():
    small = score_digit_images(_real_digits()[0])
    big = score_digit_images(_real_digits(16)[0])  # pooled back to 8x8 exactly
    assert big.score == pytest.approx(small.score, rel=1e-6)


def test_one_repeated_image_scores_one():
    images, _ = _real_digits()
    result = score_digit_images(images[:1].repeat(200, 1, 1, 1))
    assert result.score == pytest.approx(1.0, abs=1e-6)
    assert max(result.counts) == 200


def test_generator_score_restores_training_mode_and_rejects_colour():
    g = MODELS.get("dcgan_generator")(encoding_dims=8, out_size=16, out_channels=1, step_channels=4)
    g.train()
    result = digits_score(g, num_images=50, seed=1)
    assert g.training and 1.0 <= result.score <= 10.0 and sum(result.counts) == 50
    assert digits_score(g, num_images=50, seed=1) == result  # the seed fixes the noise
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        score_digit_images(torch.zeros(4, 3, 8, 8))
