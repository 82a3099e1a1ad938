"""The Docker path for users: ``docker/docker-compose.yml``.

Three levels, each as far as this machine allows:

1. The file as written (always): ports on 127.0.0.1, plugin jar mounted read-only, no
   ``NEO4J_*`` setting that Neo4j 5's strict config validation would reject.
2. ``docker compose config`` (needs the ``docker`` client with the Compose v2 plugin, no
   engine): the file renders, and the rendered ports and mounts are the intended ones.
3. The stack itself (needs a Docker engine, ``docker info``): pytest-docker starts the
   ``neo4j`` service and the test waits for Neo4j's HTTP port. The sidecar is not built
   here (its image carries torch); the engine check runs before any pytest-docker fixture
   is requested, so without an engine nothing tries to start containers.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker" / "docker-compose.yml"
PLUGIN_JAR = REPO / "plugin" / "target" / "kgstore-plugin-0.1.0.jar"
PLUGIN_TARGET = "/plugins/kgstore-plugin.jar"
TEST_PASSWORD = "compose-test-pw"  # only for containers this module starts and removes


def _run(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 60):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)


def _compose_plugin_problem() -> str | None:
    """Why `docker compose` cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "docker client not found on PATH"
    try:
        version = _run(["docker", "compose", "version"])
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` did not run: {exc}"
    if version.returncode != 0:
        return (
            "docker client has no Compose v2 plugin (`docker compose version` failed: "
            f"{(version.stderr or version.stdout).strip()[:200]})"
        )
    return None


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return _run(["docker", "info"], timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _compose_config(*args: str, env: dict[str, str]):
    """`docker compose config` of the repo's file; a user's docker/.env is not read."""
    return _run(
        ["docker", "compose", "--env-file", os.devnull, "-f", str(COMPOSE_FILE), "config", *args],
        env=env,
    )


def _compose_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NEO4J_PASSWORD", TEST_PASSWORD)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- 1. the file as written ----------------------------------------------------------------


def test_compose_file_binds_loopback_and_mounts_plugin_read_only():
    import yaml  # PyYAML: in the dev environment through pykeen and transformers

    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    assert set(services) == {"neo4j", "sidecar"}

    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"

    neo4j = services["neo4j"]
    assert neo4j["image"] == "neo4j:5.26-community"
    env = neo4j["environment"]
    assert env["NEO4J_AUTH"].startswith("neo4j/${NEO4J_PASSWORD:?")
    assert env["NEO4J_dbms_security_procedures_unrestricted"] == "kgstore.*"
    assert env["KGSTORE_SIDECAR_URL"] == "http://sidecar:8080"
    # Neo4j 5 refuses unknown settings: nothing kgstore-specific may be a NEO4J_* variable.
    assert not [k for k in env if k.lower().startswith("neo4j_kgstore")]
    assert "healthcheck" in neo4j

    plugin = [v for v in neo4j["volumes"] if isinstance(v, dict) and v["type"] == "bind"]
    assert len(plugin) == 1
    assert plugin[0]["target"] == PLUGIN_TARGET
    assert plugin[0]["read_only"] is True
    assert "KGSTORE_PLUGIN_JAR" in plugin[0]["source"]
    assert plugin[0]["source"].endswith("../plugin/target/kgstore-plugin-0.1.0.jar}")

    sidecar = services["sidecar"]
    assert sidecar["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert sidecar["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert sidecar["environment"]["NEO4J_URI"] == "bolt://neo4j:7687"


# -- 2. docker compose config ---------------------------------------------------------------

_compose_problem = _compose_plugin_problem()


@pytest.mark.skipif(
    _compose_problem is not None,
    reason=f"cannot run `docker compose config`: {_compose_problem}",
)
def test_compose_config_renders_loopback_ports_and_plugin_mount():
    result = _compose_config("--format", "json", env=_compose_env(NEO4J_PASSWORD=TEST_PASSWORD))
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    services = config["services"]

    published = {
        (name, port["target"]): (port.get("host_ip"), str(port["published"]))
        for name, service in services.items()
        for port in service.get("ports", [])
    }
    assert published == {
        ("neo4j", 7474): ("127.0.0.1", os.environ.get("NEO4J_HTTP_PORT", "7474")),
        ("neo4j", 7687): ("127.0.0.1", os.environ.get("NEO4J_BOLT_PORT", "7687")),
        ("sidecar", 8080): ("127.0.0.1", os.environ.get("KGSTORE_SIDECAR_PORT", "8080")),
    }

    neo4j = services["neo4j"]
    assert neo4j["environment"]["NEO4J_AUTH"] == f"neo4j/{TEST_PASSWORD}"
    mounts = {m["target"]: m for m in neo4j["volumes"]}
    plugin = mounts[PLUGIN_TARGET]
    assert plugin["type"] == "bind"
    assert plugin["read_only"] is True
    expected_jar = os.environ.get("KGSTORE_PLUGIN_JAR")
    if expected_jar is None:
        assert Path(plugin["source"]) == PLUGIN_JAR
    assert mounts["/data"]["type"] == "volume"
    assert {m["target"] for m in services["sidecar"]["volumes"]} == {"/models"}


@pytest.mark.skipif(
    _compose_problem is not None,
    reason=f"cannot run `docker compose config`: {_compose_problem}",
)
def test_compose_config_requires_a_password():
    env = _compose_env()
    env.pop("NEO4J_PASSWORD")
    result = _compose_config(env=env)
    assert result.returncode != 0
    assert "set NEO4J_PASSWORD" in result.stderr


@pytest.mark.skipif(
    _compose_problem is not None,
    reason=f"cannot run `docker compose config`: {_compose_problem}",
)
def test_compose_config_takes_plugin_jar_from_env(tmp_path):
    jar = tmp_path / "other-plugin.jar"
    result = _compose_config("--format", "json", env=_compose_env(KGSTORE_PLUGIN_JAR=str(jar)))
    assert result.returncode == 0, result.stderr
    mounts = {m["target"]: m for m in json.loads(result.stdout)["services"]["neo4j"]["volumes"]}
    assert mounts[PLUGIN_TARGET]["source"] == str(jar)


# -- 3. the stack, with a Docker engine ----------------------------------------------------


@pytest.fixture(scope="session")
def compose_test_env() -> dict[str, str]:
    """Variables for every `docker compose` call of the stack test, `down` included."""
    jar = Path(os.environ.get("KGSTORE_PLUGIN_JAR", PLUGIN_JAR))
    if not jar.is_absolute():
        jar = COMPOSE_FILE.parent / jar
    if not jar.is_file():
        pytest.fail(
            f"no plugin jar at {jar}: build it first (`mvn -f plugin/pom.xml package`), "
            "or set KGSTORE_PLUGIN_JAR to a built kgstore plugin jar."
        )
    return {
        "NEO4J_PASSWORD": TEST_PASSWORD,
        "KGSTORE_PLUGIN_JAR": str(jar),
        "NEO4J_HTTP_PORT": str(_free_port()),
        "NEO4J_BOLT_PORT": str(_free_port()),
        "KGSTORE_SIDECAR_PORT": str(_free_port()),
    }


# pytest-docker's fixtures, overridden for this module.


@pytest.fixture(scope="session")
def docker_compose_command(compose_test_env) -> str:
    # pytest-docker runs "<this> -f FILE -p PROJECT <subcommand>" through a shell. The
    # variables travel on the command line, so os.environ is never changed, and
    # --env-file keeps a developer's docker/.env out of the test.
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in compose_test_env.items())
    return f"env {assignments} docker compose --env-file {os.devnull}"


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    # Only Neo4j: the sidecar image (torch, CLIP) is too heavy to build in a test run.
    return ["up -d --wait neo4j"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v"]


def _neo4j_http_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.skipif(not _docker_engine_answers(), reason="no Docker engine: docker info failed")
def test_stack_serves_neo4j_http_with_plugin(request):
    # Requested only now, after the engine check: without an engine, pytest-docker's
    # fixtures (which run `docker compose up`) are never set up.
    docker_services = request.getfixturevalue("docker_services")
    docker_ip = request.getfixturevalue("docker_ip")
    project = request.getfixturevalue("docker_compose_project_name")
    compose_env = request.getfixturevalue("compose_test_env")

    port = docker_services.port_for("neo4j", 7474)
    url = f"http://{docker_ip}:{port}/"
    docker_services.wait_until_responsive(check=lambda: _neo4j_http_answers(url), timeout=180.0, pause=2.0)
    with urllib.request.urlopen(url, timeout=10) as resp:
        discovery = json.load(resp)
    assert discovery["neo4j_version"].startswith("5.26"), discovery
    assert discovery["neo4j_edition"] == "community"

    in_container = _run(
        [
            "docker",
            "compose",
            "--env-file",
            os.devnull,
            "-f",
            str(COMPOSE_FILE),
            "-p",
            project,
            "exec",
            "-T",
            "neo4j",
            "test",
            "-f",
            PLUGIN_TARGET,
        ],
        env={**os.environ, **compose_env},
    )
    assert in_container.returncode == 0, f"plugin jar not at {PLUGIN_TARGET}: {in_container}"
