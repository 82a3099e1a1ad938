"""Incremental re-export: FB15k-237 synced without 1% of its triples, exported, synced with them.

Prints what the second export read (entities and facts over Bolt) against the graph's size,
and its seconds against a full export of the same graph (``refresh=True``), and checks
that the patched snapshot equals the full one array for array.

    python bench/incremental_export_bench.py                       # a temporary managed server
    python bench/incremental_export_bench.py --home ~/.local/share/kgstore   # an installed home
    KGSTORE_DATA=../shared/data python bench/incremental_export_bench.py

Version 1 leaves out every 100th line of each split file; version 2 is the dataset as it
is (same namespace, so the second ``kgstore sync`` verifies and adds the missing 1%).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_server import bench_server  # noqa: E402

from kgstore.driver import connect  # noqa: E402

SPLITS = ("train", "valid", "test")
TEXT_FILES = ("kgbert_entity2text.txt", "entity2wikidata.json", "kgbert_relation2text.txt",
              "kgbert_entities.txt", "kgbert_relations.txt", "kgbert_FB15k_mid2name.txt")


def data_dir() -> Path:
    return Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data") / "FB15k-237"


def version(source: Path, target: Path, *, leave_out_every: int | None) -> int:
    """The split files (without every ``leave_out_every``-th line when given) and the text files."""
    target.mkdir(parents=True)
    total = 0
    for split in SPLITS:
        lines = (source / f"{split}.txt").read_bytes().splitlines(keepends=True)
        if leave_out_every:
            lines = [line for i, line in enumerate(lines) if i % leave_out_every]
        (target / f"{split}.txt").write_bytes(b"".join(lines))
        total += len(lines)
    for name in TEXT_FILES:
        if (source / name).exists():
            (target / name).symlink_to(source / name)
    return total


def timed(work):  # noqa: ANN001, ANN201 - a thunk and its result
    start = time.monotonic()
    result = work()
    return result, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="an installed kgstore home (default: a temporary one)")
    args = parser.parse_args()

    import numpy as np

    from kgstore.importers.registry import open_dataset
    from kgstore.sync import sync_dataset
    from trainer.export import export_snapshot

    print(f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"numpy {np.__version__}")
    with bench_server(args.home, "kgstore-incremental-bench-", heap_size="2g", pagecache_size="1g") as (server, work):
        v1_triples = version(data_dir(), work / "v1", leave_out_every=100)
        v2_triples = version(data_dir(), work / "v2", leave_out_every=None)
        with connect(server.bolt_uri, "neo4j", server.home.read_password() or "") as graph:
            print(f"# Neo4j {graph.server_info().get('version', '?')} at {server.bolt_uri}")
            _, sync1 = timed(lambda: sync_dataset(graph, open_dataset("fb15k-237", source=work / "v1",
                                                                       namespace="fb")))
            first, full1 = timed(lambda: export_snapshot(graph, work / "snapshot", progress=False))
            summary, sync2 = timed(lambda: sync_dataset(graph, open_dataset("fb15k-237", source=work / "v2",
                                                                             namespace="fb")))
            patched, incremental = timed(lambda: export_snapshot(graph, work / "snapshot", progress=False))
            full, full2 = timed(lambda: export_snapshot(graph, work / "full", progress=False, refresh=True))

    same = (patched.entity_keys == full.entity_keys and patched.relation_names == full.relation_names
            and np.array_equal(patched.triples, full.triples) and np.array_equal(patched.splits, full.splits)
            and patched.entity_text == full.entity_text and patched.entity_labels == full.entity_labels)
    meta = patched.meta
    print(f"FB15k-237: version 1 {v1_triples:,} triples, version 2 {v2_triples:,} "
          f"(+{summary.triples_created:,} by the second sync, generation {summary.generation})")
    print(f"{'step':<34} {'mode':<12} {'entities read':>14} {'facts read':>11} {'seconds':>8}")
    print(f"{'sync version 1':<34} {'fresh':<12} {'':>14} {'':>11} {sync1:>8.1f}")
    print(f"{'export (first)':<34} {first.meta['export_mode']:<12} {first.meta['entities_read']:>14,} "
          f"{first.meta['facts_read']:>11,} {full1:>8.2f}")
    print(f"{'sync version 2 (+1%)':<34} {summary.mode:<12} {'':>14} {'':>11} {sync2:>8.1f}")
    print(f"{'export after the sync':<34} {meta['export_mode']:<12} {meta['entities_read']:>14,} "
          f"{meta['facts_read']:>11,} {incremental:>8.2f}")
    print(f"{'full export of the same graph':<34} {full.meta['export_mode']:<12} {full.meta['entities_read']:>14,} "
          f"{full.meta['facts_read']:>11,} {full2:>8.2f}")
    print(f"facts read: {meta['facts_read']:,} of {len(full.triples):,} "
          f"({meta['facts_read'] / len(full.triples):.2%}); incremental {incremental:.2f} s vs full {full2:.2f} s "
          f"({full2 / incremental:.1f}x); patched snapshot equals the full export: {same}")
    if not same:
        raise SystemExit("the patched snapshot differs from the full export")


if __name__ == "__main__":
    main()
