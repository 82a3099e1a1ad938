"""One way to connect everywhere: flags, NEO4J_* env, then the managed server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgstore.config import resolve_connection
from kgstore.driver import connect
from kgstore.errors import ConnectionFailed
from kgstore.home import KgstoreHome
from kgstore.server import free_port
from tests.conftest import ServerUnderTest


def test_flags_beat_env_beat_managed_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = KgstoreHome(tmp_path)
    settings = home.load_settings()
    settings.bolt_port = 17999
    home.save_settings(settings)
    home.write_password("managed-secret")

    managed = resolve_connection(home=home)
    assert (managed.uri, managed.password, managed.source) == (
        "bolt://127.0.0.1:17999", "managed-secret", "managed")

    monkeypatch.setenv("NEO4J_URI", "neo4j+s://cluster.example:7687")
    monkeypatch.setenv("NEO4J_USERNAME", "alice")
    monkeypatch.setenv("NEO4J_DATABASE", "kg")
    from_env = resolve_connection(home=home)
    assert (from_env.uri, from_env.user, from_env.database, from_env.source) == (
        "neo4j+s://cluster.example:7687", "alice", "kg", "env")
    assert from_env.password is None, "the managed password must not go to another server"

    flagged = resolve_connection("bolt://other:7687", "bob", "pw", "db2", home=home)
    assert (flagged.uri, flagged.user, flagged.password, flagged.database) == (
        "bolt://other:7687", "bob", "pw", "db2")


def test_routing_uri_works_against_the_server(neo4j_server: ServerUnderTest) -> None:
    routing = neo4j_server.uri.replace("bolt://", "neo4j://")
    with connect(routing, neo4j_server.user, neo4j_server.password) as graph:
        assert graph.query("RETURN 1 AS one") == [{"one": 1}]
        assert graph.server_info()["version"].startswith("5.26")


def test_wrong_password_names_uri_and_cause(neo4j_server: ServerUnderTest) -> None:
    with pytest.raises(ConnectionFailed) as info:
        connect(neo4j_server.uri, neo4j_server.user, "definitely-wrong-password")
    message = str(info.value)
    assert neo4j_server.uri in message
    assert "refused the credentials" in message and "unauthorized" in message.lower()


def test_no_server_is_a_clear_error() -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionFailed) as info:
        connect(uri, "neo4j", "whatever-password")
    assert f"no Neo4j server answered at {uri}" in str(info.value)
    assert "kgstore server start" in str(info.value)


def test_cli_reports_connection_errors_without_traceback(run_cli) -> None:  # noqa: ANN001
    uri = f"bolt://127.0.0.1:{free_port()}"
    result = run_cli("status", "--uri", uri, "--password", "x")
    assert result.exit_code == 1
    assert f"Error: no Neo4j server answered at {uri}" in result.output
    assert "Traceback" not in result.output


def test_bad_uri_scheme_is_a_clear_error() -> None:
    with pytest.raises(ConnectionFailed) as info:
        connect("http://127.0.0.1:7474", "neo4j", "pw")
    assert "invalid Neo4j URI 'http://127.0.0.1:7474'" in str(info.value)


def test_generated_passwords_are_private_and_never_look_like_an_option(tmp_path: Path) -> None:
    """neo4j-admin set-initial-password reads a password starting with "-" as an option."""
    home = KgstoreHome(tmp_path / "home")
    passwords = {home.write_password() for _ in range(500)}
    assert len(passwords) == 500
    assert all(len(p) >= 20 and p.isalnum() for p in passwords)
    assert home.read_password() in passwords and (home.password_file.stat().st_mode & 0o777) == 0o600
