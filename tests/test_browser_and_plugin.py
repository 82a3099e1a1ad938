"""The managed server serves the Neo4j Browser and runs the kgstore plugin."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from kgstore.driver import Graph
from tests.conftest import ServerUnderTest

PLUGIN_POM = Path(__file__).resolve().parent.parent / "plugin" / "pom.xml"


def test_browser_is_served(neo4j_server: ServerUnderTest) -> None:
    assert neo4j_server.http_url, "set KGSTORE_TEST_NEO4J_HTTP for an external server"
    with urllib.request.urlopen(f"{neo4j_server.http_url}/browser/", timeout=30) as response:
        assert response.status == 200
        html = response.read().decode()
    assert "<title>Neo4j Browser</title>" in html


def test_discovery_document_advertises_the_managed_ports(neo4j_server: ServerUnderTest) -> None:
    import json

    with urllib.request.urlopen(f"{neo4j_server.http_url}/", timeout=30) as response:
        discovery = json.loads(response.read())
    assert discovery["neo4j_version"].startswith("5.26")
    assert discovery["bolt_direct"] == neo4j_server.uri


def test_plugin_version_procedure(graph: Graph) -> None:
    pom = PLUGIN_POM.read_text()
    project_version = re.search(r"<artifactId>kgstore-plugin</artifactId>\s*<version>([^<]+)</version>",
                                pom).group(1)  # type: ignore[union-attr]
    rows = graph.query("CALL kgstore.version() YIELD version, neo4jVersion "
                       "RETURN version, neo4jVersion")
    assert rows == [{"version": project_version, "neo4jVersion": rows[0]["neo4jVersion"]}]
    assert rows[0]["neo4jVersion"].startswith("5.26")
