"""torchgan's standard losses, trained without a host sync; its gradient penalties made per-sample.

Minimax, least-squares and Wasserstein losses: the same losses (``forward``, constructor
arguments and defaults are torchgan's own); only the training step differs: it comes from
:mod:`torchgan_ext.losses.train_ops`, which returns the detached loss instead of calling
``.item()`` on every generator and discriminator step.

WGAN-GP and DRAGAN penalties: torchgan 0.1.0 takes one gradient norm over the whole batch
(:math:`(\\lVert \\nabla \\sum_i D(\\hat x_i) \\rVert_2 - 1)^2`, which is :math:`(\\sqrt B - 1)^2`
for a critic with unit gradient at every sample) and one interpolation coefficient per batch.
The classes here take the papers' per-sample norms (and, for WGAN-GP, one coefficient per
sample), never back-propagate the penalty into the generator, and return a detached tensor.

These are the classes registered as ``minimax_generator``, ``least_squares_discriminator``,
``wasserstein_gradient_penalty``, ... .
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torchgan import losses as tl
from torchgan import models as tgm

from .penalty import interpolate, sample_gradient_penalty
from .train_ops import (
    DiscriminatorStep,
    GeneratorStep,
    check_labels,
    generate,
    judge,
    labels_for,
    validate_labels,
)

__all__ = [
    "MinimaxGeneratorLoss",
    "MinimaxDiscriminatorLoss",
    "LeastSquaresGeneratorLoss",
    "LeastSquaresDiscriminatorLoss",
    "WassersteinGeneratorLoss",
    "WassersteinDiscriminatorLoss",
    "WassersteinGradientPenalty",
    "DraganGradientPenalty",
    "MutualInformationPenalty",
    "AuxiliaryClassifierGeneratorLoss",
    "AuxiliaryClassifierDiscriminatorLoss",
    "EnergyBasedGeneratorLoss",
    "EnergyBasedDiscriminatorLoss",
    "EnergyBasedPullingAwayTerm",
    "FeatureMatchingGeneratorLoss",
]


class MinimaxGeneratorLoss(GeneratorStep, tl.MinimaxGeneratorLoss):
    """Generator loss of the original GAN (`Goodfellow et al. <https://arxiv.org/abs/1406.2661>`_).

    With ``nonsaturating=True`` (torchgan's default) and discriminator logits :math:`D`:

    .. math:: L_G = -\\mathbb{E}_z\\big[\\log \\sigma(D(G(z)))\\big]

    and :math:`\\mathbb{E}_z[\\log(1 - \\sigma(D(G(z))))]` with ``nonsaturating=False``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        nonsaturating: Use the non-saturating form.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class MinimaxDiscriminatorLoss(DiscriminatorStep, tl.MinimaxDiscriminatorLoss):
    """Discriminator loss of the original GAN (`Goodfellow et al. <https://arxiv.org/abs/1406.2661>`_).

    .. math::
        L_D = -\\mathbb{E}_x\\big[\\log \\sigma(D(x))\\big]
              - \\mathbb{E}_z\\big[\\log(1 - \\sigma(D(G(z))))\\big]

    Args:
        label_smoothing: Target for real images is ``1 - label_smoothing``.
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class LeastSquaresGeneratorLoss(GeneratorStep, tl.LeastSquaresGeneratorLoss):
    """Least-squares GAN generator loss (`Mao et al. <https://arxiv.org/abs/1611.04076>`_).

    .. math:: L_G = \\tfrac{1}{2}\\,\\mathbb{E}_z\\big[(D(G(z)) - c)^2\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        c: The target value :math:`c` the generator wants the discriminator to output.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class LeastSquaresDiscriminatorLoss(DiscriminatorStep, tl.LeastSquaresDiscriminatorLoss):
    """Least-squares GAN discriminator loss (`Mao et al. <https://arxiv.org/abs/1611.04076>`_).

    .. math::
        L_D = \\tfrac{1}{2}\\,\\mathbb{E}_x\\big[(D(x) - b)^2\\big]
              + \\tfrac{1}{2}\\,\\mathbb{E}_z\\big[(D(G(z)) - a)^2\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        a: Target for generated images.
        b: Target for real images.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class WassersteinGeneratorLoss(GeneratorStep, tl.WassersteinGeneratorLoss):
    """Wasserstein GAN generator loss (`Arjovsky et al. <https://arxiv.org/abs/1701.07875>`_).

    .. math:: L_G = -\\mathbb{E}_z\\big[D(G(z))\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """


class WassersteinDiscriminatorLoss(DiscriminatorStep, tl.WassersteinDiscriminatorLoss):
    """Wasserstein GAN critic loss (`Arjovsky et al. <https://arxiv.org/abs/1701.07875>`_).

    .. math:: L_D = \\mathbb{E}_z\\big[D(G(z))\\big] - \\mathbb{E}_x\\big[D(x)\\big]

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        clip: ``(low, high)``: the critic's weights are clamped to this range before every
            critic step (the paper's weight clipping, as torchgan does it), or ``None``.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook;
            called without the loss, as torchgan calls it for this class).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Clamp the critic's weights to ``clip`` (when set), then one critic step."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        if self.clip is not None:
            with torch.no_grad():
                for p in discriminator.parameters():
                    p.clamp_(self.clip[0], self.clip[1])
        return super().train_ops(
            generator, discriminator, optimizer_discriminator, real_inputs, device, labels
        )


class _PenaltyStep:
    """Mixin: one discriminator step on ``lambd`` times the per-sample penalty at ``_points``.

    Subclasses define ``_points`` (where the gradient is penalised, and the labels the
    discriminator judges them with) and ``_center`` (the target norm).
    """

    def forward(self, interpolate: torch.Tensor, d_interpolate: torch.Tensor) -> torch.Tensor:
        """The penalty at ``interpolate`` (``requires_grad``), outputs ``d_interpolate``."""
        return sample_gradient_penalty(interpolate, d_interpolate, self._center(), self.reduction)

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels."""
        validate_labels(trainer, judge_real=False)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step on the weighted penalty; returns the detached penalty."""
        if self.override_train_ops is not None:  # torchgan calls this hook without ``device``
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, labels
            )
        with torch.no_grad():
            points, judge_labels = self._points(generator, discriminator, real_inputs, labels)
        points.requires_grad_(True)
        optimizer_discriminator.zero_grad(set_to_none=True)
        loss = self.forward(points, judge(discriminator, points, judge_labels))
        (self.lambd * loss).backward()
        optimizer_discriminator.step()
        return loss.detach()


class WassersteinGradientPenalty(_PenaltyStep, tl.WassersteinGradientPenalty):
    """WGAN-GP gradient penalty, per sample (`Gulrajani et al. <https://arxiv.org/abs/1704.00028>`_).

    .. math::
        \\hat x_i = \\epsilon_i x_i + (1 - \\epsilon_i) G(z_i), \\quad \\epsilon_i \\sim U[0, 1]

        L_{gp} = \\lambda\\, \\frac{1}{B} \\sum_i
            \\big(\\lVert \\nabla_{\\hat x_i} D(\\hat x_i) \\rVert_2 - 1\\big)^2

    A separate critic step, as in torchgan (combine it with ``wasserstein_discriminator``). The
    samples must be scored independently for per-sample gradients: the paper's critic has no
    batch norm (torchgan's DCGAN discriminator has; use layer or instance norm).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda` (paper: 10).
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def _center(self) -> float:
        return 1.0

    def _points(
        self, generator: Any, discriminator: Any, real: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch_size = real.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=real.device)
        g_labels, fake_labels = labels_for(
            generator, discriminator, labels, batch_size, real.device, judge_real=False
        )
        fake = generate(generator, noise, g_labels)
        eps = torch.rand(batch_size, device=real.device, dtype=real.dtype)
        return interpolate(real, fake, eps), fake_labels


class DraganGradientPenalty(_PenaltyStep, tl.DraganGradientPenalty):
    """DRAGAN gradient penalty around the real data, per sample (`Kodali et al.
    <https://arxiv.org/abs/1705.07215>`_).

    .. math::
        x^p_i = x_i + (1 - \\alpha_i) \\odot \\tfrac12\\, \\mathrm{std}(x)\\, \\beta_i, \\quad
        \\alpha, \\beta \\sim U[0, 1]^{\\text{elementwise}}

        L = \\lambda\\, \\frac{1}{B} \\sum_i
            \\big(\\lVert \\nabla_{x^p_i} D(x^p_i) \\rVert_2 - k\\big)^2

    The perturbation is torchgan's; the norm is taken per sample. Samples must be scored
    independently (no batch norm in the discriminator).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda`.
        k: :math:`k`, the target norm.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def _center(self) -> float:
        return float(self.k)

    def _points(
        self, generator: Any, discriminator: Any, real: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        alpha = torch.rand_like(real)
        beta = torch.rand_like(real)
        _, judge_labels = labels_for(
            generator, discriminator, labels, real.size(0), real.device, judge_real=False
        )
        return real + (1 - alpha) * 0.5 * real.std() * beta, judge_labels


class MutualInformationPenalty(tl.MutualInformationPenalty):
    """InfoGAN's mutual-information term (`Chen et al. <https://arxiv.org/abs/1606.03657>`_).

    .. math::
        L_I = -\\lambda\\, \\mathbb{E}_{c, z}\\big[\\log Q(c_{dis} \\mid G(z, c))
              + \\log Q(c_{cont} \\mid G(z, c))\\big]

    torchgan's loss and step (it trains the generator and the Q head together); the step
    returns the detached weighted loss instead of calling ``.item()``. The codes ``dis_code``
    and ``cont_code`` come from the generator's ``training_codes`` hook
    (:mod:`torchgan_ext.models.infogan`).

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        lambd: :math:`\\lambda`.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        optimizer_discriminator: torch.optim.Optimizer,
        dis_code: torch.Tensor,
        cont_code: torch.Tensor,
        device: Any,
        batch_size: int,
    ) -> torch.Tensor:
        """One joint step of the generator and the discriminator's Q head."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator,
                discriminator,
                optimizer_generator,
                optimizer_discriminator,
                dis_code,
                cont_code,
                device,
                batch_size,
            )
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_discriminator.zero_grad(set_to_none=True)
        optimizer_generator.zero_grad(set_to_none=True)
        _, dist_dis, dist_cont = discriminator(generator(noise, dis_code, cont_code), True)
        weighted = self.lambd * self.forward(dis_code, cont_code, dist_dis, dist_cont)
        weighted.backward()
        optimizer_discriminator.step()
        optimizer_generator.step()
        return weighted.detach()


def _acgan_check(generator: Any, has_labels: bool, need_labels: bool, name: str) -> None:
    """``ValueError`` unless the generator is conditional and the needed labels are there."""
    g_type = getattr(generator, "label_type", "none")
    if g_type == "none":
        raise ValueError(
            f"{name} needs a conditional generator (label_type 'required' or 'generated', "
            "e.g. acgan_generator)"
        )
    if not has_labels and (need_labels or g_type == "required"):
        raise ValueError(f"{name} needs the batch's class labels; use a dataset that yields them")


def _acgan_targets(
    generator: Any, labels: torch.Tensor | None, batch_size: int, device: Any
) -> torch.Tensor:
    """The classes the generator draws: the batch's, or uniform ones (``"generated"``)."""
    if generator.label_type == "required":
        return labels
    return torch.randint(0, generator.num_classes, (batch_size,), device=device)


class _ACGANCheck:
    """Mixin: check before training that the run suits an ACGAN class term."""

    _name: str
    _needs_batch_labels: bool

    def validate(self, trainer: Any) -> None:
        """Called before training: a conditional generator, and labels when needed."""
        generator = getattr(trainer, "generator", None)
        if generator is not None:
            has_labels = trainer.labels is not None
            _acgan_check(generator, has_labels, self._needs_batch_labels, self._name)


class AuxiliaryClassifierGeneratorLoss(_ACGANCheck, tl.AuxiliaryClassifierGeneratorLoss):
    """ACGAN's class term for the generator (`Odena et al. <https://arxiv.org/abs/1610.09585>`_).

    .. math:: L_G^{cls} = -\\mathbb{E}_{z, c}\\big[\\log P(C = c \\mid G(z, c))\\big]

    torchgan's loss and step (combine with an adversarial loss such as ``minimax_generator``);
    the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    _name = "auxiliary_classifier_generator"
    _needs_batch_labels = False

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step on the class term; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        _acgan_check(generator, labels is not None, False, "auxiliary_classifier_generator")
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        targets = _acgan_targets(generator, labels, batch_size, device)
        logits = discriminator(generator(noise, targets), mode="classifier")
        loss = self.forward(logits, targets)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class AuxiliaryClassifierDiscriminatorLoss(_ACGANCheck, tl.AuxiliaryClassifierDiscriminatorLoss):
    """ACGAN's class term for the discriminator (`Odena et al. <https://arxiv.org/abs/1610.09585>`_).

    .. math::
        L_D^{cls} = -\\mathbb{E}_{x, c}\\big[\\log P(C = c \\mid x)\\big]
                    - \\mathbb{E}_{z, c}\\big[\\log P(C = c \\mid G(z, c))\\big]

    torchgan's loss and step (the generator's forward runs without building a graph); the step
    returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    _name = "auxiliary_classifier_discriminator"
    _needs_batch_labels = True

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step on the class term; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        _acgan_check(generator, labels is not None, True, "auxiliary_classifier_discriminator")
        batch_size = real_inputs.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_discriminator.zero_grad(set_to_none=True)
        real_logits = discriminator(real_inputs, mode="classifier")
        targets = _acgan_targets(generator, labels, batch_size, device)
        with torch.no_grad():
            fake = generator(noise, targets)
        loss = self.forward(discriminator(fake, mode="classifier"), targets)
        loss = loss + self.forward(real_logits, labels)
        loss.backward()
        optimizer_discriminator.step()
        return loss.detach()


@contextlib.contextmanager
def _scores_only(discriminator: Any) -> Iterator[None]:
    """An auto-encoding discriminator returns only its score inside (torchgan's EBGAN steps)."""
    if not isinstance(discriminator, tgm.AutoEncodingDiscriminator):
        yield
        return
    embeddings = discriminator.embeddings
    discriminator.embeddings = False
    try:
        yield
    finally:
        discriminator.embeddings = embeddings


class EnergyBasedGeneratorLoss(tl.EnergyBasedGeneratorLoss):
    """EBGAN generator loss (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math:: L_G = D(G(z))

    where :math:`D` is the auto-encoder's reconstruction energy. torchgan's loss; the step
    returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        with _scores_only(discriminator):
            return GeneratorStep.train_ops(
                self, generator, discriminator, optimizer_generator, device, batch_size, labels
            )


class EnergyBasedDiscriminatorLoss(tl.EnergyBasedDiscriminatorLoss):
    """EBGAN discriminator loss (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math:: L_D = D(x) + \\max(0, m - D(G(z)))

    torchgan's loss; the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none`` over the batch.
        margin: :math:`m`.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator,
                discriminator,
                optimizer_discriminator,
                real_inputs,
                device,
                batch_size,
                labels,
            )
        with _scores_only(discriminator):
            return DiscriminatorStep.train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )


class EnergyBasedPullingAwayTerm(tl.EnergyBasedPullingAwayTerm):
    """EBGAN's pulling-away term (`Zhao et al. <https://arxiv.org/abs/1609.03126>`_).

    .. math::
        f_{PT} = \\frac{1}{N(N-1)} \\sum_i \\sum_{j \\ne i}
            \\Big(\\frac{S_i^\\top S_j}{\\lVert S_i \\rVert \\lVert S_j \\rVert}\\Big)^2

    over the encoder embeddings :math:`S` of generated images, scaled by ``pt_ratio``. torchgan's
    term; the step returns the detached loss instead of calling ``.item()``.

    Args:
        pt_ratio: Weight of the term.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    @staticmethod
    def _check(generator: Any, discriminator: Any) -> None:
        if not isinstance(discriminator, tgm.AutoEncodingDiscriminator) or not getattr(
            discriminator, "embeddings", False
        ):
            raise ValueError(
                "energy_based_pulling_away_term needs an autoencoding_discriminator with "
                "embeddings: true"
            )
        if getattr(generator, "label_type", "none") != "none":
            raise ValueError(
                "energy_based_pulling_away_term supports unconditional generators only"
            )

    def validate(self, trainer: Any) -> None:
        """Called before training: the models must suit the term."""
        if hasattr(trainer, "generator") and hasattr(trainer, "discriminator"):
            self._check(trainer.generator, trainer.discriminator)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step on the term; returns the detached loss."""
        if self.override_train_ops is not None:
            return super().train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        self._check(generator, discriminator)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        d_hid, dgz = discriminator(generator(noise))
        loss = self.forward(dgz, d_hid)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class FeatureMatchingGeneratorLoss(tl.FeatureMatchingGeneratorLoss):
    """Feature matching (`Salimans et al. <https://arxiv.org/abs/1606.03498>`_).

    .. math:: L_G = \\big\\lVert \\mathbb{E}_x f(x) - \\mathbb{E}_z f(G(z)) \\big\\rVert_2^2

    with :math:`f` the discriminator's intermediate features (``feature_matching=True``).
    torchgan's loss; the step returns the detached loss instead of calling ``.item()``.

    Args:
        reduction: ``mean``, ``sum`` or ``none``.
        override_train_ops: A function used instead of :meth:`train_ops` (torchgan's hook).
    """

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels."""
        validate_labels(trainer, judge_real=True)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss."""
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, labels
            )
        check_labels(generator, discriminator, labels is not None, judge_real=True)
        g_type = generator.label_type
        d_type = getattr(discriminator, "label_type", "none")
        batch_size = real_inputs.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        optimizer_generator.zero_grad(set_to_none=True)
        drawn = None
        if g_type == "generated":
            drawn = torch.randint(0, generator.num_classes, (batch_size,), device=device)
        fake = generate(generator, noise, {"none": None, "required": labels}.get(g_type, drawn))
        if d_type == "none":
            fx = discriminator(real_inputs, feature_matching=True)
            fgz = discriminator(fake, feature_matching=True)
        else:
            real_labels = drawn if d_type == "generated" else labels
            fx = discriminator(real_inputs, real_labels, feature_matching=True)
            fgz = discriminator(
                fake, drawn if g_type == "generated" else labels, feature_matching=True
            )
        loss = self.forward(fx, fgz)
        loss.backward()
        optimizer_generator.step()
        return loss.detach()
