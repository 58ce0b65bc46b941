"""DiscoGAN losses: two GANs coupled by reconstruction (Kim et al., ICML 2017).

`DiscoGAN <https://arxiv.org/abs/1703.05192>`_ trains :math:`G_{AB}` (the run's ``generator``),
:math:`G_{BA}` (``generator_ba``), :math:`D_B` (``discriminator``) and :math:`D_A`
(``discriminator_a``) on unpaired batches :math:`(a, b)` (the trainer's ``real_inputs`` and
``labels``). The paper's generator loss (section 3.2) is, per direction, a GAN loss plus a
reconstruction loss :math:`L_{CONST}`; the authors' code (``image_translation.py``) splits the
GAN term into a non-saturating term and a feature-matching term and weighs it against the
reconstruction with a rate :math:`r` that starts small:

.. math::
    \\mathcal L_G = \\sum_{(x, G, F, D)} (1 - r)\\,\\big(\\lambda_{gan}\\, \\ell(D(G(x)), 1)
        + \\lambda_{fm}\\, \\mathcal L_{fm}\\big) + r\\, d(F(G(x)), x)

    \\mathcal L_{fm} = \\sum_k \\operatorname{mean}\\big(
        (\\mathbb E\\, \\phi_k(y) - \\mathbb E\\, \\phi_k(G(x)))^2\\big), \\quad
    \\mathcal L_D = \\sum_D \\tfrac12 \\big(\\ell(D(y), 1) + \\ell(D(G(x)), 0)\\big)

over the two directions :math:`(a, G_{AB}, G_{BA}, D_B)` and :math:`(b, G_{BA}, G_{AB}, D_A)`,
:math:`y` the real images of the judged domain, :math:`\\phi_k` the discriminator's
activations after its second, third and fourth layers (batch means), :math:`\\ell` binary
cross-entropy, :math:`d` the mean squared error measured in [0, 1] pixel units (the authors'
images are in [0, 1]; ours in [-1, 1], hence a factor 1/4), :math:`\\lambda_{gan} = 0.1`,
:math:`\\lambda_{fm} = 0.9`, :math:`r = 0.01` for the first 10000 iterations and 0.5 after.
The authors step the discriminators on every third iteration and the generators on the
others (``update_interval`` 3). Both losses count iterations in their state, so checkpoints
hold the schedule and ``--resume`` continues it.

``discogan_generator(lambda_fm=0, lambda_gan=1, starting_rate=0.5)`` is the paper's
:math:`L_{GAN} + L_{CONST}` per direction (halved).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchgan.losses import DiscriminatorLoss, GeneratorLoss

from .._validation import check_int, check_number
from .cyclegan import FourModelDiscriminatorStep, FourModelGeneratorStep
from .pix2pix import gan_criterion
from .train_ops import frozen

__all__ = ["DiscoGANGeneratorLoss", "DiscoGANDiscriminatorLoss", "feature_matching"]


def feature_matching(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """:math:`\\sum_k \\operatorname{mean}((\\mathbb E\\phi_k(y) - \\mathbb E\\phi_k(G(x)))^2)`
    (batch means of each layer's activations)."""
    terms = [(r.float().mean(0) - f.float().mean(0)).square().mean() for r, f in zip(real, fake)]
    return torch.stack(terms).sum()


def _features(discriminator: nn.Module, images: torch.Tensor):
    features = getattr(discriminator, "features", None)
    if not callable(features):
        raise ValueError(
            "discogan_generator needs discriminators that return their features "
            f"(features(x)), like discogan_discriminator; got {type(discriminator).__name__}"
        )
    return features(images)


class _Schedule:
    """An iteration counter kept in the state dict (the update interval and the rate)."""

    iteration: int
    update_interval: int
    _previous: torch.Tensor | None

    def _init_schedule(self, update_interval: int) -> None:
        self.update_interval = check_int(update_interval, "update_interval", minimum=1)
        self.iteration = 0
        self._previous = None
        self._last: dict[str, torch.Tensor] = {}

    def _skip(self, discriminator_turn: bool) -> bool:
        """Whether this iteration is not this loss's turn (then counted and skipped)."""
        k = self.update_interval
        d_turn = self.iteration % k == 0
        skip = k > 1 and d_turn != discriminator_turn
        if skip:
            self.iteration += 1
        return skip

    def _unchanged(self, like: torch.Tensor) -> torch.Tensor:
        return self._previous if self._previous is not None else like.new_zeros(())

    def get_extra_state(self) -> dict[str, Any]:
        return {"iteration": self.iteration}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])


class DiscoGANGeneratorLoss(_Schedule, FourModelGeneratorStep, GeneratorLoss):
    """DiscoGAN's loss of both generators (the authors' form, see the module docstring).

    Paper: https://arxiv.org/abs/1703.05192 (DiscoGAN, ICML 2017), section 3.2, eq. (2)-(5).

    Args:
        lambda_gan: Weight of the non-saturating GAN term inside the GAN part (0.1).
        lambda_fm: Weight of the feature-matching term inside the GAN part (0.9).
        starting_rate: :math:`r` for the first ``curriculum`` iterations (0.01).
        default_rate: :math:`r` afterwards (0.5).
        curriculum: Iterations at ``starting_rate`` (10000).
        update_interval: Generators step on the iterations the discriminators do not (3: two
            of every three); 1 steps both every iteration.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "discogan/g"
    loss_name = "discogan_generator"

    def __init__(
        self,
        lambda_gan: float = 0.1,
        lambda_fm: float = 0.9,
        starting_rate: float = 0.01,
        default_rate: float = 0.5,
        curriculum: int = 10000,
        update_interval: int = 3,
        override_train_ops: Any = None,
    ) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self.lambda_gan = float(check_number(lambda_gan, "lambda_gan"))
        self.lambda_fm = float(check_number(lambda_fm, "lambda_fm"))
        self.starting_rate = float(check_number(starting_rate, "starting_rate"))
        self.default_rate = float(check_number(default_rate, "default_rate"))
        if not (self.starting_rate <= 1 and self.default_rate <= 1):
            raise ValueError("starting_rate: the rates weigh reconstruction in [0, 1]")
        self.curriculum = check_int(curriculum, "curriculum")
        self._init_schedule(update_interval)

    def rate(self) -> float:
        """:math:`r` at the current iteration."""
        return self.starting_rate if self.iteration < self.curriculum else self.default_rate

    def _direction(self, x, y, forward, backward, judge) -> dict[str, torch.Tensor]:
        fake = forward(x)
        with frozen(judge):
            logits, fake_features = _features(judge, fake)
            with torch.no_grad():
                _, real_features = _features(judge, y)
        return {
            "gan": gan_criterion(logits, True),
            "fm": feature_matching(real_features, fake_features),
            "rec": ((backward(fake).float() - x.float()) / 2).square().mean(),
        }

    def step(self, generator, generator_ba, discriminator, discriminator_a, optimizers, a, b):
        """One step of both generators on ``(a, b)`` when it is their turn; returns the
        detached loss (the previous one on a skipped iteration)."""
        optimizer_generator, optimizer_generator_ba = optimizers
        if self._skip(discriminator_turn=False):
            return self._unchanged(a)
        rate = self.rate()
        optimizer_generator.zero_grad(set_to_none=True)
        optimizer_generator_ba.zero_grad(set_to_none=True)
        ab = self._direction(a, b, generator, generator_ba, discriminator)
        ba = self._direction(b, a, generator_ba, generator, discriminator_a)
        loss = a.new_zeros((), dtype=torch.float32)
        for terms in (ab, ba):
            adv = self.lambda_gan * terms["gan"] + self.lambda_fm * terms["fm"]
            loss = loss + (1.0 - rate) * adv + rate * terms["rec"]
        loss.backward()
        optimizer_generator.step()
        optimizer_generator_ba.step()
        self.iteration += 1
        self._last = {
            f"{k}_{d}": v.detach() for d, t in (("b", ab), ("a", ba)) for k, v in t.items()
        }
        self._previous = loss.detach()
        return self._previous


class DiscoGANDiscriminatorLoss(_Schedule, FourModelDiscriminatorStep, DiscriminatorLoss):
    """DiscoGAN's loss of both discriminators.

    .. math::
        \\mathcal L_D = \\tfrac12 \\big(\\ell(D_B(b), 1) + \\ell(D_B(G_{AB}(a)), 0)\\big)
            + \\tfrac12 \\big(\\ell(D_A(a), 1) + \\ell(D_A(G_{BA}(b)), 0)\\big)

    Paper: https://arxiv.org/abs/1703.05192 (DiscoGAN, ICML 2017), section 3.2.

    Args:
        update_interval: The discriminators step on every ``update_interval``-th iteration,
            from the first (3, the authors' code); 1 steps every iteration.
        override_train_ops: torchgan's hook to replace :meth:`train_ops`.
    """

    prefix = "discogan/d"
    loss_name = "discogan_discriminator"

    def __init__(self, update_interval: int = 3, override_train_ops: Any = None) -> None:
        super().__init__(reduction="mean", override_train_ops=override_train_ops)
        self._init_schedule(update_interval)

    def step(self, generator, generator_ba, discriminator, discriminator_a, optimizers, a, b):
        """One step of both discriminators when it is their turn; returns the detached loss
        (the previous one on a skipped iteration)."""
        optimizer_discriminator, optimizer_discriminator_a = optimizers
        if self._skip(discriminator_turn=True):
            return self._unchanged(a)
        with torch.no_grad():
            fake_b, fake_a = generator(a), generator_ba(b)
        optimizer_discriminator.zero_grad(set_to_none=True)
        optimizer_discriminator_a.zero_grad(set_to_none=True)
        terms = {
            "real_b": gan_criterion(discriminator(b), True),
            "fake_b": gan_criterion(discriminator(fake_b), False),
            "real_a": gan_criterion(discriminator_a(a), True),
            "fake_a": gan_criterion(discriminator_a(fake_a), False),
        }
        loss = 0.5 * sum(terms.values())
        loss.backward()
        optimizer_discriminator.step()
        optimizer_discriminator_a.step()
        self.iteration += 1
        self._last = {k: v.detach() for k, v in terms.items()}
        self._previous = loss.detach()
        return self._previous
