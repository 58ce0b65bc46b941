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

import os
from collections.abc import Mapping
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ..weights import load_state_dict_file, load_weights_into, module_digest, resolve_weights
from .preprocess import RESIZES, InputSpec, prepare_images

__all__ = [
    "FeatureExtractor",
    "BUILTIN_EXTRACTORS",
    "FID_INCEPTION_FILE",
    "FID_INCEPTION_URL",
    "TORCHVISION_INCEPTION_FILE",
    "TORCHVISION_INCEPTION_URL",
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
        weights: The weights file loaded into ``network``, if any (for the protocol record).
    """

    def __init__(
        self,
        network: nn.Module,
        spec: InputSpec,
        name: str,
        fingerprint: str,
        weights: Path | None = None,
    ) -> None:
        super().__init__()
        #: The weights file the network was loaded from (``None``: a module as given).
        self.weights = weights
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
        self.layer = layer
        try:
            self.net = FeatureExtractorInceptionV3(
                "inception-v3-compat", [layer], feature_extractor_weights_path=os.fspath(path)
            )
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ValueError(
                f"weights: weights file {path} does not fit the FID Inception network: {first}"
            ) from e

    #: The blocks from the 299x299 input to the 2048-d pool features, in order.
    _TRUNK = (
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "MaxPool_1",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "MaxPool_2",
        "Mixed_5b",
        "Mixed_5c",
        "Mixed_5d",
        "Mixed_6a",
        "Mixed_6b",
        "Mixed_6c",
        "Mixed_6d",
        "Mixed_6e",
        "Mixed_7a",
        "Mixed_7b",
        "Mixed_7c",
        "AvgPool",
    )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``uint8`` images of any size: torch-fidelity's own forward (TF1 bilinear resize
        to 299); float pixel values in [0, 255] already at the network's size (the clean
        resize): the same blocks without a resize."""
        if x.dtype == torch.uint8:
            return self.net(x)[0]
        net = self.net
        side = net.INPUT_IMAGE_SIZE
        if tuple(x.shape[-2:]) != (side, side):
            raise ValueError(f"expected {side}x{side} float images, got {tuple(x.shape)}")
        x = (x.to(net.feature_extractor_internal_dtype) - 128.0) / 128.0
        for name in self._TRUNK:
            x = getattr(net, name)(x)
        x = torch.flatten(x, 1)
        if self.layer == "logits_unbiased":
            x = x.mm(net.fc.weight.T)
        return x.float()


def _torchvision_inception(path: Path, output: Output) -> nn.Module:
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    load_weights_into(net, path, "the feature extractor")
    net.AuxLogits = None
    net.aux_logits = False
    if output == "features":
        net.fc = nn.Identity()  # the 2048-d pool features
    return net


def _build_fid_inception(output: Output, weights: Any, resize: str) -> FeatureExtractor:
    path, digest = resolve_weights(FID_INCEPTION_FILE, weights, url=FID_INCEPTION_URL)
    layer = "2048" if output == "features" else "logits_unbiased"
    net = _FidelityInception(path, layer)
    if resize == "clean":  # PIL bicubic to 299 here, float pixels to the network
        size = net.net.INPUT_IMAGE_SIZE
        spec = InputSpec("zero_255", size, 3, quantize=True, resize="clean")
    else:  # uint8; the network resizes to 299 itself (TF1 bilinear)
        spec = InputSpec(value_range="uint8", channels=3)
    fingerprint = f"inception_v3_fid:{layer}:{digest}"
    return FeatureExtractor(net, spec, "inception_v3_fid", fingerprint, path)


def _build_torchvision_inception(output: Output, weights: Any, resize: str) -> FeatureExtractor:
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
        resize=resize,
    )
    name = "inception_v3_torchvision"
    return FeatureExtractor(net, spec, name, f"{name}:{output}:{digest}", path)


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
    resize: str = "legacy",
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
        resize: ``"legacy"`` (default: for ``inception_v3_fid`` torch-fidelity's
            TensorFlow-1-compatible bilinear resize inside the network, as the original
            FID/IS code; else torch's bilinear) or ``"clean"`` (Parmar et al. 2022: PIL
            bicubic on float values, see :func:`clean_resize`). Applies when the images
            are resized.

    Raises:
        ValueError: Unknown name or resize, or weights that cannot be read or do not fit.
        FileNotFoundError: Weights file missing.
    """
    if resize not in RESIZES:
        raise ValueError(f"resize: unknown resize {resize!r}; valid: {', '.join(RESIZES)}")
    check_extractor(extractor, weights)
    if isinstance(extractor, str):
        return BUILTIN_EXTRACTORS[extractor][1](output, weights, resize)
    network = extractor
    path = Path(weights).expanduser() if weights is not None else None
    if path is not None:
        load_weights_into(network, path, "the feature extractor")
    spec = InputSpec.coerce(
        input_spec if input_spec is not None else getattr(network, "input_spec", None)
    )
    spec = replace(spec, resize=resize)
    name = type(network).__name__
    fingerprint = f"{name}:{module_digest(network)}"
    return FeatureExtractor(network, spec, name, fingerprint, path)
