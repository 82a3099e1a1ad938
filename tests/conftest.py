"""Test fixtures: a real Neo4j server for the whole session.

By default the session installs (from the shared Maven-resolved cache) and starts a
managed server in a temporary kgstore home on free ports, and stops it at the end.
To use a server you already run, set ``KGSTORE_TEST_NEO4J_URI`` (and
``KGSTORE_TEST_NEO4J_USER`` / ``KGSTORE_TEST_NEO4J_PASSWORD``); tests then wipe its
default database, so never point it at data you care about.

A missing or broken server is a test failure, not a skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kgstore.driver import Graph, connect
from kgstore.server import ManagedServer, free_port

CONNECTION_ENV = ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE")


@dataclass(frozen=True)
class ServerUnderTest:
    uri: str
    user: str
    password: str
    http_url: str | None
    home: Path | None  # None when the server is external
    managed: ManagedServer | None


def install_managed(home: Path, echo: Callable[[str], None] = lambda _: None) -> ManagedServer:
    """Install a managed server in ``home`` on free ports, with a small-machine memory profile."""
    server = ManagedServer(home)
    server.install(bolt_port=free_port(), http_port=free_port(), sidecar_port=free_port(), heap_size="768m",
                   pagecache_size="256m", echo=echo)
    return server


def write_text_dataset(folder: Path, entities: Iterable, triples: list) -> Path:
    """``triples`` (importer records) as a folder dataset (``triples.tsv`` with a split column) with
    ``entities.jsonl`` holding the name and description of every entity they use."""
    used = {t.head for t in triples} | {t.tail for t in triples}
    folder.mkdir()
    with (folder / "entities.jsonl").open("w") as out:
        for entity in entities:
            if entity.id in used:
                out.write(json.dumps({"key": entity.id, "name": entity.name, "description": entity.description}) + "\n")
    with (folder / "triples.tsv").open("w") as out:
        out.write("head\trelation\ttail\tsplit\n")
        for t in triples:
            out.write(f"{t.head}\t{t.relation}\t{t.tail}\t{t.split}\n")
    return folder


def private_server(home: Path) -> Iterator[ManagedServer]:
    """A managed server of its own home, started, for tests that stop or kill it; stopped after."""
    server = install_managed(home)
    server.start(echo=lambda _: None)
    try:
        yield server
    finally:
        server.stop(echo=lambda _: None)


@pytest.fixture(scope="session")
def neo4j_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerUnderTest]:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def say(message: str) -> None:
        """Shown in the test log even when output is captured: CI logs show the server's life."""
        line = f"[kgstore test server] {message}"
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line)

    external = os.environ.get("KGSTORE_TEST_NEO4J_URI")
    if external:
        yield ServerUnderTest(
            uri=external,
            user=os.environ.get("KGSTORE_TEST_NEO4J_USER", "neo4j"),
            password=os.environ.get("KGSTORE_TEST_NEO4J_PASSWORD", ""),
            http_url=os.environ.get("KGSTORE_TEST_NEO4J_HTTP"),
            home=None,
            managed=None,
        )
        return
    home = tmp_path_factory.mktemp("kgstore-home")
    server = install_managed(home, echo=say)
    server.start(echo=say)
    try:
        yield ServerUnderTest(
            uri=server.bolt_uri, user="neo4j", password=server.home.read_password() or "",
            http_url=server.http_url, home=home, managed=server,
        )
    finally:
        server.stop(echo=say)


@pytest.fixture(autouse=True)
def _clean_connection_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their connection explicitly; the developer's NEO4J_* must not leak in."""
    for name in CONNECTION_ENV:
        monkeypatch.delenv(name, raising=False)


def wipe(graph: Graph) -> None:
    """Delete all data and every index or constraint that schema.cypher does not define."""
    with graph.session() as session:
        # Relationships first: DETACH DELETE of high-degree nodes can exceed the tx memory pool.
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
        session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
    for row in graph.query("SHOW INDEXES YIELD name, type, owningConstraint "
                           "WHERE type = 'VECTOR' RETURN name"):
        graph.query(f"DROP INDEX `{row['name']}` IF EXISTS", write=True)


@pytest.fixture
def graph(neo4j_server: ServerUnderTest) -> Iterator[Graph]:
    """A connection to the session's server with an empty database."""
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as g:
        wipe(g)
        yield g


@pytest.fixture
def cli_env(neo4j_server: ServerUnderTest, tmp_path: Path) -> dict[str, str]:
    """Environment under which ``kgstore`` commands talk to the session's server."""
    if neo4j_server.home is not None:
        return {"KGSTORE_HOME": str(neo4j_server.home)}
    return {"KGSTORE_HOME": str(tmp_path / "unused-home"), "NEO4J_URI": neo4j_server.uri,
            "NEO4J_USERNAME": neo4j_server.user, "NEO4J_PASSWORD": neo4j_server.password}


@pytest.fixture
def run_cli(cli_env: dict[str, str]):  # noqa: ANN201 - returns a callable
    """Run ``kgstore ARGS...`` in-process against the session's server."""
    from kgstore.cli import main

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(main, list(args), env={**cli_env, **(env or {})},
                                  catch_exceptions=False)

    return invoke


REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared benchmark data (``$KGSTORE_DATA`` or ``../shared/data``); missing is a failure."""
    path = Path(os.environ.get("KGSTORE_DATA") or REPO.parent / "shared" / "data")
    assert path.is_dir(), f"benchmark data not found at {path}: set KGSTORE_DATA"
    return path
