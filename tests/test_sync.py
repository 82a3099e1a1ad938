"""`kgstore sync` against the real server: exact counts, idempotency, resumption, safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from kgstore.driver import Graph
from kgstore.importers.base import TripleFolder
from kgstore.importers.files import FileSource, TripleFile
from kgstore.importers.input_errors import BadInputError, InputErrors
from kgstore.sync import sync_dataset
from tests.conftest import ServerUnderTest

HOSTILE_RELATIONS = [
    "/film/film/genre", "with space", "dot.ted.name", "back`tick", "two``ticks", "quo'te", 'dou"ble',
    "{brace}", "MATCH", "RETURN", "DETACH DELETE", ")-[:EVIL]->(", "'; MATCH (n) DETACH DELETE n; //",
    "$param", "ünïcödé 关系 🚀", "r" * 5000, "\\backslash", "colon:ns", "-leading-dash", "0starts_digit",
]


def write_triples(folder: Path, rows: dict[str, list[tuple[str, str, str]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, triples in rows.items():
        (folder / f"{split}.txt").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in triples))
    return folder


def counts(graph: Graph) -> tuple[int, int]:
    row = graph.query("MATCH (n) WITH count(n) AS nodes "
                      "OPTIONAL MATCH ()-[r]->() RETURN nodes, count(r) AS rels")[0]
    return row["nodes"], row["rels"]


def test_folder_sync_is_exact_and_idempotent(graph: Graph, tmp_path: Path) -> None:
    folder = write_triples(tmp_path / "tiny", {
        "train": [("a", "likes", "b"), ("b", "likes", "c"), ("a", "knows", "c")],
        "valid": [("c", "likes", "a")],
        "test": [("b", "knows", "a")],
    })
    first = sync_dataset(graph, TripleFolder(folder, namespace="tiny"))
    assert (first.mode, first.triples_created, first.entities_created) == ("fresh", 5, 3)
    rows = graph.query("MATCH (h:Entity)-[r]->(t:Entity) RETURN h.key AS h, type(r) AS r, t.key AS t, "
                       "r.split AS split ORDER BY h, r, t")
    assert rows == [
        {"h": "tiny:a", "r": "knows", "t": "tiny:c", "split": "train"},
        {"h": "tiny:a", "r": "likes", "t": "tiny:b", "split": "train"},
        {"h": "tiny:b", "r": "knows", "t": "tiny:a", "split": "test"},
        {"h": "tiny:b", "r": "likes", "t": "tiny:c", "split": "train"},
        {"h": "tiny:c", "r": "likes", "t": "tiny:a", "split": "valid"},
    ]
    before = counts(graph)
    second = sync_dataset(graph, TripleFolder(folder, namespace="tiny"))
    assert second.mode == "verify"
    assert not second.changed
    assert (second.triples_created, second.triples_existing, second.entities_unchanged) == (0, 5, 3)
    assert counts(graph) == before


def test_hostile_relation_names_round_trip_exactly(graph: Graph, tmp_path: Path) -> None:
    triples = [(f"e{i}", name, f"e{i + 1}") for i, name in enumerate(HOSTILE_RELATIONS)]
    folder = write_triples(tmp_path / "hostile", {"train": triples, "valid": [], "test": []})
    summary = sync_dataset(graph, TripleFolder(folder, namespace="hostile"))
    assert summary.triples_created == len(HOSTILE_RELATIONS)
    stored = graph.query("MATCH (h:Entity)-[r]->(t:Entity) RETURN h.id AS h, type(r) AS r, t.id AS t")
    assert sorted((r["h"], r["r"], r["t"]) for r in stored) == sorted(triples)
    assert graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"] > 0, "nothing was deleted by a name"
    again = sync_dataset(graph, TripleFolder(folder, namespace="hostile"))
    assert not again.changed and again.triples_existing == len(HOSTILE_RELATIONS)


def test_bulk_triple_procedure_writes_properties_and_refuses_bad_columns(graph: Graph) -> None:
    """kgstore.createTriples (sync's plugin path): types verbatim, property columns, missing ends counted."""
    from neo4j.exceptions import ClientError

    graph.query("UNWIND ['b:a', 'b:b'] AS key CREATE (:Entity {key: key})", write=True)
    rows = graph.query(
        "CALL kgstore.createTriples($h, $r, $t, $p) YIELD created, missing RETURN created, missing",
        {"h": ["b:a", "b:b", "b:a"], "r": ["x` DETACH DELETE n //", "plain", "plain"], "t": ["b:b", "b:a", "b:nope"],
         "p": {"split": ["train", "test", "valid"], "rating": [4, None, 1], "tags": [["x", "y"], None, None]}},
        write=True)
    assert rows == [{"created": 2, "missing": 1}]
    stored = graph.query("MATCH (h:Entity)-[r]->(t:Entity) RETURN h.key AS h, type(r) AS r, t.key AS t, "
                         "properties(r) AS p ORDER BY h")
    assert stored == [{"h": "b:a", "r": "x` DETACH DELETE n //", "t": "b:b",
                       "p": {"split": "train", "rating": 4, "tags": ["x", "y"]}},
                      {"h": "b:b", "r": "plain", "t": "b:a", "p": {"split": "test"}}]
    for h, r, t, p, message in (
            (["b:a"], ["plain", "plain"], ["b:b"], {}, "must have the same length, got 1, 2 and 1"),
            (["b:a"], ["plain"], ["b:b"], {"split": ["a", "b"]}, "properties.split must be a list of 1 values"),
            (["b:a"], [""], ["b:b"], {}, "relation must be a non-empty string"),
            (["b:a"], ["plain"], ["b:b"], {"bad": [{"a": 1}]}, "property bad cannot store")):
        with pytest.raises(ClientError) as info:
            graph.query("CALL kgstore.createTriples($h, $r, $t, $p) YIELD created RETURN created",
                        {"h": h, "r": r, "t": t, "p": p}, write=True)
        assert message in info.value.message
    assert graph.query("MATCH ()-[r]->() RETURN count(r) AS n") == [{"n": 2}], "a failed call wrote nothing"


def test_two_namespaces_do_not_collide(graph: Graph, tmp_path: Path) -> None:
    folder = write_triples(tmp_path / "shared", {"train": [("a", "r", "b")], "valid": [], "test": []})
    sync_dataset(graph, TripleFolder(folder, namespace="one"))
    sync_dataset(graph, TripleFolder(folder, namespace="two"))
    keys = sorted(r["k"] for r in graph.query("MATCH (e:Entity) RETURN e.key AS k"))
    assert keys == ["one:a", "one:b", "two:a", "two:b"]
    assert counts(graph)[1] == 2


BAD_LINES = {
    "wrong column count": b"a\tlikes\tb\nc\tlikes\n",
    "empty key": b"a\tlikes\tb\n\tlikes\tc\n",
    "NUL byte": b"a\tlikes\tb\nc\tli\x00kes\td\n",
    "bad encoding": b"a\tlikes\tb\nc\tlikes\t\xff\xfe\n",
    "megabyte line": b"a\tlikes\tb\nc\tlikes\t" + b"x" * (2 << 20) + b"\n",
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_names_file_and_line_and_writes_nothing(graph: Graph, tmp_path: Path, case: str) -> None:
    sync_dataset(graph, TripleFolder(write_triples(tmp_path / "good", {"train": [("x", "r", "y")],
                                                                        "valid": [], "test": []}),
                                     namespace="good"))
    before = counts(graph)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "train.txt").write_bytes(b"p\tq\tr\n" * 3)
    (folder / "valid.txt").write_bytes(BAD_LINES[case])
    (folder / "test.txt").write_bytes(b"")
    with pytest.raises(BadInputError) as info:
        sync_dataset(graph, TripleFolder(folder, namespace="bad"))
    assert info.value.path == folder / "valid.txt" and info.value.line == 2
    assert f"{folder / 'valid.txt'}:2" in str(info.value)
    assert counts(graph) == before, "a failed sync must leave the database as it was"


def test_skip_mode_imports_good_lines_and_lists_every_bad_one(graph: Graph, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "train.txt").write_bytes(b"a\tr\tb\nbroken line\nb\tr\tc\n\tr\tc\nc\tr\td\n")
    (folder / "valid.txt").write_bytes(b"d\tr\t\xff\n")
    (folder / "test.txt").write_bytes(b"")
    summary = sync_dataset(graph, TripleFolder(folder, namespace="mixed", errors=InputErrors("skip")))
    assert summary.triples_created == 3
    assert [(p.path.name, p.line) for p in summary.skipped] == [
        ("train.txt", 2), ("train.txt", 4), ("valid.txt", 1)]


def test_missing_file_is_an_error(graph: Graph, tmp_path: Path) -> None:
    source = FileSource(namespace="m", triple_files=[TripleFile(tmp_path / "nope.tsv")])
    with pytest.raises(BadInputError, match="nope.tsv: file does not exist"):
        sync_dataset(graph, source)
    assert counts(graph) == (0, 0)


def test_csv_with_header_split_column_properties_and_entities(graph: Graph, tmp_path: Path) -> None:
    triples = tmp_path / "ratings.csv"
    triples.write_text("head,relation,tail,split,rating,note\n"
                       'u1,RATED,m1,train,4,"good, really"\n'
                       "u1,RATED,m2,test,2,\n")
    entities = tmp_path / "entities.jsonl"
    entities.write_text('{"key": "m1", "name": "Toy Story", "labels": ["Movie"], "year": 1995}\n'
                        '{"id": "u1", "name": "Ann", "labels": ["User"], "properties": {"age": 24}}\n')
    source = FileSource(namespace="csv", triple_files=[TripleFile(triples)], entity_files=[entities])
    summary = sync_dataset(graph, source)
    assert summary.triples_created == 2
    rows = graph.query("MATCH (u:User)-[r:RATED]->(m:Entity) RETURN u.name AS user, u.age AS age, "
                       "m.name AS movie, m.year AS year, r.rating AS rating, r.note AS note, r.split AS split "
                       "ORDER BY rating DESC")
    assert rows == [
        {"user": "Ann", "age": 24, "movie": "Toy Story", "year": 1995, "rating": 4, "note": "good, really",
         "split": "train"},
        {"user": "Ann", "age": 24, "movie": None, "year": None, "rating": 2, "note": None, "split": "test"},
    ]
    assert graph.query("MATCH (m:Movie) RETURN m.key AS k") == [{"k": "csv:m1"}]


def _image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 12)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def test_images_are_content_addressed_and_linked(graph: Graph, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _image(images / "a.png", (255, 0, 0))
    _image(images / "b.png", (255, 0, 0))  # same content as a.png
    _image(images / "c.jpg", (0, 0, 255), (20, 10))
    (tmp_path / "t.tsv").write_text("a\tr\tb\nb\tr\tc\n")
    store = tmp_path / "store"
    source = FileSource(namespace="img", triple_files=[TripleFile(tmp_path / "t.tsv")], image_source=images)
    summary = sync_dataset(graph, source, image_store=store)
    assert summary.images_linked == 3
    assert summary.images_stored == 2  # a and b share one file
    assert len([p for p in store.rglob("*") if p.is_file()]) == 2
    rows = graph.query("MATCH (e:Entity)-[:HAS_IMAGE]->(i:Image) RETURN e.id AS e, i.mime AS mime, "
                       "i.width AS w, i.height AS h, i.uri AS uri ORDER BY e")
    assert [(r["e"], r["mime"], r["w"], r["h"]) for r in rows] == [
        ("a", "image/png", 8, 12), ("b", "image/png", 8, 12), ("c", "image/jpeg", 20, 10)]
    assert rows[0]["uri"] == rows[1]["uri"] and rows[0]["uri"].startswith("file://")
    assert graph.query("MATCH (i:Image) RETURN count(i) AS n") == [{"n": 2}]
    again = sync_dataset(graph, FileSource(namespace="img", triple_files=[TripleFile(tmp_path / "t.tsv")],
                                           image_source=images), image_store=store)
    assert not again.changed and again.images_existing == 3


def test_a_file_that_is_not_an_image_is_an_error(graph: Graph, tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _image(images / "a.png", (1, 2, 3))
    (images / "b.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "t.tsv").write_text("a\tr\tb\n")
    source = FileSource(namespace="img", triple_files=[TripleFile(tmp_path / "t.tsv")], image_source=images)
    with pytest.raises(BadInputError, match=r"b\.jpg: not a readable image"):
        sync_dataset(graph, source, image_store=tmp_path / "store")
    assert counts(graph) == (0, 0)


def test_killed_sync_resumes_with_exact_counts(graph: Graph, neo4j_server: ServerUnderTest,
                                               data_dir: Path, cli_env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "kgstore.cli", "sync", str(data_dir / "CoDEx-S"),
               "--namespace", "codex-resume", "--batch-size", "500"]
    env = {**os.environ, **cli_env}
    if neo4j_server.home is None:
        env.update({"NEO4J_URI": neo4j_server.uri, "NEO4J_PASSWORD": neo4j_server.password})
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        done = graph.query("MATCH (b:KgSyncBatch {namespace: 'codex-resume'}) RETURN count(b) AS n")[0]["n"]
        if done >= 5:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=30)
    assert done >= 5, "the sync finished before it could be killed; use a smaller batch size"
    partial = graph.query("MATCH (:Entity {dataset: 'codex-resume'})-[r]->() RETURN count(r) AS n")[0]["n"]
    assert 0 < partial < 36543

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "(resume)" in result.stdout
    rows = graph.query("MATCH (h:Entity {dataset: 'codex-resume'})-[r]->(t) "
                       "RETURN count(r) AS n, count(DISTINCT [h.key, type(r), t.key]) AS distinct")
    assert rows == [{"n": 36543, "distinct": 36543}]
    splits = graph.query("MATCH (:Entity {dataset: 'codex-resume'})-[r]->() "
                         "RETURN r.split AS split, count(*) AS n ORDER BY split")
    assert splits == [{"split": "test", "n": 1828}, {"split": "train", "n": 32888},
                      {"split": "valid", "n": 1827}]


def test_cli_sync_says_when_nothing_changed(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    folder = write_triples(tmp_path / "cli", {"train": [("a", "r", "b")], "valid": [], "test": []})
    first = run_cli("sync", str(folder), env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "(fresh)" in first.output
    second = run_cli("sync", str(folder), env={"COLUMNS": "200"})
    assert second.exit_code == 0
    assert "Nothing changed" in second.output


def test_cli_bad_input_exits_non_zero_with_file_and_line(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tr\tb\nonly two\tcolumns\n")
    result = run_cli("sync", "--namespace", "bad", "--triples", f"train={bad}")
    assert result.exit_code == 1
    assert f"{bad}:2: expected 3 or more columns" in result.output or f"{bad}:2" in result.output
    assert "--on-error skip" in result.output
    assert counts(graph) == (0, 0)


def test_movielens_end_to_end_with_posters(graph: Graph, run_cli, data_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    store = tmp_path / "images"
    result = run_cli("sync", "movielens-100k", "--source", str(data_dir), "--image-store", str(store),
                     env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    by_type = {r["t"]: r["n"] for r in graph.query(
        "MATCH (:Entity {dataset: 'movielens-100k'})-[r]->() RETURN type(r) AS t, count(r) AS n")}
    assert by_type == {"RATED": 100_000, "HAS_GENRE": 2_893, "HAS_OCCUPATION": 943, "HAS_IMAGE": 1_663}
    splits = graph.query("MATCH ()-[r:RATED]->() RETURN r.split AS split, count(*) AS n ORDER BY split")
    assert splits == [{"split": "test", "n": 20_000}, {"split": "train", "n": 80_000}]
    labels = {r["label"]: r["n"] for r in graph.query(
        "MATCH (e:Entity {dataset: 'movielens-100k'}) UNWIND labels(e) AS label "
        "RETURN label, count(*) AS n")}
    assert labels == {"Entity": 2_665, "User": 943, "Movie": 1_682, "Genre": 19, "Occupation": 21}
    toy = graph.query("MATCH (m:Movie {key: 'movielens-100k:movie/1'})-[:HAS_IMAGE]->(i:Image) "
                      "OPTIONAL MATCH (m)-[:HAS_GENRE]->(g) "
                      "RETURN m.name AS name, m.description AS plot, i.mime AS mime, i.uri AS uri, "
                      "collect(g.name) AS genres")[0]
    assert toy["name"] == "Toy Story (1995)" and toy["mime"] == "image/jpeg"
    assert "Animation" in toy["genres"] and len(toy["plot"]) > 50
    assert Path(toy["uri"].removeprefix("file://")).is_file()
    rating = graph.query("MATCH (u:User {key: 'movielens-100k:user/196'})-[r:RATED]->"
                         "(m:Movie {key: 'movielens-100k:movie/242'}) RETURN r.rating AS rating, "
                         "r.timestamp AS ts, u.age AS age")
    assert rating == [{"rating": 3, "ts": 881250949, "age": 49}]
    distinct_posters = len({p.read_bytes() for p in (data_dir / "MovieLens-100K" / "posters").glob("*.jpg")})
    assert graph.query("MATCH (i:Image) RETURN count(i) AS n") == [{"n": distinct_posters}]
    assert len([p for p in store.rglob("*.jpg")]) == distinct_posters
