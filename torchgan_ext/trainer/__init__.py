"""The torchgan Trainer subclass, checkpoints and learning-rate schedules."""

from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from .schedulers import LinearDecayLR
from .trainer import Trainer, default_callbacks, move_to_device, prepare_batch, resolve_device

__all__ = [
    "Trainer",
    "default_callbacks",
    "LinearDecayLR",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "move_to_device",
    "prepare_batch",
    "resolve_device",
]
