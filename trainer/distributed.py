"""Data-parallel training on several processes and machines: PyTorch DDP under ``torchrun``.

kgstore runs no distributed runtime of its own. ``kgstore train --nproc N`` (or
``launch(..., nproc=N)``) starts ``python -m torch.distributed.run --standalone
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
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.ranks import COLLECTIVE_TIMEOUT, Distributed, StepLoss  # noqa: F401 - the launcher's API too

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.snapshot import Snapshot
    from trainer.train import TrainResult


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
