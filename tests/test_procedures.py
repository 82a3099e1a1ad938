"""`kgstore.*` procedures inside the real Neo4j server, calling a real sidecar process over HTTP.

One model is trained on Nations (synced into the session's server), `kgstore serve`
runs as a subprocess on the port that the home's ``kgstore.conf`` names, and Cypher
calls the plugin's procedures, which call the sidecar.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from neo4j.exceptions import ClientError

from kgstore.driver import Graph, connect
from kgstore.importers.registry import open_dataset
from kgstore.server import ManagedServer
from kgstore.sync import sync_dataset
from tests.conftest import ServerUnderTest, wipe
from tests.sidecars import start_sidecar

MODEL = "procs"
RELATION = "intergovorgs"


class Sidecar:
    """The sidecar process of this module; tests may kill it, the next test gets a new one."""

    def __init__(self, home: Path, port: int, log: Path) -> None:
        self.home, self.port, self.log = home, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.process = start_sidecar(self.home, MODEL, self.port, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def predict(self, entity: str, relation: str, k: int, direction: str = "out") -> list[dict]:
        response = httpx.post(f"{self.url}/predict", json={
            "queries": [{"entity": entity, "relation": relation, "direction": direction}], "k": k,
            "filter_known": True}, timeout=30)
        response.raise_for_status()
        return response.json()["results"][0]["predictions"]


@pytest.fixture(scope="module")
def trained(neo4j_server: ServerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    if neo4j_server.managed is None or neo4j_server.home is None:
        pytest.fail("the procedure tests need the managed test server (its plugin and kgstore.conf)")
    from trainer.config import TrainConfig
    from trainer.pipeline import train_model

    server: ManagedServer = neo4j_server.managed
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        wipe(graph)
        sync_dataset(graph, open_dataset("nations"))
        train_model(graph, home=server.home, model=MODEL, progress=False,
                    config=TrainConfig(decoder="distmult", dim=32, epochs=20, patience=0, batch_size=128,
                                       num_threads=1))
    sidecar = Sidecar(neo4j_server.home, server.settings.sidecar_port,
                      tmp_path_factory.mktemp("sidecar") / "serve.log")
    sidecar.ensure_running()
    yield sidecar
    sidecar.stop()


@pytest.fixture
def db(trained: Sidecar, neo4j_server: ServerUnderTest) -> Iterator[Graph]:
    """The Nations graph without predictions, and a running sidecar."""
    trained.ensure_running()
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        graph.query("MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p", write=True)
        yield graph


def predicted_count(graph: Graph) -> int:
    return graph.query("MATCH ()-[p:KGSTORE_PREDICTED]->() RETURN count(p) AS n")[0]["n"]


def test_predict_returns_exactly_the_sidecars_top_k(db: Graph, trained: Sidecar) -> None:
    for direction in ("out", "in"):
        expected = trained.predict("nations:usa", RELATION, 5, direction)
        rows = db.query("MATCH (n:Entity {key: 'nations:usa'}) "
                        "CALL kgstore.predict(n, $rel, {k: 5, direction: $dir}) YIELD node, score "
                        "RETURN node.key AS key, score", {"rel": RELATION, "dir": direction})
        assert [r["key"] for r in rows] == [p["key"] for p in expected]
        assert [r["score"] for r in rows] == pytest.approx([p["score"] for p in expected], rel=1e-5)
        assert 1 <= len(rows) <= 5  # fewer when Nations' 14 entities leave fewer unknown answers


def test_score_function_agrees_with_the_sidecar(db: Graph, trained: Sidecar) -> None:
    triple = {"head": "nations:usa", "relation": RELATION, "tail": "nations:uk"}
    expected = httpx.post(f"{trained.url}/score", json={"triples": [triple]}, timeout=30).json()["scores"][0]
    row = db.query("MATCH (h:Entity {key: $head}), (t:Entity {key: $tail}) "
                   "RETURN kgstore.score(h, $relation, t) AS score", triple)[0]
    assert row["score"] == pytest.approx(expected, rel=1e-5)


def test_complete_writes_marked_edges_that_the_next_snapshot_excludes(db: Graph, run_cli, tmp_path: Path) -> None:
    facts_before = db.query("MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    rows = db.query(f"CALL kgstore.complete('{RELATION}', {{k: 1, limit: 5}}) YIELD head, tail, score, created "
                    "RETURN head.key AS head, tail.key AS tail, score, created", write=True)
    assert len(rows) == 5 and all(r["created"] for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    edges = db.query("MATCH (h)-[p:KGSTORE_PREDICTED]->(t) RETURN h.key AS head, t.key AS tail, p.relation AS rel, "
                     "p.score AS score, p.model AS model, p.version AS version, p.created_at AS created")
    assert len(edges) == 5
    assert {(e["head"], e["tail"]) for e in edges} == {(r["head"], r["tail"]) for r in rows}
    assert all(e["rel"] == RELATION and e["model"] == MODEL and e["version"] and e["created"] for e in edges)
    # No prediction duplicates a fact of its relation.
    assert not db.query("MATCH (h)-[p:KGSTORE_PREDICTED]->(t) MATCH (h)-[f]->(t) WHERE type(f) = p.relation "
                        "RETURN f LIMIT 1")

    again = db.query(f"CALL kgstore.complete('{RELATION}', {{k: 1, limit: 5}}) YIELD created RETURN created",
                     write=True)
    assert len(again) == 5 and not any(r["created"] for r in again)
    assert predicted_count(db) == 5

    # The CLI goes through the same procedure; --dry-run writes nothing.
    dry = run_cli("complete", RELATION, "--limit", "8", "--dry-run", env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.output
    assert "8 predicted 'intergovorgs' edges would be written" in dry.output
    assert predicted_count(db) == 5
    real = run_cli("complete", RELATION, "--limit", "8", env={"COLUMNS": "200"})
    assert real.exit_code == 0 and "3 new, 5 refreshed" in real.output, real.output
    assert predicted_count(db) == 8

    snapshot = tmp_path / "snap"
    exported = run_cli("export", str(snapshot), "--refresh")
    assert exported.exit_code == 0, exported.output
    from trainer.snapshot import Snapshot

    assert len(Snapshot.load(snapshot).triples) == facts_before


def test_bad_arguments_are_clear_cypher_errors(db: Graph) -> None:
    cases = {
        "MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.predict(n, 'no-such-relation', {k: 3}) "
        "YIELD node RETURN node": "no-such-relation",
        "CALL kgstore.predict(null, $rel, {k: 3}) YIELD node RETURN node": "null",
        "MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.predict(n, $rel, {k: 0}) YIELD node RETURN node": "k",
        "MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.predict(n, $rel, {k: 100000000}) "
        "YIELD node RETURN node": "1000",
        "CALL kgstore.complete('no-such-relation', {}) YIELD head RETURN head": "no-such-relation",
    }
    for query, named in cases.items():
        with pytest.raises(ClientError) as info:
            db.query(query, {"rel": RELATION}, write=True)
        assert named in info.value.message, (query, info.value.message)
    assert predicted_count(db) == 0


def test_killing_the_sidecar_mid_call_is_a_clean_error_and_writes_nothing(db: Graph, trained: Sidecar) -> None:
    assert trained.process is not None
    trained.process.send_signal(signal.SIGSTOP)  # the call below now waits inside the sidecar
    errors: list[Exception] = []

    def call() -> None:
        try:
            db.query(f"CALL kgstore.complete('{RELATION}', {{k: 3, batchSize: 1}}) YIELD head RETURN count(*)",
                     write=True)
        except Exception as exc:  # noqa: BLE001 - inspected below
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(2.0)
    trained.process.kill()  # dies with the request half-answered
    worker.join(timeout=60)
    assert not worker.is_alive(), "the procedure hung after the sidecar died"
    assert len(errors) == 1 and isinstance(errors[0], ClientError), errors
    assert "sidecar" in errors[0].message
    assert predicted_count(db) == 0

    # With no sidecar at all, the message says how to start one.
    trained.process.wait(timeout=30)
    with pytest.raises(ClientError) as info:
        db.query("MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.predict(n, $rel, {k: 3}) YIELD node "
                 "RETURN node", {"rel": RELATION})
    assert "not reachable" in info.value.message and "kgstore serve" in info.value.message


def test_nearest_procedure_matches_the_cli(db: Graph, run_cli) -> None:
    rows = db.query("MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.nearest(n, 3) YIELD node, score "
                    "RETURN node.key AS key, score")
    from kgstore.writeback import nearest

    expected = nearest(db, MODEL, key="nations:usa", k=3)
    assert [r["key"] for r in rows] == [e["key"] for e in expected]
