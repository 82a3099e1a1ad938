"""Snapshot export against the real server: exact triples, what is not a fact, filters, reuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kgstore.driver import Graph
from kgstore.home import KgstoreHome
from kgstore.importers.base import TripleFolder
from kgstore.importers.files import FileSource, TripleFile
from kgstore.importers.registry import open_dataset
from kgstore.sync import sync_dataset
from trainer.export import export_snapshot, graph_fingerprint, snapshot_dir_for
from trainer.snapshot import SPLIT_CODES, Snapshot

HOSTILE = ["/film/film/genre", "with space", "back`tick", "two``ticks", "quo'te", ")-[:EVIL]->(",
           "a/b c`d", "ünïcödé 关系", "colon:ns"]
SPLIT_NAMES = {code: name for name, code in SPLIT_CODES.items()}

Triple = tuple[str, str, str, str]  # head key, relation, tail key, split


def write_triples(folder: Path, rows: dict[str, list[tuple[str, str, str]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.txt").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in rows.get(split, [])))
    return folder


def tiny_rows() -> dict[str, list[tuple[str, str, str]]]:
    train = [(f"e{i}", name, f"e{(i + 1) % 6}") for i, name in enumerate(HOSTILE)]
    return {"train": train + [("a", "likes", "b")], "valid": [("b", "likes", "a"), ("e1", "with space", "a")],
            "test": [("a", "/film/film/genre", "e3")]}


def expected(namespace: str, rows: dict[str, list[tuple[str, str, str]]]) -> list[Triple]:
    return sorted((f"{namespace}:{h}", r, f"{namespace}:{t}", split)
                  for split, triples in rows.items() for h, r, t in triples)


def labelled(snapshot: Snapshot) -> list[Triple]:
    """The snapshot's triples back in key and relation names."""
    keys, relations = snapshot.entity_keys, snapshot.relation_names
    return sorted((keys[h], relations[r], keys[t], SPLIT_NAMES[int(s)])
                  for (h, r, t), s in zip(snapshot.triples.tolist(), snapshot.splits, strict=True))


def test_exact_triples_with_hostile_relation_names(graph: Graph, tmp_path: Path) -> None:
    rows = tiny_rows()
    sync_dataset(graph, TripleFolder(write_triples(tmp_path / "tiny", rows), namespace="tiny"))
    snapshot = export_snapshot(graph, progress=False)
    want = expected("tiny", rows)
    assert labelled(snapshot) == want
    assert snapshot.triples.dtype == np.int64 and snapshot.triples.shape == (len(want), 3)
    assert snapshot.splits.dtype == np.uint8
    assert snapshot.entity_keys == sorted({k for h, _, t, _ in want for k in (h, t)})
    assert snapshot.relation_names == sorted({r for _, r, _, _ in want})
    assert (snapshot.num_entities, snapshot.num_relations) == (len(HOSTILE) + 2, len(HOSTILE) + 1)  # e0..e8, a, b
    assert [len(snapshot.split(s)) for s in ("train", "valid", "test")] == [len(HOSTILE) + 1, 2, 1]
    assert snapshot.meta["namespaces"] is None and snapshot.meta["source_uri"] == graph.settings.uri
    assert snapshot.meta["fingerprint"] == graph_fingerprint(graph)
    assert snapshot.meta["reused"] is False


def test_predictions_images_and_bookkeeping_are_not_facts(graph: Graph, tmp_path: Path) -> None:
    rows = {"train": [("a", "r", "b")], "valid": [("b", "r", "c")], "test": []}
    sync_dataset(graph, TripleFolder(write_triples(tmp_path / "p", rows), namespace="p"))
    graph.query("""
        MATCH (a:Entity {key: 'p:a'}), (c:Entity {key: 'p:c'})
        CREATE (a)-[:KGSTORE_PREDICTED {relation: 'r', score: 0.9, model: 'm1'}]->(c)
        CREATE (a)-[:HAS_IMAGE]->(:Image {sha256: 'abc', uri: 'file:///x.png'})
        CREATE (c)-[:HAS_IMAGE]->(a)
        CREATE (m:KgModel {id: 'm1'})-[:TRAINED_ON]->(a)
        CREATE (a)-[:r {split: 'train'}]->(:Thing {key: 'p:not-an-entity'})
        CREATE (b:Entity {key: 'p:d', dataset: 'p'})-[:new]->(a)
        """, write=True)
    assert graph.query("MATCH ()-[p:KGSTORE_PREDICTED]->() RETURN count(p) AS n") == [{"n": 1}]
    snapshot = export_snapshot(graph, progress=False)
    assert labelled(snapshot) == sorted(expected("p", rows) + [("p:d", "new", "p:a", "train")])
    assert snapshot.relation_names == ["new", "r"]
    assert snapshot.entity_keys == ["p:a", "p:b", "p:c", "p:d"]  # no :Image, :KgModel, :KgSync, :Thing


def test_missing_split_is_train_and_an_unknown_split_is_an_error(graph: Graph) -> None:
    graph.query("CREATE (:Entity {key: 'x:1', dataset: 'x'})-[:`no split`]->(:Entity {key: 'x:2', dataset: 'x'})",
                write=True)
    assert labelled(export_snapshot(graph, progress=False)) == [("x:1", "no split", "x:2", "train")]
    graph.query("MATCH (a:Entity {key: 'x:2'}), (b:Entity {key: 'x:1'}) CREATE (a)-[:odd {split: 'dev'}]->(b)",
                write=True)
    with pytest.raises(ValueError, match=r"split 'dev': use one of train, valid, test"):
        export_snapshot(graph, progress=False)


def test_names_descriptions_and_labels_come_through(graph: Graph, tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("u1\tRATED\tm1\nu2\tRATED\tm1\n")
    entities = tmp_path / "entities.jsonl"
    entities.write_text('{"id": "m1", "name": "Toy Story", "description": "A 1995 film.", "labels": ["Movie"]}\n'
                        '{"id": "u1", "name": "Ann", "labels": ["User", "Person"]}\n')
    sync_dataset(graph, FileSource(namespace="ml", triple_files=[TripleFile(tmp_path / "t.tsv")],
                                   entity_files=[entities]))
    snapshot = export_snapshot(graph, progress=False)
    assert snapshot.entity_keys == ["ml:m1", "ml:u1", "ml:u2"]
    assert snapshot.entity_text == {"name": ["Toy Story", "Ann", None], "description": ["A 1995 film.", None, None]}
    assert snapshot.entity_labels == [["Movie"], ["Person", "User"], []]


def test_real_dataset_exactly_and_namespace_filter(graph: Graph, tmp_path: Path) -> None:
    nations = open_dataset("nations")
    sync_dataset(graph, nations)
    rows = {"train": [("a", "r", "b"), ("b", "s", "c")], "valid": [("c", "r", "a")], "test": []}
    sync_dataset(graph, TripleFolder(write_triples(tmp_path / "one", rows), namespace="one"))
    graph.query("MATCH (a:Entity {key: 'one:a'}), (b:Entity {dataset: 'nations'}) WITH a, b LIMIT 1 "
                "CREATE (a)-[:crosses {split: 'train'}]->(b)", write=True)
    nations_triples = sorted((f"nations:{t.head}", t.relation, f"nations:{t.tail}", t.split)
                             for t in nations.triples())

    only_nations = export_snapshot(graph, namespaces=["nations"], progress=False)
    assert (only_nations.num_entities, only_nations.num_relations) == (14, 55)
    assert [len(only_nations.split(s)) for s in ("train", "valid", "test")] == [1_592, 199, 201]
    assert labelled(only_nations) == nations_triples
    assert all(key.startswith("nations:") for key in only_nations.entity_keys)
    tiny_pages = export_snapshot(graph, namespaces=["nations"], fetch_size=1, progress=False)  # ~2,000 pages
    assert tiny_pages.entity_keys == only_nations.entity_keys
    np.testing.assert_array_equal(tiny_pages.triples, only_nations.triples)
    np.testing.assert_array_equal(tiny_pages.splits, only_nations.splits)

    only_one = export_snapshot(graph, namespaces=["one"], progress=False)
    assert labelled(only_one) == expected("one", rows)
    assert only_one.meta["namespaces"] == ["one"]

    both = export_snapshot(graph, namespaces=["one", "nations"], progress=False)
    everything = export_snapshot(graph, progress=False)
    assert labelled(both) == labelled(everything)
    assert len(everything.triples) == len(nations_triples) + 3 + 1  # with the cross-namespace fact
    assert everything.num_entities == 14 + 3

    fingerprints = {graph_fingerprint(graph, ns) for ns in (None, ["one"], ["nations"], ["nations", "one"])}
    assert len(fingerprints) == 4
    assert graph_fingerprint(graph, ["one", "nations"]) == graph_fingerprint(graph, ["nations", "one"])
    with pytest.raises(ValueError, match=r"no entities in namespace\(s\) nope: the database has nations, one"):
        export_snapshot(graph, namespaces=["nope"], progress=False)


def test_unchanged_graph_reuses_the_snapshot_and_a_change_exports_again(
        graph: Graph, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_triples(tmp_path / "tiny", tiny_rows())
    sync_dataset(graph, TripleFolder(folder, namespace="tiny"))
    path = tmp_path / "snap"
    first = export_snapshot(graph, path, progress=False)
    stamp = (path / "triples.npy").stat().st_mtime_ns
    meta = json.loads((path / "meta.json").read_text())
    assert meta["fingerprint"] == first.fingerprint and meta["namespaces"] is None
    assert {"source_uri", "created_at", "export_seconds"} <= set(meta) and "reused" not in meta

    again = export_snapshot(graph, path, progress=True)
    assert again.meta["reused"] is True
    assert "reusing the snapshot" in capsys.readouterr().err
    assert (path / "triples.npy").stat().st_mtime_ns == stamp
    assert labelled(again) == labelled(first)

    forced = export_snapshot(graph, path, refresh=True, progress=False)
    assert forced.meta["reused"] is False and labelled(forced) == labelled(first)
    assert forced.fingerprint == first.fingerprint

    (folder / "test.txt").write_text("a\tlikes\te5\nb\tnew relation\ta\n")
    sync_dataset(graph, TripleFolder(folder, namespace="tiny"))
    changed = export_snapshot(graph, path, progress=False)
    assert changed.meta["reused"] is False and changed.fingerprint != first.fingerprint
    assert ("tiny:b", "new relation", "tiny:a", "test") in labelled(changed)
    assert len(changed.triples) == len(first.triples) + 2
    assert Snapshot.load(path).fingerprint == changed.fingerprint
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".snap")], "no staging folder left behind"


def test_save_load_round_trip(graph: Graph, tmp_path: Path) -> None:
    (tmp_path / "t.tsv").write_text("u1\tRATED\tm1\nu2\tRATED\tm1\nu1\tknows\tu2\n")
    entities = tmp_path / "entities.jsonl"
    entities.write_text('{"id": "m1", "name": "Toy Story", "description": "A film.", "labels": ["Movie"]}\n')
    sync_dataset(graph, FileSource(namespace="rt", triple_files=[TripleFile(tmp_path / "t.tsv")],
                                   entity_files=[entities]))
    exported = export_snapshot(graph, tmp_path / "snap", progress=False)
    loaded = Snapshot.load(tmp_path / "snap")
    assert loaded.entity_keys == exported.entity_keys
    assert loaded.relation_names == exported.relation_names
    np.testing.assert_array_equal(loaded.triples, exported.triples)
    np.testing.assert_array_equal(loaded.splits, exported.splits)
    assert loaded.entity_text == exported.entity_text
    assert loaded.entity_labels == exported.entity_labels
    assert loaded.fingerprint == exported.fingerprint
    assert loaded.meta["num_triples"] == {"train": 3, "valid": 0, "test": 0}


def test_empty_graph_exports_an_empty_snapshot(graph: Graph) -> None:
    snapshot = export_snapshot(graph, progress=False)
    assert (snapshot.num_entities, snapshot.num_relations, snapshot.triples.shape) == (0, 0, (0, 3))


def test_snapshot_dir_for_and_bad_arguments(tmp_path: Path) -> None:
    home = KgstoreHome(tmp_path)
    assert snapshot_dir_for(home, None) == tmp_path / "snapshots" / "all"
    assert snapshot_dir_for(home, ["wn18rr", "fb15k-237"]) == tmp_path / "snapshots" / "fb15k-237-wn18rr"
    with pytest.raises(ValueError, match="empty list"):
        snapshot_dir_for(home, [])
    with pytest.raises(ValueError, match="path separators"):
        snapshot_dir_for(home, ["../etc"])
    with pytest.raises(TypeError, match=r"use \['nations'\]"):
        snapshot_dir_for(home, "nations")  # type: ignore[arg-type]
