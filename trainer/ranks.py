"""One rank of a ``torchrun`` job, as the training loop sees it: its place in the job and the
collectives the loop calls (:class:`Distributed`), and the step wrapped for DDP (:class:`StepLoss`).

Kept apart from :mod:`trainer.distributed` (which launches ranks and runs
:func:`trainer.train.train` in each) so that the training loop depends on these primitives
and the launcher on the loop, never both ways.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import Tensor, nn

COLLECTIVE_TIMEOUT = timedelta(hours=2)
"""How long a rank waits in a collective: rank 0's validation runs while the others wait."""


class StepLoss(nn.Module):
    """One training step's loss as a module's ``forward``, so DDP can wrap it.

    DDP averages the gradients of what its wrapped module's ``forward`` computed; the
    trainer's loss reads the model in several ways (encoder, decoder, regularisation), so the
    whole step is the forward of this thin module, whose parameters are the model's.
    """

    def __init__(self, model: nn.Module, compute: Callable[[Tensor], tuple[Tensor, Tensor | float]]) -> None:
        super().__init__()
        self.model = model
        self._compute = compute

    def forward(self, rows: Tensor) -> tuple[Tensor, Tensor | float]:
        return self._compute(rows)


@dataclass
class Distributed:
    """This process's place in a ``torchrun`` job (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def init(cls, device: str = "cpu") -> Distributed:
        """Join the process group ``torchrun`` describes: gloo on CPU, NCCL on CUDA (GPU ``LOCAL_RANK``)."""
        import torch.distributed as dist

        missing = [name for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR") if name not in os.environ]
        if missing:
            raise RuntimeError(f"not started by torchrun: ${', $'.join(missing)} unset; run "
                               "`kgstore train --nproc N` or `torchrun ... -m trainer.distributed ...`")
        rank, world, local = (int(os.environ[n]) for n in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
        cuda = device.startswith("cuda")
        if cuda:
            if not torch.cuda.is_available():
                raise RuntimeError("config.device is cuda but torch sees no GPU: use device='cpu' (gloo)")
            torch.cuda.set_device(local)
        where = torch.device("cuda", local) if cuda else torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo", timeout=COLLECTIVE_TIMEOUT,
                                    **({"device_id": where} if cuda else {}))
        return cls(rank=rank, world_size=world, local_rank=local, device=where)

    def wrap(self, module: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """``module`` under DDP: rank 0's weights go to every rank now, gradients are averaged each step.

        The message graph buffers are the same on every rank (same snapshot), so they are
        not re-broadcast at every forward.
        """
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        parameters = inspect.signature(DistributedDataParallel).parameters
        no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in parameters else \
            {"broadcast_buffers": False}  # the older name (torch < 2.15)
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters,
                                       **no_sync)

    def epoch_order(self, size: int) -> Tensor:
        """Rank 0's random order of ``size`` training rows, the same on every rank."""
        import torch.distributed as dist

        order = torch.randperm(size) if self.is_main else torch.empty(size, dtype=torch.long)
        order = order.to(self.device)
        dist.broadcast(order, src=0)
        return order.cpu()

    def shard(self, rows: Tensor) -> Tensor:
        """This rank's rows of a global batch: ``rank, rank + N, ...``."""
        return rows[self.rank::self.world_size]

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def from_main(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank."""
        import torch.distributed as dist

        value = torch.tensor([int(flag)], device=self.device)
        dist.broadcast(value, src=0)
        return bool(value.item())

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
