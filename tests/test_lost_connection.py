"""Lost and refused connections read as one clear error, never as a driver traceback.

A private managed server (its own home and ports, so the session's server is untouched) is
killed with SIGKILL in the middle of `kgstore sync`; the command must end with exit code 1
and a message that says what happened, that a re-run resumes and how to check the server,
and the re-run must resume with exact counts. Then, with that server stopped, a plain socket
listener takes its bolt port: commands must say the home's server is not running instead of
sending the home's credentials to the stranger.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from neo4j.exceptions import IncompleteCommit, ServiceUnavailable

from kgstore.cli import main
from kgstore.driver import connect, connection_lost
from kgstore.errors import ConnectionFailed
from kgstore.server import ManagedServer
from tests.conftest import private_server

pytestmark = pytest.mark.slow
CODEX_S_TRIPLES = 36_543


@pytest.fixture(scope="module")
def victim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedServer]:
    """A started server of its own home, which these tests kill."""
    yield from private_server(tmp_path_factory.mktemp("lost-connection-home"))


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KGSTORE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "kgstore.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


# ------------------------------------------------------------------- the translation
def test_driver_errors_become_one_message_and_others_stay_bugs() -> None:
    wrapped = RuntimeError("while writing a batch")
    wrapped.__cause__ = IncompleteCommit("Failed to read from defunct connection IPv4Address(('127.0.0.1', 1))")
    lost = connection_lost(wrapped, uri="bolt://127.0.0.1:1", resumable=True)
    assert isinstance(lost, ConnectionFailed)
    assert lost.message.startswith("the connection to Neo4j at bolt://127.0.0.1:1 broke while a transaction")
    assert "resumes where it stopped" in (lost.hint or "") and "kgstore server status" in (lost.hint or "")
    plain = connection_lost(ServiceUnavailable("Couldn't connect"), uri=None)
    assert plain is not None and "resumes" not in (plain.hint or "")
    assert connection_lost(ValueError("a bug")) is None


# --------------------------------------------------------------- the real server dies
def test_server_killed_during_sync_is_one_error_and_the_rerun_resumes(victim: ManagedServer, data_dir: Path) -> None:
    home = victim.home.root
    command = [sys.executable, "-m", "kgstore.cli", "sync", str(data_dir / "CoDEx-S"), "--namespace", "lost",
               "--batch-size", "500"]
    env = {**os.environ, "KGSTORE_HOME": str(home)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = 0
    with connect(home=home) as graph:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and process.poll() is None:
            done = graph.query("MATCH (b:KgSyncBatch {namespace: 'lost'}) RETURN count(b) AS n")[0]["n"]
            if done >= 3:
                os.kill(victim.pid(), signal.SIGKILL)  # type: ignore[arg-type]
                break
            time.sleep(0.05)
    started = time.monotonic()
    stdout, stderr = process.communicate(timeout=240)
    assert done >= 3, f"the sync ended before the server could be killed (smaller batches?): {stderr}"
    print(f"sync noticed the dead server and exited in {time.monotonic() - started:.1f} s")

    print(stderr)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "neo4j.exceptions" not in stderr, stderr
    assert "will be retried" not in stderr and "<CONNECTION>" not in stderr, "the driver's warnings leak out"
    assert stderr.count("Neo4j does not answer") <= 1
    (message,) = error_lines(stderr)
    assert f"Neo4j at {victim.bolt_uri}" in message, message
    assert "resumes where it stopped" in stderr and "kgstore server status" in stderr

    not_running = cli(home, "status")  # the pid file is stale now: said before any connection attempt
    assert not_running.returncode == 1
    assert error_lines(not_running.stderr) == [
        f"Error: the Neo4j server of the kgstore home {home} is not running"]
    assert "kgstore server start" in not_running.stderr

    victim.start(echo=lambda _: None)  # Neo4j recovers its stores from the transaction log
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "(resume)" in rerun.stdout
    with connect(home=home) as graph:
        rows = graph.query("MATCH (h:Entity {dataset: 'lost'})-[r]->(t) "
                           "RETURN count(r) AS n, count(DISTINCT [h.key, type(r), t.key]) AS distinct")
    assert rows == [{"n": CODEX_S_TRIPLES, "distinct": CODEX_S_TRIPLES}]


def test_a_stranger_on_the_stopped_homes_port_is_not_sent_its_credentials(victim: ManagedServer) -> None:
    victim.stop(echo=lambda _: None)
    port = victim.settings.bolt_port
    with socket.socket() as stranger:
        stranger.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        stranger.bind(("127.0.0.1", port))
        stranger.listen()
        started = time.monotonic()
        result = CliRunner().invoke(main, ["status"], env={"KGSTORE_HOME": str(victim.home.root)})
        seconds = time.monotonic() - started
        stranger.settimeout(0.2)
        with pytest.raises(TimeoutError):
            stranger.accept()  # nobody knocked: not even a Bolt handshake went out
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "refused the credentials" not in result.output
    assert (f"Error: the Neo4j server of the kgstore home {victim.home.root} is not running; its bolt port "
            f"127.0.0.1:{port} is held by another process") in result.output
    assert "kgstore server start" in result.output and "--bolt-port" in result.output
    assert seconds < 10, f"took {seconds:.1f} s: it should not wait for the stranger"
