"""Data-parallel training on several processes and machines: PyTorch DDP under ``torchrun``.

kgstore runs no distributed runtime of its own. ``kgstore train --nproc N`` (or
``train(..., nproc=N)``) starts ``python -m torch.distributed.run --standalone
--nproc-per-node N -m trainer.distributed ...`` on this machine; on several machines the
user starts the same module with ``torchrun --nnodes ... --rdzv-endpoint ...`` on each
node (README, "More than one process, more than one machine"). Every process ("rank")
then runs :func:`main`, which joins the process group (gloo on CPU, NCCL on CUDA, one GPU
per local rank) and calls :func:`trainer.train.train` with a :class:`Distributed`.

What a rank does:

* every rank loads the same snapshot folder (a copy on each node), builds the same model
  and wraps it in ``DistributedDataParallel``, which starts every rank from rank 0's
  weights and averages the gradients of each step across ranks;
* each epoch, rank 0 draws the order of the training rows and broadcasts it; each global
  batch of ``batch_size`` rows is dealt out row by row, rank ``k`` taking rows ``k, k + N,
  ...``, so the ranks train on disjoint shards and a step sees the same global batch as one
  process would (a last batch with fewer rows than ranks is skipped);
* rank 0 alone validates, keeps the best weights, writes the checkpoint folder and tests;
  it broadcasts the early-stopping decision, and a ``max_seconds`` cap stops every rank at
  the same step.

What stays on one machine, and why: the snapshot export and the write-back into Neo4j run
once, in the process that launched the ranks (or, multi-node, as ``kgstore write-back`` on
rank 0's node after ``torchrun`` returns): they talk to one database over Bolt, gain
nothing from N copies and must not write N versions of the vectors. The decoder sidecar
serves a finished checkpoint from one process (FAISS search is per-request and fast);
it is not part of training at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.snapshot import Snapshot
    from trainer.train import TrainResult

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


def torchrun_command(*, nproc: int, snapshot_dir: Path, config_file: Path, checkpoint_dir: Path,
                     resume: bool = False, progress: bool = True) -> list[str]:
    """The ``torch.distributed.run`` command line of a one-machine run with ``nproc`` ranks."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "trainer.distributed", "--snapshot", str(snapshot_dir), "--config", str(config_file),
               "--checkpoint-dir", str(checkpoint_dir)]
    return command + (["--resume"] if resume else []) + ([] if progress else ["--no-progress"])


def launch(snapshot: Snapshot, config: TrainConfig, *, checkpoint_dir: Path | str, nproc: int,
           resume: bool = False, progress: bool = True) -> TrainResult:
    """Train with ``nproc`` DDP processes on this machine and return rank 0's result.

    The ranks read the snapshot from its folder (a snapshot that is not the one in its
    folder, or has none, is saved to a temporary folder first) and the config from a file;
    rank 0 writes the checkpoint folder, from which the result (best weights, vectors,
    metrics) is read back.
    """
    from trainer.checkpoint import entity_vectors, load_checkpoint
    from trainer.train import TrainResult

    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    checkpoint_dir = Path(checkpoint_dir)
    with tempfile.TemporaryDirectory(prefix="kgstore-ddp-") as scratch:
        folder = snapshot.path if _on_disk(snapshot) else dataclasses.replace(snapshot).save(Path(scratch) / "snapshot")
        config_file = Path(scratch) / "config.json"
        config.save(config_file)
        env = dict(os.environ)
        share = str(max(1, (os.cpu_count() or 1) // nproc))  # the ranks share the cores
        if "KGSTORE_NUM_THREADS" not in env and config.num_threads is None:
            env["KGSTORE_NUM_THREADS"] = share
        env.setdefault("OMP_NUM_THREADS", str(config.num_threads or env.get("KGSTORE_NUM_THREADS") or share))
        command = torchrun_command(nproc=nproc, snapshot_dir=folder, config_file=config_file,
                                   checkpoint_dir=checkpoint_dir, resume=resume, progress=progress)
        done = subprocess.run(command, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"distributed training with {nproc} processes failed (torchrun exit code "
                           f"{done.returncode}); the ranks' errors are printed above. The command was: "
                           f"{' '.join(command)}")
    model, saved_config, vocab, metrics = load_checkpoint(checkpoint_dir)
    return TrainResult(model=model, config=saved_config, entity_vectors=entity_vectors(checkpoint_dir),
                       metrics=metrics, checkpoint_dir=checkpoint_dir, entity_keys=list(vocab["entity_keys"]))


def _on_disk(snapshot: Snapshot) -> bool:
    """Whether the snapshot's folder holds this very snapshot (not deleted, not since re-split)."""
    import numpy as np

    path = snapshot.path
    if path is None or not (path / "meta.json").is_file() or not (path / "splits.npy").is_file():
        return False
    splits = np.load(path / "splits.npy", mmap_mode="r")
    return splits.shape == snapshot.splits.shape and bool((splits == snapshot.splits).all())


def main(argv: list[str] | None = None) -> int:
    """One rank: ``torchrun [...] -m trainer.distributed --snapshot DIR --config FILE --checkpoint-dir DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.distributed",
        description="One rank of a DDP training run; start it with torchrun (or `kgstore train --nproc N`).")
    parser.add_argument("--snapshot", type=Path, required=True,
                        help="snapshot folder (`kgstore export PATH`); a copy on every node")
    parser.add_argument("--config", type=Path,
                        help="a TrainConfig file (.toml, .yaml, .json); default: TrainConfig()")
    parser.add_argument("--checkpoint-dir", type=Path, required=True,
                        help="where rank 0 writes the checkpoint (then `kgstore write-back DIR --model NAME`)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the checkpoint in --checkpoint-dir (every rank reads its training state)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on rank 0")
    args = parser.parse_args(argv)

    from trainer.config import TrainConfig
    from trainer.snapshot import Snapshot
    from trainer.train import train

    config = TrainConfig.from_file(args.config) if args.config else TrainConfig()
    world_local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if config.num_threads is None and "KGSTORE_NUM_THREADS" not in os.environ:
        os.environ["KGSTORE_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // world_local))
    distributed = Distributed.init(config.device)
    try:
        if distributed.device.type == "cuda":
            config = dataclasses.replace(config, device=str(distributed.device))
        result = train(Snapshot.load(args.snapshot), config, checkpoint_dir=args.checkpoint_dir,
                       resume=args.resume, progress=not args.no_progress and distributed.is_main,
                       distributed=distributed)
        if distributed.is_main:
            test = result.metrics.get("test", {})
            print(json.dumps({"world_size": distributed.world_size, "checkpoint": str(result.checkpoint_dir),
                              "test_mrr": test.get("mrr"), "train_seconds": result.metrics.get("train_seconds")}),
                  file=sys.stderr)
    finally:
        distributed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
