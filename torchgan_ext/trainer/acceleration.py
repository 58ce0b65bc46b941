"""bf16 autocast, channels_last and ``torch.compile`` for any model, with safe fallbacks.

* ``precision: bf16`` runs the training step under ``torch.autocast(dtype=torch.bfloat16)``:
  matmuls and convolutions run in bf16, reductions and losses in fp32 (autocast's op lists);
  parameters, gradients and optimizer state stay fp32. bf16 has fp32's exponent range, so no
  ``GradScaler`` is needed.
* ``channels_last: true`` stores 4-D weights and image batches as NHWC, which cuDNN and oneDNN
  convolutions prefer (especially with bf16 on tensor cores).
* ``compile: true`` compiles each model's forward in place (``nn.Module.compile``), keeping the
  class, the attributes and the state-dict keys. A model whose forward cannot compile falls back
  to eager mode with a warning.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["autocast", "to_channels_last", "compile_model", "uncompile_model", "PRECISIONS"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` (a no-op context for fp32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_channels_last(model: nn.Module) -> nn.Module:
    """Store the model's 4-D parameters and buffers in channels_last (NHWC) layout."""
    return model.to(memory_format=torch.channels_last)


def compile_model(model: nn.Module, check: Callable[[nn.Module], Any] | None = None) -> bool:
    """Compile ``model``'s forward in place; if ``check(model)`` then fails, revert to eager.

    Returns:
        Whether the model runs compiled.
    """
    try:
        model.compile()
        if check is not None:
            # the test forward must not change training: keep the RNG, the buffers and any extra
            # state (e.g. a progressive model's level, a dict) as they were
            saved = {
                k: v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)
                for k, v in model.state_dict().items()
            }
            with torch.random.fork_rng(devices=_cuda_devices()):
                check(model)
            model.load_state_dict(saved)
    except Exception as e:  # noqa: BLE001 - any compiler failure means: run eagerly
        uncompile_model(model)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        warnings.warn(
            f"torch.compile failed for {type(model).__name__}; running it eagerly ({first})",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def _cuda_devices() -> list[int]:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    return []


def uncompile_model(model: nn.Module) -> None:
    """Undo :func:`compile_model` (``nn.Module.compile`` keeps the compiled call here)."""
    model._compiled_call_impl = None
