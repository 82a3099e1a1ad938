"""A detached `kgstore serve` per home: started in the background, found by its pid file, stopped.

The sidecar is a plain foreground server; scripts (and the README's main command) want it
in the background like the managed Neo4j, so ``kgstore serve --detach`` re-runs the same
command as a child process whose output goes to ``<home>/logs/sidecar.log``, and returns
once ``/health`` answers.
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
from collections.abc import Sequence
from pathlib import Path

from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome


def pid_file(home: KgstoreHome) -> Path:
    return home.run_dir / "sidecar.pid"


def log_file(home: KgstoreHome) -> Path:
    return home.logs_dir / "sidecar.log"


def running_pid(home: KgstoreHome) -> int | None:
    """The pid of this home's detached sidecar, or None (a stale pid file is removed)."""
    try:
        pid = int(pid_file(home).read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pid_file(home).unlink(missing_ok=True)
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


def start_detached(home: KgstoreHome, serve_args: Sequence[str], url: str, *, timeout: float = 300.0) -> dict:
    """Run ``kgstore serve SERVE_ARGS`` in the background and wait until it answers at ``url``."""
    pid = running_pid(home)
    if pid is not None:
        answer = health(url)
        if answer is None:
            raise KgstoreError(f"a detached sidecar already runs for this home (pid {pid}) but does not answer "
                               f"at {url}", hint=f"Stop it with `kgstore serve --stop`; see {log_file(home)}.")
        return {**answer, "already_running": True}
    for folder in (home.run_dir, home.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    log = log_file(home)
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "kgstore.cli", "--home", str(home.root), "serve",
                                    *serve_args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    pid_file(home).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file(home).unlink(missing_ok=True)
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
    pid_file(home).unlink(missing_ok=True)
    return pid
