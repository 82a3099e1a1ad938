"""Multimodal ablation: structure only vs +text vs +image vs +both, same budget, one table.

Works from the files directly (kgstore's importers into in-memory snapshots; no Neo4j):
the same trainer, fusion and InfoNCE code that `kgstore train --modalities ...` runs.
Every variant trains with the same config (decoder, dim, lr, batch size, epoch cap,
early stopping on the warm validation split, ``--max-seconds``); only ``modalities``
differs. Encoder features are cached by content hash in ``--cache`` (default
``bench/out/multimodal/features``), so only the first run pays for encoding.

Tasks (filtered, realistic ranks against all entities, the answer direction only):

- **MovieLens-100K** (users, movies, genres, occupations; posters and TMDB plot
  overviews; text = "title. overview" for movies, the name for genres/occupations, none for
  users): ``movie→genre`` (``HAS_GENRE``, 20% of edges held out, 5% valid) and
  ``user→movie`` (``LIKES`` = rating >= 4; official ``u1`` split: u1.base train, u1.test
  test; 5% of train as valid). *Cold start*: 10% of the movies that have a poster and an
  overview lose all their edges (genres and likes, from base and test) to a cold test
  set; they are known only by poster and overview. Cold rows: ``cold movie→genre`` and
  ``user→cold movie``.
- **FB15k-237**, **WN18RR** (text only: name + Wikidata description / WordNet
  definition; they have no images): the standard split, both directions, as in
  ``bench/lp_bench.py``. On CPU these runs are time-capped (``--kg-max-seconds``); say so
  when quoting them.

Example::

    python bench/multimodal_ablation.py                                   # MovieLens, 4 variants
    python bench/multimodal_ablation.py --datasets fb15k-237,wn18rr --kg-max-seconds 300
    # WN18RR to a plateau with the large recipe (one variant per process, 1 thread each, ~80 min):
    python bench/multimodal_ablation.py --datasets wn18rr --variants structure --decoder complex --dim 200 \
        --lr 0.1 --optimizer adagrad --regularization 0.05 --loss 1-n-ce --batch-size 1000 --dropout 0 \
        --align-weight 0 --epochs 60 --eval-every 2 --patience 4 --kg-max-seconds 4800 --threads 1
    # the same with --variants +text, and with --variants +text --fusion split
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VARIANTS = {"structure": [], "+text": ["text"], "+image": ["image"], "+both": ["text", "image"]}
DATA = Path(os.environ.get("KGSTORE_DATA", REPO.parent / "shared" / "data"))


# -- data ---------------------------------------------------------------------------------
def movielens(seed: int = 0, cold_fraction: float = 0.1):
    """The MovieLens snapshot and its evaluation tasks ``{name: (id triples [n, 3])}``."""
    import numpy as np

    from kgstore.importers.registry import open_dataset
    from trainer.snapshot import Snapshot

    dataset = open_dataset("movielens-100k", source=DATA)
    entities = list(dataset.entities())
    images = [(record.entity, record.path) for record in dataset.images()]
    rng = random.Random(seed)
    genre, likes, other = [], [], []
    for t in dataset.triples():
        if t.relation == "HAS_GENRE":
            genre.append((t.head, "HAS_GENRE", t.tail))
        elif t.relation == "RATED" and t.properties["rating"] >= 4:
            likes.append((t.head, "LIKES", t.tail, t.split))
        elif t.relation == "HAS_OCCUPATION":
            other.append((t.head, t.relation, t.tail, "train"))
    with_poster = {entity for entity, _ in images}
    with_plot = {e.id for e in entities if e.id.startswith("movie/") and e.description}
    candidates = sorted(with_poster & with_plot)
    cold = set(rng.sample(candidates, int(cold_fraction * len(candidates))))

    rows, task_of = [], []  # task_of[i] names the task of a held-out row
    rng.shuffle(genre)
    for i, (h, r, t) in enumerate(genre):
        if h in cold:
            rows.append((h, r, t, "test")), task_of.append("cold movie→genre")
        else:
            split = "test" if i % 20 < 4 else "valid" if i % 20 == 4 else "train"
            rows.append((h, r, t, split)), task_of.append("movie→genre" if split == "test" else None)
    for h, r, t, split in likes:
        if t in cold:
            rows.append((h, r, t, "test")), task_of.append("user→cold movie")
        else:
            split = "valid" if split == "train" and rng.random() < 0.05 else split
            rows.append((h, r, t, split)), task_of.append("user→movie" if split == "test" else None)
    rows += other
    task_of += [None] * len(other)
    snapshot = Snapshot.from_records(entities=entities, triples=rows, images=images,
                                     meta={"dataset": "movielens-100k", "cold_movies": len(cold)})
    tasks: dict[str, np.ndarray] = {}
    for name in ("movie→genre", "user→movie", "cold movie→genre", "user→cold movie"):
        mask = np.array([task == name for task in task_of])
        tasks[name] = snapshot.triples[mask]
    return snapshot, tasks


def text_kg(name: str):
    """A standard-split KG with entity names and descriptions (text only)."""
    from kgstore.importers.registry import open_dataset
    from trainer.snapshot import Snapshot

    dataset = open_dataset(name, source=DATA)
    entities = {e.id: e for e in dataset.entities()}
    rows = [(t.head, t.relation, t.tail, t.split) for t in dataset.triples()]
    return Snapshot.from_records(entities=list(entities.values()), triples=rows, meta={"dataset": name})


# -- evaluation --------------------------------------------------------------------------------
def tail_metrics(model, snapshot, triples, filter_index) -> dict:
    """Filtered realistic MRR / Hits@10 of the tails of ``triples`` (the task's answer direction)."""
    import torch

    from trainer.evaluation import rank_metrics, realistic_ranks

    model.eval()
    with torch.no_grad():
        x = model.entity_vectors()
        ranks = []
        for start in range(0, len(triples), 512):
            h, r, t = torch.as_tensor(triples[start:start + 512]).t()
            scores = model.decoder.score_all_tails(x[h], r, x)
            ranks.append(realistic_ranks(scores, t, filter_index.answers_of(h, r)).numpy())
    import numpy as np

    return rank_metrics(np.concatenate(ranks) if ranks else np.zeros(0))


def run(snapshot, modalities, args, *, cache: Path, max_seconds: float | None):
    import tempfile

    from trainer.config import TrainConfig
    from trainer.train import train

    config = TrainConfig(decoder=args.decoder, dim=args.dim, lr=args.lr, batch_size=args.batch_size,
                         loss=args.loss, epochs=args.epochs, patience=args.patience, eval_every=args.eval_every,
                         max_seconds=max_seconds, device=args.device, seed=args.seed, modalities=modalities,
                         align_weight=args.align_weight, num_threads=args.threads, optimizer=args.optimizer,
                         regularization=args.regularization, dropout=args.dropout, modality_lr=args.modality_lr,
                         fusion=args.fusion, modality_share=args.modality_share)
    snapshot.path = cache.parent  # the in-memory snapshot's features/ folder is the bench's cache
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = train(snapshot, config, checkpoint_dir=Path(folder), progress=False)
        result.metrics["wall_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="movielens-100k", help="movielens-100k, fb15k-237, wn18rr (comma list)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    parser.add_argument("--decoder", default="distmult")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--loss", default="1-n",
                        help="1-n (BCE: the stronger structure-only baseline on MovieLens), 1-n-ce or nssa")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--align-weight", type=float, default=0.5)
    parser.add_argument("--optimizer", default="adam", help="adam, or adagrad (with --lr 0.1 and --regularization: "
                        "the large-graph recipe of lp_bench.py)")
    parser.add_argument("--regularization", type=float, default=0.0, help="N3 weight")
    parser.add_argument("--modality-lr", type=float, default=None,
                        help="step size of the fusion heads (default: --lr under adam, --lr/100 under adagrad)")
    parser.add_argument("--dropout", type=float, default=0.3, help="query dropout")
    parser.add_argument("--fusion", default="sum", help="sum (modalities added in every position) or split (they "
                        "own --modality-share of the positions, the structural vector the rest)")
    parser.add_argument("--modality-share", type=float, default=0.25, help="with --fusion split")
    parser.add_argument("--json", type=Path, default=None, help="also write the table's rows here as JSON")
    parser.add_argument("--max-seconds", type=float, default=600, help="training cap per MovieLens run")
    parser.add_argument("--kg-max-seconds", type=float, default=300, help="training cap per FB15k-237/WN18RR run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KGSTORE_NUM_THREADS", 0)) or None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=REPO / "bench" / "out" / "multimodal" / "features",
                        help="feature cache folder (named features/)")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "out" / "multimodal_ablation.png",
                        help="PNG of MRR per task, one bar per variant (default %(default)s)")
    args = parser.parse_args()

    import torch

    from trainer.evaluation import evaluate
    from trainer.targets import QueryIndex

    print(f"python {platform.python_version()}, torch {torch.__version__}, device {args.device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if args.device.startswith('cuda') else ''}, "
          f"threads {args.threads or torch.get_num_threads()}")
    print("command: python bench/multimodal_ablation.py " + " ".join(sys.argv[1:]))
    table: list[tuple[str, str, str, dict]] = []
    for name in args.datasets.split(","):
        if name == "movielens-100k":
            snapshot, tasks = movielens(args.seed)
            variants, cap = args.variants.split(","), args.max_seconds
        else:
            snapshot, tasks = text_kg(name), None
            variants, cap = [v for v in args.variants.split(",") if "image" not in v and v != "+both"], \
                args.kg_max_seconds
        filter_index = QueryIndex(snapshot.triples, num_relations=snapshot.num_relations)
        for variant in variants:
            result = run(snapshot, VARIANTS[variant], args, cache=args.cache, max_seconds=cap)
            m = result.metrics
            note = f"{m['stopped']} @ epoch {m['best_epoch']}/{len(m['epochs'])}, {m['train_seconds']:.0f} s"
            if tasks is None:
                test = evaluate(result.model, snapshot.split("test"), known_triples=snapshot.triples,
                                per_relation=False, filter_index=filter_index)
                table.append((name, "test (both directions)", variant, {**test, "note": note}))
            else:
                for task, triples in tasks.items():
                    table.append((name, task, variant, {**tail_metrics(result.model, snapshot, triples, filter_index),
                                                        "note": note}))
            for _, task, _, row in table[-(len(tasks) if tasks else 1):]:
                print(f"  {name} {variant} {task}: MRR {row['mrr']:.4f} Hits@10 {row['hits@10']:.4f} ({note})",
                      flush=True)

    print()
    print("| dataset | task | variant | MRR | Hits@1 | Hits@3 | Hits@10 | vs structure | run |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    base = {(d, t): r["mrr"] for d, t, v, r in table if v == "structure"}
    for dataset, task, variant, row in table:
        ref = base.get((dataset, task))
        delta = "" if variant == "structure" or not ref else f"{100 * (row['mrr'] / ref - 1):+.0f}%"
        print(f"| {dataset} | {task} ({row['count']}) | {variant} | {row['mrr']:.4f} | {row['hits@1']:.4f} | "
              f"{row['hits@3']:.4f} | {row['hits@10']:.4f} | {delta} | {row['note']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": sys.argv, "rows": [
            {"dataset": d, "task": t, "variant": v, **{k: x for k, x in r.items() if isinstance(x, (int, float, str))}}
            for d, t, v, r in table]}, indent=2) + "\n")

    from bench_plots import grouped_bars

    tasks = list(dict.fromkeys(f"{dataset}\n{task}" for dataset, task, _, _ in table))
    series: dict[str, list[float | None]] = {}
    for dataset, task, variant, row in table:
        series.setdefault(variant, [None] * len(tasks))[tasks.index(f"{dataset}\n{task}")] = row["mrr"]
    png = grouped_bars(tasks, series, args.plot, ylabel="MRR (filtered)",
                       title=f"multimodal ablation: {args.decoder}, dim {args.dim}, loss {args.loss}, {args.device}")
    print(f"figure: {png}")


if __name__ == "__main__":
    main()
