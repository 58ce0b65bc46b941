"""Data-parallel training with ``torch.distributed`` (torchrun), for any torchgan loss.

One process per GPU (or CPU process with gloo). Every rank builds identical models (same seed,
then rank 0's weights are broadcast), reads its own shard of the data (``ResumableSampler``
with ``num_replicas``/``rank``) and draws its own noise. Before every optimizer step the
gradients of that optimizer's parameters are averaged across ranks with one flat all-reduce, so
all ranks apply the same update and hold identical weights - the arithmetic of
``DistributedDataParallel``.

Why not wrap the models in ``DistributedDataParallel``: torchgan's ``train_ops`` run forwards
that are never followed by a backward through the same model (the generator's forward inside
the discriminator step is detached), and DDP's reducer then fails with "Expected to have
finished reduction in the prior iteration"; it also all-reduces the discriminator's gradients
during the generator step, which nothing uses. Synchronising at the optimizer step works for
every loss as written, keeps models unwrapped (attributes, ``isinstance`` and state-dict keys
unchanged), and communicates only what is stepped. What is lost is DDP's overlap of the
all-reduce with the backward pass.

Launch with ``torchrun --nproc_per_node N -m torchgan_ext.cli config.yaml`` or
``torchgan-run config.yaml --nproc N``; multi-node follows from torchrun's rendezvous
(``--nnodes``, ``--node_rank``, ``--rdzv_endpoint``). ``data.loader.batch_size`` is per process.
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

__all__ = [
    "DistInfo",
    "GradientAverager",
    "init_distributed",
    "broadcast_parameters",
    "any_rank",
]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a data-parallel job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device, timeout_minutes: float = 120.0) -> DistInfo:
    """Join the process group described by torchrun's environment (no-op for one process).

    Uses NCCL on CUDA and gloo on CPU. The timeout is long because rank 0 alone computes metrics
    while the other ranks wait.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_minutes))
        atexit.register(_destroy_at_exit)
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, backend=backend)


def _destroy_at_exit() -> None:
    """Destroy the process group this module created, while the interpreter is still whole.

    Left to interpreter finalisation, gloo's worker threads are torn down after Python is gone and
    the process can die with SIGABRT ("terminate called without an active exception") after
    training finished - a failed job under torchrun. Runs at ``atexit`` so every way out of a run
    (return, error, library use of :func:`~torchgan_ext.build_trainer`) is covered; a no-op when
    the caller already destroyed the group.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(model: nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor.data, src=0)


class GradientAverager:
    """Optimizer step pre-hook that averages the gradients being stepped across ranks.

    One flat all-reduce per optimizer step (gradients flattened into one buffer).
    """

    def __init__(self, info: DistInfo) -> None:
        self.world_size = info.world_size

    def __call__(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return
        flat = _flatten_dense_tensors(grads)
        dist.all_reduce(flat)
        flat.div_(self.world_size)
        for grad, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
            grad.copy_(synced)


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True when ``flag`` is true on any rank (one small all-reduce; call at a low rate)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
