"""Sync throughput: `kgstore sync` vs Neo4j's own LOAD CSV, on FB15k-237, same server.

Imports FB15k-237 (310,116 triples + entity names and Wikidata descriptions) with
``kgstore sync`` at 10 %, 50 % and 100 % of every split (each into its own namespace, in a
fresh process, so peak RSS is that run's own), re-runs the 100 % import (nothing to write),
then loads the same triples and entity texts with ``LOAD CSV ... CALL { } IN
TRANSACTIONS`` into another namespace. Prints one table.

    python bench/sync_bench.py                       # a temporary managed server
    python bench/sync_bench.py --home ~/.local/share/kgstore   # an installed home
    KGSTORE_DATA=../shared/data python bench/sync_bench.py

The LOAD CSV peer gets the easiest job: ``CREATE`` (no duplicate check) with the same
dynamic relationship types and the same ``split`` property, on CSV files written ahead of
time (not timed) into the server's import folder.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_server import bench_server  # noqa: E402

from kgstore.driver import connect  # noqa: E402
from kgstore.server import ManagedServer  # noqa: E402

SPLITS = ("train", "valid", "test")


def data_dir() -> Path:
    return Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data") / "FB15k-237"


def subset(source: Path, target: Path, fraction: float) -> int:
    """The first ``fraction`` of each split file, plus the text files, into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    total = 0
    for split in SPLITS:
        lines = (source / f"{split}.txt").read_bytes().splitlines(keepends=True)
        keep = lines[: max(1, int(len(lines) * fraction))]
        (target / f"{split}.txt").write_bytes(b"".join(keep))
        total += len(keep)
    for name in ("kgbert_entity2text.txt", "entity2wikidata.json", "kgbert_relation2text.txt",
                 "kgbert_entities.txt", "kgbert_relations.txt", "kgbert_FB15k_mid2name.txt"):
        if (source / name).exists():
            (target / name).symlink_to(source / name)
    return total


def run_sync(folder: Path, namespace: str, env: dict[str, str]) -> dict[str, float]:
    """One `kgstore sync` in its own process; returns wall seconds and that process's peak RSS."""
    code = (
        "import json, resource, sys, time\n"
        "from kgstore.driver import connect\n"
        "from kgstore.importers.registry import open_dataset\n"
        "from kgstore.sync import sync_dataset\n"
        "graph = connect()\n"
        f"dataset = open_dataset('fb15k-237', source={str(folder)!r}, namespace={namespace!r})\n"
        "start = time.monotonic()\n"
        "s = sync_dataset(graph, dataset)\n"
        "print(json.dumps({'seconds': time.monotonic() - start, 'mode': s.mode,\n"
        "  'triples': s.triples_total, 'created': s.triples_created, 'entities': s.entities_created,\n"
        "  'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise SystemExit(f"kgstore sync failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def load_csv(graph, server: ManagedServer, folder: Path, namespace: str) -> dict[str, float]:  # noqa: ANN001
    """The peer: Neo4j's LOAD CSV of the same entity texts and triples."""
    from kgstore.importers.registry import open_dataset

    dataset = open_dataset("fb15k-237", source=folder, namespace=namespace)
    import_dir = server.home.server_dir / "import"
    entities_csv, triples_csv = import_dir / "bench_entities.csv", import_dir / "bench_triples.csv"
    with entities_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "id", "name", "description"])
        seen = set()
        for entity in dataset.entities():
            seen.add(entity.id)
            writer.writerow([f"{namespace}:{entity.id}", entity.id, entity.name or "", entity.description or ""])
        triples = list(dataset.triples())
        for t in triples:
            for local in (t.head, t.tail):
                if local not in seen:
                    seen.add(local)
                    writer.writerow([f"{namespace}:{local}", local, "", ""])
    with triples_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["h", "r", "t", "split"])
        for t in triples:
            writer.writerow([f"{namespace}:{t.head}", t.relation, f"{namespace}:{t.tail}", t.split])
    start = time.monotonic()
    with graph.session() as session:
        session.run(
            "LOAD CSV WITH HEADERS FROM 'file:///bench_entities.csv' AS row "
            "CALL (row) { MERGE (e:Entity {key: row.key}) "
            "  SET e.id = row.id, e.dataset = $ns, e.name = nullif(row.name, ''), "
            "      e.description = nullif(row.description, '') } IN TRANSACTIONS OF 10000 ROWS",
            ns=namespace).consume()
        session.run(
            "LOAD CSV WITH HEADERS FROM 'file:///bench_triples.csv' AS row "
            "CALL (row) { MATCH (h:Entity {key: row.h}) MATCH (t:Entity {key: row.t}) "
            "  CREATE (h)-[e:$(row.r)]->(t) SET e.split = row.split } IN TRANSACTIONS OF 10000 ROWS"
        ).consume()
    seconds = time.monotonic() - start
    created = graph.query("MATCH (:Entity {dataset: $ns})-[r]->() RETURN count(r) AS n", {"ns": namespace})[0]["n"]
    entities_csv.unlink()
    triples_csv.unlink()
    return {"seconds": seconds, "triples": created, "mode": "LOAD CSV", "rss_mb": None}


def measure(server: ManagedServer, work: Path, source: Path, args: argparse.Namespace) -> list[tuple[str, dict]]:
    """Import growing subsets with ``kgstore sync`` in fresh processes, and the whole with LOAD CSV."""
    env = {**os.environ, "KGSTORE_HOME": str(server.home.root)}
    for name in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        env.pop(name, None)
    os.environ["KGSTORE_HOME"] = str(server.home.root)
    graph = connect(home=server.home)
    info = graph.server_info()
    print(f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{info['name']} {info['version']} {info['edition']}, kgstore sync vs LOAD CSV")
    rows = []
    fractions = [float(f) for f in args.fractions.split(",")]
    folders = {}
    for fraction in fractions:
        folders[fraction] = work / f"fb{int(fraction * 100)}"
        subset(source, folders[fraction], fraction)
    # Smaller runs first: they also warm the JVM up, so both 100 % runs below (LOAD CSV
    # first, kgstore second, on a store that has grown) meet the same warm server.
    for fraction in fractions[:-1]:
        namespace = f"bench{int(fraction * 100)}"
        rows.append((f"kgstore sync {fraction:.0%}", run_sync(folders[fraction], namespace, env)))
    full = folders[fractions[-1]]
    rows.append(("LOAD CSV 100%", load_csv(graph, server, full, "loadcsv")))
    rows.append((f"kgstore sync {fractions[-1]:.0%}", run_sync(full, "bench100", env)))
    rows.append(("kgstore sync again", run_sync(full, "bench100", env)))
    graph.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="use this kgstore home's server (started if stopped)")
    parser.add_argument("--fractions", default="0.1,0.5,1.0", help="dataset fractions to import")
    args = parser.parse_args()

    source = data_dir()
    if not (source / "train.txt").is_file():
        raise SystemExit(f"FB15k-237 not found in {source}: set KGSTORE_DATA")
    with bench_server(args.home, "kgstore-sync-bench-") as (server, work):
        rows = measure(server, work, source, args)

    print(f"{'run':<22} {'mode':<9} {'triples':>9} {'seconds':>8} {'triples/s':>10} {'peak RSS MB':>12}")
    for name, r in rows:
        print(f"{name:<22} {r['mode']:<9} {r['triples']:>9,} {r['seconds']:>8.1f} "
              f"{r['triples'] / r['seconds']:>10,.0f} "
              f"{'(in server)' if r['rss_mb'] is None else format(r['rss_mb'], '.0f'):>12}")
    ours = rows[-2][1]
    peer = rows[-3][1]
    ratio = (ours["triples"] / ours["seconds"]) / (peer["triples"] / peer["seconds"])
    print(f"kgstore / LOAD CSV throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
