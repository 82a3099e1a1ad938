"""``kgstore sync --bulk``: Neo4j's offline importer builds the same graph as the online path.

A private managed server (its own home and ports) takes the bulk loads, since the importer
stops and restarts it; the session's server takes the online syncs of the same inputs, and
the two graphs are compared: counts by label, by type and split, and every entity's and
relationship's properties. Then an online sync on top of the bulk one must change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from kgstore.bulk import BulkError, bulk_sync, scan_and_write_triples, write_import_files
from kgstore.bulk_triples import scan_triple_folder
from kgstore.cli import main
from kgstore.driver import Graph, connect
from kgstore.importers.files import FileSource, TripleFile
from kgstore.importers.input_errors import BadInputError, InputErrors
from kgstore.importers.registry import open_dataset
from kgstore.server import ManagedServer
from kgstore.sync import SyncSummary, _no_progress, _scan, sync_dataset
from tests.conftest import private_server, wipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bulk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    yield from private_server(tmp_path_factory.mktemp("bulk-home"))


def private_graph(server: ManagedServer) -> Graph:
    return connect(server.bolt_uri, "neo4j", server.home.read_password() or "")


@pytest.fixture
def empty_bulk_server(bulk_server: ManagedServer) -> ManagedServer:
    with private_graph(bulk_server) as graph:
        wipe(graph)
        graph.query("MATCH (n) DETACH DELETE n", write=True)
    return bulk_server


def census(graph: Graph) -> dict:
    """Everything the comparison looks at, in a stable order."""
    return {
        "labels": graph.query("MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS n ORDER BY label"),
        "types": graph.query("MATCH ()-[r]->() RETURN type(r) AS type, r.split AS split, count(*) AS n "
                             "ORDER BY type, split"),
        "entities": [{**row, "labels": sorted(row["labels"])} for row in graph.query(
            "MATCH (e:Entity) RETURN e.key AS key, properties(e) AS props, labels(e) AS labels ORDER BY key")],
        "relations": graph.query("MATCH (r:KgRelation) RETURN properties(r) AS props ORDER BY r.key"),
        "edges": sorted(graph.query("MATCH (h:Entity)-[r]->(t) RETURN h.key AS h, type(r) AS type, "
                                    "coalesce(t.key, t.sha256) AS t, properties(r) AS props"),
                        key=lambda e: (e["h"], e["type"], e["t"], json.dumps(e["props"], sort_keys=True))),
        "images": graph.query("MATCH (i:Image) RETURN properties(i) AS props ORDER BY i.sha256"),
        "sync": graph.query("MATCH (s:KgSync) RETURN s.namespace AS ns, s.fingerprint AS fp, "
                            "s.batch_size AS bs, s.complete AS complete, s.triples AS triples"),
    }


def _image(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (8, 12)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def hostile_dataset(folder: Path) -> FileSource:
    """Typed properties, quotes, commas, newlines, unicode, empty strings, repeated triples, extra
    labels, images (one property is never both integer and decimal: the bulk path makes that a float)."""
    folder.mkdir(exist_ok=True)
    (folder / "facts.csv").write_text(
        "head,relation,tail,split,weight,note,count\n"
        'ann,KNOWS,bob,train,0.5,"says ""hi"", twice",3\n'
        "bob,KNOWS,cy,valid,1.25,,\n"
        'cy,LIKES,ann,test,2.5,"a; b",7\n'
        "ann,KNOWS,bob,train,0.5,dup,3\n"  # the same (h, r, t): a repeated triple, dropped by both paths
        "dan,`odd type`,ann,train,,é ü 中文,\n", encoding="utf-8")
    (folder / "people.jsonl").write_text("\n".join(json.dumps(row) for row in [
        {"id": "ann", "name": "Ann \"A\" Lee", "description": "first line\nsecond, with comma", "labels": ["Person"],
         "properties": {"age": 34, "height": 1.7, "member": True}},
        {"id": "bob", "name": "Bob", "labels": ["Person", "Admin"], "properties": {"age": 41, "member": False}},
        {"id": "cy", "name": "Cy", "description": "", "properties": {"height": 2.5}},
    ]) + "\n", encoding="utf-8")
    images = folder / "images"
    images.mkdir(exist_ok=True)
    _image(images / "ann.png", (255, 0, 0))
    _image(images / "bob.png", (255, 0, 0))  # same bytes as ann's: one Image node, two links
    _image(images / "cy.jpg", (0, 0, 255), (20, 10))
    return hostile_source(folder)


def hostile_source(folder: Path) -> FileSource:
    """A fresh reader of the files hostile_dataset wrote (same files, same fingerprint)."""
    images = folder / "images"
    return FileSource(namespace="mix", triple_files=[TripleFile(folder / "facts.csv")],
                      entity_files=[folder / "people.jsonl"], image_source=images)


def test_bulk_and_online_build_the_same_graph_and_online_on_top_changes_nothing(
        graph: Graph, empty_bulk_server: ManagedServer, tmp_path: Path) -> None:
    store = tmp_path / "store"
    online = sync_dataset(graph, hostile_dataset(tmp_path / "in"), image_store=store)
    server = empty_bulk_server
    bulk = bulk_sync(hostile_source(tmp_path / "in"), server=server, connect=lambda: private_graph(server),
                     image_store=store, echo=lambda _: None)
    assert bulk.mode == "bulk"
    assert (bulk.triples_created, bulk.duplicate_triples) == (online.triples_created, online.duplicate_triples) \
        == (4, 1)
    assert bulk.entities_created == online.entities_created == 4
    assert bulk.images_linked == online.images_linked == 3
    with private_graph(server) as built:
        expected, got = census(graph), census(built)
        assert got == expected
        assert {r["name"] for r in built.query("SHOW CONSTRAINTS YIELD name")} >= {"entity_key", "image_sha256"}
        again = sync_dataset(built, hostile_source(tmp_path / "in"), image_store=store)
        assert (again.mode, again.changed) == ("verify", False)
        assert (again.triples_created, again.entities_created, again.entities_updated) == (0, 0, 0)
        assert census(built) == expected


def test_bulk_real_dataset_counts_match_online(graph: Graph, empty_bulk_server: ManagedServer,
                                               data_dir: Path) -> None:
    sync_dataset(graph, open_dataset("umls", source=data_dir))
    server = empty_bulk_server
    runner = CliRunner()
    result = runner.invoke(main, ["sync", "umls", "--source", str(data_dir), "--bulk"],
                           env={"KGSTORE_HOME": str(server.home.root)})
    assert result.exit_code == 0, result.output
    assert "(bulk)" in result.output
    with private_graph(server) as built:
        expected, got = census(graph), census(built)
        for part in ("labels", "types", "relations", "sync"):
            assert got[part] == expected[part], part
        assert got["entities"] == expected["entities"]
        assert len(got["edges"]) == len(expected["edges"]) > 6000


def test_bulk_refuses_a_database_that_is_not_empty_and_leaves_it_as_it_was(
        empty_bulk_server: ManagedServer, tmp_path: Path) -> None:
    server = empty_bulk_server
    with private_graph(server) as g:
        g.query("CREATE (:Entity {key: 'keep:me', dataset: 'keep'})", write=True)
    pid = server.pid()
    with pytest.raises(BulkError, match="already holds 1 nodes"):
        bulk_sync(hostile_dataset(tmp_path / "in"), server=server, connect=lambda: private_graph(server),
                  image_store=tmp_path / "store", echo=lambda _: None)
    assert server.pid() == pid  # never stopped
    with private_graph(server) as g:
        assert g.query("MATCH (n) RETURN n.key AS key") == [{"key": "keep:me"}]


def test_bulk_needs_the_managed_server(graph: Graph, neo4j_server, tmp_path: Path) -> None:  # noqa: ANN001
    other_home = tmp_path / "home-without-server"
    (tmp_path / "t.tsv").write_text("a\tr\tb\n")
    result = CliRunner().invoke(main, ["sync", str(tmp_path / "t.tsv"), "--bulk"],
                                env={"KGSTORE_HOME": str(other_home), "NEO4J_URI": neo4j_server.uri,
                                     "NEO4J_USERNAME": neo4j_server.user, "NEO4J_PASSWORD": neo4j_server.password})
    assert result.exit_code != 0
    assert "no managed server runs" in result.output
    assert graph.query("MATCH (n) RETURN count(n) AS n") == [{"n": 0}]


def import_files(dataset, folder: Path, *, vectorised: bool) -> dict[str, bytes]:  # noqa: ANN001
    """The importer's files for ``dataset`` (no server needed), by name."""
    folder.mkdir(parents=True)
    scan, triples = scan_and_write_triples(dataset, folder, _no_progress, vectorised=vectorised)
    dataset.errors = InputErrors(policy="skip")
    write_import_files(dataset, scan, folder, image_store=None, summary=SyncSummary(namespace=dataset.namespace),
                       triple_batch_size=10_000, progress=_no_progress, triples=triples)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def awkward_folder(folder: Path) -> Path:
    """A plain triple folder with CRLF line ends, repeated triples (within and across splits), quotes,
    commas, unicode, a blank line and no final newline."""
    folder.mkdir()
    (folder / "train.txt").write_bytes('a\tr"q\tb\r\nb\tr2\tc\r\na\tr"q\tb\r\n\r\né中\tr,x\t"a"\r\n'.encode())
    (folder / "valid.txt").write_bytes(b'a\tr"q\tb\nc\tr2\ta')
    (folder / "test.txt").write_bytes(b"x\tr\ty\n")
    return folder


@pytest.mark.parametrize("name", ["umls", "awkward"])
def test_columns_and_python_readers_write_the_same_import_files(name: str, data_dir: Path, tmp_path: Path) -> None:
    folder = awkward_folder(tmp_path / "in")

    def dataset():  # noqa: ANN202
        if name == "umls":
            return open_dataset("umls", source=data_dir)
        return open_dataset(str(folder), namespace='odd"ns')

    assert scan_triple_folder(dataset(), lambda _n: None) is not None  # the columns path is taken
    python_scan, columns_scan = _scan(dataset(), lambda _n: None), scan_triple_folder(dataset(), lambda _n: None)[0]
    for part in ("entity_ids", "triples", "duplicate_positions", "splits", "entity_properties"):
        assert getattr(columns_scan, part) == getattr(python_scan, part), part
    fast = import_files(dataset(), tmp_path / "fast", vectorised=True)
    slow = import_files(dataset(), tmp_path / "slow", vectorised=False)
    assert fast == slow
    assert fast["triples.csv"].count(b"\n") == python_scan.triples - len(python_scan.duplicate_positions) > 0


def test_a_bad_line_in_a_triple_folder_names_the_file_and_the_line(tmp_path: Path) -> None:
    folder = awkward_folder(tmp_path / "in")
    (folder / "valid.txt").write_text("a\tr\tb\nc\td\ne\tr\tf\n")
    assert scan_triple_folder(open_dataset(str(folder)), lambda _n: None) is None  # the Python readers report it
    (tmp_path / "out-fail").mkdir()
    with pytest.raises(BadInputError, match=r"valid\.txt:2: expected 3 columns separated by '\\t', found 2"):
        scan_and_write_triples(open_dataset(str(folder)), tmp_path / "out-fail", _no_progress)
    dataset = open_dataset(str(folder), errors=InputErrors(policy="skip"))
    (tmp_path / "out-skip").mkdir()
    scan, _ = scan_and_write_triples(dataset, tmp_path / "out-skip", _no_progress)
    assert scan.triples == 7  # 4 train, 2 valid (the bad line left out), 1 test
    assert [str(p) for p in dataset.errors.problems] == [f"{folder / 'valid.txt'}:2: expected 3 columns separated "
                                                         "by '\\t', found 2"]
