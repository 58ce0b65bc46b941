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
arg-max domain for exclusive domains) and equality means **all** attributes match. The
classifier is never random: it is a registered model (``attribute_classifier`` by default)
loaded from a checkpoint with ``torch.load(weights_only=True)``; a missing file, a checkpoint
without the model or weights that do not fit raise an error before anything is measured.
Train one with ``torchgan-run configs/stargan_classifier_digits.yaml`` (or ``..._celeba``).

``classifier_accuracy`` is the same measure for real images and the classifier being trained
in a classifier run (the model named ``classifier``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from torchgan.metrics import EvaluationMetric

from .._registry import MODELS
from ..errors import CheckpointError, ConfigError, MissingWeightsError, did_you_mean
from ..losses.classification import predict_attributes
from ..losses.stargan import CLASSIFICATION_MODES
from ..models.attribute_labels import as_attribute_vector, flip_attribute, is_domain_index
from ..trainer.checkpoint import list_checkpoints, load_checkpoint

__all__ = ["AttributeAccuracy", "ClassifierAccuracy", "resolve_classifier_weights", "REFERENCES"]

#: Values of ``reference``: the split the images come from.
REFERENCES = ("auto", "val", "train")

_TRAIN_HINT = (
    "train an attribute classifier on the same data first, e.g. `torchgan-run "
    "configs/stargan_classifier_digits.yaml`, and set weights to its run directory or one of "
    "its checkpoints/ckpt-*.pt"
)


def resolve_classifier_weights(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """The checkpoint file ``path`` names, and its run directory (or ``None``).

    ``path`` may be a checkpoint file, a run directory (its newest ``checkpoints/ckpt-*.pt``)
    or a ``checkpoints/`` directory.

    Raises:
        MissingWeightsError: Nothing there, or no checkpoint in the directory.
    """
    p = Path(path).expanduser()
    if p.is_file():
        run_dir = p.parent.parent if p.parent.name == "checkpoints" else None
        return p, run_dir
    if p.is_dir():
        if (p / "checkpoints").is_dir():
            ckpt_dir, run_dir = p / "checkpoints", p
        elif p.name == "checkpoints":
            ckpt_dir, run_dir = p, p.parent
        else:
            ckpt_dir, run_dir = p, None
        found = list_checkpoints(ckpt_dir)
        if not found:
            raise MissingWeightsError(
                f"weights: no checkpoint (ckpt-*.pt) in {ckpt_dir}; {_TRAIN_HINT}"
            )
        return found[-1], run_dir
    raise MissingWeightsError(f"weights: classifier checkpoint {p} does not exist; {_TRAIN_HINT}")


def _read_run_config(run_dir: Path | None) -> dict[str, Any]:
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return {}
    path = run_dir / "config.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"weights: cannot read the classifier run's config {path}: {e}") from e
    return data if isinstance(data, dict) else {}


def _check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise ConfigError(f"{name}: unknown value {value!r}; {did_you_mean(value, choices)}")
    return value


def _check_max_images(value: int | None) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"max_images must be a positive integer or null, got {value!r}")
    return value


class _RealImagesMetric(EvaluationMetric):
    """Shared: the evaluation split and the batches of ``(images, labels)``."""

    name = ""

    def __init__(self, reference: str, max_images: int | None, classification: str) -> None:
        super().__init__()
        self.reference = _check_choice(reference, REFERENCES, "reference")
        self.max_images = _check_max_images(max_images)
        self.classification = _check_choice(classification, CLASSIFICATION_MODES, "classification")
        self.last_result: dict[str, Any] = {}

    def loader(self, val_loader: DataLoader | None, data_loader: DataLoader | None) -> DataLoader:
        """The validation loader (``auto``/``val``) or the training set in file order."""
        if self.reference in ("auto", "val") and val_loader is not None:
            return val_loader
        if self.reference == "val":
            raise ConfigError(
                f"metric {self.name!r} has reference: val but the config has no validation split; "
                "add data.val (e.g. data.val: {args: {split: test}}) or use reference: train",
                key="data.val",
            )
        if data_loader is None:
            raise ConfigError(f"metric {self.name!r} needs a data loader", key="data")
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
        pipeline's randomness runs in a forked RNG (training's streams are untouched)."""
        seen = 0
        devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            for batch in loader:
                if not isinstance(batch, tuple | list) or len(batch) < 2:
                    raise ConfigError(
                        f"metric {self.name!r} needs a dataset yielding (image, labels)",
                        key="data.name",
                    )
                x, labels = batch[0], batch[1]
                if self.max_images is not None:
                    keep = self.max_images - seen
                    if keep <= 0:
                        break
                    x, labels = x[:keep], labels[:keep]
                seen += x.size(0)
                yield x.to(device), labels.to(device)
        if seen == 0:
            raise ValueError(f"metric {self.name!r}: the evaluation split is empty")

    def mode(self, labels: torch.Tensor) -> str:
        if self.classification != "auto":
            return self.classification
        return "ce" if is_domain_index(labels) else "bce"


def _check_logits(logits: torch.Tensor, c_dim: int, what: str) -> None:
    if logits.dim() != 2 or logits.size(1) != c_dim:
        raise ConfigError(
            f"weights: {what} returns logits of shape {tuple(logits.shape)} but there are "
            f"{c_dim} attributes; the classifier must be trained on the same "
            "data.args.attributes"
        )


class AttributeAccuracy(_RealImagesMetric):
    """Share of translated images a trained attribute classifier assigns their target labels.

    See the module docstring for the protocol. ``last_result`` (written to ``metrics.json``
    by ``--evaluate``) also holds the share per target column (``per_target``), the accuracy
    per attribute over all translations (``per_attribute``) and the classifier's accuracy on
    the real images (``real_accuracy``, ``real_per_attribute``).

    Args:
        weights: The classifier: a checkpoint file (a run checkpoint holding
            ``models.<model_key>`` or a bare state dict), a classifier run directory (its newest
            checkpoint) or its ``checkpoints/`` folder. Required.
        classifier: Registered model name (default: the one in the classifier run's
            ``config.yaml`` next to the checkpoints, else ``attribute_classifier``).
        classifier_args: Constructor arguments (default: the run's resolved arguments; else
            ``c_dim`` and ``in_channels`` of the generator).
        model_key: The model's name inside a run checkpoint (``classifier``).
        reference: Images from ``val`` (``data.val``), ``train`` or ``auto`` (``val`` when
            configured).
        max_images: Translate at most this many images (each into ``c`` targets).
        classification: Decisions per attribute (``bce``: logit > 0), arg-max over exclusive
            domains (``ce``) or ``auto`` (``ce`` for domain-index labels).
        use_ema: Evaluate the EMA generator when the run keeps one.
    """

    name = "attribute_accuracy"

    def __init__(
        self,
        weights: str | None = None,
        classifier: str | None = None,
        classifier_args: Mapping[str, Any] | None = None,
        model_key: str = "classifier",
        reference: str = "auto",
        max_images: int | None = 1000,
        classification: str = "auto",
        use_ema: bool = True,
    ) -> None:
        super().__init__(reference, max_images, classification)
        if weights is None:
            raise MissingWeightsError(
                "weights: attribute_accuracy judges translations with a trained attribute "
                f"classifier and never with random weights; {_TRAIN_HINT}"
            )
        self.checkpoint, run_dir = resolve_classifier_weights(weights)
        try:
            state = load_checkpoint(self.checkpoint, map_location="cpu")
        except CheckpointError as e:
            raise ConfigError(f"weights: {e}") from e
        if "models" in state:
            models = state["models"]
            if model_key not in models:
                raise ConfigError(
                    f"weights: checkpoint {self.checkpoint} has no model {model_key!r} (it has: "
                    f"{', '.join(sorted(models))}); set model_key"
                )
            self._state = models[model_key]
        elif all(isinstance(v, torch.Tensor) for v in state.values()):
            self._state = state
        else:
            raise ConfigError(
                f"weights: {self.checkpoint} is neither a run checkpoint nor a state dict"
            )
        run_config = _read_run_config(run_dir)
        run_model = (run_config.get("models") or {}).get(model_key) or {}
        data_args = (run_config.get("data") or {}).get("args") or {}
        self.trained_attributes = data_args.get("attributes")
        self.classifier_name = classifier or run_model.get("name") or "attribute_classifier"
        if classifier is not None and run_model.get("name") not in (None, classifier):
            raise ConfigError(
                f"classifier: {classifier!r}, but {self.checkpoint} holds a "
                f"{run_model['name']!r} (see {run_dir}/config.yaml)"
            )
        MODELS.get(self.classifier_name)  # unknown names fail now, with did-you-mean
        self.classifier_args = {**(run_model.get("args") or {}), **dict(classifier_args or {})}
        self.model_key = model_key
        self.use_ema = bool(use_ema)
        self._classifier: nn.Module | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_classifier"] = None
        return state

    # -- the judge ---------------------------------------------------------------------------
    def classifier_model(self, generator: nn.Module, device: torch.device | str) -> nn.Module:
        """The loaded classifier (built on first use, in eval mode, frozen) on ``device``."""
        if self._classifier is None:
            self._check_attributes(generator)
            cls = MODELS.get(self.classifier_name)
            args = dict(self.classifier_args)
            c_dim = getattr(generator, "c_dim", None)
            if c_dim is not None:
                args.setdefault("c_dim", c_dim)
            if getattr(generator, "in_channels", None) is not None and "in_channels" in getattr(
                cls, "data_arguments", {}
            ):
                args.setdefault("in_channels", generator.in_channels)
            try:
                model = cls(**args)
            except (TypeError, ValueError) as e:
                raise ConfigError(
                    f"classifier_args: building classifier {self.classifier_name!r} with "
                    f"{args} failed: {e}"
                ) from e
            try:
                model.load_state_dict(self._state, strict=True)
            except RuntimeError as e:
                lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
                first = " ".join(lines[:2])[:300]
                raise ConfigError(
                    f"weights: {self.checkpoint} does not fit classifier "
                    f"{self.classifier_name!r} with arguments {args}: {first}"
                ) from e
            model.eval().requires_grad_(False)
            self._classifier = model
        return self._classifier.to(device)

    def _check_attributes(self, generator: nn.Module) -> None:
        translated = getattr(generator, "attributes", None)
        trained = self.trained_attributes
        if translated is not None and trained is not None and list(trained) != list(translated):
            raise ConfigError(
                f"weights: the classifier in {self.checkpoint} was trained on attributes "
                f"{list(trained)} but the generator translates {list(translated)}; train a "
                "classifier with the same data.args.attributes (same order)"
            )

    # -- the measure -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, generator: nn.Module, loader: Any, device: torch.device | str) -> float:
        """The accuracy over ``loader`` (see the module docstring); details in ``last_result``."""
        classifier = self.classifier_model(generator, device)
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
            _check_logits(logits, c_dim, f"classifier {self.classifier_name!r}")
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
            "classifier": os.fspath(self.checkpoint),
        }
        return value

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
        if gen is None:
            raise ConfigError(
                "metric 'attribute_accuracy' evaluates the model named 'generator'", key="models"
            )
        if not hasattr(gen, "c_dim"):
            raise ConfigError(
                "metric 'attribute_accuracy' needs a translation generator G(x, c) with c_dim "
                "(e.g. stargan_generator)",
                key="models.generator.name",
            )
        return self.evaluate(gen, self.loader(val_loader, data_loader), device)


class ClassifierAccuracy(_RealImagesMetric):
    """Share of real images the run's classifier (model ``classifier``) labels right.

    .. math::
        \\mathrm{acc} = \\frac1N \\sum_{n} \\mathbb 1\\big[\\hat y(x_n) = c_n\\big]

    (all attributes right; ``last_result`` holds the accuracy per attribute.) The metric of a
    classifier run (``configs/stargan_classifier_*.yaml``).

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
        if classifier is None:
            raise ConfigError(
                "metric 'classifier_accuracy' evaluates the model named 'classifier'; name "
                "the classifier `classifier` under models:",
                key="models",
            )
        return self.evaluate(classifier, self.loader(val_loader, data_loader), device)
