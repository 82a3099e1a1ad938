"""End-to-end smoke test on the newest calendar-versioned Neo4j release (2025.01 on).

The whole suite runs on Neo4j 5.26 LTS (tests/conftest.py); this module installs the
newest calendar release that is cached (or, on a first run, that Maven Central serves:
``--neo4j-version latest``) into its own home, with the plugin built against that
server's API, on a JDK 21+ (kgstore picks one: the home's ``java_home``, JAVA_HOME, PATH
or /usr/lib/jvm). Then the user's path once: sync Nations -> train (write-back) ->
nearest entities (Python and ``kgstore.nearest``, both through the Cypher ``SEARCH``
clause on 2026.01+) -> ``kgstore.predict`` through a real sidecar.

Never skipped: a machine without Java 21+ fails here with the error that says how to
get one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from kgstore.driver import Graph, connect
from kgstore.importers.registry import open_dataset
from kgstore.server import ManagedServer, free_port
from kgstore.server.neo4j_dist import is_calendar_version
from kgstore.sync import sync_dataset
from kgstore.vector_query import has_search_clause, nearest_nodes_query
from tests.sidecars import start_sidecar

MODEL = "calendar"
RELATION = "intergovorgs"


@dataclass
class CalendarServer:
    server: ManagedServer
    graph: Graph
    sidecar_url: str


@pytest.fixture(scope="module")
def calendar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CalendarServer]:
    from trainer.config import TrainConfig
    from trainer.pipeline import train_model

    home = tmp_path_factory.mktemp("calendar-home")
    server = ManagedServer(home)
    dist = server.install(version="latest", bolt_port=free_port(), http_port=free_port(), sidecar_port=free_port(),
                          heap_size="768m", pagecache_size="256m", echo=lambda _: None)
    assert is_calendar_version(dist.version), dist
    server.start(echo=lambda _: None)
    sidecar = None
    try:
        with connect(server.bolt_uri, "neo4j", server.home.read_password() or "") as graph:
            sync_dataset(graph, open_dataset("nations"))
            train_model(graph, home=server.home, model=MODEL, progress=False,
                        config=TrainConfig(decoder="distmult", dim=16, epochs=5, patience=0, batch_size=256,
                                           num_threads=1))
            sidecar = start_sidecar(server.home.root, MODEL, server.settings.sidecar_port,
                                    tmp_path_factory.mktemp("calendar-sidecar") / "serve.log")
            yield CalendarServer(server, graph, server.sidecar_url)
    finally:
        if sidecar is not None:
            sidecar.kill()
            sidecar.wait(timeout=30)
        server.stop(echo=lambda _: None)


def test_the_server_is_a_calendar_release_with_the_plugin_built_for_it(calendar: CalendarServer) -> None:
    info = calendar.graph.server_info()
    assert is_calendar_version(info["version"])
    row = calendar.graph.query("CALL kgstore.version() YIELD neo4jVersion RETURN neo4jVersion")[0]
    assert row["neo4jVersion"] == info["version"]
    jar = next(Path(calendar.server.home.plugins_dir).glob("kgstore-plugin-*.jar"))
    assert jar.is_file()


def test_nearest_uses_what_the_server_offers_and_agrees_with_the_procedure(calendar: CalendarServer) -> None:
    from kgstore.writeback import nearest

    graph = calendar.graph
    expected_clause = has_search_clause(graph.server_info()["version"])
    assert nearest_nodes_query(graph, "x").startswith("CYPHER 25") == expected_clause
    rows = nearest(graph, MODEL, key="nations:usa", k=3)
    assert len(rows) == 3 and "nations:usa" not in {r["key"] for r in rows}
    procedure = graph.query("MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.nearest(n, 3) YIELD node, score "
                            "RETURN node.key AS key, score")
    assert [r["key"] for r in procedure] == [r["key"] for r in rows]
    assert [r["score"] for r in procedure] == pytest.approx([r["score"] for r in rows], rel=1e-5)


def test_predict_procedure_returns_the_sidecars_top_k(calendar: CalendarServer) -> None:
    response = httpx.post(f"{calendar.sidecar_url}/predict", json={
        "queries": [{"entity": "nations:usa", "relation": RELATION, "direction": "out"}], "k": 5,
        "filter_known": True}, timeout=30)
    response.raise_for_status()
    expected = response.json()["results"][0]["predictions"]
    rows = calendar.graph.query("MATCH (n:Entity {key: 'nations:usa'}) CALL kgstore.predict(n, $rel, {k: 5}) "
                                "YIELD node, score RETURN node.key AS key, score", {"rel": RELATION})
    assert rows and [r["key"] for r in rows] == [p["key"] for p in expected]
    assert [r["score"] for r in rows] == pytest.approx([p["score"] for p in expected], rel=1e-5)
