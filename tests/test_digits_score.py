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


def test_mnist_judge_is_held_out_and_scores_real_digits_high():
    from torchgan_ext.data.digits import Digits

    train = Digits(image_size=28, split="train", source="mnist")  # never seen by the judge
    result = score_digit_images((train.images + 1) / 2, judge="mnist")
    assert 5.0 < result.score <= 10.0
    assert min(result.counts) > 300  # 400 per class, accuracy ~0.87
    collapsed = score_digit_images((train.images[:1].repeat(100, 1, 1, 1) + 1) / 2, judge="mnist")
    assert collapsed.score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="judge: must be one of"):
        score_digit_images(torch.zeros(2, 1, 8, 8), judge="imagenet")


def test_mnist_source_splits_are_disjoint_balanced_and_limited():
    from torchgan_ext.data.digits import Digits

    train = Digits(image_size=28, split="train", source="mnist")
    test = Digits(image_size=28, split="test", source="mnist")
    assert (len(train), len(test)) == (4000, 1000)
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert train.images.shape[1:] == (1, 28, 28) and train.images.min() >= -1
    flat_train = {tuple(x.flatten().tolist()) for x in train.images[::40]}
    assert not any(tuple(x.flatten().tolist()) in flat_train for x in test.images)
    small = Digits(image_size=32, split="train", source="mnist", limit=25)
    assert len(small) == 25 and small.images.shape[-1] == 32
    assert torch.bincount(small.labels, minlength=10).tolist() == [3] * 5 + [2] * 5
    with pytest.raises(ValueError, match="source"):
        Digits(source="emnist")
