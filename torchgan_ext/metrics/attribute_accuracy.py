"""Attribute accuracy of translated images: StarGAN's classification protocol.

StarGAN (https://arxiv.org/abs/1711.09020, section 4.5) trains a classifier on the real images
of a dataset and reports how often it assigns translated images their *target* domain (RaFD:
2.12% error on translated images, 0.45% on real ones). Here every image :math:`x` of the
evaluation split, with labels :math:`c'`, is translated once per attribute :math:`j` to the
single-attribute flip :math:`c^{(j)}` (toggled, or set with its exclusive group cleared; the
columns of the sample grid, see :mod:`~torchgan_ext.models.attribute_labels`), and

.. math::
    \\mathrm{acc} = \\frac{1}{N c} \\sum_{n=1}^{N} \\sum_{j=1}^{c}
        \\mathbb 1\\big[\\hat y(G(x_n, c_n^{(j)})) = c_n^{(j)}\\big]

where :math:`\\hat y` are the classifier's 0/1 decisions (``logit > 0`` per attribute, or the
arg-max domain for exclusive domains) and equality means **all** attributes match.

:class:`AttributeAccuracy` takes the judge as an already built and *trained* ``nn.Module``
(e.g. an :class:`~torchgan_ext.models.AttributeClassifier` with its weights loaded), the
attribute names it was trained on and a description of where its weights came from; it never
builds or initialises a classifier itself, so it can never judge with random weights. Train one
with the shipped classifier configs (``configs/stargan_classifier_digits``, ``..._celeba``); in
a config file, the metric ``attribute_accuracy`` names the classifier's run directory and the
launcher loads the judge from it (``torchgan_ext/plugins/classifier_runs.py``).

``classifier_accuracy`` is the same measure for real images and the classifier being trained
in a classifier run (the model named ``classifier``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchgan.metrics import EvaluationMetric

from .._validation import check_bool, check_choice
from ..data._io import unit_range_batch
from ..losses.classification import predict_attributes
from ..losses.stargan import CLASSIFICATION_MODES
from ..models.attribute_labels import as_attribute_vector, flip_attribute, is_domain_index

__all__ = ["AttributeAccuracy", "ClassifierAccuracy", "REFERENCES"]

#: Values of ``reference``: the split the images come from.
REFERENCES = ("auto", "val", "train")


def _check_max_images(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"max_images: must be a positive integer or null, got {value!r}")
    if value < 1:
        raise ValueError(f"max_images: must be a positive integer or null, got {value!r}")
    return value


class _RealImagesMetric(EvaluationMetric):
    """Shared: the evaluation split and the batches of ``(images, labels)``."""

    name = ""

    def __init__(self, reference: str, max_images: int | None, classification: str) -> None:
        super().__init__()
        self.reference = check_choice(reference, "reference", REFERENCES, "reference")
        self.max_images = _check_max_images(max_images)
        self.classification = check_choice(
            classification, "classification", CLASSIFICATION_MODES, "classification"
        )
        self.last_result: dict[str, Any] = {}

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: ``reference: val`` needs a validation
        split (the trainer's ``val_loader``)."""
        if self.reference == "val" and getattr(trainer, "val_loader", None) is None:
            self.loader(None, None)  # raises the ValueError

    def loader(self, val_loader: DataLoader | None, data_loader: DataLoader | None) -> DataLoader:
        """The validation loader (``auto``/``val``) or the training set in file order.

        Raises:
            ValueError: ``reference: val`` without a validation loader, or no loader at all.
        """
        if self.reference in ("auto", "val") and val_loader is not None:
            return val_loader
        if self.reference == "val":
            raise ValueError(
                "reference: val needs a validation split but the run has no validation split "
                f"(metric {self.name!r}); add one (e.g. data.val: {{args: {{split: test}}}}) "
                "or use reference: train"
            )
        if data_loader is None:
            raise ValueError(f"metric {self.name!r} needs a data loader")
        return DataLoader(
            data_loader.dataset,
            batch_size=data_loader.batch_size or 64,
            shuffle=False,
            num_workers=data_loader.num_workers,
            collate_fn=data_loader.collate_fn,
            worker_init_fn=data_loader.worker_init_fn,
        )

    def batches(
        self, loader: Any, device: torch.device | str
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images, labels)`` on ``device``, at most ``max_images`` images in all; the data
        pipeline's randomness runs in a forked RNG (training's streams are untouched). ``uint8``
        image batches become float in [-1, 1], as the trainer's."""
        seen = 0
        devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            for batch in loader:
                if not isinstance(batch, tuple | list) or len(batch) < 2:
                    raise ValueError(
                        f"metric {self.name!r} needs a dataset yielding (image, labels)"
                    )
                x, labels = batch[0], batch[1]
                if self.max_images is not None:
                    keep = self.max_images - seen
                    if keep <= 0:
                        break
                    x, labels = x[:keep], labels[:keep]
                seen += x.size(0)
                yield unit_range_batch(x.to(device)), unit_range_batch(labels.to(device))
        if seen == 0:
            raise ValueError(f"metric {self.name!r}: the evaluation split is empty")

    def mode(self, labels: torch.Tensor) -> str:
        if self.classification != "auto":
            return self.classification
        return "ce" if is_domain_index(labels) else "bce"


class _TranslationMetric(_RealImagesMetric):
    """Shared: a trained judge scores a generator's translations of the evaluation split;
    ``use_ema`` evaluates the EMA generator when the run keeps one."""

    use_ema = True

    def check_generator(self, generator: nn.Module | None) -> nn.Module:
        raise NotImplementedError

    def evaluate(self, generator: nn.Module, loader: Any, device: torch.device | str) -> float:
        raise NotImplementedError

    def metric_ops(
        self,
        device: torch.device,
        generator: nn.Module | None = None,
        val_loader: DataLoader | None = None,
        data_loader: DataLoader | None = None,
        eval_generator: nn.Module | None = None,
    ) -> float:
        """Called by the trainer after each epoch (or every ``eval_every`` steps)."""
        gen = eval_generator if self.use_ema and eval_generator is not None else generator
        gen = self.check_generator(gen)
        return self.evaluate(gen, self.loader(val_loader, data_loader), device)


class AttributeAccuracy(_TranslationMetric):
    """Share of translated images a trained attribute classifier assigns their target labels.

    See the module docstring for the protocol. ``last_result`` (written to ``metrics.json``
    by ``--evaluate``) also holds the share per target column (``per_target``), the accuracy
    per attribute over all translations (``per_attribute``), the classifier's accuracy on the
    real images (``real_accuracy``, ``real_per_attribute``) and ``classifier_source``
    (``classifier``).

    Args:
        classifier: The judge: a *trained* module mapping images in [-1, 1] to one logit per
            attribute (or per domain), e.g. an
            :class:`~torchgan_ext.models.AttributeClassifier` with its weights loaded. It is
            put in eval mode and frozen; it is never initialised or trained here.
        classifier_attributes: The attribute names the classifier was trained on, in order;
            when given, they must equal the generator's ``attributes``.
        classifier_source: Where the weights came from (a checkpoint path), reported as
            ``last_result["classifier"]`` and in messages (default: the module's class name).
        reference: Images from ``val`` (the validation loader), ``train`` or ``auto`` (``val``
            when there is one).
        max_images: Translate at most this many images (each into ``c`` targets).
        classification: Decisions per attribute (``bce``: logit > 0), arg-max over exclusive
            domains (``ce``) or ``auto`` (``ce`` for domain-index labels).
        use_ema: Evaluate the EMA generator when the run keeps one.

    Raises:
        TypeError: ``classifier`` is not an ``nn.Module``, or a wrong option type.
        ValueError: An unknown ``reference`` / ``classification`` or a bad ``max_images``.

    Example:
        >>> from torchgan_ext.models import AttributeClassifier
        >>> clf = AttributeClassifier(c_dim=2, in_channels=1)  # load its trained weights here
        >>> metric = AttributeAccuracy(clf, classifier_attributes=["Male", "Young"])
        >>> metric.classifier_attributes, clf.training
        (['Male', 'Young'], False)
        >>> AttributeAccuracy(clf, reference="vall")
        Traceback (most recent call last):
        ...
        ValueError: reference: unknown reference 'vall'; did you mean 'val'?
    """

    name = "attribute_accuracy"

    def __init__(
        self,
        classifier: nn.Module,
        classifier_attributes: Sequence[str] | None = None,
        classifier_source: str | None = None,
        reference: str = "auto",
        max_images: int | None = 1000,
        classification: str = "auto",
        use_ema: bool = True,
    ) -> None:
        super().__init__(reference, max_images, classification)
        if not isinstance(classifier, nn.Module):
            raise TypeError(
                "classifier: expected a trained nn.Module (one logit per attribute), got "
                f"{type(classifier).__name__}"
            )
        if classifier_attributes is not None:
            if isinstance(classifier_attributes, str) or not isinstance(
                classifier_attributes, Sequence
            ):
                raise TypeError(
                    "classifier_attributes: expected a list of attribute names, got "
                    f"{classifier_attributes!r}"
                )
            classifier_attributes = list(classifier_attributes)
        self.classifier_attributes = classifier_attributes
        self.classifier_source = (
            str(classifier_source) if classifier_source is not None else type(classifier).__name__
        )
        self.use_ema = check_bool(use_ema, "use_ema")
        self._classifier: nn.Module | None = classifier.eval().requires_grad_(False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickling drops the network (a metric never carries a model along)."""
        state = dict(self.__dict__)
        state["_classifier"] = None
        return state

    # -- the judge ---------------------------------------------------------------------------
    @property
    def classifier(self) -> nn.Module:
        """The judge (in eval mode, frozen)."""
        if self._classifier is None:
            raise ValueError(
                f"the classifier ({self.classifier_source}) was dropped when this metric was "
                "pickled; construct the metric again with the classifier"
            )
        return self._classifier

    def classifier_model(self, device: torch.device | str) -> nn.Module:
        """The judge on ``device``."""
        return self.classifier.to(device)

    def check_generator(self, generator: nn.Module | None) -> nn.Module:
        """``generator`` if the classifier can judge its translations.

        Raises:
            ValueError: No generator, a generator without ``c_dim``, a classifier with another
                number of attributes (its ``c_dim``) or trained on other attributes.
        """
        if generator is None:
            raise ValueError(
                f"metric {self.name!r} evaluates the model named 'generator'; name the "
                "translation generator `generator`"
            )
        c_dim = getattr(generator, "c_dim", None)
        if c_dim is None:
            raise ValueError(
                f"metric {self.name!r} needs a translation generator G(x, c) with c_dim, "
                f"such as StarGANGenerator (stargan_generator), got {type(generator).__name__}"
            )
        judged = getattr(self.classifier, "c_dim", None)
        if isinstance(judged, int) and judged != c_dim:
            raise ValueError(
                f"the classifier ({self.classifier_source}) has {judged} outputs but the "
                f"generator translates {c_dim} attributes; train a classifier on the same "
                "attributes"
            )
        translated = getattr(generator, "attributes", None)
        trained = self.classifier_attributes
        if translated is not None and trained is not None and list(trained) != list(translated):
            raise ValueError(
                f"the classifier ({self.classifier_source}) was trained on attributes "
                f"{list(trained)} but the generator translates {list(translated)}; train a "
                "classifier on the same attributes, in the same order"
            )
        return generator

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: the split exists and the run's generator
        is one this classifier can judge (see :meth:`check_generator`)."""
        super().validate(trainer)
        self.check_generator(getattr(trainer, "generator", None))

    # -- the measure -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, generator: nn.Module, loader: Any, device: torch.device | str) -> float:
        """The accuracy over ``loader`` (see the module docstring); details in ``last_result``.

        Raises:
            ValueError: See :meth:`check_generator`; the classifier's logits are not of shape
                ``(N, c_dim)``.
        """
        self.check_generator(generator)
        classifier = self.classifier_model(device)
        c_dim = int(generator.c_dim)
        groups = tuple(getattr(generator, "exclusive_groups", ()))
        fake_all = torch.zeros(c_dim, dtype=torch.float64, device=device)
        fake_attr = torch.zeros(c_dim, dtype=torch.float64, device=device)
        real_all = torch.zeros((), dtype=torch.float64, device=device)
        real_attr = torch.zeros(c_dim, dtype=torch.float64, device=device)
        n = 0
        for x, labels in self.batches(loader, device):
            mode = self.mode(labels)
            c_org, batch_groups = as_attribute_vector(labels, c_dim, groups)
            logits = classifier(x)
            self._check_logits(logits, c_dim)
            hits = predict_attributes(logits, mode) == c_org
            real_all += hits.all(1).sum()
            real_attr += hits.sum(0)
            for j in range(c_dim):
                target = flip_attribute(c_org, j, batch_groups)
                hits = predict_attributes(classifier(generator(x, target)), mode) == target
                fake_all[j] += hits.all(1).sum()
                fake_attr += hits.sum(0)
            n += x.size(0)
        names = list(getattr(generator, "attributes", None) or range(c_dim))
        value = float(fake_all.sum() / (n * c_dim))
        self.last_result = {
            "value": value,
            "images": n,
            "translations": n * c_dim,
            "per_target": {str(a): float(v / n) for a, v in zip(names, fake_all, strict=True)},
            "per_attribute": {
                str(a): float(v / (n * c_dim)) for a, v in zip(names, fake_attr, strict=True)
            },
            "real_accuracy": float(real_all / n),
            "real_per_attribute": {
                str(a): float(v / n) for a, v in zip(names, real_attr, strict=True)
            },
            "classifier": self.classifier_source,
        }
        return value

    def _check_logits(self, logits: torch.Tensor, c_dim: int) -> None:
        if logits.dim() != 2 or logits.size(1) != c_dim:
            raise ValueError(
                f"the classifier ({self.classifier_source}) returns logits of shape "
                f"{tuple(logits.shape)} but the generator translates {c_dim} attributes; the "
                "classifier must be trained on the same attributes"
            )


class ClassifierAccuracy(_RealImagesMetric):
    """Share of real images the run's classifier (model ``classifier``) labels right.

    .. math::
        \\mathrm{acc} = \\frac1N \\sum_{n} \\mathbb 1\\big[\\hat y(x_n) = c_n\\big]

    (all attributes right; ``last_result`` holds the accuracy per attribute.) The metric of a
    classifier run (the shipped ``configs/stargan_classifier_*`` configs).

    Args:
        reference: ``val``, ``train`` or ``auto`` (``val`` when configured).
        max_images: Evaluate at most this many images (default all).
        classification: ``bce``, ``ce`` or ``auto`` (see :class:`AttributeAccuracy`).
    """

    name = "classifier_accuracy"

    def __init__(
        self,
        reference: str = "auto",
        max_images: int | None = None,
        classification: str = "auto",
    ) -> None:
        super().__init__(reference, max_images, classification)

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: the split and the model ``classifier``."""
        super().validate(trainer)
        self._check_classifier(getattr(trainer, "classifier", None))

    def _check_classifier(self, classifier: nn.Module | None) -> nn.Module:
        if classifier is None:
            raise ValueError(
                f"metric {self.name!r} evaluates the model named 'classifier'; name the "
                "classifier `classifier` under models:"
            )
        return classifier

    @torch.no_grad()
    def evaluate(self, classifier: nn.Module, loader: Any, device: torch.device | str) -> float:
        """The accuracy of ``classifier`` over ``loader``; per attribute in ``last_result``."""
        hits_all = torch.zeros((), dtype=torch.float64, device=device)
        hits_attr: torch.Tensor | None = None
        n = 0
        for x, labels in self.batches(loader, device):
            logits = classifier(x)
            c_org, _ = as_attribute_vector(labels, logits.size(1))
            hits = predict_attributes(logits, self.mode(labels)) == c_org
            hits_all += hits.all(1).sum()
            hits_attr = hits.sum(0).double() + (0 if hits_attr is None else hits_attr)
            n += x.size(0)
        assert hits_attr is not None
        value = float(hits_all / n)
        names = getattr(getattr(loader, "dataset", None), "attributes", None)
        if names is None or len(names) != len(hits_attr):
            names = list(range(len(hits_attr)))
        self.last_result = {
            "value": value,
            "images": n,
            "per_attribute": {str(a): float(v / n) for a, v in zip(names, hits_attr, strict=True)},
        }
        return value

    def metric_ops(
        self,
        device: torch.device,
        classifier: nn.Module | None = None,
        val_loader: DataLoader | None = None,
        data_loader: DataLoader | None = None,
    ) -> float:
        """Called by the trainer after each epoch (or every ``eval_every`` steps)."""
        classifier = self._check_classifier(classifier)
        return self.evaluate(classifier, self.loader(val_loader, data_loader), device)
