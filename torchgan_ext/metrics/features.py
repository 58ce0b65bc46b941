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
* any registered model name (``MODELS``) or an ``nn.Module``: domain-specific features, and tiny
  extractors for tests.

Weights are only ever read from disk: an explicit ``weights`` path or
``$TORCH_HOME/hub/checkpoints/<file>`` (``torch.hub.get_dir()``). A missing file raises
:class:`~torchgan_ext.errors.MissingWeightsError` naming the file and where to put it; there
is no download and no fallback to random weights.

Images reach every extractor through :func:`prepare_images`, the single place where the GAN's
[-1, 1] images are converted to the value range, channel count and size an extractor expects.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, MissingWeightsError, did_you_mean

__all__ = [
    "InputSpec",
    "FeatureExtractor",
    "BUILTIN_EXTRACTORS",
    "FID_INCEPTION_FILE",
    "FID_INCEPTION_URL",
    "TORCHVISION_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_URL",
    "prepare_images",
    "hub_checkpoint_dir",
    "resolve_weights",
    "build_feature_extractor",
    "check_extractor",
    "sha256_file",
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
            fields = set(cls.__dataclass_fields__)
            for key in value:
                if key not in fields:
                    raise ConfigError(
                        f"unknown input_spec field {key!r}; {did_you_mean(key, fields)}"
                    )
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

    def describe(self) -> dict[str, Any]:
        """What the protocol records about this extractor (name, input spec, fingerprint)."""
        return {"name": self.name, "fingerprint": self.fingerprint, "input": asdict(self.spec)}


# ------------------------------------------------------------------------------------------
# weights files
# ------------------------------------------------------------------------------------------
def hub_checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (where ``torch.hub`` keeps downloaded weights)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per process for the same path, size and mtime."""
    stat = path.stat()
    memo_key = (os.fspath(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo_key not in _SHA256_MEMO:
        _SHA256_MEMO[memo_key] = sha256_file(path)
    return _SHA256_MEMO[memo_key]


def _hash_prefix(filename: str) -> str | None:
    stem = filename.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1]
    return tail if len(tail) == 8 and all(c in "0123456789abcdef" for c in tail) else None


def resolve_weights(
    filename: str,
    weights: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    key: str | None = None,
    alternative: str | None = None,
) -> tuple[Path, str]:
    """Find a weights file on disk and check it; never downloads.

    Args:
        filename: The standard file name (``weights-inception-2015-12-05-6726825d.pth``).
        weights: An explicit path (file or directory holding ``filename``); default
            ``$TORCH_HOME/hub/checkpoints/filename``.
        url: Where the file can be downloaded on a machine with network (for the message).
        key: The config key of the ``weights`` argument (for the message).
        alternative: What else the user can do (default: point ``key`` at the file).

    Returns:
        ``(path, identity)``: the SHA-256 for files of the standard name (which is checked
        against the hash prefix in the name), else ``"path:size:mtime"``.

    Raises:
        MissingWeightsError: The file is missing, or its SHA-256 does not start with the hash
            prefix in its standard name (a truncated or different file).
    """
    hub = hub_checkpoint_dir()
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():
            path = path / filename
        where = f"the path given ({weights})"
    else:
        path = hub / filename
        where = f"{hub} ($TORCH_HOME/hub/checkpoints)"
    if not path.is_file():
        fetch = f"download it on a machine with network ({url}) and " if url else ""
        hint = alternative or f"set {key or 'the metric argument weights'} to its path"
        raise MissingWeightsError(
            f"weights file {filename!r} not found in {where}; {fetch}copy it to {hub / filename}"
            f" or {hint}. "
            "torchgan-ext never downloads weights nor falls back to random weights (see "
            "docs/metrics.md)",
            key=key,
        )
    prefix = _hash_prefix(filename)
    if path.name == filename and prefix is not None:
        digest = _cached_sha256(path)
        if not digest.startswith(prefix):
            raise MissingWeightsError(
                f"{path} is not the expected {filename!r}: its SHA-256 starts with {digest[:8]}, "
                f"not {prefix} (a truncated copy or another file); copy the original file again",
                key=key,
            )
        return path, digest
    stat = path.stat()  # a file of another name is identified by path, size and time
    return path, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _load_state_dict(path: Path, key: str | None) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files; keep the cause
        raise MissingWeightsError(
            f"cannot read weights file {path}: {str(e).strip().splitlines()[0] if str(e) else e}",
            key=key,
        ) from e
    if isinstance(state, Mapping) and "state_dict" in state and len(state) <= 3:
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise MissingWeightsError(f"weights file {path} does not hold a state dict", key=key)
    return dict(state)


def _load_into(network: nn.Module, path: Path, key: str | None) -> None:
    state = _load_state_dict(path, key)
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise MissingWeightsError(
            f"weights file {path} does not fit the feature extractor: {first}", key=key
        ) from e


def _module_digest(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------
# the built-in Inception extractors
# ------------------------------------------------------------------------------------------
class _FidelityInception(nn.Module):
    """torch-fidelity's Inception V3 port, returning one of its feature layers."""

    def __init__(self, path: Path, layer: str, key: str | None) -> None:
        super().__init__()
        try:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
        except ImportError as e:
            raise ConfigError(
                "extractor 'inception_v3_fid' needs the package torch-fidelity "
                "(pip install torch-fidelity)",
                key=key,
            ) from e
        # torch-fidelity unpickles the file itself; check it is plain tensors first
        _load_state_dict(path, key)
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", [layer], feature_extractor_weights_path=os.fspath(path)
            )
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise MissingWeightsError(
                f"weights file {path} does not fit the FID Inception network: {first}", key=key
            ) from e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[0]


def _torchvision_inception(path: Path, output: Output, key: str | None) -> nn.Module:
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    _load_into(net, path, key)
    net.AuxLogits = None
    net.aux_logits = False
    if output == "features":
        net.fc = nn.Identity()  # the 2048-d pool features
    return net


def _build_fid_inception(output: Output, weights: Any, key: str | None) -> FeatureExtractor:
    path, digest = resolve_weights(FID_INCEPTION_FILE, weights, url=FID_INCEPTION_URL, key=key)
    layer = "2048" if output == "features" else "logits_unbiased"
    net = _FidelityInception(path, layer, key)
    spec = InputSpec(value_range="uint8", channels=3)  # resizes to 299 itself (TF1 bilinear)
    return FeatureExtractor(net, spec, "inception_v3_fid", f"inception_v3_fid:{layer}:{digest}")


def _build_torchvision_inception(output: Output, weights: Any, key: str | None) -> FeatureExtractor:
    path, digest = resolve_weights(
        TORCHVISION_INCEPTION_FILE, weights, url=TORCHVISION_INCEPTION_URL, key=key
    )
    net = _torchvision_inception(path, output, key)
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


def check_extractor(
    extractor: str | nn.Module,
    weights: str | os.PathLike | None = None,
    *,
    key: str | None = None,
) -> None:
    """Fail fast (at config time) when an extractor cannot be built: unknown name, no weights.

    Cheap: checks names and that the weights file exists; the network is built later.

    Raises:
        ConfigError: Unknown extractor name (with did-you-mean).
        MissingWeightsError: The weights file is not on disk.
    """
    if isinstance(extractor, nn.Module):
        return
    if not isinstance(extractor, str):
        raise ConfigError(
            f"extractor must be a name or an nn.Module, got {type(extractor).__name__}", key=key
        )
    wkey = key.rsplit(".", 1)[0] + ".weights" if key else None
    if extractor in BUILTIN_EXTRACTORS:
        filename = BUILTIN_EXTRACTORS[extractor][0]
        url = FID_INCEPTION_URL if extractor == "inception_v3_fid" else TORCHVISION_INCEPTION_URL
        resolve_weights(filename, weights, url=url, key=wkey)
        return
    from .._registry import MODELS

    if extractor not in MODELS:
        choices = [*BUILTIN_EXTRACTORS, *MODELS.list()]
        raise ConfigError(
            f"unknown feature extractor {extractor!r}; {did_you_mean(extractor, choices)}",
            key=key,
        )
    if weights is not None and not Path(weights).expanduser().is_file():
        raise MissingWeightsError(f"weights file {weights} not found", key=wkey)


def build_feature_extractor(
    extractor: str | nn.Module,
    output: Output = "features",
    *,
    weights: str | os.PathLike | None = None,
    extractor_args: Mapping[str, Any] | None = None,
    input_spec: InputSpec | Mapping[str, Any] | None = None,
    key: str | None = None,
) -> FeatureExtractor:
    """Build a :class:`FeatureExtractor`.

    Args:
        extractor: ``"inception_v3_fid"``, ``"inception_v3_torchvision"``, a registered model
            name, or an ``nn.Module``.
        output: ``"features"`` (FID/KID: the 2048-d pool features of Inception) or
            ``"logits"`` (Inception Score; ``logits_unbiased`` of the FID port). A custom
            network's output is used for both.
        weights: A weights file (or a directory holding the standard file name). For a
            registered model or module: a state dict loaded into it.
        extractor_args: Constructor arguments of a registered model.
        input_spec: Overrides the network's own ``input_spec`` attribute (custom networks;
            default: [-1, 1] floats as they are).
        key: The config key of the ``extractor`` argument (for messages).

    Raises:
        ConfigError: Unknown name or bad arguments.
        MissingWeightsError: Weights file missing, unreadable or not matching the network.
    """
    wkey = key.rsplit(".", 1)[0] + ".weights" if key else None
    if isinstance(extractor, str) and extractor in BUILTIN_EXTRACTORS:
        if extractor_args:
            raise ConfigError(f"extractor {extractor!r} takes no extractor_args", key=key)
        return BUILTIN_EXTRACTORS[extractor][1](output, weights, wkey)
    check_extractor(extractor, weights, key=key)
    if isinstance(extractor, nn.Module):
        network, name, args_text = extractor, type(extractor).__name__, ""
    else:
        from .._registry import MODELS
        from ..config import check_arguments

        cls = MODELS.get(extractor)
        args = dict(extractor_args or {})
        akey = key.rsplit(".", 1)[0] + ".extractor_args" if key else "extractor_args"
        check_arguments(cls, args, akey, f"feature extractor {extractor!r}")
        network = cls(**args)
        if not isinstance(network, nn.Module):
            raise ConfigError(f"extractor {extractor!r} did not build an nn.Module", key=key)
        name, args_text = extractor, repr(sorted(args.items()))
    if weights is not None:
        _load_into(network, Path(weights).expanduser(), wkey)
    spec = InputSpec.coerce(
        input_spec if input_spec is not None else getattr(network, "input_spec", None)
    )
    fingerprint = f"{name}:{args_text}:{_module_digest(network)}"
    return FeatureExtractor(network, spec, name, fingerprint)
