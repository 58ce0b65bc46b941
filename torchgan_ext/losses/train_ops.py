"""torchgan's standard adversarial training steps, without a host sync per step.

torchgan's ``GeneratorLoss.train_ops`` / ``DiscriminatorLoss.train_ops`` end with
``return loss.item()``: on CUDA every generator and every discriminator step waits until the
GPU has finished, so the host cannot queue the next step's kernels meanwhile. The mixins here
run the same steps and return the detached loss tensor instead; the Trainer reads loss values
only at the logging refresh. Differences from torchgan's steps, all on purpose:

* the generator's forward in the discriminator step runs under ``torch.no_grad()`` (torchgan
  builds its graph and then detaches the output: same values, less memory and time);
* gradients are zeroed with ``set_to_none=True``;
* a conditional model without batch labels raises a ``ValueError`` that says what to change.

Use them in front of the torchgan base class, whose ``forward`` they call::

    class MyGeneratorLoss(GeneratorStep, torchgan.losses.GeneratorLoss):
        def forward(self, dgz): ...

Conditional models follow torchgan's conventions: ``label_type="required"`` gets the batch's
labels, ``"generated"`` labels drawn uniformly from ``generator.num_classes``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch

__all__ = [
    "GeneratorStep",
    "DiscriminatorStep",
    "judged_reals",
    "least_squares_threshold",
    "backward_and_step",
    "frozen",
]


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """Parameters of ``module`` need no gradient inside (restored afterwards): a generator
    step through a discriminator computes no discriminator gradients."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def backward_and_step(
    loss: torch.Tensor, terms: Mapping[str, torch.Tensor], *optimizers: torch.optim.Optimizer
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The end of a custom ``train_ops``: backward ``loss``, step every optimizer, and return
    the detached loss and terms (for logging; no host synchronisation)."""
    loss.backward()
    for optimizer in optimizers:
        optimizer.step()
    return loss.detach(), {k: v.detach() for k, v in terms.items()}


def check_labels(generator: Any, discriminator: Any, has_labels: bool, judge_real: bool) -> None:
    """Raise ``ValueError`` when the models need the batch's labels and there are none.

    ``judge_real``: the discriminator also scores the real batch (with the batch's labels).
    """
    g_type = getattr(generator, "label_type", "none")
    d_type = getattr(discriminator, "label_type", "none")
    needs_batch_labels = (
        g_type == "required"
        or (d_type != "none" and g_type != "generated")
        or (judge_real and d_type != "none")
    )
    if needs_batch_labels and not has_labels:
        raise ValueError(
            "the models are conditional (label_type='required') but the batch has no labels; "
            "use a dataset that yields (images, labels)"
        )


def validate_labels(trainer: Any, judge_real: bool) -> None:
    """Before training: the run's models and first batch suit a standard step (``ValueError``)."""
    generator = getattr(trainer, "generator", None)
    discriminator = getattr(trainer, "discriminator", None)
    if generator is not None and discriminator is not None:
        check_labels(generator, discriminator, trainer.labels is not None, judge_real)


def labels_for(
    generator: Any,
    discriminator: Any,
    labels: torch.Tensor | None,
    batch_size: int,
    device: Any,
    judge_real: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Labels for the generator and for judging its output (torchgan's conventions).

    ``judge_real``: the discriminator also scores the real batch (with the batch's labels).
    """
    check_labels(generator, discriminator, labels is not None, judge_real)
    g_type = getattr(generator, "label_type", "none")
    d_type = getattr(discriminator, "label_type", "none")
    if g_type == "generated":
        fake_labels = torch.randint(0, generator.num_classes, (batch_size,), device=device)
    elif g_type == "required":
        fake_labels = labels
    else:
        fake_labels = labels if d_type != "none" else None
    g_labels = fake_labels if g_type != "none" else None
    return g_labels, fake_labels


def generate(generator: Any, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return generator(noise) if labels is None else generator(noise, labels)


def judge(discriminator: Any, images: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    if getattr(discriminator, "label_type", "none") == "none":
        return discriminator(images)
    return discriminator(images, labels)


def judged_reals(
    discriminator: Any, real_inputs: Any, labels: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """What ``discriminator`` judges as real in the batch ``(real_inputs, labels)``, and what
    it is conditioned on: ``D(images)`` or ``D(images, condition)``.

    * a translation discriminator with ``judges == "b"`` (CycleGAN's / DiscoGAN's ``D_B``,
      pix2pix's PatchGAN) judges the batch's second element, ``judges == "a"`` its first;
    * a ``conditional`` one (pix2pix's PatchGAN) is conditioned on the other element;
    * any other discriminator judges the first element, with the labels when its
      ``label_type`` is not ``"none"`` (torchgan's conventions).

    Raises:
        ValueError: The discriminator judges something made by its loss (``judges`` is neither
            ``"a"`` nor ``"b"``: the Context Encoder's region, SRGAN's high-resolution image),
            or a translation discriminator's batch is not a pair of image tensors.
    """
    judges = getattr(discriminator, "judges", None)
    if judges is None:
        conditioned = getattr(discriminator, "label_type", "none") != "none"
        return real_inputs, labels if conditioned else None
    if judges not in ("a", "b"):
        raise ValueError(
            f"model: {type(discriminator).__name__} judges {judges}, not an image of the "
            "batch as it is; supported: discriminators of the batch's images (also with "
            "labels), CycleGAN/DiscoGAN's and pix2pix's PatchGANs"
        )
    pair = (real_inputs, labels)
    if not all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in pair):
        raise ValueError(
            f"model: {type(discriminator).__name__} judges domain {judges!r} of image pairs, but "
            "the batch is not a pair of image tensors"
        )
    images, other = (labels, real_inputs) if judges == "b" else pair
    return images, other if getattr(discriminator, "conditional", False) else None


def least_squares_threshold(loss: Any) -> float | None:
    """The midpoint of the real and fake targets of a least-squares discriminator loss
    (``gan_mode: lsgan``, torchgan's ``LeastSquaresDiscriminatorLoss`` with ``a``, ``b``);
    ``None`` for other losses."""
    if getattr(loss, "gan_mode", None) == "lsgan":
        return 0.5  # targets 0 (fake) and 1 (real)
    a, b = getattr(loss, "a", None), getattr(loss, "b", None)
    if type(loss).__name__ == "LeastSquaresDiscriminatorLoss" and None not in (a, b):
        return (float(a) + float(b)) / 2
    return None


class GeneratorStep:
    """Mixin: torchgan's generator step, returning the detached loss (no ``.item()``)."""

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels."""
        validate_labels(trainer, judge_real=False)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_generator: torch.optim.Optimizer,
        device: Any,
        batch_size: int,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One generator step; returns the detached loss.

        Args:
            generator: The generator (``label_type`` ``none``, ``required`` or ``generated``).
            discriminator: The discriminator.
            optimizer_generator: The generator's optimizer.
            device: Where to draw the noise.
            batch_size: Number of images to generate.
            labels: The batch's labels (for conditional models).
        """
        if self.override_train_ops is not None:
            return self.override_train_ops(
                generator, discriminator, optimizer_generator, device, batch_size, labels
            )
        if labels is not None and labels.shape[0] != batch_size:
            batch_size = labels.shape[0]
        # noise first, then generated labels: torchgan's order, so a seed gives its numbers
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        g_labels, fake_labels = labels_for(
            generator, discriminator, labels, batch_size, device, judge_real=False
        )
        optimizer_generator.zero_grad(set_to_none=True)
        fake = generate(generator, noise, g_labels)
        loss = self.forward(judge(discriminator, fake, fake_labels))
        loss.backward()
        optimizer_generator.step()
        return loss.detach()


class DiscriminatorStep:
    """Mixin: torchgan's discriminator step, returning the detached loss (no ``.item()``)."""

    def validate(self, trainer: Any) -> None:
        """Called before training: conditional models need a dataset with labels."""
        validate_labels(trainer, judge_real=True)

    def train_ops(
        self,
        generator: Any,
        discriminator: Any,
        optimizer_discriminator: torch.optim.Optimizer,
        real_inputs: torch.Tensor,
        device: Any,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One discriminator step; returns the detached loss.

        Args:
            generator: The generator (``label_type`` ``none``, ``required`` or ``generated``).
            discriminator: The discriminator being trained.
            optimizer_discriminator: Its optimizer.
            real_inputs: A batch of real images.
            device: Where to draw the noise.
            labels: The batch's labels (for conditional models).
        """
        if self.override_train_ops is not None:
            return self.override_train_ops(
                self, generator, discriminator, optimizer_discriminator, real_inputs, device, labels
            )
        batch_size = real_inputs.size(0)
        noise = torch.randn(batch_size, generator.encoding_dims, device=device)
        g_labels, fake_labels = labels_for(
            generator, discriminator, labels, batch_size, device, judge_real=True
        )
        optimizer_discriminator.zero_grad(set_to_none=True)
        # real images are judged with their own labels; generated ones with the labels they
        # were generated for (the same labels unless the generator draws its own)
        dx = judge(discriminator, real_inputs, labels)
        with torch.no_grad():
            fake = generate(generator, noise, g_labels)
        loss = self.forward(dx, judge(discriminator, fake, fake_labels))
        loss.backward()
        optimizer_discriminator.step()
        return loss.detach()
