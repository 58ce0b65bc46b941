"""The torchgan Trainer subclass, checkpoints, resume checks, preemption and schedules."""

from ..callbacks.defaults import default_callbacks
from .batch import move_to_device, prepare_batch, resolve_device
from .checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from .resume import ResumeMismatch
from .schedulers import LinearDecayLR, StepwiseDecayLR
from .trainer import Trainer

__all__ = [
    "Trainer",
    "ResumeMismatch",
    "default_callbacks",
    "LinearDecayLR",
    "StepwiseDecayLR",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "move_to_device",
    "prepare_batch",
    "resolve_device",
]
