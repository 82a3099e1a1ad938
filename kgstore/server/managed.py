"""The managed local Neo4j server: install, start, stop, status and logs for one kgstore home.

Neo4j runs as a plain Java process from the jars in the distribution cache
(``org.neo4j.server.CommunityEntryPoint``) with its home inside the kgstore home,
so no Docker engine and no tarball are needed.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kgstore.errors import ServerError
from kgstore.home import DEFAULT_BOLT_PORT, DEFAULT_HTTP_PORT, HomeSettings, KgstoreHome
from kgstore.server.neo4j_dist import (
    Neo4jDistribution,
    find_distribution,
    release_line,
    resolve_distribution,
)
from kgstore.server.plugin_jar import find_plugin_jar, install_plugin_jar
from kgstore.server.prerequisites import check_java

# The main class of each line (Neo4jDistribution.entry_point reads it from the jars).
ENTRY_POINTS = ("org.neo4j.server.CommunityEntryPoint", "org.neo4j.server.Neo4jCommunity")
EXTRA_CONF = "neo4j.extra.conf"
PLUGIN_CONF = "kgstore.conf"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0

# What Neo4j's own launcher adds for a server JVM (see server.jvm.additional in its default conf).
JVM_FLAGS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "-Dfile.encoding=UTF-8",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


@dataclass(frozen=True)
class ServerStatus:
    """What ``kgstore server status`` reports."""

    home: Path
    installed: bool
    running: bool
    pid: int | None
    neo4j_version: str | None
    bolt_uri: str
    http_url: str
    browser_url: str

    def lines(self) -> list[str]:
        state = f"running (pid {self.pid})" if self.running else "stopped"
        if not self.installed:
            state = "not installed (run `kgstore server install`)"
        return [
            f"home:      {self.home}",
            f"server:    Neo4j {self.neo4j_version or '?'} Community, {state}",
            f"bolt:      {self.bolt_uri}",
            f"http:      {self.http_url}",
            f"browser:   {self.browser_url}",
        ]


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on ``host:port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ManagedServer:
    """One Neo4j server living in one kgstore home."""

    def __init__(self, home: KgstoreHome | Path | str | None = None, *, cache_dir: Path | None = None):
        self.home = home if isinstance(home, KgstoreHome) else KgstoreHome(home)
        self.cache_dir = cache_dir

    # ----------------------------------------------------------------- settings
    @property
    def settings(self) -> HomeSettings:
        return self.home.load_settings()

    @property
    def bolt_uri(self) -> str:
        s = self.settings
        return f"bolt://{s.listen_address}:{s.bolt_port}"

    @property
    def http_url(self) -> str:
        s = self.settings
        return f"http://{s.listen_address}:{s.http_port}"

    @property
    def sidecar_url(self) -> str:
        """Where ``kgstore serve`` listens by default and where the procedures look for it."""
        s = self.settings
        return f"http://{s.listen_address}:{s.sidecar_port}"

    @property
    def browser_url(self) -> str:
        return f"{self.http_url}/browser/"

    def distribution(self) -> Neo4jDistribution | None:
        version = self.settings.neo4j_version
        return find_distribution(version, self.cache_dir) if version else None

    # ------------------------------------------------------------------ install
    def install(
        self,
        *,
        version: str | None = None,
        upgrade: bool = False,
        bolt_port: int | None = None,
        http_port: int | None = None,
        password: str | None = None,
        heap_size: str | None = None,
        pagecache_size: str | None = None,
        plugin_jar: Path | None = None,
        sidecar_port: int | None = None,
        java_home: str | None = None,
        echo: Callable[[str], None] = print,
    ) -> Neo4jDistribution:
        """Resolve Neo4j, lay out the home, write ``neo4j.conf``, set the password, add the plugin.

        Safe to repeat: an installed home keeps its data, ports and password unless told otherwise.
        """
        settings = self.settings
        java_home = java_home or settings.java_home
        check_java(java_home=java_home)  # fail before a long resolution when there is no Java at all
        if version is None and settings.neo4j_version and self.home.exists():
            version = release_line(settings.neo4j_version)  # a calendar home stays on calendar releases
        dist = resolve_distribution(version, cache_dir=self.cache_dir, upgrade=upgrade, echo=echo)
        java = check_java(dist.java_major, java_home, what=f"Neo4j {dist.version}")
        fresh_home = not self.home.exists()
        if fresh_home and bolt_port is None and http_port is None:
            settings.bolt_port, settings.http_port = self._default_ports(echo)
        settings.bolt_port = bolt_port or settings.bolt_port
        settings.http_port = http_port or settings.http_port
        if fresh_home and sidecar_port is None and port_in_use(settings.listen_address, settings.sidecar_port):
            settings.sidecar_port = free_port(settings.listen_address)
        settings.sidecar_port = sidecar_port or settings.sidecar_port
        settings.heap_size = heap_size or settings.heap_size
        settings.pagecache_size = pagecache_size or settings.pagecache_size
        settings.neo4j_version = dist.version
        settings.java_home = java_home
        if self.is_running() and not fresh_home:
            echo("The server is running: new settings take effect at the next start.")
        for folder in (self.home.conf_dir, self.home.data_dir, self.home.logs_dir,
                       self.home.plugins_dir, self.home.run_dir, self.home.server_dir / "import"):
            folder.mkdir(parents=True, exist_ok=True)
        self.home.save_settings(settings)
        self.write_conf()
        self._ensure_password(java, dist, password, echo)

        jar = find_plugin_jar(plugin_jar, neo4j_version=dist.version, java=java, echo=echo)
        if jar is None:
            echo("No kgstore plugin jar found (not a source checkout and KGSTORE_PLUGIN_JAR unset): "
                 "the kgstore.* procedures will be missing.")
        else:
            target = install_plugin_jar(jar, self.home.plugins_dir)
            echo(f"Plugin {target.name} installed in {self.home.plugins_dir}")
        echo(f"Neo4j {dist.version} installed in {self.home.root} "
             f"(bolt {settings.bolt_port}, http {settings.http_port})")
        return dist

    def _default_ports(self, echo: Callable[[str], None]) -> tuple[int, int]:
        host = self.settings.listen_address
        if not port_in_use(host, DEFAULT_BOLT_PORT) and not port_in_use(host, DEFAULT_HTTP_PORT):
            return DEFAULT_BOLT_PORT, DEFAULT_HTTP_PORT
        bolt, http = free_port(host), free_port(host)
        echo(f"Ports {DEFAULT_BOLT_PORT}/{DEFAULT_HTTP_PORT} are taken; this home uses bolt {bolt}, "
             f"http {http}.")
        return bolt, http

    def _ensure_password(
        self, java: str, dist: Neo4jDistribution, password: str | None, echo: Callable[[str], None]
    ) -> None:
        initialised = (self.home.data_dir / "databases" / "system").exists()
        current = self.home.read_password()
        if initialised:
            if password and password != current:
                raise ServerError(
                    "this home's database already exists, so its password cannot be set at install.",
                    hint="Change it in Cypher (`ALTER CURRENT USER SET PASSWORD FROM 'old' TO 'new'`) "
                    f"and write the new one to {self.home.password_file}.",
                )
            return
        password = self.home.write_password(password or current)
        if len(password) < 8:
            raise ServerError("the Neo4j password must be at least 8 characters long.")
        result = self.admin("dbms", "set-initial-password", password, java=java)
        if result.returncode != 0:
            raise ServerError(f"setting the initial password failed:\n{result.stdout}{result.stderr}")
        echo(f"Password for user 'neo4j' kept in {self.home.password_file} (mode 0600)")

    def write_conf(self) -> Path:
        """Write ``neo4j.conf`` from the home settings (plus ``neo4j.extra.conf`` when present)."""
        s = self.settings
        lines = [
            "# Written by kgstore for this home; rewritten at every `kgstore server start`.",
            f"# Put your own settings in {self.home.root / EXTRA_CONF}: they are appended below.",
            f"server.default_listen_address={s.listen_address}",
            f"server.default_advertised_address={s.listen_address}",
            f"server.bolt.listen_address=:{s.bolt_port}",
            f"server.bolt.advertised_address=:{s.bolt_port}",
            f"server.http.listen_address=:{s.http_port}",
            f"server.http.advertised_address=:{s.http_port}",
            "server.https.enabled=false",
            "# The JVM is started by kgstore with -Xms/-Xmx from these two values.",
            f"server.memory.heap.initial_size={s.heap_size}",
            f"server.memory.heap.max_size={s.heap_size}",
            f"server.memory.pagecache.size={s.pagecache_size}",
            "dbms.security.auth_enabled=true",
            "dbms.security.procedures.unrestricted=kgstore.*",
            "server.directories.import=import",
            "db.tx_log.rotation.retention_policy=2 days",
            "dbms.usage_report.enabled=false",
        ]
        extra = self.home.root / EXTRA_CONF
        if extra.is_file():
            # Neo4j rejects a setting declared twice, so the user's lines replace ours.
            text = extra.read_text()
            overridden = {line.split("=", 1)[0].strip() for line in text.splitlines()
                          if "=" in line and not line.lstrip().startswith("#")}
            lines = [line for line in lines if line.split("=", 1)[0] not in overridden]
            lines += ["", f"# --- from {extra}", text]
        conf = self.home.conf_dir / "neo4j.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text("\n".join(lines) + "\n")
        self.write_plugin_conf()
        return conf

    def write_plugin_conf(self) -> Path:
        """Write ``kgstore.conf`` beside ``neo4j.conf``: where the procedures find the sidecar.

        Neo4j only accepts settings in its own namespaces (``dbms.``, ``server.``...), so the
        plugin reads its settings from this file instead, at every call: pointing it at
        another sidecar needs no restart. Keys the user added to the file are kept.
        """
        path = self.home.conf_dir / PLUGIN_CONF
        ours = {"kgstore.sidecar.url": self.sidecar_url}
        kept = []
        if path.is_file():
            kept = [line for line in path.read_text().splitlines()
                    if line.split("=", 1)[0].strip() not in ours and not line.startswith("# Written by kgstore")]
        header = "# Written by kgstore; read by the kgstore.* procedures at every call. Keys: " \
                 "kgstore.sidecar.url, kgstore.sidecar.token, kgstore.sidecar.connect_timeout_ms, " \
                 "kgstore.sidecar.read_timeout_ms, kgstore.sidecar.generate_timeout_ms"
        path.write_text("\n".join([header, *(f"{k}={v}" for k, v in ours.items()), *kept]) + "\n")
        return path

    def admin(self, *args: str, java: str | None = None, log: IO[str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        """Run ``neo4j-admin ARGS`` (``org.neo4j.cli.AdminTool`` from the home's jars) on this home.

        Output is captured, or goes to ``log`` (a long import shows its own progress there).
        """
        dist = self.distribution()
        if dist is None:
            raise ServerError(f"no Neo4j server is installed in {self.home.root}.",
                              hint="Run `kgstore server install` first (KGSTORE_HOME picks the home).")
        java = java or check_java(dist.java_major, self.settings.java_home, what=f"Neo4j {dist.version}")
        command = [java, "-cp", dist.classpath, "org.neo4j.cli.AdminTool", *args]
        if log is None:
            return subprocess.run(command, env=self._neo4j_env(), capture_output=True, text=True, check=False)
        return subprocess.run(command, env=self._neo4j_env(), stdout=log, stderr=subprocess.STDOUT, text=True,
                              check=False)

    def _neo4j_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NEO4J_HOME"] = str(self.home.server_dir)
        env["NEO4J_CONF"] = str(self.home.conf_dir)
        return env

    # -------------------------------------------------------------- lifecycle
    def pid(self) -> int | None:
        """The pid of this home's running server, or None (stale pid files are removed)."""
        try:
            pid = int(self.home.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if _is_our_process(pid, self.home.server_dir):
            return pid
        self.home.pid_file.unlink(missing_ok=True)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(
        self, *, timeout: float = START_TIMEOUT_S, echo: Callable[[str], None] = print
    ) -> ServerStatus:
        """Start detached and wait until Bolt answers with the home's credentials."""
        if not self.home.exists() or self.distribution() is None:
            raise ServerError(
                f"no Neo4j server is installed in {self.home.root}.",
                hint="Run `kgstore server install` first (KGSTORE_HOME picks the home).",
            )
        if self.is_running():
            echo(f"Neo4j is already running in {self.home.root} (pid {self.pid()}) at {self.bolt_uri}")
            return self.status()
        dist = self.distribution()
        assert dist is not None
        s = self.settings
        java = check_java(dist.java_major, s.java_home, what=f"Neo4j {dist.version}")
        for name, port in (("bolt", s.bolt_port), ("http", s.http_port)):
            if port_in_use(s.listen_address, port):
                raise ServerError(
                    f"cannot start Neo4j: the {name} port {s.listen_address}:{port} is already in use "
                    "by another process.",
                    hint=f"Stop that process, or pick another port: `kgstore server install "
                    f"--{name}-port N` (home {self.home.root}).",
                )
        self.write_conf()
        heap = s.heap_size
        command = [java, f"-Xms{heap}", f"-Xmx{heap}", *JVM_FLAGS, "-cp",
                   f"{self.home.plugins_dir / '*'}{os.pathsep}{dist.classpath}",
                   dist.entry_point, f"--home-dir={self.home.server_dir}",
                   f"--config-dir={self.home.conf_dir}"]
        self.home.logs_dir.mkdir(parents=True, exist_ok=True)
        self.home.run_dir.mkdir(parents=True, exist_ok=True)
        echo(f"Starting Neo4j {dist.version} from {self.home.root} ...")
        with self.home.console_log.open("ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.home.server_dir, env=self._neo4j_env(), start_new_session=True,
            )
        self.home.pid_file.write_text(f"{process.pid}\n")
        self._wait_for_bolt(process, timeout)
        echo(f"Neo4j is up at {self.bolt_uri} (Browser: {self.browser_url})")
        return self.status()

    def _wait_for_bolt(self, process: subprocess.Popen[bytes], timeout: float) -> None:
        from neo4j import GraphDatabase
        from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

        deadline = time.monotonic() + timeout
        auth = (self.settings.user, self.home.read_password() or "")
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                self.home.pid_file.unlink(missing_ok=True)
                raise ServerError(
                    f"Neo4j exited with code {code} while starting.\n{self._log_tail()}",
                    hint=f"Full logs: {self.home.console_log} and {self.home.neo4j_log}",
                )
            try:
                with GraphDatabase.driver(self.bolt_uri, auth=auth) as driver:
                    driver.verify_connectivity()
                with urllib.request.urlopen(self.http_url + "/", timeout=5):
                    pass  # the Browser and HTTP API come up a moment after Bolt
                return
            except AuthError as exc:
                raise ServerError(
                    f"Neo4j started but refused the password in {self.home.password_file}: {exc}",
                    hint="Put the right password in that file (mode 0600).",
                ) from exc
            except (ServiceUnavailable, SessionExpired, OSError) as exc:
                last_error = exc
                time.sleep(0.5)
        raise ServerError(
            f"Neo4j did not answer on {self.bolt_uri} within {timeout:.0f} s ({last_error}); "
            f"it is still running as pid {process.pid}.\n{self._log_tail()}",
            hint=f"Look at {self.home.console_log} and {self.home.neo4j_log}; stop it with "
            "`kgstore server stop`.",
        )

    def _log_tail(self, lines: int = 20) -> str:
        parts = []
        for path in (self.home.console_log, self.home.neo4j_log):
            if path.is_file():
                # Java stack frames say little to a user; the exception line says what is wrong.
                text = [line for line in path.read_text(errors="replace").splitlines()
                        if not line.startswith("\tat ") and not line.startswith("\t... ")]
                tail = text[-lines:]
                parts.append(f"--- last lines of {path}:\n" + "\n".join(tail))
        return "\n".join(parts) or "(no log written)"

    def stop(self, *, timeout: float = STOP_TIMEOUT_S, echo: Callable[[str], None] = print) -> bool:
        """Stop gracefully (SIGTERM lets Neo4j flush and close its stores) and wait.

        Returns False when the server was not running.
        """
        pid = self.pid()
        if pid is None:
            echo(f"Neo4j is not running in {self.home.root}")
            return False
        echo(f"Stopping Neo4j (pid {pid}) ...")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_alive(pid):
                break
            time.sleep(0.25)
        else:
            echo(f"Neo4j did not stop within {timeout:.0f} s; killing pid {pid}.")
            os.kill(pid, signal.SIGKILL)
            while _is_alive(pid):
                time.sleep(0.1)
        self.home.pid_file.unlink(missing_ok=True)
        echo("Neo4j stopped.")
        return True

    def status(self) -> ServerStatus:
        return ServerStatus(
            home=self.home.root,
            installed=self.home.exists() and self.distribution() is not None,
            running=self.is_running(),
            pid=self.pid(),
            neo4j_version=self.settings.neo4j_version,
            bolt_uri=self.bolt_uri,
            http_url=self.http_url,
            browser_url=self.browser_url,
        )

    def logs(self, lines: int = 50, *, which: str = "neo4j") -> str:
        """The last ``lines`` lines of ``neo4j.log`` (or ``console``/``debug``)."""
        path = self.home.logs_dir / f"{which}.log"
        if not path.is_file():
            raise ServerError(f"no log at {path} yet (has the server been started?)")
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (we started it in this process) is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().split(")")[-1].split()[0] == "Z":
                os.waitpid(pid, os.WNOHANG)
                return False
    except (FileNotFoundError, ChildProcessError):
        pass
    return True


def _is_our_process(pid: int, server_dir: Path) -> bool:
    if not _is_alive(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # not Linux: trust the pid file
        return True
    args = cmdline.read_bytes().decode(errors="replace")
    return any(entry in args for entry in ENTRY_POINTS) and str(server_dir) in args
