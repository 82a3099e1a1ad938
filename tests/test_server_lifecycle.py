"""The managed server's life: install, start, status, stop, restart, and its failures.

These tests run a second, private server (its own home and ports) so that stopping it
cannot disturb the session's server.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from kgstore.cli import main
from kgstore.driver import connect
from kgstore.errors import ServerError
from kgstore.server import ManagedServer
from tests.conftest import install_managed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("lifecycle-home")
    server = install_managed(home)
    yield server
    server.stop(echo=lambda _: None)


def kgstore_cli(home: Path, *args: str):
    return CliRunner().invoke(main, list(args), env={"KGSTORE_HOME": str(home)})


def test_install_writes_private_password_and_local_only_conf(private_server: ManagedServer) -> None:
    home = private_server.home
    mode = stat.S_IMODE(home.password_file.stat().st_mode)
    assert mode == 0o600
    assert len(home.read_password() or "") >= 16
    conf = (home.conf_dir / "neo4j.conf").read_text()
    assert "server.default_listen_address=127.0.0.1" in conf
    assert "dbms.security.auth_enabled=true" in conf
    assert f"server.bolt.listen_address=:{private_server.settings.bolt_port}" in conf
    assert list(home.plugins_dir.glob("kgstore-plugin-*.jar")), "plugin jar not installed"


def test_start_status_stop_restart_keeps_data(private_server: ManagedServer) -> None:
    home = private_server.home.root
    result = kgstore_cli(home, "server", "start")
    assert result.exit_code == 0, result.output
    assert "Neo4j is up" in result.output

    again = kgstore_cli(home, "server", "start")
    assert again.exit_code == 0
    assert "already running" in again.output

    status = kgstore_cli(home, "server", "status")
    assert status.exit_code == 0
    assert "running (pid" in status.output

    with connect(home=home) as graph:
        graph.query("CREATE (:LifecycleProbe {value: 42})", write=True)

    stopped = kgstore_cli(home, "server", "stop")
    assert stopped.exit_code == 0 and "Neo4j stopped" in stopped.output
    assert not private_server.is_running()
    assert kgstore_cli(home, "server", "status").exit_code == 3

    assert kgstore_cli(home, "server", "start").exit_code == 0
    with connect(home=home) as graph:
        rows = graph.query("MATCH (p:LifecycleProbe) RETURN p.value AS value")
    assert rows == [{"value": 42}]

    logs = kgstore_cli(home, "server", "logs", "-n", "5")
    assert logs.exit_code == 0 and "Started" in private_server.logs(200)
    assert kgstore_cli(home, "server", "stop").exit_code == 0


def test_port_in_use_is_a_clear_error(private_server: ManagedServer) -> None:
    private_server.stop(echo=lambda _: None)
    port = private_server.settings.bolt_port
    with socket.socket() as squatter:
        # The stopped server's connections may linger in TIME_WAIT; a real squatter
        # (any server) sets SO_REUSEADDR and binds anyway.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ServerError) as info:
            private_server.start(echo=lambda _: None)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "already in use" in message
    assert "--bolt-port" in message
    assert not private_server.is_running()


def test_server_that_does_not_come_up_names_its_log(private_server: ManagedServer) -> None:
    private_server.stop(echo=lambda _: None)
    extra = private_server.home.root / "neo4j.extra.conf"
    extra.write_text("db.transaction.timeout=not-a-duration\n")
    try:
        with pytest.raises(ServerError) as info:
            private_server.start(timeout=120, echo=lambda _: None)
        message = str(info.value)
        assert "exited with code" in message
        assert str(private_server.home.console_log) in message
        assert "db.transaction.timeout" in message  # the log's last lines name the bad setting
    finally:
        extra.unlink()
    assert not private_server.is_running()


def test_start_without_install_says_what_to_do(tmp_path: Path) -> None:
    result = kgstore_cli(tmp_path / "empty-home", "server", "start")
    assert result.exit_code == 1
    assert "no Neo4j server is installed" in result.output
    assert "kgstore server install" in result.output


def _cli_subprocess(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kgstore.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_java_missing_is_a_clear_error(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "KGSTORE_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    result = _cli_subprocess(env, "server", "install")
    assert result.returncode == 1
    assert "java was not found" in result.stderr


def test_java_too_old_is_a_clear_error(tmp_path: Path) -> None:
    # A fake `java` is the only way to have an old JDK here; it prints what Java 11 prints.
    fake_jdk = tmp_path / "jdk11" / "bin"
    fake_jdk.mkdir(parents=True)
    java = fake_jdk / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "11.0.21" 2023-10-17\' >&2\n')
    java.chmod(0o755)
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "jdk11"), "KGSTORE_HOME": str(tmp_path / "h")}
    result = _cli_subprocess(env, "server", "install")
    assert result.returncode == 1
    assert "Java 11" in result.stderr and "needs Java 17" in result.stderr


def test_maven_missing_is_a_clear_error(tmp_path: Path) -> None:
    java_dir = Path(subprocess.run(["sh", "-c", "command -v java"], capture_output=True,
                                   text=True, check=True).stdout.strip()).resolve().parent
    env = {"PATH": str(java_dir), "KGSTORE_HOME": str(tmp_path / "home"), "HOME": str(tmp_path),
           "KGSTORE_NEO4J_CACHE": str(tmp_path / "empty-cache")}
    result = _cli_subprocess(env, "server", "install")
    assert result.returncode == 1
    assert "mvn (Apache Maven) was not found" in result.stderr


def test_maven_resolution_failure_gives_the_retry_command(tmp_path: Path) -> None:
    env = {**os.environ, "KGSTORE_HOME": str(tmp_path / "home"),
           "KGSTORE_NEO4J_CACHE": str(tmp_path / "cache")}
    result = _cli_subprocess(env, "server", "install", "--neo4j-version", "5.26.999")
    assert result.returncode == 1
    assert "Maven could not resolve Neo4j 5.26.999" in result.stderr
    assert "retry: " in result.stderr and "dependency:copy-dependencies" in result.stderr


def test_a_source_checkout_finds_its_plugin_sources() -> None:
    """The managed server builds plugin/ from the checkout: the path must survive module moves."""
    from kgstore.server.plugin_jar import PLUGIN_DIR

    assert (PLUGIN_DIR / "pom.xml").is_file(), PLUGIN_DIR
