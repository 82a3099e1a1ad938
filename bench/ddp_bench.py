"""1 process vs N DDP processes (torch.distributed.run, gloo on CPU, NCCL on CUDA) on this machine.

Each row trains the same model for the same epochs with the same global batch and seed:
``--nproc 1`` as one process with all ``--threads``, ``--nproc N`` as N ranks sharing the
threads (``--threads / N`` each), each rank on its shard of every batch. Columns: filtered
test MRR, optimisation seconds (rank 0's), training triples/s, and the whole wall clock
including the ranks' start (torch import, process group) and rank 0's evaluation.

Example::

    python bench/ddp_bench.py --dataset codex-s --nproc 1,2 --epochs 20 --threads 2
    python bench/ddp_bench.py --dataset fb15k-237 --device cuda --nproc 1,2,4 --batch-size 1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.sampler_bench import load_snapshot  # noqa: E402

ROW = "{:<10} {:>5} {:>8} {:>6} {:>6} {:>8} {:>10} {:>7}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="codex-s", help="an importer name")
    parser.add_argument("--nproc", default="1,2", help="comma-separated process counts, one row each")
    parser.add_argument("--decoder", default="complex")
    parser.add_argument("--layers", type=int, default=0, help="R-GCN layers (0 = plain embeddings)")
    parser.add_argument("--sampler", default="auto")
    parser.add_argument("--dim", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256, help="the global batch")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads shared by the ranks")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import platform

    import torch

    from trainer.config import TrainConfig
    from trainer.distributed import launch
    from trainer.train import train

    device = args.device + (f" ({torch.cuda.get_device_name(0)})" if args.device.startswith("cuda") and
                            torch.cuda.is_available() else "")
    print(f"device: {device}; cpu {platform.processor() or platform.machine()} x{os.cpu_count()}; "
          f"torch {torch.__version__}; python {platform.python_version()}; backend "
          f"{'nccl' if args.device.startswith('cuda') else 'gloo'}")
    print(f"recipe: {args.decoder}, {args.layers} R-GCN layers, dim {args.dim}, global batch {args.batch_size}, "
          f"lr {args.lr}, {args.epochs} epochs, 1-N softmax CE, dropout 0.3, seed {args.seed}; "
          f"{args.threads} CPU threads shared by the ranks")
    snapshot = load_snapshot(args.dataset)
    print(ROW.format("dataset", "procs", "MRR", "H@10", "epochs", "train s", "triples/s", "wall s"))
    for nproc in (int(n) for n in args.nproc.split(",")):
        config = TrainConfig(decoder=args.decoder, dim=args.dim, num_layers=args.layers, num_bases=4 if args.layers
                             else None, sampler=args.sampler, epochs=args.epochs, batch_size=args.batch_size,
                             lr=args.lr, eval_every=args.epochs, patience=0, device=args.device, seed=args.seed,
                             num_threads=max(1, args.threads // nproc))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            result = launch(snapshot, config, checkpoint_dir=folder, progress=False, nproc=nproc) if nproc > 1 \
                else train(snapshot, config, checkpoint_dir=folder, progress=False)
            metrics = result.metrics
        wall = time.perf_counter() - start
        print(ROW.format(args.dataset, nproc, f"{metrics['test']['mrr']:.3f}", f"{metrics['test']['hits@10']:.3f}",
                         len(metrics["epochs"]), f"{metrics['train_seconds']:.1f}",
                         f"{metrics['triples_per_second']:,.0f}", f"{wall:.0f}"), flush=True)


if __name__ == "__main__":
    main()
