"""The torchgan Trainer subclass, checkpoints, EMA and learning-rate schedules."""

from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from .ema import ModelEMA
from .schedulers import LinearDecayLR
from .trainer import Trainer, move_to_device, prepare_batch, resolve_device

__all__ = [
    "Trainer",
    "ModelEMA",
    "LinearDecayLR",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "move_to_device",
    "prepare_batch",
    "resolve_device",
]
