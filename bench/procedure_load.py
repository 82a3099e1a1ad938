"""Load on `CALL kgstore.predict`: 8 concurrent Bolt clients for 60 s, and the same load on the sidecar.

Runs against a managed server (a temporary one by default) with FB15k-237 synced and a
model trained on it (a short CPU run is enough: latency does not depend on quality), and
a real ``kgstore serve`` process. Each client picks a random (entity, relation, direction)
and asks for the top 10 with known facts filtered. The second phase sends the same
queries straight to the sidecar over HTTP, so the procedure's own overhead (Bolt,
Cypher, the plugin's HTTP call and node lookups) is the difference between the rows. A
third phase runs the same Bolt round trip without the procedure (match the entity,
return its key): the floor that Neo4j's Bolt and Cypher set for any procedure call.
Each row also shows the CPU time per call spent by the Neo4j JVM, the sidecar (with its
workers) and the bench's own client threads (psutil): on a small machine they share
the same cores, so this says where a call's time goes.

    python bench/procedure_load.py                     # temporary home, sync + train + serve
    python bench/procedure_load.py --home ~/.local/share/kgstore --model fb   # reuse a home's model
    python bench/procedure_load.py --seconds 20 --clients 4

The latency histogram of each path is saved as ``--plot`` (``bench/out/procedure_load.png``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_plots import latency_histogram  # noqa: E402
from bench_server import bench_server  # noqa: E402

from kgstore.driver import connect  # noqa: E402
from kgstore.importers.registry import open_dataset  # noqa: E402
from kgstore.server import ManagedServer, free_port, sidecar_process  # noqa: E402
from kgstore.sync import sync_dataset  # noqa: E402
from kgstore.writeback import current_version  # noqa: E402

# The floor: the same Bolt round trip and entity lookup without the procedure call.
LOOKUP = "MATCH (n:Entity {key: $key}) RETURN n.key AS key, $relation AS relation, $direction AS direction"
PREDICT = ("MATCH (n:Entity {key: $key}) CALL kgstore.predict(n, $relation, {k: 10, direction: $direction}) "
           "YIELD node, score RETURN node.key AS key, score")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] if ordered else float("nan")


class CpuMeter:
    """CPU seconds (user + system) of processes and their children, between two readings."""

    def __init__(self, pids: dict[str, int | None], *, alone: tuple[str, ...] = ()) -> None:
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items() if pid}
        self.alone = alone  # without children (the bench process may have started the others)

    def read(self) -> dict[str, float]:
        totals = {}
        for name, process in self.processes.items():
            total = 0.0
            children = [] if name in self.alone else process.children(recursive=True)
            for p in [process, *children]:
                try:
                    times = p.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
            totals[name] = total
        return totals

    def measure(self, work: Callable[[], dict]) -> dict:
        before = self.read()
        result = work()
        after = self.read()
        calls = max(result["calls"], 1)
        result["cpu_ms"] = {name: 1000 * (after[name] - before.get(name, 0.0)) / calls for name in after}
        return result


def run_load(call: Callable[[random.Random], None], clients: int, seconds: float) -> dict:
    """``clients`` threads calling ``call`` back to back for ``seconds``; latencies in ms."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                call(rng)
            except Exception as exc:  # noqa: BLE001 - counted and shown
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            latencies[i].append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    flat = [x for per in latencies for x in per]
    return {"calls": len(flat), "per_s": len(flat) / elapsed, "p50": statistics.median(flat) if flat else float("nan"),
            "p99": percentile(flat, 0.99), "errors": len(errors), "first_error": errors[0] if errors else "",
            "latencies_ms": flat}


def measure(server: ManagedServer, args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Train a model when the home lacks one, start the sidecar, and run the three loads."""
    sidecar_started = False
    try:
        graph = connect(home=server.home)
        if current_version(graph, args.model) is None:
            from trainer.config import TrainConfig
            from trainer.pipeline import train_model

            print("# syncing FB15k-237 and training a short DistMult model (latency does not depend on quality)")
            data = Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data")
            sync_dataset(graph, open_dataset("fb15k-237", source=data))
            train_model(graph, home=server.home, model=args.model, progress=False,
                        config=TrainConfig(decoder="distmult", dim=200, epochs=1000, patience=0, eval_every=0,
                                           batch_size=1024, max_seconds=args.train_seconds))
        keys = [r["key"] for r in graph.query("MATCH (e:Entity) WHERE e.key STARTS WITH 'fb15k-237:' "
                                              "RETURN e.key AS key")]
        relations = [r["type"] for r in graph.query(
            "MATCH (:Entity)-[r]->(:Entity) WHERE type(r) <> 'KGSTORE_PREDICTED' RETURN DISTINCT type(r) AS type")]
        url = server.sidecar_url
        # The sidecar keeps its own thread default (1 per request); started as `kgstore serve --detach` is.
        os.environ.pop("KGSTORE_NUM_THREADS", None)
        sidecar_started = True
        sidecar_process.start_detached(server.home, sidecar_process.SidecarOptions(
            model=args.model, port=server.settings.sidecar_port, workers=args.sidecar_workers))
        health = httpx.get(f"{url}/health").json()
        info = graph.server_info()
        print(f"# {platform.node()}: {os.cpu_count()} CPUs, {info['name']} {info['version']}, "
              f"model {health['model']}@{health.get('version')} ({health['entities']:,} entities, "
              f"{health.get('decoder')} d={health.get('dim')}), {args.clients} clients x {args.seconds:.0f} s, "
              f"{args.sidecar_workers} sidecar worker(s)")

        def query(rng: random.Random) -> dict:
            return {"key": rng.choice(keys), "relation": rng.choice(relations),
                    "direction": rng.choice(("out", "in"))}

        sessions = threading.local()

        def bolt_session():  # noqa: ANN202 - one session per client thread
            if not hasattr(sessions, "session"):
                sessions.session = graph.session()
            return sessions.session

        def via_procedure(rng: random.Random) -> None:
            bolt_session().run(PREDICT, query(rng)).consume()

        def bolt_floor(rng: random.Random) -> None:
            bolt_session().run(LOOKUP, query(rng)).consume()

        http = threading.local()

        def via_sidecar(rng: random.Random) -> None:
            if not hasattr(http, "client"):
                http.client = httpx.Client(base_url=url, timeout=30)
            q = query(rng)
            response = http.client.post("/predict", json={
                "queries": [{"entity": q["key"], "relation": q["relation"], "direction": q["direction"]}],
                "k": 10, "filter_known": True})
            response.raise_for_status()

        meter = CpuMeter({"neo4j": server.pid(), "sidecar": sidecar_process.running_pid(server.home),
                          "clients": os.getpid()}, alone=("clients",))
        # Warm-up: connections, and the JVM's JIT, which on 2 cores keeps compiling Neo4j's
        # Bolt and Cypher paths for minutes (a third of the JVM's CPU, 30 s in); steady state
        # is what a long-running server sees.
        run_load(via_procedure, args.clients, args.warmup)
        run_load(bolt_floor, args.clients, min(args.warmup, 10.0))
        rows = [("CALL kgstore.predict (Bolt)",
                 meter.measure(lambda: run_load(via_procedure, args.clients, args.seconds))),
                ("sidecar POST /predict (HTTP)",
                 meter.measure(lambda: run_load(via_sidecar, args.clients, args.seconds))),
                ("Bolt floor: MATCH, no CALL",
                 meter.measure(lambda: run_load(bolt_floor, args.clients, args.seconds)))]
        graph.close()
        return rows
    finally:
        if sidecar_started:
            sidecar_process.stop_detached(server.home)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="use this kgstore home's server (and its trained --model)")
    parser.add_argument("--model", default="fbload", help="model name (trained here when the home lacks it)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds of unmeasured load first: on 2 cores the JIT compiles Neo4j's Bolt and "
                             "Cypher paths for about two minutes")
    parser.add_argument("--sidecar-workers", type=int, default=1, help="kgstore serve --workers")
    parser.add_argument("--train-seconds", type=float, default=90.0, help="time cap of the quick training run")
    parser.add_argument("--plot", type=Path, default=REPO / "bench" / "out" / "procedure_load.png",
                        help="PNG of the latency histogram of each path (default %(default)s)")
    args = parser.parse_args()

    install = {"heap_size": "1g", "pagecache_size": "512m", "sidecar_port": free_port()}
    with bench_server(args.home, "kgstore-load-bench-", **install) as (server, _):
        rows = measure(server, args)
    print(f"{'path':<30} {'calls':>8} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6}"
          f"   CPU ms per call: {'neo4j':>6} {'sidecar':>7} {'clients':>7}")
    for name, r in rows:
        cpu = r["cpu_ms"]
        print(f"{name:<30} {r['calls']:>8,} {r['per_s']:>8.1f} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['errors']:>6}"
              f"   {'':>16} {cpu.get('neo4j', 0):>6.2f} {cpu.get('sidecar', 0):>7.2f} {cpu.get('clients', 0):>7.2f}")
        if r["errors"]:
            print(f"  first error: {r['first_error']}")
    overhead = rows[0][1]["p50"] - rows[1][1]["p50"]
    print(f"procedure overhead at p50: {overhead:+.1f} ms (goal on 2 cores: p50 < 20 ms, p99 < 100 ms, 0 errors)")
    png = latency_histogram({name: r["latencies_ms"] for name, r in rows}, args.plot,
                            title=f"latency per call, {args.clients} clients x {args.seconds:g} s "
                                  f"({platform.node()}, {os.cpu_count()} CPUs)")
    print(f"figure: {png}")


if __name__ == "__main__":
    main()
