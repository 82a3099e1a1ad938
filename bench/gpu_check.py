"""GPU check: kgstore and PyKEEN on FB15k-237, same split, same GPU, one call (< ~8 min on an H100).

Trains kgstore (``--device cuda``, bf16 autocast) and then PyKEEN with the same recipe
(see ``lp_bench.py``) on FB15k-237, each under the same wall-clock cap, and prints both
rows of one table. The split comes from a snapshot folder (``--snapshot``, written by
``Snapshot.save`` or ``kgstore export``) or, without one, from the FB15k-237 files under
``$KGSTORE_DATA`` (default ``../shared/data``). ``--save-snapshot DIR`` writes the
snapshot for a machine without the files. PyKEEN is skipped (with a note) when it is not
importable there.

Example::

    python bench/gpu_check.py --snapshot bench/out/fb15k237 --max-seconds 150
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import lp_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fb15k-237", help="dataset name (fb15k-237, wn18rr, codex-s, ...)")
    parser.add_argument("--snapshot", type=Path, default=None, help="snapshot folder (default: build from files)")
    parser.add_argument("--save-snapshot", type=Path, default=None, help="write the snapshot here and exit")
    parser.add_argument("--models", default="distmult")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--max-seconds", type=float, default=150.0)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--systems", default=None, help="kgstore, pykeen or both (default: both when importable)")
    args, rest = parser.parse_known_args()

    from trainer.snapshot import Snapshot

    snapshot = Snapshot.load(args.snapshot) if args.snapshot else lp_bench.load_snapshot(args.dataset)
    if args.save_snapshot:
        snapshot.save(args.save_snapshot)
        print(f"wrote {args.save_snapshot}")
        return
    systems = args.systems or ("kgstore,pykeen" if importlib.util.find_spec("pykeen") else "kgstore")
    if "pykeen" in systems and not importlib.util.find_spec("pykeen"):
        systems = "kgstore"
        print("note: pykeen is not importable here; printing the kgstore row only")
    bench_args = ["--models", args.models, "--epochs", str(args.epochs), "--max-seconds", str(args.max_seconds),
                  "--batch-size", str(args.batch_size), "--device", args.device, "--systems", systems, *rest]
    lp_bench.main(bench_args, snapshots={args.dataset: snapshot})


if __name__ == "__main__":
    main()
