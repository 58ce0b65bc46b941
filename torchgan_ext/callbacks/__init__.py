"""Trainer callbacks: every behaviour of the training loop besides the GAN step itself.

The built-in callbacks are registered by name (``torchgan-run --list callbacks``) and switched
on by the config keys of ``trainer:`` and ``logging:``; plugins register more through the
``torchgan_ext_register_callbacks`` hook, used from YAML as ``callbacks: [{name, args}]``.
"""

from .ada import ADA
from .augment import DiffAugment, DiscriminatorAugment
from .base import CALLBACK_HOOKS, Callback
from .checkpoint import Checkpoint
from .ema import EMA, ModelEMA
from .evaluation import Evaluation
from .nonfinite import NonFiniteGuard
from .path_length import PathLengthPenalty
from .progress import ProgressBarCallback
from .progressive import ProgressiveGrowing
from .regularisers import DiscriminatorRegulariser, LazyRegulariser, LeCam, R1Penalty, R2Penalty
from .samples import SampleGrids
from .schedulers import LRSchedulers
from .tensorboard import TensorBoard

__all__ = [
    "ADA",
    "DiffAugment",
    "DiscriminatorAugment",
    "CALLBACK_HOOKS",
    "Callback",
    "Checkpoint",
    "EMA",
    "ModelEMA",
    "Evaluation",
    "NonFiniteGuard",
    "ProgressBarCallback",
    "ProgressiveGrowing",
    "LazyRegulariser",
    "DiscriminatorRegulariser",
    "PathLengthPenalty",
    "R1Penalty",
    "R2Penalty",
    "LeCam",
    "SampleGrids",
    "LRSchedulers",
    "TensorBoard",
]
