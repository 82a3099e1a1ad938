"""R-GCN with full-graph steps vs neighbour-sampled subgraphs, at equal wall-clock, on a CPU.

Each row trains the same R-GCN (``--layers`` layers, 4 bases, ``--decoder``, 1-N softmax
cross-entropy) for ``--max-seconds`` of wall clock (validation included) with
``--sampler full`` or ``--sampler neighbor --fanout F``, and reports filtered test MRR and
Hits@10 of the best validation epoch, the epochs and optimisation steps that fit, and
triples/s. Datasets come through kgstore's importers from ``$KGSTORE_DATA`` (default
``../shared/data``).

Example::

    OMP_NUM_THREADS=1 python bench/sampler_bench.py --datasets codex-s --max-seconds 150 --threads 1
    python bench/sampler_bench.py --datasets codex-s,fb15k-237 --max-seconds 600
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_snapshot(name: str):
    from kgstore.importers.registry import open_dataset
    from trainer.snapshot import Snapshot

    source = Path(os.environ.get("KGSTORE_DATA", REPO.parent / "shared" / "data"))
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    for record in open_dataset(name, source=source).triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return Snapshot.from_labeled(splits, meta={"dataset": name})


def print_header(args) -> None:
    import platform

    import torch
    import torch_geometric

    print(f"device: cpu ({platform.processor() or platform.machine()} x{os.cpu_count()}); torch threads "
          f"{torch.get_num_threads()}; torch {torch.__version__}; torch-geometric {torch_geometric.__version__}; "
          f"python {platform.python_version()}")
    print(f"recipe: R-GCN {args.layers} layers, 4 bases, {args.decoder}, dim {args.dim}, batch {args.batch_size}, "
          f"lr {args.lr}, 1-N softmax CE, {args.num_negatives} extra negatives per sampled step, dropout "
          f"{args.dropout}, eval every {args.eval_every} epochs, {args.max_seconds:g} s wall clock per row, "
          f"seed {args.seed}")


ROW = "{:<10} {:<16} {:>6} {:>6} {:>6} {:>7} {:>7} {:>10} {:>11}"


def run(snapshot, sampler: str, args) -> dict:
    from trainer.config import TrainConfig
    from trainer.train import train

    config = TrainConfig(decoder=args.decoder, dim=args.dim, num_layers=args.layers, num_bases=4, lr=args.lr,
                         batch_size=args.batch_size, epochs=10_000, loss="1-n-ce", dropout=args.dropout,
                         num_negatives=args.num_negatives, eval_every=args.eval_every, patience=0,
                         max_seconds=args.max_seconds, sampler=sampler, fanout=args.fanout,
                         num_threads=args.threads, seed=args.seed)
    with tempfile.TemporaryDirectory() as folder:
        metrics = train(snapshot, config, checkpoint_dir=Path(folder), progress=args.progress).metrics
    return {"mrr": metrics["test"]["mrr"], "h@10": metrics["test"]["hits@10"],
            "valid": metrics["best_valid_mrr"], "epochs": len(metrics["epochs"]),
            "train_s": metrics["train_seconds"], "tps": metrics["triples_per_second"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="codex-s", help="comma-separated importer names")
    parser.add_argument("--samplers", default="full,neighbor", help="rows per dataset: full and/or neighbor")
    parser.add_argument("--fanout", default="10,5", help="neighbours per layer for the neighbor rows")
    parser.add_argument("--max-seconds", type=float, default=150.0, help="wall clock per row")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--decoder", default="complex")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--num-negatives", type=int, default=512)
    parser.add_argument("--eval-every", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    args.fanout = [int(n) for n in args.fanout.split(",")]

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print_header(args)
    print(ROW.format("dataset", "sampler", "MRR", "H@10", "valid", "epochs", "train s", "triples/s", "note"))
    for name in args.datasets.split(","):
        snapshot = load_snapshot(name)
        for sampler in args.samplers.split(","):
            r = run(snapshot, sampler, args)
            label = sampler if sampler == "full" else f"neighbor {','.join(map(str, args.fanout))}"
            print(ROW.format(name, label, f"{r['mrr']:.3f}", f"{r['h@10']:.3f}", f"{r['valid']:.3f}", r["epochs"],
                             f"{r['train_s']:.0f}", f"{r['tps']:,.0f}", f"{len(snapshot.split('train')):,} tr"),
                  flush=True)


if __name__ == "__main__":
    main()
