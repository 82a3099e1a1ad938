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

``--faiss`` instead checks the sidecar's GPU FAISS (issue 17): which backend
:func:`trainer.sidecar.topk.faiss_backend` picks, that a ``TopK`` on the GPU returns the same
answers as on the CPU for every decoder, and both search times. It exits 1 when CUDA is
there but FAISS cannot use it (the faiss-gpu build is missing or sees no device)::

    python bench/gpu_check.py --faiss
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


def faiss_check(entities: int = 100_000, dim: int = 256, queries: int = 2_000, k: int = 10) -> int:
    """GPU FAISS vs CPU FAISS on one random model per decoder; 0 when they agree (or no CUDA at all)."""
    import os
    import time

    import faiss
    import numpy as np
    import torch

    from trainer.config import TrainConfig
    from trainer.decoders import DECODERS
    from trainer.model import KGModel
    from trainer.sidecar.topk import FAISS_BACKEND_ENV, TopK, faiss_backend

    cuda = torch.cuda.is_available()
    gpu_build = hasattr(faiss, "StandardGpuResources")
    print(f"faiss {faiss.__version__}, GPU build: {gpu_build}, GPUs FAISS sees: "
          f"{faiss.get_num_gpus() if gpu_build else 0}; torch {torch.__version__}, CUDA available: {cuda}"
          + (f" ({torch.cuda.get_device_name(0)})" if cuda else ""))
    backend = faiss_backend()
    print(f"sidecar FAISS backend: {backend}")
    if backend != "gpu":
        if cuda:
            print("FAIL: CUDA is available but FAISS runs on the CPU: pip uninstall -y faiss-cpu && "
                  "pip install --force-reinstall --no-deps faiss-gpu (the `gpu` extra)")
            return 1
        print("no CUDA device: nothing to compare (the CPU backend is the right answer here)")
        return 0
    failures = 0
    print(f"{'decoder':<10} {'agree':>7} {'cpu ms':>8} {'gpu ms':>8}  ({entities:,} entities, dim {dim}, "
          f"{queries:,} queries, k {k})")
    for name in sorted(DECODERS):
        torch.manual_seed(0)
        kwargs = {"p": 2} if name == "transe" else {}
        config = TrainConfig(decoder=name, decoder_kwargs=kwargs, dim=dim, num_layers=0, reciprocal=True)
        model = KGModel.from_config(config, num_entities=entities, num_relations=8).eval()
        with torch.no_grad():
            vectors = model.entity_vectors()
        entity = torch.randint(0, entities, (queries,))
        relation = torch.randint(0, 16, (queries,))
        answers, millis = {}, {}
        for wanted in ("cpu", "gpu"):
            os.environ[FAISS_BACKEND_ENV] = wanted
            topk = TopK(model, vectors, index="exact")
            assert topk.backend == wanted, (topk.backend, wanted)
            topk.search(entity[:10], relation[:10], k)  # warm-up
            started = time.perf_counter()
            answers[wanted] = topk.search(entity, relation, k)
            millis[wanted] = 1000 * (time.perf_counter() - started)
        os.environ.pop(FAISS_BACKEND_ENV, None)
        same = np.mean([np.array_equal(c[0], g[0]) for c, g in zip(answers["cpu"], answers["gpu"], strict=True)])
        close = all(np.allclose(c[1], g[1], rtol=1e-3, atol=1e-3)
                    for c, g in zip(answers["cpu"], answers["gpu"], strict=True))
        ok = same >= 0.99 and close  # near-ties may swap under float rounding
        failures += not ok
        print(f"{name:<10} {same:>7.1%} {millis['cpu']:>8.1f} {millis['gpu']:>8.1f}  {'ok' if ok else 'FAIL'}")
    return 1 if failures else 0


def main() -> None:
    if "--faiss" in sys.argv[1:]:
        sys.exit(faiss_check())
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
