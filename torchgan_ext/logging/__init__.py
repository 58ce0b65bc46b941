"""Progress bar, sample grids and tensorboard logging for the torchgan Trainer."""

from .logger import Logger
from .progress import ProgressBar
from .visualize import make_grid, render_samples, save_grid

__all__ = ["Logger", "ProgressBar", "make_grid", "render_samples", "save_grid"]
