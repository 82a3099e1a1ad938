"""Start `kgstore serve` as a real subprocess for the tests that call it over HTTP or from Cypher."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def start_sidecar(home: Path, model: str, port: int, log: Path) -> subprocess.Popen:
    """``kgstore serve --model MODEL --port PORT`` for ``home``, returned once ``/health`` answers."""
    import httpx

    env = {**os.environ, "KGSTORE_HOME": str(home), "KGSTORE_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "kgstore.cli", "serve", "--model", model, "--port", str(port)],
                               env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kgstore serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise AssertionError(f"kgstore serve did not answer within 120 s:\n{log.read_text()[-3000:]}")
