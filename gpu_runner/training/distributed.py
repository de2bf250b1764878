"""Data parallelism across the training processes of one run (one per GPU, or 2 on CPU).

The parent starts every rank itself with the environment torchrun would set (``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); ranks meet through
``env://`` with NCCL on GPUs and gloo on the CPU. Every rank reads the whole data set and
derives the same step plan; a step's units are dealt out ``rank::world_size``.

Gradients are summed with one ``all_reduce`` of the flattened LoRA gradients after a step's
micro-batches: each rank's loss is already divided by the step's *global* normaliser, so the
sum is exactly the single-process gradient (up to float summation order). LoRA gradients are
small, which is why no bucketing or backward overlap (DDP's machinery) is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta

import torch
import torch.distributed as dist

COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class Ranks:
    """This process's place among the run's processes; a no-op with one process."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0) -> None:
        self.rank = rank
        self.world_size = world_size
        self.local_rank = local_rank

    @classmethod
    def from_env(cls) -> Ranks:
        """Join the process group described by the environment (one process: nothing to join)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if world_size > 1:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local_rank)
            dist.init_process_group(
                backend,
                init_method="env://",
                rank=rank,
                world_size=world_size,
                timeout=COLLECTIVE_TIMEOUT,
            )
        return cls(rank, world_size, local_rank)

    @property
    def is_main(self) -> bool:
        """Rank 0 reports progress and writes the shared files."""
        return self.rank == 0

    def share(self, items: Sequence[int]) -> list[int]:
        """This rank's part of ``items``."""
        return list(items[self.rank :: self.world_size])

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks, in place."""
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def sum_floats(self, values: Sequence[float], device: torch.device) -> list[float]:
        """Sum a few numbers over ranks (float64, so counts stay exact)."""
        if self.world_size == 1:
            return list(values)
        tensor = torch.tensor(list(values), dtype=torch.float64, device=device)
        return [float(value) for value in self.sum_(tensor).tolist()]

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` holds on any rank (every rank gets the same answer)."""
        if self.world_size == 1:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item() > 0)

    def sum_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        """Sum the parameters' gradients over ranks (a missing gradient counts as zero)."""
        if self.world_size == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for parameter, grad in zip(parameters, grads, strict=True):
            n = grad.numel()
            parameter.grad = flat[offset : offset + n].view_as(grad).clone()
            offset += n

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group."""
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
