"""Link prediction: kgstore's trainer side by side with PyKEEN, same splits, same machine.

For each dataset and model, both systems train with the same recipe — 1-N scoring
(PyKEEN: LCWA) with softmax cross-entropy, reciprocal relations (PyKEEN:
``create_inverse_triples=True``), Adam, the same dim (real numbers per entity; PyKEEN's
complex models get ``dim/2`` complex dims), lr, batch size and epochs, no early stopping
— and are evaluated with filtered, realistic ranks over both directions on the test split
(PyKEEN's ``RankBasedEvaluator``, filtering train + valid + test). ``--max-seconds`` caps
each run's training wall clock on both sides (a PyKEEN stopper checks it every epoch).

Splits: Nations, UMLS, Kinships from PyKEEN's wheel and CoDEx-S, WN18RR, FB15k-237 from
``$KGSTORE_DATA`` (default ``../shared/data``), all read through kgstore's importers, so
both systems train on exactly the same integer triples.

System ``kgstore+text``: kgstore's trainer on the same splits with ``modalities=["text"]``:
each entity's name and description (WN18RR definitions, FB15k-237 Wikidata descriptions),
frozen MiniLM features (cached in ``--cache``, shared with ``multimodal_ablation.py``) fused
into the entity vectors. PyKEEN has no text path, so it has no such row.

Columns: MRR, Hits@k (test, filtered, realistic), train s (optimisation only, no
evaluation), triples/s = training triples x epochs run / train s.

Example::

    python bench/lp_bench.py --datasets nations,umls,kinships --models distmult,complex --epochs 100
    python bench/lp_bench.py --datasets fb15k-237 --device cuda --max-seconds 120
    python bench/lp_bench.py --datasets wn18rr --models complex --systems kgstore,kgstore+text,pykeen \
        --optimizer adagrad --lr 0.1 --regularization 0.05 --batch-size 1000 --dropout 0 --eval-every 2 --patience 4

The figure (MRR by dataset, one bar per system and model) is saved as ``--plot``
(``bench/out/lp_bench.png``), its rows as ``lp_bench.json`` beside it.
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
OUT = REPO / "bench" / "out"

PYKEEN_MODELS = {"distmult": "DistMult", "complex": "ComplEx", "rotate": "RotatE", "transe": "TransE"}
COMPLEX_DIM = {"complex", "rotate"}  # PyKEEN counts complex numbers
# kgstore-only rows: R-GCN (--rgcn-layers, default 1; 4 bases; --residual) under a decoder
RGCN_MODELS = {"rgcn-distmult": "distmult", "rgcn-complex": "complex"}
SYSTEMS = ("kgstore", "kgstore+text", "pykeen")
DEFAULTS = {"dim": 200, "lr": 3e-3, "batch_size": 256, "epochs": 100}


def load_snapshot(name: str):
    from kgstore.importers.registry import open_dataset
    from trainer.snapshot import Snapshot

    source = Path(os.environ.get("KGSTORE_DATA", REPO.parent / "shared" / "data"))
    dataset = open_dataset(name, source=source)
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    for record in dataset.triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return Snapshot.from_labeled(splits, meta={"dataset": name})


def run_kgstore(snapshot, model: str, args, *, modalities: tuple[str, ...] = ()) -> dict:
    from trainer.config import TrainConfig
    from trainer.train import train

    decoder = RGCN_MODELS.get(model, model)
    extra = ({"num_layers": args.rgcn_layers, "num_bases": 4, "encoder_kwargs": {"residual": args.residual}}
             if model in RGCN_MODELS else {})
    config = TrainConfig(decoder=decoder, dim=args.dim, lr=args.lr, batch_size=args.batch_size, epochs=args.epochs,
                         loss=args.loss, optimizer=args.optimizer, regularization=args.regularization,
                         dropout=args.dropout, eval_every=args.eval_every, patience=args.patience,
                         max_seconds=args.max_seconds, device=args.device, num_threads=args.threads,
                         seed=args.seed, modalities=list(modalities), align_weight=args.align_weight, **extra)
    if modalities:
        snapshot.path = args.cache.parent  # the in-memory snapshot's features/ folder is the cache
    with tempfile.TemporaryDirectory() as folder:
        result = train(snapshot, config, checkpoint_dir=Path(folder), progress=args.progress)
    metrics = result.metrics
    return {"mrr": metrics["test"]["mrr"], **{f"h@{k}": metrics["test"][f"hits@{k}"] for k in (1, 3, 10)},
            "epochs": len(metrics["epochs"]), "train_s": metrics["train_seconds"],
            "tps": metrics["triples_per_second"]}


def run_pykeen(snapshot, model: str, args) -> dict:
    import torch
    from pykeen.pipeline import pipeline
    from pykeen.stoppers import Stopper
    from pykeen.triples import TriplesFactory

    entity_to_id = {key: i for i, key in enumerate(snapshot.entity_keys)}
    relation_to_id = {name: i for i, name in enumerate(snapshot.relation_names)}

    def factory(split: str) -> TriplesFactory:
        return TriplesFactory(mapped_triples=torch.as_tensor(snapshot.split(split)), entity_to_id=entity_to_id,
                              relation_to_id=relation_to_id, create_inverse_triples=True)

    deadline = time.perf_counter() + args.max_seconds if args.max_seconds else None

    class TimeCap(Stopper):
        """Stops PyKEEN's loop after the epoch in which the wall-clock cap passed."""

        def should_evaluate(self, epoch: int) -> bool:
            return deadline is not None

        def should_stop(self, epoch: int) -> bool:
            return deadline is not None and time.perf_counter() > deadline

        def get_summary_dict(self) -> dict:
            return {}

    dim = args.dim // 2 if model in COMPLEX_DIM else args.dim
    device = "cuda" if args.device.startswith("cuda") else "cpu"
    result = pipeline(
        training=factory("train"), validation=factory("valid"), testing=factory("test"),
        # 1-N (LCWA) training like kgstore's, with softmax cross-entropy: PyKEEN's models keep
        # their default constraints (DistMult normalises entities), under which BCE stays near
        # random on UMLS (MRR 0.07 vs 0.62 with cross-entropy after 30 epochs, measured).
        model=PYKEEN_MODELS[model], model_kwargs={"embedding_dim": dim}, loss="CrossEntropy",
        optimizer=args.pykeen_optimizer or args.optimizer, optimizer_kwargs={"lr": args.pykeen_lr or args.lr},
        training_loop="lcwa",
        training_kwargs={"num_epochs": args.epochs, "batch_size": args.batch_size, "use_tqdm": args.progress},
        stopper=TimeCap, evaluator="rankbased", evaluation_kwargs={"batch_size": 256, "use_tqdm": False},
        random_seed=args.seed, device=device,
    )
    metrics = result.metric_results
    epochs = len(result.losses)
    num_train = int(len(snapshot.split("train")))

    def get(name: str) -> float:
        return float(metrics.get_metric(f"both.realistic.{name}"))

    return {"mrr": get("inverse_harmonic_mean_rank"), "h@1": get("hits_at_1"), "h@3": get("hits_at_3"),
            "h@10": get("hits_at_10"), "epochs": epochs, "train_s": result.train_seconds,
            "tps": num_train * epochs / max(result.train_seconds, 1e-9)}


def print_header(args) -> None:
    import platform

    import torch

    try:
        from importlib.metadata import version

        pykeen_version = version("pykeen")
    except Exception:  # noqa: BLE001 - report, do not fail
        pykeen_version = "not installed"
    device = args.device
    if device.startswith("cuda") and torch.cuda.is_available():
        device += f" ({torch.cuda.get_device_name(0)})"
    cpu = platform.processor() or platform.machine()
    print(f"device: {device}; torch threads: {torch.get_num_threads()}; cpu: {cpu} x{os.cpu_count()}")
    print(f"torch {torch.__version__}; pykeen {pykeen_version}; python {platform.python_version()}")
    kg_loss = {"1-n": "1-N BCE + label smoothing 0.1", "1-n-ce": "1-N softmax CE",
               "nssa": "self-adversarial negative sampling"}[args.loss]
    print(f"recipe: dim {args.dim}, batch {args.batch_size}, epochs {args.epochs}, max seconds {args.max_seconds}; "
          f"kgstore {kg_loss}, {args.optimizer} lr {args.lr}, N3 {args.regularization}, dropout {args.dropout}; "
          f"PyKEEN LCWA softmax CE, {args.pykeen_optimizer or args.optimizer} lr {args.pykeen_lr or args.lr}; "
          f"reciprocal relations, seed {args.seed}; R-GCN rows: {args.rgcn_layers} layer(s), 4 bases"
          f"{', residual' if args.residual else ''}")


ROW = "{:<10} {:<12} {:<14} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>10}"


def print_row(dataset: str, system: str, model: str, r: dict | None, note: str = "") -> None:
    if r is None:
        print(ROW.format(dataset, system, model, "-", "-", "-", "-", "-", "-", "-") + f"  {note}", flush=True)
        return
    print(ROW.format(dataset, system, model, f"{r['mrr']:.3f}", f"{r['h@1']:.3f}", f"{r['h@3']:.3f}",
                     f"{r['h@10']:.3f}", r["epochs"], f"{r['train_s']:.1f}", f"{r['tps']:.0f}"), flush=True)


def main(argv: list[str] | None = None, snapshots: dict | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="nations,umls,kinships",
                        help="comma list: nations, umls, kinships, codex-s, wn18rr, fb15k-237")
    parser.add_argument("--models", default="distmult,complex",
                        help=f"comma list of {', '.join([*PYKEEN_MODELS, *RGCN_MODELS])}")
    parser.add_argument("--systems", default="kgstore,pykeen",
                        help="comma list: kgstore, kgstore+text (names and descriptions as a modality), pykeen")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--max-seconds", type=float, default=None, help="training wall-clock cap per run")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dim", type=int, default=DEFAULTS["dim"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--threads", type=int, default=int(os.environ.get("KGSTORE_NUM_THREADS", "2")),
                        help="torch CPU threads for both systems (default $KGSTORE_NUM_THREADS or 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", default="1-n-ce", help="kgstore loss: 1-n-ce (softmax CE), 1-n (BCE) or nssa")
    parser.add_argument("--optimizer", default="adam", help="kgstore optimizer: adam or adagrad")
    parser.add_argument("--regularization", type=float, default=0.0, help="kgstore N3 weight")
    parser.add_argument("--dropout", type=float, default=0.3, help="kgstore query dropout")
    parser.add_argument("--residual", action="store_true", help="R-GCN rows: residual layers, x + layer(x)")
    parser.add_argument("--rgcn-layers", type=int, default=1, help="R-GCN rows: message-passing layers")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="kgstore validation every N epochs, keeping the best (0 = last epoch only)")
    parser.add_argument("--patience", type=int, default=0, help="kgstore early-stopping patience (0 = never)")
    parser.add_argument("--pykeen-optimizer", default=None, help="PyKEEN optimizer (default: --optimizer)")
    parser.add_argument("--pykeen-lr", type=float, default=None, help="PyKEEN learning rate (default: --lr)")
    parser.add_argument("--align-weight", type=float, default=0.0,
                        help="kgstore+text: weight of the text-structure alignment loss (0, as in the converged "
                             "rows of multimodal_ablation.py: it serves `nearest --text`, not ranking)")
    parser.add_argument("--cache", type=Path, default=OUT / "multimodal" / "features",
                        help="kgstore+text: the MiniLM feature cache (a folder named features/; default %(default)s)")
    parser.add_argument("--progress", action="store_true", help="show training progress bars")
    parser.add_argument("--plot", type=Path, default=OUT / "lp_bench.png",
                        help="PNG of MRR by dataset and system/model (default %(default)s; its rows go to the "
                             "same name .json)")
    args = parser.parse_args(argv)

    import torch
    from multimodal_ablation import text_kg

    torch.set_num_threads(args.threads)
    print_header(args)
    print(ROW.format("dataset", "system", "model", "MRR", "H@1", "H@3", "H@10", "epochs", "train s", "triples/s"))
    systems = [system.strip() for system in args.systems.split(",")]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"--systems: unknown {', '.join(unknown)} (choose from {', '.join(SYSTEMS)})")
    datasets = list(snapshots) if snapshots else [d.strip() for d in args.datasets.split(",")]
    rows: list[dict] = []
    for dataset in datasets:
        snapshot = snapshots[dataset] if snapshots else load_snapshot(dataset)
        texts = None  # loaded on first use
        for model in args.models.split(","):
            model = model.strip()
            for system in systems:
                if system == "pykeen" and model in RGCN_MODELS:
                    continue
                torch.set_num_threads(args.threads)
                if system == "kgstore+text":
                    texts = texts or text_kg(dataset)  # names and descriptions: the ablation's loader
                    result = run_kgstore(texts, model, args, modalities=("text",))
                else:
                    result = (run_kgstore if system == "kgstore" else run_pykeen)(snapshot, model, args)
                print_row(dataset, system, model, result)
                rows.append({"dataset": dataset, "system": system, "model": model, **result})
    save_figure(rows, datasets, args)


def save_figure(rows: list[dict], datasets: list[str], args) -> None:
    """MRR by dataset, one bar per system and model (bench_plots.grouped_bars), and the rows as JSON beside it."""
    import json

    from bench_plots import grouped_bars

    series: dict[str, list[float | None]] = {}
    for row in rows:
        values = series.setdefault(f"{row['system']} {row['model']}", [None] * len(datasets))
        values[datasets.index(row["dataset"])] = row["mrr"]
    title = (f"filtered test MRR (both directions); dim {args.dim}, {args.epochs} epochs"
             + (f", {args.max_seconds:g} s cap" if args.max_seconds else "") + f", {args.threads} CPU threads"
             if args.device == "cpu" else f"filtered test MRR (both directions); dim {args.dim}, {args.device}")
    png = grouped_bars(datasets, series, args.plot, ylabel="MRR", title=title)
    png.with_suffix(".json").write_text(json.dumps({"command": sys.argv, "rows": rows}, indent=2) + "\n")
    print(f"figure: {png} (rows: {png.with_suffix('.json')})")


if __name__ == "__main__":
    main()
