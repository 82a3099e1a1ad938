"""First loads: ``kgstore sync --bulk`` (neo4j-admin's offline importer) vs Neo4j's LOAD CSV
vs the online ``kgstore sync``, same synthetic graph, same machine, one table.

For each size a power-law graph comes from ``kgstore datasets synth``'s generator
(:mod:`kgstore.importers.synth`); each loader gets its own throwaway managed server (an empty
database each) and is timed end to end:

- **bulk**: :func:`kgstore.bulk.bulk_sync` — validation, CSV files, server stop, import,
  restart, schema and sync state;
- **LOAD CSV**: the key constraint, then ``LOAD CSV`` of the entity keys (``CREATE``) and of the
  split files (``MATCH`` both ends, ``CREATE`` the typed edge with its split) in
  ``CALL { ... } IN TRANSACTIONS OF 10000 ROWS`` — what a Neo4j user writes by hand (the keys
  file is made from the split files first, and counted in its time);
- **online** (``--online``): :func:`kgstore.sync.sync_dataset`, the transactional path.

    python bench/bulk_bench.py --sizes 1M                 # bulk and LOAD CSV
    python bench/bulk_bench.py --sizes 1M,10M --online 1M # the online path at 1M only
    python bench/bulk_bench.py --graph g10m/ --no-load-csv all  # an existing folder (only read)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def size_of(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


@contextmanager
def server_in(home: Path, args: argparse.Namespace) -> Iterator[Any]:
    """A throwaway managed server (an empty database) in ``home``, started, and stopped after."""
    from kgstore.server import ManagedServer, free_port

    server = ManagedServer(home)
    server.install(bolt_port=free_port(), http_port=free_port(), sidecar_port=free_port(), heap_size=args.heap,
                   pagecache_size=args.pagecache, echo=lambda _: None)
    server.start(echo=lambda _: None)
    try:
        yield server
    finally:
        server.stop(echo=lambda _: None)


def graph_of(server):  # noqa: ANN001, ANN201
    from kgstore.driver import connect

    return connect(server.bolt_uri, "neo4j", server.home.read_password() or "")


def count(server) -> tuple[int, int]:  # noqa: ANN001
    with graph_of(server) as graph:
        nodes = graph.query("MATCH (n:Entity) RETURN count(n) AS n")[0]["n"]
        edges = graph.query("MATCH (:Entity)-[r]->(:Entity) RETURN count(r) AS n")[0]["n"]
    return nodes, edges


def run_bulk(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    from kgstore.bulk import bulk_sync
    from kgstore.importers.registry import open_dataset

    with server_in(work / "bulk-home", args) as server:
        started = time.perf_counter()
        summary = bulk_sync(open_dataset(str(folder), namespace="synth"), server=server,
                            connect=lambda: graph_of(server), echo=lambda _: None)
        seconds = time.perf_counter() - started
        print("  bulk phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in summary.phases.items()), flush=True)
        return {"seconds": seconds, "triples": summary.triples_created, "counts": count(server),
                "phases": summary.phases}


def run_load_csv(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    with server_in(work / "csv-home", args) as server:
        started = time.perf_counter()
        imports = server.home.server_dir / "import"
        imports.mkdir(parents=True, exist_ok=True)
        keys: set[str] = set()
        for split in ("train", "valid", "test"):
            source = folder / f"{split}.txt"
            (imports / source.name).symlink_to(source.resolve())
            with source.open() as handle:
                for line in handle:
                    head, _, tail = line.rstrip("\n").split("\t")
                    keys.add(head)
                    keys.add(tail)
        (imports / "keys.txt").write_text("\n".join(f"synth:{k}" for k in sorted(keys)) + "\n")
        with graph_of(server) as graph:
            graph.query("CREATE CONSTRAINT entity_key IF NOT EXISTS FOR (e:Entity) REQUIRE e.key IS UNIQUE",
                        write=True)
            with graph.session() as session:
                session.run("LOAD CSV FROM 'file:///keys.txt' AS row CALL (row) { "
                            "CREATE (:Entity {key: row[0], dataset: 'synth'}) } IN TRANSACTIONS OF 10000 ROWS"
                            ).consume()
                for split in ("train", "valid", "test"):
                    session.run(f"LOAD CSV FROM 'file:///{split}.txt' AS row FIELDTERMINATOR '\\t' "
                                "CALL (row) { MATCH (h:Entity {key: 'synth:' + row[0]}) "
                                "MATCH (t:Entity {key: 'synth:' + row[2]}) "
                                f"CREATE (h)-[:$(row[1]) {{split: '{split}'}}]->(t) }} "
                                "IN TRANSACTIONS OF 10000 ROWS").consume()
        seconds = time.perf_counter() - started
        counts = count(server)
        return {"seconds": seconds, "triples": counts[1], "counts": counts}


def run_online(folder: Path, work: Path, args: argparse.Namespace) -> dict:
    from kgstore.importers.registry import open_dataset
    from kgstore.sync import sync_dataset

    with server_in(work / "online-home", args) as server:
        started = time.perf_counter()
        with graph_of(server) as graph:
            summary = sync_dataset(graph, open_dataset(str(folder), namespace="synth"))
        seconds = time.perf_counter() - started
        return {"seconds": seconds, "triples": summary.triples_created, "counts": count(server)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M", help="triples per graph, comma list (e.g. 1M,3M,10M)")
    parser.add_argument("--online", default="", help="sizes at which the online path runs too (slow)")
    parser.add_argument("--no-load-csv", default="", help="sizes at which LOAD CSV does not run (slow at 10M)")
    parser.add_argument("--heap", default="2g", help="each throwaway server's heap")
    parser.add_argument("--pagecache", default="2g", help="each throwaway server's page cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--graph", type=Path, help="an existing train/valid/test.txt folder (only read) instead of "
                        "generating; --sizes is then ignored")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "out" / "bulk_bench.json")
    args = parser.parse_args()

    from kgstore.importers.synth import SynthSpec, default_entities, write_synth

    def sizes(option: str) -> set[int | str]:
        return {"all" if s.strip() == "all" else size_of(s) for s in option.split(",") if s.strip()}

    online, no_load_csv = sizes(args.online), sizes(args.no_load_csv)
    rows = []
    print(f"{'triples':>11} {'loader':<9} {'seconds':>8} {'triples/s':>10} {'entities':>10} {'edges':>11}")
    for size in [None] if args.graph else [size_of(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="kgstore-bulk-bench-") as tmp:
            work = Path(tmp)
            if size is None:
                folder = args.graph.resolve()
                size = sum(1 for split in ("train", "valid", "test") for _ in (folder / f"{split}.txt").open("rb"))
            else:
                spec = SynthSpec(entities=default_entities(size), relations=200, triples=size, seed=args.seed)
                folder = write_synth(work / "graph", spec).folder
            runners = [("bulk", run_bulk)]
            if not {size, "all"} & no_load_csv:
                runners.append(("LOAD CSV", run_load_csv))
            if {size, "all"} & online:
                runners.append(("online", run_online))
            for name, runner in runners:
                result = runner(folder, work, args)
                rate = result["triples"] / result["seconds"]
                print(f"{size:>11,} {name:<9} {result['seconds']:>8.1f} {rate:>10,.0f} {result['counts'][0]:>10,} "
                      f"{result['counts'][1]:>11,}", flush=True)
                rows.append({"size": size, "loader": name, **result, "triples_per_second": rate})
    by = {(r["size"], r["loader"]): r for r in rows}
    for size in sorted({r["size"] for r in rows}):
        if (size, "LOAD CSV") in by:
            ratio = by[(size, "LOAD CSV")]["seconds"] / by[(size, "bulk")]["seconds"]
            print(f"{size:,} triples: bulk is {ratio:.1f}x LOAD CSV's speed")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"command": sys.argv, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
