"""A quality score for generators trained on the bundled digits (the Inception Score analogue).

Inception features mean nothing on 8x8 grey digits, so runs on the ``digits`` dataset are judged
by a logistic-regression digit classifier trained on scikit-learn's real digits: the score is
:math:`\\exp(\\mathbb{E}_x \\mathrm{KL}(p(y|x) \\,\\|\\, p(y)))` over generated images, exactly
the Inception Score's formula (Salimans et al., https://arxiv.org/abs/1606.03498) with that
classifier in place of Inception. Measured here: the 1797 real digits (the classifier's own
training data) score 7.5, an untrained generator about 1.05 (the ceiling is 10: confident and
evenly spread over the classes).

Generated images of any size are average-pooled to the classifier's 8x8 grid; they are expected
in [-1, 1] (the generators' tanh range).

For runs on MNIST (``digits`` with ``source: mnist``) pass ``judge="mnist"``: a logistic
regression on 14x14 average-pooled pixels fitted on the 1000 images of the MNIST-5k ``test``
split only, so it never saw the 4000 ``train`` images a GAN learns from (a held-out judge).
Measured: it classifies those 4000 unseen real digits with accuracy 0.87, and they score 5.8.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DigitsScore",
    "digits_classifier",
    "digits_score",
    "mnist_classifier",
    "score_digit_images",
]

_JUDGES = ("sklearn", "mnist")
#: Side of the pooled grid each judge reads.
_GRID = {"sklearn": 8, "mnist": 14}


@dataclass(frozen=True)
class DigitsScore:
    """The score and how many images the classifier put in each digit class."""

    score: float
    counts: tuple[int, ...]


@functools.lru_cache(maxsize=1)
def digits_classifier():
    """Logistic regression fitted on all 1797 real 8x8 digits (pixels scaled to [0, 1])."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    x = digits.images.reshape(len(digits.images), -1) / 16.0
    return LogisticRegression(max_iter=3000).fit(x, digits.target)


@functools.lru_cache(maxsize=1)
def mnist_classifier():
    """Logistic regression fitted on the 1000 MNIST-5k ``test`` images (14x14 pooled, [0, 1])."""
    from sklearn.linear_model import LogisticRegression

    from ..data.digits import Digits

    test = Digits(image_size=28, split="test", source="mnist")
    x = _pooled((test.images + 1) / 2, _GRID["mnist"])
    return LogisticRegression(max_iter=5000, C=1.0).fit(x, test.labels.numpy())


def _pooled(images: torch.Tensor, grid: int) -> np.ndarray:
    pooled = F.adaptive_avg_pool2d(images.float(), grid).reshape(len(images), -1)
    return pooled.clamp(0, 1).cpu().numpy()


def score_digit_images(images: torch.Tensor, judge: str = "sklearn") -> DigitsScore:
    """Score a batch of digit images ``[N, 1, H, W]`` in [0, 1] with the ``judge`` classifier."""
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"expected grey images [N, 1, H, W], got shape {tuple(images.shape)}")
    if judge not in _JUDGES:
        raise ValueError(f"judge: must be one of {list(_JUDGES)}, got {judge!r}")
    classifier = digits_classifier() if judge == "sklearn" else mnist_classifier()
    p = classifier.predict_proba(_pooled(images, _GRID[judge]))
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + 1e-12) - np.log(marginal + 1e-12))).sum(1)
    counts = np.bincount(p.argmax(1), minlength=10)
    return DigitsScore(float(np.exp(kl.mean())), tuple(int(c) for c in counts))


@torch.no_grad()
def digits_score(
    generator: nn.Module, num_images: int = 1000, seed: int = 0, judge: str = "sklearn"
) -> DigitsScore:
    """Score ``num_images`` samples of ``generator`` (eval mode, noise drawn from ``seed``)."""
    was_training = generator.training
    generator.eval()
    try:
        noise = torch.randn(
            num_images, generator.encoding_dims, generator=torch.Generator().manual_seed(seed)
        )
        device = next(generator.parameters()).device
        fake = generator(noise.to(device))
    finally:
        generator.train(was_training)
    return score_digit_images((fake + 1) / 2, judge=judge)
