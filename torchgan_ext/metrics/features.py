"""Feature extractors for FID, KID and the Inception Score, and the one image conversion.

Three kinds of extractor are supported, all wrapped in :class:`FeatureExtractor`:

* ``inception_v3_fid``: the Inception V3 port used by the reference FID implementations (the
  TensorFlow 2015-12-05 graph converted to PyTorch; file
  ``weights-inception-2015-12-05-6726825d.pth``), run through torch-fidelity's
  ``FeatureExtractorInceptionV3`` with its TensorFlow-1-compatible bilinear resize to 299x299.
  This is the protocol of published FID/KID/IS numbers (Heusel et al. 2017,
  https://arxiv.org/abs/1706.08500).
* ``inception_v3_torchvision``: torchvision's ImageNet Inception V3 (file
  ``inception_v3_google-0cc3c7bd.pth``). Close to, but not the same network as, the FID port:
  its numbers are not comparable with published ones.
* any ``nn.Module``: domain-specific features, and tiny extractors for tests (``torchgan-run``
  builds a registered model name given as ``extractor`` and passes the module).

Weights are only ever read from disk (:mod:`torchgan_ext.weights`): an explicit ``weights`` path
or ``$TORCH_HOME/hub/checkpoints/<file>``. A missing file raises ``FileNotFoundError`` naming the
file and where to put it; there is no download and no fallback to random weights.

Images reach every extractor through :func:`prepare_images`, the single place where the GAN's
[-1, 1] images are converted to the value range, channel count and size an extractor expects.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import load_state_dict_file, load_weights_into, module_digest, resolve_weights

__all__ = [
    "InputSpec",
    "FeatureExtractor",
    "BUILTIN_EXTRACTORS",
    "FID_INCEPTION_FILE",
    "FID_INCEPTION_URL",
    "TORCHVISION_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_URL",
    "prepare_images",
    "build_feature_extractor",
    "check_extractor",
]

#: The FID Inception weights (TensorFlow graph of 2015-12-05, converted by torch-fidelity).
FID_INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
FID_INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + FID_INCEPTION_FILE
)
#: torchvision's ImageNet Inception V3 weights (``Inception_V3_Weights.IMAGENET1K_V1``).
TORCHVISION_INCEPTION_FILE = "inception_v3_google-0cc3c7bd.pth"
TORCHVISION_INCEPTION_URL = "https://download.pytorch.org/models/" + TORCHVISION_INCEPTION_FILE

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

Output = Literal["features", "logits"]


@dataclass(frozen=True)
class InputSpec:
    """How an extractor wants its images (the GAN side always delivers [-1, 1] floats).

    Attributes:
        value_range: ``"minus_one_one"`` (floats in [-1, 1]), ``"zero_one"`` (floats in [0, 1])
            or ``"uint8"`` (integers 0..255 of dtype ``torch.uint8``).
        size: Resize to ``size x size`` (bilinear, antialiased when shrinking); ``None`` keeps
            the size (for networks that resize themselves).
        channels: ``3`` repeats grey images to RGB; ``None`` keeps the channels.
        quantize: Round to 8 bits first, as if the images had been saved as PNG (the published
            protocol evaluates saved images). Implied by ``uint8``.
        mean: Per-channel mean subtracted after the range conversion (``zero_one`` only).
        std: Per-channel standard deviation divided by after subtracting ``mean``.

    Example:
        >>> InputSpec.coerce({"size": 299, "channels": 3}) == InputSpec(size=299, channels=3)
        True
        >>> InputSpec.coerce({"sise": 299})
        Traceback (most recent call last):
            ...
        ValueError: input_spec: unknown field 'sise'; did you mean 'size'?
    """

    value_range: Literal["minus_one_one", "zero_one", "uint8"] = "minus_one_one"
    size: int | None = None
    channels: int | None = None
    quantize: bool = False
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def coerce(cls, value: InputSpec | Mapping[str, Any] | None) -> InputSpec:
        """An :class:`InputSpec` from itself, a dict of its fields or ``None`` (the default)."""
        if value is None:
            return cls()
        if isinstance(value, InputSpec):
            return value
        if isinstance(value, Mapping):
            fields = sorted(cls.__dataclass_fields__)
            for key in value:
                if key not in fields:
                    close = difflib.get_close_matches(str(key), fields, n=1)
                    hint = f"did you mean {close[0]!r}?" if close else f"valid: {', '.join(fields)}"
                    raise ValueError(f"input_spec: unknown field {key!r}; {hint}")
            data = dict(value)
            for key in ("mean", "std"):
                if data.get(key) is not None:
                    data[key] = tuple(float(v) for v in data[key])
            return cls(**data)
        raise TypeError(f"input_spec must be an InputSpec or a dict, got {type(value).__name__}")


def prepare_images(images: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """Convert GAN images in [-1, 1] to what an extractor expects: the one conversion.

    Both real and generated images pass through here, so they always receive identical
    treatment: clamp to [-1, 1], grey to RGB, resize, 8-bit quantisation, range and
    normalisation.

    Args:
        images: ``(N, C, H, W)`` floats in [-1, 1].
        spec: The extractor's :class:`InputSpec`.

    Returns:
        The extractor's input (``torch.uint8`` for ``value_range="uint8"``, else float32).

    Example:
        >>> images = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)  # one grey 1x3 image
        >>> x = prepare_images(images, InputSpec(value_range="uint8", channels=3))
        >>> x.dtype, tuple(x.shape)
        (torch.uint8, (1, 3, 1, 3))
        >>> x[0, :, 0].tolist()  # grey repeated to RGB; -1 -> 0, 0 -> 128, 1 -> 255
        [[0, 128, 255], [0, 128, 255], [0, 128, 255]]
        >>> prepare_images(images, InputSpec(value_range="zero_one")).flatten().tolist()
        [0.0, 0.5, 1.0]
    """
    if images.dim() != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    x = images.float().clamp(-1.0, 1.0)
    if spec.channels is not None and x.shape[1] != spec.channels:
        if x.shape[1] == 1:
            x = x.expand(-1, spec.channels, -1, -1)
        else:
            raise ValueError(
                f"the feature extractor takes {spec.channels}-channel images, got {x.shape[1]} "
                "channels (only grey images are converted)"
            )
    if spec.size is not None and tuple(x.shape[-2:]) != (spec.size, spec.size):
        x = F.interpolate(
            x,
            size=(spec.size, spec.size),
            mode="bilinear",
            align_corners=False,
            antialias=spec.size < max(x.shape[-2:]),
        ).clamp(-1.0, 1.0)
    if spec.quantize or spec.value_range == "uint8":
        # the 8-bit value a saved PNG would hold (round half up, as torchvision's save_image)
        x = torch.floor((x + 1.0) * 127.5 + 0.5).clamp(0.0, 255.0)
        if spec.value_range == "uint8":
            return x.to(torch.uint8)
        x = x / 127.5 - 1.0
    if spec.value_range == "zero_one":
        x = (x + 1.0) * 0.5
        if spec.mean is not None:
            mean = torch.tensor(spec.mean, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(spec.std or (1.0,) * len(spec.mean), device=x.device)
            x = (x - mean) / std.view(1, -1, 1, 1)
    return x.contiguous()


class FeatureExtractor(nn.Module):
    """A network, its :class:`InputSpec` and a fingerprint that identifies its weights.

    ``forward`` takes GAN images in [-1, 1] and returns ``(N, D)`` float32 features (or
    logits, for the Inception Score).

    Args:
        network: Maps prepared images to ``(N, ...)`` outputs (flattened here).
        spec: How ``network`` wants its images.
        name: A readable name (``inception_v3_fid``, a registry name or a class name).
        fingerprint: Identifies the network and weights; the input spec is appended (the
            whole is part of the real-feature cache key).
    """

    def __init__(self, network: nn.Module, spec: InputSpec, name: str, fingerprint: str) -> None:
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.spec = spec
        self.name = name
        # the input conversion is part of what the features mean
        self.fingerprint = f"{fingerprint}|input={sorted(asdict(spec).items())}"

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Always stays in evaluation mode."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.network(prepare_images(images, self.spec))
        if isinstance(out, tuple | list):
            out = out[0]
        return out.reshape(out.shape[0], -1).float()


# ------------------------------------------------------------------------------------------
# the built-in Inception extractors
# ------------------------------------------------------------------------------------------
class _FidelityInception(nn.Module):
    """torch-fidelity's Inception V3 port, returning one of its feature layers."""

    def __init__(self, path: Path, layer: str) -> None:
        super().__init__()
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as e:
            raise ImportError(
                "extractor: 'inception_v3_fid' needs the package torch-fidelity "
                "(pip install torch-fidelity)"
            ) from e
        # torch-fidelity unpickles the file itself; check it is plain tensors first
        load_state_dict_file(path)
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", [layer], feature_extractor_weights_path=os.fspath(path)
            )
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ValueError(
                f"weights: weights file {path} does not fit the FID Inception network: {first}"
            ) from e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def _torchvision_inception(path: Path, output: Output) -> nn.Module:
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    load_weights_into(net, path, "the feature extractor")
    net.AuxLogits = None
    net.aux_logits = False
    if output == "features":
        net.fc = nn.Identity()  # the 2048-d pool features
    return net


def _build_fid_inception(output: Output, weights: Any) -> FeatureExtractor:
    path, digest = resolve_weights(FID_INCEPTION_FILE, weights, url=FID_INCEPTION_URL)
    layer = "2048" if output == "features" else "logits_unbiased"
    net = _FidelityInception(path, layer)
    spec = InputSpec(value_range="uint8", channels=3)  # resizes to 299 itself (TF1 bilinear)
    return FeatureExtractor(net, spec, "inception_v3_fid", f"inception_v3_fid:{layer}:{digest}")


def _build_torchvision_inception(output: Output, weights: Any) -> FeatureExtractor:
    path, digest = resolve_weights(
        TORCHVISION_INCEPTION_FILE, weights, url=TORCHVISION_INCEPTION_URL
    )
    net = _torchvision_inception(path, output)
    spec = InputSpec(
        value_range="zero_one",
        size=299,
        channels=3,
        quantize=True,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
    )
    name = "inception_v3_torchvision"
    return FeatureExtractor(net, spec, name, f"{name}:{output}:{digest}")


#: Built-in extractor names -> (weights file name, builder).
BUILTIN_EXTRACTORS = {
    "inception_v3_fid": (FID_INCEPTION_FILE, _build_fid_inception),
    "inception_v3_torchvision": (TORCHVISION_INCEPTION_FILE, _build_torchvision_inception),
}


def check_extractor(extractor: str | nn.Module, weights: str | os.PathLike | None = None) -> None:
    """Fail fast (at construction) when an extractor cannot be built: unknown name, no weights.

    Cheap: checks the name and that the weights file exists; the network is built later.

    Raises:
        ValueError: Unknown extractor name.
        TypeError: Neither a name nor an ``nn.Module``.
        FileNotFoundError: The weights file is not on disk.
    """
    if isinstance(extractor, nn.Module):
        if weights is not None and not Path(weights).expanduser().is_file():
            raise FileNotFoundError(f"weights: weights file {weights} not found")
        return
    if not isinstance(extractor, str):
        raise TypeError(
            f"extractor: expected a name or an nn.Module, got {type(extractor).__name__}"
        )
    if extractor not in BUILTIN_EXTRACTORS:
        valid = ", ".join(BUILTIN_EXTRACTORS)
        raise ValueError(
            f"extractor: unknown feature extractor {extractor!r}; valid: {valid}, a registered "
            "model name (torchgan-run) or an nn.Module"
        )
    filename = BUILTIN_EXTRACTORS[extractor][0]
    url = FID_INCEPTION_URL if extractor == "inception_v3_fid" else TORCHVISION_INCEPTION_URL
    resolve_weights(filename, weights, url=url)


def build_feature_extractor(
    extractor: str | nn.Module,
    output: Output = "features",
    *,
    weights: str | os.PathLike | None = None,
    input_spec: InputSpec | Mapping[str, Any] | None = None,
) -> FeatureExtractor:
    """Build a :class:`FeatureExtractor`.

    Args:
        extractor: ``"inception_v3_fid"``, ``"inception_v3_torchvision"`` or an ``nn.Module``.
        output: ``"features"`` (FID/KID: the 2048-d pool features of Inception) or
            ``"logits"`` (Inception Score; ``logits_unbiased`` of the FID port). A custom
            network's output is used for both.
        weights: A weights file (or a directory holding the standard file name). For a
            module: a state dict loaded into it.
        input_spec: Overrides the network's own ``input_spec`` attribute (custom networks;
            default: [-1, 1] floats as they are).

    Raises:
        ValueError: Unknown name, or weights that cannot be read or do not fit.
        FileNotFoundError: Weights file missing.
    """
    check_extractor(extractor, weights)
    if isinstance(extractor, str):
        return BUILTIN_EXTRACTORS[extractor][1](output, weights)
    network = extractor
    if weights is not None:
        load_weights_into(network, Path(weights).expanduser(), "the feature extractor")
    spec = InputSpec.coerce(
        input_spec if input_spec is not None else getattr(network, "input_spec", None)
    )
    name = type(network).__name__
    fingerprint = f"{name}:{module_digest(network)}"
    return FeatureExtractor(network, spec, name, fingerprint)
