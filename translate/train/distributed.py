"""Distributed data-parallel training through ``torchrun`` and PyTorch's own DDP.

``torchrun --nproc_per_node N -m translate train ...`` starts N processes with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set; :func:`setup` joins them into one
process group (gloo on CPU, nccl on CUDA, each process on ``cuda:LOCAL_RANK``).
Multi-node runs use torchrun's own rendezvous flags; nothing here is home-made:
every trainable network is wrapped in :class:`torch.nn.parallel.DistributedDataParallel`
(:meth:`translate.models.base.Model.distribute`), data is split by
:class:`torch.utils.data.DistributedSampler`, and objective statistics go through
``all_reduce`` (:meth:`translate.objective.Objective.reduce`).
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in the run: rank ``rank`` of ``world_size``."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, samples and writes checkpoints."""
        return self.rank == 0

    def device(self, requested: torch.device) -> torch.device:
        """The device of this process: ``cuda:LOCAL_RANK`` when CUDA is requested under torchrun."""
        if self.enabled and requested.type == "cuda" and requested.index is None:
            return torch.device("cuda", self.local_rank)
        return requested

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """``module`` in DDP (gradients averaged over ranks during backward).

        Buffers (batch-norm statistics) are synchronised once, at wrapping, and then stay
        per rank: a forward pass never waits for the other ranks, so rank 0 alone can
        draw samples. Checkpoints hold rank 0's.
        """
        device_ids = [device.index] if device.type == "cuda" else None
        no_buffer_sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_PARAMETERS
                          else {"broadcast_buffers": False})  # the older name (torch < 2.14)
        return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, **no_buffer_sync)

    def all_reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over all ranks (``value`` itself when alone)."""
        if not self.enabled:
            return value
        reduced = value.detach().clone()
        dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
        return reduced / self.world_size

    def mean_of(self, values: dict[str, float], device: torch.device) -> dict[str, float]:
        """Each of ``values`` averaged over the ranks (every rank passes the same keys).

        A non-finite value on one rank makes the mean non-finite on all of them, so every
        rank stops at the same step instead of the others waiting for it.
        """
        if not self.enabled:
            return values
        names = sorted(values)
        stacked = torch.tensor([values[name] for name in names], dtype=torch.float64, device=device)
        return dict(zip(names, self.all_reduce_mean(stacked).tolist()))

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


_DDP_PARAMETERS = inspect.signature(nn.parallel.DistributedDataParallel).parameters


def setup(device: torch.device) -> Distributed:
    """Join torchrun's process group if this process was started by it (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    context = Distributed(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world_size)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(context.device(device))
        dist.init_process_group(backend=backend)
    return context


def teardown(context: Distributed) -> None:
    """Leave the process group (after the last collective)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()
