"""Incremental re-export: after a sync, the export reads only what changed and patches its snapshot.

UMLS (6,529 triples) is synced without 1% of its triples, exported, then synced again with
them, one changed split, one new entity, one renamed entity and one new image link; the
second export must read about 1% of the facts (counted) and give exactly the arrays of a
full export. A fact written by plain Cypher (no sync generation) makes it fall back to a
full export, saying why; a bulk-built graph patches like an online one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kgstore.bulk import bulk_sync
from kgstore.driver import Graph, connect
from kgstore.importers.files import FileSource, TripleFile
from kgstore.importers.records import TripleRecord
from kgstore.importers.registry import open_dataset
from kgstore.server import ManagedServer
from kgstore.sync import sync_dataset
from tests.conftest import private_server
from trainer.export import export_snapshot
from trainer.incremental_export import read_watermark
from trainer.snapshot import Snapshot

NS = "inc"
NEW_ENTITY = "brand_new_concept"


def umls(data_dir: Path) -> list[TripleRecord]:
    return list(open_dataset("umls", source=data_dir).triples())


def write_version(folder: Path, triples: list[TripleRecord], names: dict[str, str],
                  images: dict[str, tuple[int, int, int]]) -> FileSource:
    """A folder dataset: ``triples.tsv`` with a split column, entity names, one PNG per entity in ``images``."""
    folder.mkdir(parents=True)
    with (folder / "triples.tsv").open("w") as out:
        out.write("head\trelation\ttail\tsplit\n")
        out.writelines(f"{t.head}\t{t.relation}\t{t.tail}\t{t.split}\n" for t in triples)
    (folder / "entities.jsonl").write_text("".join(json.dumps({"id": k, "name": v}) + "\n"
                                                   for k, v in sorted(names.items())))
    (folder / "images").mkdir()
    for entity, color in images.items():
        Image.new("RGB", (6, 6), color).save(folder / "images" / f"{entity}.png")
    return FileSource(namespace=NS, triple_files=[TripleFile(folder / "triples.tsv")],
                      entity_files=[folder / "entities.jsonl"], image_source=folder / "images")


def two_versions(triples: list[TripleRecord], tmp_path: Path) -> tuple[FileSource, FileSource, int]:
    """Version 1 lacks every 100th triple; version 2 has them, a changed split, a new entity, a
    renamed entity and one more image. Returns both and the number of facts version 2 writes."""
    held_out = triples[::100]
    first = [t for i, t in enumerate(triples) if i % 100]
    entities = sorted({x for t in triples for x in (t.head, t.tail)})
    names = {e: e.replace("_", " ") for e in entities}
    v1 = write_version(tmp_path / "v1", first, names, {entities[0]: (255, 0, 0)})
    moved = first[1]  # a train triple in version 1, a test triple in version 2
    assert moved.split == "train"
    second = [TripleRecord(t.head, t.relation, t.tail, "test") if t is moved else t for t in first]
    second += held_out + [TripleRecord(NEW_ENTITY, "isa", entities[5], "train")]
    renamed = {**names, entities[3]: "Renamed concept", NEW_ENTITY: "Brand new concept"}
    v2 = write_version(tmp_path / "v2", second, renamed, {entities[0]: (255, 0, 0), entities[7]: (0, 255, 0)})
    return v1, v2, len(held_out) + 2


def assert_same_snapshot(patched: Snapshot, full: Snapshot) -> None:
    assert patched.entity_keys == full.entity_keys
    assert patched.relation_names == full.relation_names
    assert np.array_equal(patched.triples, full.triples) and patched.triples.dtype == full.triples.dtype
    assert np.array_equal(patched.splits, full.splits) and patched.splits.dtype == full.splits.dtype
    assert patched.entity_text == full.entity_text
    assert patched.entity_labels == full.entity_labels
    assert patched.entity_images == full.entity_images
    assert patched.image_uris == full.image_uris


def test_one_percent_more_triples_reads_one_percent_and_patches_exactly(
        graph: Graph, data_dir: Path, tmp_path: Path) -> None:
    triples = umls(data_dir)
    v1, v2, written = two_versions(triples, tmp_path)
    store, folder = tmp_path / "store", tmp_path / "snapshot"
    sync_dataset(graph, v1, image_store=store)
    first = export_snapshot(graph, folder, progress=False)
    assert (first.meta["export_mode"], first.meta["facts_read"]) == ("full", len(triples) - written + 2)
    assert first.meta["sync_watermark"] == read_watermark(graph).generation == 1

    summary = sync_dataset(graph, v2, image_store=store)
    assert (summary.mode, summary.generation) == ("verify", 2)
    assert (summary.triples_created, summary.triples_updated, summary.entities_created) == (written - 1, 1, 1)
    patched = export_snapshot(graph, folder, progress=False)
    meta = patched.meta
    assert meta["export_mode"] == "incremental"
    assert meta["facts_read"] == written  # the new facts and the one whose split changed: ~1%
    assert meta["facts_read"] <= 0.012 * len(patched.triples)
    assert meta["entities_read"] == 3  # the new entity, the renamed one, the one with a new image
    assert meta["sync_watermark"] == 2

    full = export_snapshot(graph, tmp_path / "full", progress=False)
    assert full.meta["export_mode"] == "full" and full.meta["facts_read"] == len(triples) + 1
    assert_same_snapshot(patched, full)
    assert_same_snapshot(Snapshot.load(folder), Snapshot.load(tmp_path / "full"))

    # A sync that changes nothing: a new generation, nothing stamped, nothing read.
    again = sync_dataset(graph, v2, image_store=store)
    assert not again.changed
    quiet = export_snapshot(graph, folder, progress=False)
    assert (quiet.meta["export_mode"], quiet.meta["facts_read"], quiet.meta["entities_read"]) == \
        ("incremental", 0, 0)
    assert_same_snapshot(quiet, full)


def tiny(folder: Path, rows: list[tuple[str, str, str]]) -> FileSource:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows))
    return FileSource(namespace="tiny", triple_files=[TripleFile(folder / "t.tsv")])


def test_a_fact_written_without_a_generation_falls_back_to_a_full_export(
        graph: Graph, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sync_dataset(graph, tiny(tmp_path / "a", [("a", "r", "b"), ("b", "r", "c")]))
    folder = tmp_path / "snapshot"
    export_snapshot(graph, folder, namespaces=["tiny"], progress=False)
    graph.query("MATCH (a:Entity {key: 'tiny:a'}), (c:Entity {key: 'tiny:c'}) CREATE (a)-[:r {split: 'test'}]->(c)",
                write=True)
    sync_dataset(graph, tiny(tmp_path / "b", [("a", "r", "b"), ("b", "r", "c"), ("c", "s", "a")]))
    with caplog.at_level(logging.WARNING, logger="trainer.export"):
        snapshot = export_snapshot(graph, folder, namespaces=["tiny"], progress=False)
    assert snapshot.meta["export_mode"] == "full"
    assert "incremental export not possible (the graph has 1 'r' test facts, the patched snapshot 0): " \
           "exporting the whole graph" in caplog.text
    assert len(snapshot.triples) == snapshot.meta["facts_read"] == 4
    # From that full export on, incremental exports work again.
    sync_dataset(graph, tiny(tmp_path / "c", [("a", "r", "b"), ("b", "r", "c"), ("c", "s", "a"), ("d", "s", "a")]))
    assert export_snapshot(graph, folder, namespaces=["tiny"], progress=False).meta["facts_read"] == 1
    # A wiped and re-synced graph counts its generations afresh: never patched onto the old snapshot.
    graph.query("MATCH (n) DETACH DELETE n", write=True)
    sync_dataset(graph, tiny(tmp_path / "d", [("a", "r", "b"), ("x", "s", "a")]))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="trainer.export"):
        rebuilt = export_snapshot(graph, folder, namespaces=["tiny"], progress=False)
    assert rebuilt.meta["export_mode"] == "full" and "sync counter is not the one" in caplog.text
    assert rebuilt.entity_keys == ["tiny:a", "tiny:b", "tiny:x"]


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    yield from private_server(tmp_path_factory.mktemp("incremental-bulk-home"))


@pytest.mark.slow
def test_bulk_load_then_online_sync_patches_exactly(bulk_server: ManagedServer, data_dir: Path,
                                                    tmp_path: Path) -> None:
    triples = umls(data_dir)
    v1, v2, written = two_versions(triples, tmp_path)
    store = tmp_path / "store"
    with connect(bulk_server.bolt_uri, "neo4j", bulk_server.home.read_password() or "") as built:
        built.query("MATCH (n) DETACH DELETE n", write=True)
    bulk = bulk_sync(v1, server=bulk_server, image_store=store, echo=lambda _: None,
                     connect=lambda: connect(bulk_server.bolt_uri, "neo4j", bulk_server.home.read_password() or ""))
    assert bulk.generation == 1
    with connect(bulk_server.bolt_uri, "neo4j", bulk_server.home.read_password() or "") as built:
        assert built.query("MATCH (e:Entity) WHERE e.sync_gen = 1 RETURN count(e) AS n")[0]["n"] == \
            built.query("MATCH (e:Entity) RETURN count(e) AS n")[0]["n"]
        folder = tmp_path / "snapshot"
        export_snapshot(built, folder, progress=False)
        assert sync_dataset(built, v2, image_store=store).generation == 2
        patched = export_snapshot(built, folder, progress=False)
        assert (patched.meta["export_mode"], patched.meta["facts_read"]) == ("incremental", written)
        assert_same_snapshot(patched, export_snapshot(built, tmp_path / "full", progress=False))
