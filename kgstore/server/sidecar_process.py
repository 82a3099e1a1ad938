"""A detached `kgstore serve` per home: started in the background, found by its pid file, stopped.

The sidecar is a plain foreground server; scripts (and the README's main command) want it
in the background like the managed Neo4j, so ``kgstore serve --detach`` re-runs the same
command as a child process whose output goes to the home's sidecar log
(``<home>/server/logs/sidecar.log``, :attr:`KgstoreHome.sidecar_log`), and returns once
``/health`` answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome


@dataclass(frozen=True)
class SidecarOptions:
    """What ``kgstore serve`` runs with; the detached child gets the same as command-line flags."""

    model: str = "default"
    checkpoint: Path | None = None
    host: str = "127.0.0.1"
    port: int | None = None  # None: the home's sidecar port
    index: str = "exact"
    max_k: int = 1000
    max_batch: int = 10_000
    device: str = "cpu"
    workers: int = 1

    def url(self, home: KgstoreHome) -> str:
        return f"http://{self.host}:{self.port_for(home)}"

    def port_for(self, home: KgstoreHome) -> int:
        return self.port or home.load_settings().sidecar_port

    def serve_args(self, home: KgstoreHome) -> list[str]:
        args = ["--model", self.model, "--host", self.host, "--port", str(self.port_for(home)), "--index", self.index,
                "--max-k", str(self.max_k), "--max-batch", str(self.max_batch), "--device", self.device,
                "--workers", str(self.workers)]
        return args + (["--checkpoint", str(self.checkpoint)] if self.checkpoint is not None else [])


def running_pid(home: KgstoreHome) -> int | None:
    """The pid of this home's detached sidecar, or None (a stale pid file is removed)."""
    try:
        pid = int(home.sidecar_pid_file.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        home.sidecar_pid_file.unlink(missing_ok=True)
        return None
    except PermissionError:
        return None
    return pid


def health(url: str, timeout: float = 1.0) -> dict | None:
    """``GET /health`` as a dict, or None while nothing (or no model) answers."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:  # noqa: S310 - local URL
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def start_detached(home: KgstoreHome, options: SidecarOptions, *, token: str | None = None,
                   timeout: float = 300.0) -> dict:
    """Run ``kgstore serve`` with ``options`` in the background and wait until ``/health`` answers.

    Returns the health answer (with ``already_running`` when this home's sidecar was up).
    The token travels in the child's environment, never on its command line (``ps`` shows that).
    """
    url = options.url(home)
    pid = running_pid(home)
    if pid is not None:
        answer = health(url)
        if answer is None:
            raise KgstoreError(f"a detached sidecar already runs for this home (pid {pid}) but does not answer "
                               f"at {url}", hint=f"Stop it with `kgstore serve --stop`; see {home.sidecar_log}.")
        return {**answer, "already_running": True}
    for folder in (home.run_dir, home.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    log = home.sidecar_log
    env = {**os.environ, **({"KGSTORE_SIDECAR_TOKEN": token} if token else {})}
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "kgstore.cli", "--home", str(home.root), "serve",
                                    *options.serve_args(home)], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    home.sidecar_pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            home.sidecar_pid_file.unlink(missing_ok=True)
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise KgstoreError(f"the sidecar exited with code {process.returncode} while starting "
                               f"(log: {log}):\n{tail}")
        answer = health(url)
        if answer is not None:
            return answer
        time.sleep(0.5)
    stop_detached(home)
    raise KgstoreError(f"the sidecar did not answer at {url} within {timeout:.0f} s", hint=f"See {log}.")


def stop_detached(home: KgstoreHome, *, timeout: float = 30.0) -> int | None:
    """Stop the detached sidecar (SIGTERM, then SIGKILL); returns its pid or None if none ran."""
    pid = running_pid(home)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    home.sidecar_pid_file.unlink(missing_ok=True)
    return pid
