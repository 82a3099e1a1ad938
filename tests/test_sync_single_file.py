"""`kgstore sync FILE` and `kgstore sync OPENKE-FOLDER`: the first sync a newcomer types.

One triples file (TSV, CSV or JSON Lines) is read exactly as ``--triples`` reads it and
namespaced by its name; any folder in OpenKE's id format is imported directly, namespaced
by the folder's name. Bad input names the file and the problem and writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.importers.files import FileSource
from kgstore.importers.input_errors import BadInputError
from kgstore.importers.openke import DB15K, OpenKEFolder
from kgstore.importers.registry import open_dataset, triples_file
from tests.test_sync import counts


def write_openke(folder: Path) -> Path:
    """A three-entity OpenKE folder (ids, header counts, relation last in the triple files)."""
    folder.mkdir(parents=True)
    (folder / "entity2id.txt").write_text("3\n<http://x.org/resource/Ada>\t0\n<http://x.org/resource/Bob>\t1\n"
                                          "<http://x.org/resource/Cy>\t2\n")
    (folder / "relation2id.txt").write_text("2\n<http://x.org/knows>\t0\n<http://x.org/wasBornIn>\t1\n")
    (folder / "train2id.txt").write_text("2\n0 1 0\n1 2 0\n")
    (folder / "valid2id.txt").write_text("1\n0 2 1\n")
    (folder / "test2id.txt").write_text("1\n2 0 0\n")
    return folder


# ----------------------------------------------------------------- no server needed
@pytest.mark.parametrize(("name", "text"), [
    ("facts.tsv", "a\tlikes\tb\nb\tlikes\tc\n"),
    ("facts.csv", "head,relation,tail,weight\na,likes,b,2\nb,likes,c,3\n"),
    ("facts.jsonl", '{"head": "a", "relation": "likes", "tail": "b"}\n{"h": "b", "r": "likes", "t": "c"}\n'),
])
def test_a_triples_file_opens_as_file_source_named_after_the_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert triples_file(str(path)) == path
    dataset = open_dataset(str(path))
    assert type(dataset) is FileSource and dataset.namespace == "facts"
    assert [(t.head, t.relation, t.tail) for t in dataset.triples()] == [("a", "likes", "b"), ("b", "likes", "c")]
    assert open_dataset(str(path), namespace="mine").namespace == "mine"


def test_a_dataset_name_is_never_read_as_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nations").write_text("a\tr\tb\n")
    assert triples_file("nations") is None


def test_jsonl_triples_keep_split_and_properties(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"head": "a", "relation": "r", "tail": "b", "split": "test", "weight": 0.5, "src": "x"}\n')
    (triple,) = open_dataset(str(path)).triples()
    assert triple.split == "test" and triple.properties == {"weight": 0.5, "src": "x"}


@pytest.mark.parametrize(("text", "problem"), [
    ("", "holds no triples"),
    ("head\trelation\ttail\n", "holds no triples"),
    ("a\tr\tb\nonly\ttwo\n", ":2: expected 3 to any columns"),
    ('{"head": "a", "relation": "r"}\n', ":1: empty tail"),
    ('["a", "r", "b"]\n', ":1: each line must be a JSON object"),
])
def test_a_bad_triples_file_names_the_file_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / ("bad.jsonl" if text.startswith(("{", "[")) else "bad.tsv")
    path.write_text(text)
    with pytest.raises(BadInputError) as caught:
        list(open_dataset(str(path)).triples())
    assert str(path) in caught.value.message and problem in caught.value.message


def test_a_missing_path_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(KgstoreError) as caught:
        open_dataset(str(tmp_path / "facts.tsv"))
    assert "does not exist" in caught.value.message
    assert "triples file" in (caught.value.hint or "") and "OpenKE" in (caught.value.hint or "")


def test_any_openke_folder_opens_directly_namespaced_by_its_name(tmp_path: Path) -> None:
    folder = write_openke(tmp_path / "my-openke")
    dataset = open_dataset(str(folder))
    assert type(dataset) is OpenKEFolder and dataset.namespace == "my-openke"
    assert [(t.head.rsplit("/", 1)[-1], t.relation.rsplit("/", 1)[-1], t.tail.rsplit("/", 1)[-1], t.split)
            for t in dataset.triples()] == [("Ada", "knows", "Bob", "train"), ("Bob", "knows", "Cy", "train"),
                                            ("Ada", "wasBornIn", "Cy", "valid"), ("Cy", "knows", "Ada", "test")]


def test_db15k_by_name_keeps_its_own_namespace(data_dir: Path) -> None:
    dataset = open_dataset("db15k", source=data_dir)
    assert type(dataset) is DB15K and dataset.namespace == "db15k"


def test_another_openke_folder_is_not_filed_as_db15k(tmp_path: Path) -> None:
    folder = write_openke(tmp_path / "not-db15k")
    with pytest.raises(KgstoreError) as caught:
        open_dataset("db15k", source=folder)
    assert caught.value.message == (f"{folder} is an OpenKE folder but not db15k: its entity2id.txt declares "
                                    "3 entities, db15k has 12,842")
    assert f"kgstore sync {folder}" in (caught.value.hint or "")


def test_an_incomplete_openke_folder_names_the_missing_files(tmp_path: Path) -> None:
    folder = write_openke(tmp_path / "partial")
    (folder / "test2id.txt").unlink()
    with pytest.raises(KgstoreError, match=r"looks like an OpenKE folder but lacks test2id\.txt"):
        open_dataset(str(folder))


# ------------------------------------------------------------- against the server
def test_cli_sync_of_one_tsv_file(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "facts.tsv"
    path.write_text("ada\tknows\tbob\nbob\tknows\tcy\n")
    result = run_cli("sync", str(path), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"Syncing facts from {path}" in result.output
    keys = sorted(r["key"] for r in graph.query("MATCH (e:Entity {dataset: 'facts'}) RETURN e.key AS key"))
    assert keys == ["facts:ada", "facts:bob", "facts:cy"]
    again = run_cli("sync", str(path), env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "Nothing changed" in again.output


def test_cli_sync_of_a_jsonl_file_with_entities(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "people.jsonl"
    path.write_text('{"head": "ada", "relation": "knows", "tail": "bob", "since": 1843}\n')
    entities = tmp_path / "names.jsonl"
    entities.write_text('{"key": "ada", "name": "Ada Lovelace"}\n')
    result = run_cli("sync", str(path), "--entities", str(entities))
    assert result.exit_code == 0, result.output
    row = graph.query("MATCH (a:Entity {key: 'people:ada'})-[r:knows]->(b:Entity {key: 'people:bob'}) "
                      "RETURN a.name AS name, r.since AS since")
    assert row == [{"name": "Ada Lovelace", "since": 1843}]


def test_cli_sync_of_an_openke_folder(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    folder = write_openke(tmp_path / "tiny-openke")
    result = run_cli("sync", str(folder))
    assert result.exit_code == 0, result.output
    rows = graph.query("MATCH (h:Entity {dataset: 'tiny-openke'})-[r]->() RETURN r.split AS split, count(*) AS n "
                       "ORDER BY split")
    assert rows == [{"split": "test", "n": 1}, {"split": "train", "n": 2}, {"split": "valid", "n": 1}]
    ada = graph.query("MATCH (e:Entity {key: 'tiny-openke:http://x.org/resource/Ada'}) RETURN e.name AS name")
    assert ada == [{"name": "Ada"}]


def test_cli_sync_of_a_bad_file_names_it_and_writes_nothing(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "facts.tsv"
    path.write_text("a\tr\tb\nno tabs here\n")
    before = counts(graph)
    result = run_cli("sync", str(path))
    assert result.exit_code == 1
    assert f"{path}:2: expected 3 to any columns" in result.output
    assert "Traceback" not in result.output
    assert counts(graph) == before


def test_cli_sync_of_a_file_refuses_dataset_options(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "facts.tsv"
    path.write_text("a\tr\tb\n")
    result = run_cli("sync", str(path), "--source", str(tmp_path))
    assert result.exit_code == 2 and "is a triples file" in result.output
