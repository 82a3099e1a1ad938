"""Scale curve: how sync, export, one training epoch and write-back grow with the graph.

For each size (triples), generates a synthetic power-law graph with ``kgstore datasets
synth``'s generator (:mod:`kgstore.importers.synth`, an average degree of 20), then, each in
its own process so that its peak RSS is its own:

- **sync**: ``kgstore sync`` of the folder (the online path) — seconds, triples/s, peak RSS;
- **export**: the paged Bolt export into a snapshot folder — seconds, peak RSS, size on disk;
- **epoch**: one epoch of a 2-layer R-GCN (4 bases) + DistMult on CPU with the neighbour
  sampler (``sampler="neighbor"``, fan-out 10,5; on a tree whose trainer predates the
  option, the older ``full_batch=False`` mini-batch path, and the table says so) and the
  negative-sampling loss (``nssa``: a step's seeds are its triples and 128 negatives) —
  seconds, peak RSS; with ``--epoch-max-seconds`` an epoch cut short is projected from the
  share of its batches done, and marked ``~``; also projected from the median step's wall
  and CPU time, which a shared machine's load spikes move less than the mean. Not the 1-N loss: its candidates are every
  answer of the batch's queries, unbounded at a power-law hub (one step of a 200k-triple
  graph took 9 GB), and not R-GCN without bases: ``RGCNConv`` multiplies every sampled
  node by every relation's weight (400 with reciprocals), 17 s a step;
- **write-back**: random vectors for every entity through ``kgstore.writeback.write_vectors``
  — vectors/s of the batched writes, and the seconds the vector index took to come online.

Then fits ``log(cost) = a + slope * log(triples)`` per column, prints the slopes (goal: at most
1.1) and the fit's estimates at 30M and 100M triples, saves a log-log figure
(``bench/figures/scale.png``) and the rows as JSON (``bench/out/scale_bench.json``).

    python bench/scale_bench.py                                  # 100k, 300k: a quick run
    python bench/scale_bench.py --sizes 1M,3M,10M --epoch-max-seconds 300
    python bench/scale_bench.py --sizes 1M --home ~/.local/share/kgstore   # an installed server
    python bench/scale_bench.py --sizes 10M --epoch-only      # the epoch alone, no server
    python bench/scale_bench.py --sizes 300k,1M --epoch-only --work /tmp/scale   # keeps the snapshots
    python bench/scale_bench.py --sizes 3M --skip-writeback   # without write-back and its vector index
    python bench/scale_bench.py --sizes 10M --previous bench/out/scale_bench.json   # one fit over both runs
    python bench/scale_bench.py --report bench/out/scale_bench.json    # table, fits and figure again

The server is a throwaway managed one (``--heap``/``--pagecache`` size it) unless ``--home``
names one; each size is its own namespace (``scale1m`` ...), so later sizes meet a store
that already holds the earlier ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_server import bench_server  # noqa: E402

from kgstore.importers.synth import SynthSpec, default_entities, write_synth  # noqa: E402

OUT = REPO / "bench" / "out"
FIGURE = REPO / "bench" / "figures" / "scale.png"
GOAL_SLOPE = 1.1
ESTIMATES = (30_000_000, 100_000_000)
COLUMNS = {  # key: (label, unit) of the costs that are fitted and drawn
    "sync_s": ("sync time", "s"), "sync_rss_mb": ("sync peak RSS", "MB"),
    "export_s": ("export time", "s"), "export_rss_mb": ("export peak RSS", "MB"),
    "snapshot_mb": ("snapshot on disk", "MB"),
    "epoch_s": ("epoch time", "s"), "epoch_median_s": ("epoch time (median step)", "s"),
    "epoch_cpu_s": ("epoch CPU (median step)", "s"),
    "epoch_rss_mb": ("epoch peak RSS", "MB"),
    "writeback_s": ("write-back time", "s"), "index_s": ("vector index online", "s"),
}

# Peak RSS of the step's own process: VmHWM, which exec resets. Not getrusage's ru_maxrss: Linux carries
# it across fork and exec, so a child would report the benchmark process's size when that is larger.
PRELUDE = ("import json, resource, sys, time\n"
           "def peak_mb():\n"
           "    try:\n"
           "        with open('/proc/self/status') as status:\n"
           "            return next(int(l.split()[1]) for l in status if l.startswith('VmHWM:')) / 1024\n"
           "    except OSError:\n"
           "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n")

SYNC = PRELUDE + """
from kgstore.driver import connect
from kgstore.importers.registry import open_dataset
from kgstore.sync import sync_dataset
graph = connect()
dataset = open_dataset(sys.argv[1])
start = time.monotonic()
s = sync_dataset(graph, dataset)
print(json.dumps({"seconds": time.monotonic() - start, "triples": s.triples_total,
                  "entities": s.entities_created, "rss_mb": peak_mb()}))
"""

EXPORT = PRELUDE + """
from pathlib import Path
from kgstore.driver import connect
from trainer.export import export_snapshot
graph = connect()
start = time.monotonic()
snapshot = export_snapshot(graph, Path(sys.argv[2]), namespaces=[sys.argv[1]], refresh=True, progress=False)
seconds = time.monotonic() - start
size = sum(p.stat().st_size for p in Path(sys.argv[2]).rglob("*") if p.is_file())
print(json.dumps({"seconds": seconds, "triples": int(len(snapshot.triples)), "entities": snapshot.num_entities,
                  "snapshot_mb": size / 2**20, "rss_mb": peak_mb()}))
"""

EPOCH = PRELUDE + """
import dataclasses
from pathlib import Path
from trainer.config import TrainConfig
from trainer.snapshot import Snapshot
from trainer.train import Trainer, seed_everything
from trainer.threads import set_threads
snapshot_dir, checkpoint_dir, options = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
fields = {f.name for f in dataclasses.fields(TrainConfig)}
path = "neighbor sampler" if "sampler" in fields else "mini-batch (full_batch=False)"
sampling = {"sampler": "neighbor"} if "sampler" in fields else {"full_batch": False}
if "fanout" in fields:
    sampling["fanout"] = options["fanout"] if "sampler" in fields else options["fanout"][0]
config = TrainConfig(decoder="distmult", dim=options["dim"], num_layers=2, num_bases=options["num_bases"],
                     loss="nssa", batch_size=options["batch_size"], epochs=1, device="cpu",
                     num_threads=options["threads"], seed=0, **sampling)
set_threads(config.num_threads)
seed_everything(0)
snapshot = Snapshot.load(snapshot_dir)
started = time.monotonic()
trainer = Trainer(snapshot, config, checkpoint_dir)
setup = time.monotonic() - started
steps = [0]
starts = []  # (wall, CPU) at each step's start: consecutive differences are whole steps (forward to update)
step = trainer._step
def counted(rows):
    steps[0] += 1
    starts.append((time.perf_counter(), time.process_time()))
    return step(rows)
trainer._step = counted
cap = options["max_seconds"]
start, cpu_start = time.perf_counter(), time.process_time()
loss, cut = trainer.run_epoch(start + cap if cap else None)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
starts.append((start + seconds, cpu_start + cpu_seconds))
total_steps = -(-len(trainer.batches) // config.batch_size)
def median(values):
    values = sorted(values)
    return (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2
wall_steps = [b[0] - a[0] for a, b in zip(starts, starts[1:])]
cpu_steps = [b[1] - a[1] for a, b in zip(starts, starts[1:])]
print(json.dumps({"seconds": seconds * total_steps / steps[0], "measured_s": seconds, "cut": cut,
                  "step_s_median": median(wall_steps), "step_cpu_s_median": median(cpu_steps),
                  "steps": steps[0], "total_steps": total_steps, "rows": len(trainer.batches), "loss": loss,
                  "setup_s": setup, "path": path, "rss_mb": peak_mb()}))
"""

WRITEBACK = PRELUDE + """
from pathlib import Path
import numpy as np
from kgstore.driver import connect
from kgstore.writeback import write_vectors
from trainer.snapshot import Snapshot
graph = connect()
keys = list(Snapshot.load(Path(sys.argv[1])).entity_keys)
vectors = np.random.default_rng(0).normal(size=(len(keys), int(sys.argv[3]))).astype(np.float32)
result = write_vectors(graph, sys.argv[2], keys, vectors)
print(json.dumps({"vectors": result.vectors, "write_s": result.write_seconds, "index_s": result.index_seconds,
                  "rss_mb": peak_mb()}))
"""


def parse_size(text: str) -> int:
    """``1M`` -> 1,000,000; ``300k`` -> 300,000; ``2500000`` as is."""
    text = text.strip().lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        value = int(float(number) * factor)
    except ValueError:
        raise SystemExit(f"--sizes: {text!r} is not a size (e.g. 300k, 1M, 10M)") from None
    if value < 10_000:
        raise SystemExit(f"--sizes: {text!r} is below 10k triples")
    return value


def size_name(triples: int) -> str:
    return f"{triples // 1_000_000}m" if triples % 1_000_000 == 0 else f"{triples // 1_000}k"


def run_child(code: str, env: dict[str, str], *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"a benchmark step failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_size(triples: int, work: Path, env: dict[str, str], args: argparse.Namespace) -> dict:
    name = f"scale{size_name(triples)}"
    folder = work / name
    spec = SynthSpec(entities=default_entities(triples), relations=args.relations, triples=triples, seed=0,
                     valid_fraction=0.01, test_fraction=0.01)
    generated = write_synth(folder, spec)
    print(f"# {name}: generated {triples:,} triples, {spec.entities:,} entities in {generated.seconds:.1f} s",
          flush=True)
    sync = run_child(SYNC, env, str(folder))
    print(f"# {name}: sync {sync['seconds']:.1f} s", flush=True)
    snapshot_dir = work / f"{name}-snapshot"
    export = run_child(EXPORT, env, name, str(snapshot_dir))
    print(f"# {name}: export {export['seconds']:.1f} s", flush=True)
    epoch = _epoch(name, snapshot_dir, work, env, args)
    writeback = {"vectors": None, "write_s": None, "index_s": None}
    if not args.skip_writeback:
        writeback = run_child(WRITEBACK, env, str(snapshot_dir), f"scale_{size_name(triples)}",
                              str(args.writeback_dim))
        print(f"# {name}: write-back {writeback['write_s']:.1f} s + index {writeback['index_s']:.1f} s", flush=True)
    return {"triples": triples, "entities": spec.entities, "generate_s": generated.seconds,
            "sync_s": sync["seconds"], "sync_tps": sync["triples"] / sync["seconds"], "sync_rss_mb": sync["rss_mb"],
            "export_s": export["seconds"], "export_rss_mb": export["rss_mb"], "snapshot_mb": export["snapshot_mb"],
            **epoch, "writeback_s": writeback["write_s"],
            "writeback_vps": writeback["vectors"] / writeback["write_s"] if writeback["vectors"] else None,
            "index_s": writeback["index_s"]}


def measure_epoch_only(triples: int, work: Path, env: dict[str, str], args: argparse.Namespace) -> dict:
    """The epoch alone, on a snapshot built straight from the generated triples (no server)."""
    import numpy as np

    from kgstore.importers.synth import generate_triples
    from trainer.snapshot import SPLIT_CODES, Snapshot

    name = f"scale{size_name(triples)}"
    spec = SynthSpec(entities=default_entities(triples), relations=args.relations, triples=triples, seed=0,
                     valid_fraction=0.01, test_fraction=0.01)
    snapshot_dir = work / f"{name}-snapshot"
    if (snapshot_dir / "meta.json").is_file():  # --work kept it from an earlier run (the same seed: the same graph)
        print(f"# {name}: the snapshot in {snapshot_dir}", flush=True)
    else:
        splits = generate_triples(spec)
        snapshot = Snapshot(entity_keys=[f"{name}:e{i}" for i in range(spec.entities)],
                            relation_names=[f"r{i}" for i in range(spec.relations)],
                            triples=np.concatenate(list(splits.values())),
                            splits=np.concatenate([np.full(len(a), SPLIT_CODES[k], np.uint8)
                                                   for k, a in splits.items()]))
        snapshot.save(snapshot_dir)
        del snapshot, splits
    row = dict.fromkeys(("generate_s", "sync_s", "sync_tps", "sync_rss_mb", "export_s", "export_rss_mb",
                         "writeback_s", "writeback_vps", "index_s"))
    row.update(triples=triples, entities=spec.entities,
               snapshot_mb=sum(p.stat().st_size for p in snapshot_dir.rglob("*") if p.is_file()) / 2**20)
    row.update(_epoch(name, snapshot_dir, work, env, args))
    return row


def _epoch(name: str, snapshot_dir: Path, work: Path, env: dict[str, str], args: argparse.Namespace) -> dict:
    options = {"dim": args.dim, "num_bases": args.num_bases, "batch_size": args.batch_size,
               "fanout": [int(f) for f in args.fanout.split(",")],
               "threads": args.threads, "max_seconds": args.epoch_max_seconds}
    epoch = run_child(EPOCH, env, str(snapshot_dir), str(work / f"{name}-checkpoint"), json.dumps(options))
    print(f"# {name}: epoch {epoch['seconds']:.1f} s ({epoch['steps']}/{epoch['total_steps']} steps measured)",
          flush=True)
    return {"epoch_s": epoch["seconds"], "epoch_median_s": epoch["step_s_median"] * epoch["total_steps"],
            "epoch_cpu_s": epoch["step_cpu_s_median"] * epoch["total_steps"], "step_s_median": epoch["step_s_median"],
            "step_cpu_s_median": epoch["step_cpu_s_median"], "epoch_cut": epoch["cut"],
            "epoch_steps": epoch["steps"],
            "epoch_total_steps": epoch["total_steps"], "epoch_rss_mb": epoch["rss_mb"], "epoch_path": epoch["path"],
            "epoch_setup_s": epoch["setup_s"]}


def fit(rows: list[dict], key: str) -> tuple[float, float] | None:
    """``(slope, intercept)`` of log(cost) against log(triples); None with fewer than two sizes."""
    import numpy as np

    points = [(r["triples"], r[key]) for r in rows if r.get(key)]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    header = (f"{'triples':>11} {'entities':>10} {'sync s':>7} {'sync t/s':>9} {'sync MB':>8} {'export s':>8} "
              f"{'export MB':>9} {'snap MB':>8} {'setup s':>7} {'epoch s':>9} {'s/step':>6} {'med s':>6} {'cpu s':>6} "
              f"{'epoch MB':>9} {'wb vec/s':>9} {'index s':>8}")
    print(header)
    for r in rows:
        epoch = ("~" if r["epoch_cut"] else "") + f"{r['epoch_s']:.1f}"
        print(f"{r['triples']:>11,} {r['entities']:>10,} {_number(r['sync_s'], '.1f'):>7} "
              f"{_number(r['sync_tps'], ',.0f'):>9} {_number(r['sync_rss_mb'], '.0f'):>8} "
              f"{_number(r['export_s'], '.1f'):>8} {_number(r['export_rss_mb'], '.0f'):>9} "
              f"{r['snapshot_mb']:>8.1f} {r['epoch_setup_s']:>7.1f} {epoch:>9} "
              f"{r['epoch_s'] / r['epoch_total_steps']:>6.2f} {_number(r.get('step_s_median'), '.2f'):>6} "
              f"{_number(r.get('step_cpu_s_median'), '.2f'):>6} "
              f"{r['epoch_rss_mb']:>9.0f} {_number(r['writeback_vps'], ',.0f'):>9} {_number(r['index_s'], '.1f'):>8}")
    paths = {r["epoch_path"] for r in rows}
    print(f"(epoch: 2-layer R-GCN (bases) + DistMult, nssa loss, CPU, {', '.join(sorted(paths))};\n"
          " setup: building the trainer from the loaded snapshot; ~ = projected from the share of batches done\n"
          " before --epoch-max-seconds; s/step: the mean step; med s, cpu s: the median step's wall and process CPU\n"
          " time (all threads), steadier than the mean on a shared machine; wb vec/s: the batched vector writes;\n"
          " index s: the vector index coming online after them)")


def print_fits(rows: list[dict]) -> dict[str, dict]:
    """Slopes and estimates. ``last``: the slope between the two largest sizes; ``linear``: the
    largest size's cost scaled in proportion, the safer estimate when fixed costs flatten the fit."""
    import math

    fits = {}
    sizes = [size_name(n).upper() for n in ESTIMATES]
    print(f"\n{'cost':<20} {'slope':>6} {'last':>5} {'<= 1.1':>7} " + " ".join(f"{'fit ' + n:>12}" for n in sizes)
          + " " + " ".join(f"{'linear ' + n:>13}" for n in sizes))
    for key, (label, unit) in COLUMNS.items():
        result = fit(rows, key)
        if result is None:
            continue
        slope, intercept = result
        measured = [r for r in rows if r.get(key)]
        last_slope = fit(measured[-2:], key)
        largest = measured[-1]
        estimates = {n: math.exp(intercept + slope * math.log(n)) for n in ESTIMATES}
        linear = {n: largest[key] * n / largest["triples"] for n in ESTIMATES}
        fits[key] = {"slope": slope, "intercept": intercept, "last_slope": last_slope[0] if last_slope else None,
                     "estimates": estimates, "linear": linear}
        worst = max(slope, last_slope[0] if last_slope else slope)
        print(f"{label:<20} {slope:>6.2f} {last_slope[0] if last_slope else float('nan'):>5.2f} "
              f"{'yes' if worst <= GOAL_SLOPE else 'NO':>7} "
              + " ".join(f"{format(v, ',.0f') + ' ' + unit:>12}" for v in estimates.values()) + " "
              + " ".join(f"{format(v, ',.0f') + ' ' + unit:>13}" for v in linear.values()))
    return fits


def plot(rows: list[dict], fits: dict[str, dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    x = np.array([r["triples"] for r in rows], dtype=float)
    span = np.geomspace(x.min(), max(ESTIMATES), 50)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), dpi=100)
    for ax, unit in zip(axes, ("s", "MB"), strict=True):
        for k, (key, (label, _)) in enumerate((k, v) for k, v in COLUMNS.items() if v[1] == unit):
            if key not in fits:
                continue
            color = f"C{k}"
            slope, intercept = fits[key]["slope"], fits[key]["intercept"]
            ax.plot(x, [r[key] for r in rows], "o", color=color, label=f"{label} (slope {slope:.2f})")
            ax.plot(span, np.exp(intercept + slope * np.log(span)), "--", color=color, alpha=0.6, linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvspan(x.max(), span.max(), color="grey", alpha=0.08)
        ax.set_xlabel("triples (shaded: extrapolated from the fit)")
        ax.set_ylabel("seconds" if unit == "s" else "MB")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_title("time (log-log; goal: slope <= 1.1)", fontsize=10)
    axes[1].set_title("memory and disk (log-log)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,300k", help="triples per graph, comma-separated (k and M "
                        "suffixes), e.g. 1M,3M,10M [default: 100k,300k, a quick run]")
    parser.add_argument("--relations", type=int, default=200, help="relation types of each graph [200]")
    parser.add_argument("--home", type=Path, help="use this kgstore home's server instead of a throwaway one")
    parser.add_argument("--heap", default="3g", help="throwaway server's heap [3g]")
    parser.add_argument("--pagecache", default="3g", help="throwaway server's page cache [3g]")
    parser.add_argument("--dim", type=int, default=64, help="entity vector dimension in the epoch [64]")
    parser.add_argument("--num-bases", type=int, default=4, help="R-GCN basis decomposition in the epoch [4]")
    parser.add_argument("--batch-size", type=int, default=1024, help="training batch size [1024]")
    parser.add_argument("--fanout", default="10,5", help="neighbours per layer of the sampler [10,5]")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for the epoch [2]")
    parser.add_argument("--epoch-max-seconds", type=float, default=60.0,
                        help="cut the epoch after this long and project its time from the batches done; 0: the "
                        "whole epoch (hours at 1M triples on 2 cores) [60]")
    parser.add_argument("--writeback-dim", type=int, default=64, help="dimension of the written vectors [64]")
    parser.add_argument("--previous", type=Path, action="append", default=[],
                        help="a JSON file of an earlier run whose rows join this run's table and fit (repeatable; "
                        "sizes measured again here replace them)")
    parser.add_argument("--skip-writeback", action="store_true",
                        help="leave write-back out (at 1M entities its vector index takes many minutes)")
    parser.add_argument("--epoch-only", action="store_true",
                        help="only the epoch, on a snapshot built from the generated triples (no server, sync, "
                        "export or write-back); with --previous, a size measured before keeps its other columns")
    parser.add_argument("--work", type=Path, help="with --epoch-only: keep the snapshots in this folder and reuse "
                        "the ones already there (default: a temporary folder, deleted)")
    parser.add_argument("--figure", type=Path, default=FIGURE, help=f"where the PNG goes [{FIGURE}]")
    parser.add_argument("--json", type=Path, default=OUT / "scale_bench.json", help="where the rows go as JSON")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="measure nothing: print the table and fits and draw the figure from a saved run")
    args = parser.parse_args()
    if args.report is not None:
        report(json.loads(args.report.read_text())["rows"], args)
        return
    sizes = sorted(parse_size(s) for s in args.sizes.split(","))

    import numpy
    import torch

    print(f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, numpy "
          f"{numpy.__version__}, torch {torch.__version__}, scale bench at {', '.join(map(size_name, sizes))}",
          flush=True)
    rows: list[dict] = []

    def measure_all(work: Path, env: dict[str, str]) -> None:
        started = time.monotonic()
        for triples in sizes:
            rows.append((measure_epoch_only if args.epoch_only else measure_size)(triples, work, env, args))
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")  # kept if a later size fails
        print(f"# all sizes in {time.monotonic() - started:.0f} s\n")

    if args.epoch_only:  # no server: the snapshots come straight from the generator
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            measure_all(args.work, env)
        else:
            with tempfile.TemporaryDirectory(prefix="kgstore-scale-bench-") as work:
                measure_all(Path(work), env)
    else:
        with bench_server(args.home, "kgstore-scale-bench-", heap_size=args.heap,
                          pagecache_size=args.pagecache) as (server, work):
            env = {**os.environ, "KGSTORE_HOME": str(server.home.root), "PYTHONPATH": str(REPO)}
            for name in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
                env.pop(name, None)
            measure_all(work, env)
    measured = {r["triples"]: r for r in rows}
    for previous in args.previous:
        for old in json.loads(previous.read_text())["rows"]:
            if old["triples"] not in measured:
                rows.append(old)
            else:  # an --epoch-only row keeps the earlier run's sync, export and write-back figures
                row = measured[old["triples"]]
                row.update({k: v for k, v in old.items() if row.get(k) is None and not k.startswith("epoch")})
    args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    report(rows, args)


def report(rows: list[dict], args: argparse.Namespace) -> None:
    rows = sorted(rows, key=lambda r: r["triples"])
    print_table(rows)
    fits = print_fits(rows)
    if fits:
        print(f"\nfigure: {plot(rows, fits, args.figure)}")


if __name__ == "__main__":
    main()
