"""Shared machinery of the feature-based metrics: generation, real features and the cache.

:class:`GeneratorMetric` produces features of generated images: the evaluation generator (the
EMA copy when the run keeps one) in eval mode, under ``torch.no_grad``, in batches on the run's
device, from a fixed seed in a forked RNG (every evaluation sees the same noise, and training's
random streams are untouched, so resumed runs stay exact). :class:`RealReferenceMetric` adds
the real side: features of a fixed subset of the reference split, cached on disk
(:mod:`torchgan_ext.metrics.cache`) and kept in memory between evaluations.

The feature extractor is built lazily on first use and is never pickled (see
:meth:`GeneratorMetric.__getstate__`); the trainer's checkpoints hold state dicts only.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchgan.metrics import EvaluationMetric

from .._validation import check_choice, check_int
from ..data._io import unit_range_batch
from ..weights import module_digest, sha256_file_cached
from .cache import RealFeatureCache, cache_key, item_image
from .features import FeatureExtractor, Output, build_feature_extractor, check_extractor
from .preprocess import RESIZES, InputSpec

__all__ = ["GeneratorMetric", "RealReferenceMetric", "generate_features", "REFERENCES"]

#: Values of the ``reference`` argument.
REFERENCES = ("auto", "val", "train")
#: Seed of the fixed random subset of real images (part of the protocol, see docs/metrics.md).
REAL_SUBSET_SEED = 0


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    return check_int(value, name, minimum)


def _fork_devices(device: torch.device) -> list[int]:
    if device.type == "cuda" and torch.cuda.is_available():
        return [device.index if device.index is not None else torch.cuda.current_device()]
    return []


@torch.no_grad()
def generate_features(
    generator: nn.Module,
    extractor: FeatureExtractor,
    num_samples: int,
    batch_size: int,
    device: torch.device,
    seed: int = 0,
) -> torch.Tensor:
    """Features of ``num_samples`` generated images, ``(num_samples, D)`` on ``device``.

    Inputs come from ``generator.sampler(n, device)`` (noise, plus labels for conditional
    generators); the generator runs in eval mode under ``no_grad`` and its mode is restored.
    """
    sampler = getattr(generator, "sampler", None)
    if not callable(sampler):
        raise TypeError(
            f"{type(generator).__name__} has no sampler(n, device); FID/KID/IS evaluate "
            "generators whose inputs come from their sampler (noise, labels)"
        )
    was_training = generator.training
    generator.eval()
    out = []
    try:
        with torch.random.fork_rng(devices=_fork_devices(device)):
            torch.manual_seed(seed)
            done = 0
            while done < num_samples:
                n = min(batch_size, num_samples - done)
                images = generator(*sampler(n, device))
                if not isinstance(images, torch.Tensor) or images.dim() != 4:
                    shape = tuple(images.shape) if isinstance(images, torch.Tensor) else None
                    raise ValueError(
                        f"{type(generator).__name__} must return images (N, C, H, W) for "
                        f"FID/KID/IS, got {shape or type(images).__name__}"
                    )
                out.append(extractor(images.to(device)))
                done += n
    finally:
        generator.train(was_training)
    return torch.cat(out)


class GeneratorMetric(EvaluationMetric):
    """A torchgan ``EvaluationMetric`` computed from features of generated images.

    Args:
        extractor: ``"inception_v3_fid"`` (default, the published protocol),
            ``"inception_v3_torchvision"`` or an ``nn.Module`` (``torchgan-run`` builds a
            registered model name given here, with ``extractor_args``).
        weights: The extractor's weights file (default: the standard file name in
            ``$TORCH_HOME/hub/checkpoints``); for a registered model, a state dict to load.
        extractor_args: Constructor arguments of a registered-model extractor (used by
            ``torchgan-run``, which builds the model; must be empty otherwise).
        input_spec: How a custom extractor wants its images (see
            :class:`~torchgan_ext.metrics.features.InputSpec`; default its ``input_spec``
            attribute, else [-1, 1] as they are).
        num_samples: Number of generated images.
        resize: ``"legacy"`` (default; the TensorFlow-compatible bilinear resize of the FID
            Inception network, as the published numbers) or ``"clean"`` (Parmar et al.
            2022: PIL bicubic on float values); see docs/metrics.md.
        batch_size: Images per forward pass (generation and extraction).
        seed: Seed of the generator's inputs (the same noise at every evaluation).
    """

    #: Which output of the extractor the metric uses.
    output: ClassVar[Output] = "features"
    #: The registry name (used in messages and in ``metrics.json``).
    name: ClassVar[str] = ""

    def __init__(
        self,
        extractor: str | nn.Module = "inception_v3_fid",
        weights: str | os.PathLike | None = None,
        extractor_args: Mapping[str, Any] | None = None,
        input_spec: Mapping[str, Any] | InputSpec | None = None,
        num_samples: int = 50000,
        batch_size: int = 64,
        seed: int = 0,
        resize: str = "legacy",
    ) -> None:
        super().__init__()
        self.num_samples = _positive_int("num_samples", num_samples, 2)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.seed = int(seed)
        if extractor_args:
            raise ValueError(
                "extractor_args: only apply to a registered model named as extractor (built by "
                "torchgan-run); a module or a built-in extractor takes none"
            )
        self.resize = check_choice(resize, "resize", RESIZES, "resize")
        check_extractor(extractor, weights)
        self.extractor_spec = extractor
        self.weights = os.fspath(weights) if weights is not None else None
        self.input_spec = InputSpec.coerce(input_spec) if input_spec is not None else None
        self._extractor: FeatureExtractor | None = None
        self.last_result: dict[str, Any] = {}

    # -- the extractor ---------------------------------------------------------------------
    def extractor(self, device: torch.device | str | None = None) -> FeatureExtractor:
        """The feature extractor, built on first use and moved to ``device``."""
        if self._extractor is None:
            self._extractor = build_feature_extractor(
                self.extractor_spec,
                self.output,
                weights=self.weights,
                input_spec=self.input_spec,
                resize=self.resize,
            )
        if device is not None:
            self._extractor.to(device)
        return self._extractor

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: builds the extractor, so weights that do
        not fit the network fail now (one line naming the file), not at the first
        evaluation."""
        self.extractor()

    def __getstate__(self) -> dict[str, Any]:
        """Pickling drops the networks (a metric never carries 100 MB of Inception along)."""
        state = dict(self.__dict__)
        state["_extractor"] = None
        state.pop("_real_memory", None)
        if isinstance(state.get("extractor_spec"), nn.Module):
            state["extractor_spec"] = type(state["extractor_spec"]).__name__
        return state

    # -- torchgan's EvaluationMetric API -----------------------------------------------------
    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Features (or logits) of images ``x`` in [-1, 1]."""
        return self.extractor(x.device)(x)

    def generated_features(self, generator: nn.Module | None, device: Any) -> torch.Tensor:
        """Features of ``num_samples`` images of ``generator`` (see :func:`generate_features`)."""
        if generator is None:
            raise ValueError(
                f"metric {self.name!r} evaluates the model named 'generator'; name the "
                "generator model `generator`"
            )
        device = torch.device(device)
        return generate_features(
            generator, self.extractor(device), self.num_samples, self.batch_size, device, self.seed
        )

    def protocol(self) -> dict[str, Any]:
        """What produced the last value (the protocol record; see docs/metrics.md).

        ``extractor``, ``weights`` (file) and ``weights_sha256`` (of the file; of the
        module's tensors for a module given without a file), ``resize``, ``num_samples``
        (generated images) and ``seed``; :class:`RealReferenceMetric` adds ``reference``
        (dataset, split, count, split size). The trainer adds ``generator`` (``ema`` or
        ``raw``), which the metric cannot know.
        """
        extractor = self.extractor()
        if extractor.weights is not None:
            weights, sha = os.fspath(extractor.weights), sha256_file_cached(extractor.weights)
        else:
            weights, sha = None, module_digest(extractor.network)
        return {
            "extractor": extractor.name,
            "weights": weights,
            "weights_sha256": sha,
            "resize": self.resize,
            "num_samples": self.num_samples,
            "seed": self.seed,
        }

    def _record(self, value: float, **extra: Any) -> float:
        self.last_result = {"value": float(value), **extra, "protocol": self.protocol()}
        return float(value)


class RealReferenceMetric(GeneratorMetric):
    """A :class:`GeneratorMetric` that compares with features of real images.

    Args:
        reference: The real split: ``val`` (``data.val``), ``train`` (the training set) or
            ``auto`` (``val`` when configured, else ``train``).
        num_real: Number of real images (default ``num_samples``, capped at the split's
            size, i.e. 50k where the split allows, else the whole split; a fixed random subset
            when smaller than the split). An explicit value larger than the split raises
            ``ValueError`` naming ``num_real``.
        cache: Cache real features on disk (see :mod:`torchgan_ext.metrics.cache`).
        cache_dir: Cache directory (default ``$TORCHGAN_EXT_CACHE_DIR`` or
            ``~/.cache/torchgan_ext/real_features``).
        recompute_real: Recompute (and overwrite) the cached real features once.
        **kwargs: See :class:`GeneratorMetric`.
    """

    #: ``metric_ops`` warns when there are no more samples than feature dimensions (the score
    #: uses the features' covariance).
    _covariance: ClassVar[bool] = False

    def __init__(
        self,
        *,
        reference: str = "auto",
        num_real: int | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        recompute_real: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reference = check_choice(reference, "reference", REFERENCES, "reference")
        self.num_real = _positive_int("num_real", num_real, 2) if num_real is not None else None
        self.cache = RealFeatureCache(cache_dir) if cache else None
        self.recompute_real = bool(recompute_real)
        self._real_memory: tuple[dict[str, Any], torch.Tensor] | None = None
        self._reference: dict[str, Any] = {}

    def protocol(self) -> dict[str, Any]:
        """:meth:`GeneratorMetric.protocol` plus ``reference``: the real images compared with
        (``dataset`` class, ``split``, ``count`` used, ``split_size``)."""
        return {**super().protocol(), "reference": dict(self._reference)}

    def validate(self, trainer: Any) -> None:
        """Called by the launcher before training: ``reference: val`` needs a validation
        split (the trainer's ``val_loader``), ``num_real`` must fit the split, and the
        extractor must build."""
        super().validate(trainer)
        data = getattr(trainer, "data_loader", None)
        val = getattr(trainer, "val_loader", None)
        if self.reference == "val" and val is None:
            self.reference_loader(None, None)  # raises the ValueError
        if data is not None or val is not None:
            loader, split = self.reference_loader(data, val)
            self._check_num_real(len(loader.dataset), split)

    def _check_num_real(self, total: int, split: str) -> None:
        if self.num_real is not None and self.num_real > total:
            raise ValueError(
                f"num_real: {self.num_real} is larger than the {split} split ({total} images); "
                f"use at most {total}, or leave it unset for min(num_samples, {total})"
            )

    def reference_loader(
        self, data_loader: DataLoader | None, val_loader: DataLoader | None
    ) -> tuple[DataLoader, str]:
        """The loader of the reference split and its name (``val`` or ``train``)."""
        if self.reference in ("val", "auto") and val_loader is not None:
            return val_loader, "val"
        if self.reference == "val":
            raise ValueError(
                f"reference: val needs a validation split but the run has no validation split "
                f"(metric {self.name!r}); add one or use reference: train"
            )
        if data_loader is None:
            raise ValueError(
                f"metric {self.name!r} needs the training data loader for its real features"
            )
        return data_loader, "train"

    def real_and_generated(
        self,
        eval_generator: nn.Module | None,
        device: Any,
        data_loader: DataLoader | None,
        val_loader: DataLoader | None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Real features of the reference split, features of generated images, and what to
        record about them (counts, split, cache source, extractor, timings)."""
        loader, split = self.reference_loader(data_loader, val_loader)
        real, source, real_s = self.real_features(loader, split, device)
        start = time.perf_counter()
        fake = self.generated_features(eval_generator, device)
        info = {
            "num_real": len(real),
            "num_fake": len(fake),
            "reference": split,
            "real_features": source,
            "extractor": self.extractor().name,
            "seconds_real": round(real_s, 3),
            "seconds_fake": round(time.perf_counter() - start, 3),
        }
        return real, fake, info

    def score_features(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[float, dict[str, Any]]:
        """The metric's value for real and generated features ``(N, D)``, and the entries
        ``last_result`` holds besides it (placed before the evaluation's counts and timings).
        Subclasses override this."""
        raise NotImplementedError

    def calculate_score(self, x: torch.Tensor) -> float:
        """The value for generated features ``x`` against the real features of the last
        evaluation."""
        if self._real_memory is None:
            raise RuntimeError("no real features yet: run metric_ops (or an evaluation) first")
        return self.score_features(self._real_memory[1].to(x.device), x)[0]

    def metric_ops(
        self,
        eval_generator: nn.Module,
        device: torch.device,
        data_loader: DataLoader | None = None,
        val_loader: DataLoader | None = None,
    ) -> float:
        """The value for ``num_samples`` images of ``eval_generator`` against the reference
        split (``last_result`` holds it with what :meth:`score_features` adds, the counts,
        timings and the protocol)."""
        real, fake, info = self.real_and_generated(eval_generator, device, data_loader, val_loader)
        if self._covariance:
            self._warn_few(min(len(real), len(fake)), real.shape[1])
        value, extra = self.score_features(real, fake)
        return self._record(value, **extra, **info)

    def real_features(
        self, loader: DataLoader, split: str, device: Any
    ) -> tuple[torch.Tensor, str, float]:
        """Features of the real subset: ``(features on device, source, seconds)``.

        ``source`` is ``memory`` (this metric computed them earlier), ``hit`` (disk cache),
        ``miss`` (computed and stored) or ``computed`` (cache off).
        """
        start = time.perf_counter()
        device = torch.device(device)
        extractor = self.extractor(device)
        dataset = loader.dataset
        total = len(dataset)
        self._check_num_real(total, split)
        n = min(self.num_real or self.num_samples, total)
        if n < 2:
            raise ValueError(f"the {split} split has {total} image(s); FID/KID need at least 2")
        base = dataset
        while isinstance(base, Subset):
            base = base.dataset
        self._reference = {
            "dataset": type(base).__name__,
            "split": split,
            "count": n,
            "split_size": total,
        }
        key = cache_key(dataset, split, extractor.fingerprint, n)
        if self._real_memory is not None and self._real_memory[0] == key:
            return self._real_memory[1].to(device), "memory", time.perf_counter() - start
        features = None
        if self.cache is not None and not self.recompute_real:
            features = self.cache.load(key)
        source = "hit" if features is not None else ("miss" if self.cache else "computed")
        if features is None:
            features = self._extract_real(loader, n, extractor, device).cpu()
            if self.cache is not None:
                self.cache.save(key, features)
            self.recompute_real = False
        self._real_memory = (key, features)
        return features.to(device), source, time.perf_counter() - start

    def _extract_real(
        self, loader: DataLoader, n: int, extractor: FeatureExtractor, device: torch.device
    ) -> torch.Tensor:
        dataset = loader.dataset
        total = len(dataset)
        if n < total:
            g = torch.Generator().manual_seed(REAL_SUBSET_SEED)
            indices = torch.randperm(total, generator=g)[:n].sort().values.tolist()
            dataset = Subset(dataset, indices)
        sub_loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=loader.num_workers,
            collate_fn=loader.collate_fn,
            worker_init_fn=loader.worker_init_fn,
            drop_last=False,
        )
        out = []
        with torch.random.fork_rng(devices=_fork_devices(device)):
            torch.manual_seed(REAL_SUBSET_SEED)
            with torch.no_grad():
                for batch in sub_loader:
                    out.append(extractor(unit_range_batch(item_image(batch).to(device))))
        return torch.cat(out)

    def _warn_few(self, n: int, d: int) -> None:
        if n <= d:
            warnings.warn(
                f"{self.name}: {n} samples for {d}-dimensional features; the covariance is "
                "singular and the value strongly biased (use num_samples > feature dimension)",
                RuntimeWarning,
                stacklevel=3,
            )
