"""`kgstore doctor` against real parts: the session's Neo4j with its plugin, a real sidecar, real ports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kgstore
from kgstore.driver import connect
from kgstore.home import HomeSettings, KgstoreHome
from kgstore.server import free_port
from tests.conftest import ServerUnderTest

CHECK_KEYS = {"name", "status", "detail", "fix", "data"}


def doctor(run_cli, home: Path | None = None, *args: str) -> tuple[int, dict[str, Any]]:  # noqa: ANN001
    result = run_cli("doctor", "--json", *args, env={"KGSTORE_HOME": str(home)} if home else None)
    return result.exit_code, json.loads(result.stdout)


def check(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in document["checks"] if c["name"] == name)


def test_doctor_reports_the_running_server_its_version_and_plugin(run_cli, neo4j_server: ServerUnderTest) -> None:  # noqa: ANN001
    _, document = doctor(run_cli)
    server = check(document, "server")
    assert server["status"] == "ok", server
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        version = graph.server_info()["version"]
    assert server["data"]["state"] == "running" and server["data"]["version"] == version
    assert version in server["detail"]
    plugin = check(document, "plugin")
    assert plugin["status"] == "ok", plugin
    assert plugin["data"] == {"package": kgstore.__version__, "version": kgstore.__version__,
                              "source": "kgstore.version()"}
    if neo4j_server.managed is not None:
        assert check(document, "port bolt")["data"]["by_home_server"] is True
        assert check(document, "port http")["data"]["by_home_server"] is True


def test_doctor_json_has_every_check_with_its_keys(run_cli) -> None:  # noqa: ANN001
    code, document = doctor(run_cli)
    assert set(document) == {"ok", "home", "version", "checks"}
    assert document["version"] == kgstore.__version__
    names = [c["name"] for c in document["checks"]]
    for name in ("java", "maven", "disk neo4j cache", "disk home", "port bolt", "port http", "port sidecar",
                 "server", "plugin", "sidecar", "torch", "encoder minilm", "encoder efficientnet-lite0"):
        assert name in names
    for item in document["checks"]:
        assert set(item) == CHECK_KEYS, item
        assert item["status"] in ("ok", "warn", "fail", "skip")
        assert item["status"] in ("ok", "skip") or item["fix"], f"{item['name']}: a problem without its fix"
    assert document["ok"] == all(c["status"] != "fail" for c in document["checks"])
    assert code == (0 if document["ok"] else 1)
    assert check(document, "java")["data"]["major"] >= 17
    torch = check(document, "torch")["data"]
    assert isinstance(torch["cuda"], bool)


def test_an_uninstalled_home_fails_with_the_install_command(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    code, document = doctor(run_cli, tmp_path / "fresh-home")
    assert code == 1 and document["ok"] is False
    server = check(document, "server")
    assert server["status"] == "fail" and server["fix"] == "kgstore server install && kgstore server start"
    assert check(document, "plugin")["status"] == "skip"


@pytest.fixture
def served_home(tmp_path: Path) -> KgstoreHome:
    """A home with a tiny trained model (no Neo4j needed) and its own free sidecar port."""
    from tests.test_sidecar import tiny_config
    from trainer.checkpoint import Checkpoint
    from trainer.snapshot import Snapshot
    from trainer.train import train

    home = KgstoreHome(tmp_path / "served-home")
    home.save_settings(HomeSettings(sidecar_port=free_port()))
    checkpoint = home.model_dir("doc") / "20260101T000000Z"
    snapshot = Snapshot.from_labeled({"train": [("a", "r", "b"), ("b", "r", "c")], "test": [("a", "r", "c")]})
    train(snapshot, tiny_config(epochs=1, dim=4, decoder="transe"), checkpoint_dir=checkpoint, progress=False)
    Checkpoint(checkpoint).mark_latest(home.latest_link("doc"))
    return home


def test_a_real_sidecar_is_reported_and_a_stopped_one_fails_with_its_command(run_cli, served_home: KgstoreHome,  # noqa: ANN001
                                                                             tmp_path: Path) -> None:
    from tests.sidecars import start_sidecar

    port = served_home.load_settings().sidecar_port
    process = start_sidecar(served_home.root, "doc", port, tmp_path / "serve.log")
    try:
        _, document = doctor(run_cli, served_home.root)
    finally:
        process.terminate()
        process.wait(timeout=30)
    sidecar = check(document, "sidecar")
    assert sidecar["status"] == "ok", sidecar
    assert sidecar["data"]["model"] == "doc" and sidecar["data"]["url"] == f"http://127.0.0.1:{port}"
    assert check(document, "port sidecar")["data"]["by_home_sidecar"] is True

    result = run_cli("doctor", env={"KGSTORE_HOME": str(served_home.root), "COLUMNS": "250"})
    assert result.exit_code == 1
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ sidecar "))
    assert "fail" in row and f"no sidecar answers at http://127.0.0.1:{port}" in row
    assert "kgstore serve --detach" in row  # the home has a model: serving it is the whole fix
    assert "failed:" in result.stdout and "sidecar" in result.stdout.splitlines()[-1]


def test_a_stranger_on_the_sidecar_port_is_named(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    home = KgstoreHome(tmp_path / "home")
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        home.save_settings(HomeSettings(sidecar_port=stranger.getsockname()[1]))
        _, document = doctor(run_cli, home.root)
    port = check(document, "port sidecar")
    assert port["status"] == "warn" and "not a kgstore sidecar" in port["detail"]
    assert "--port" in port["fix"]


def test_doctor_has_help() -> None:
    result = subprocess.run([sys.executable, "-m", "kgstore.cli", "doctor", "--help"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0 and "--json" in result.stdout and "Example" in result.stdout
