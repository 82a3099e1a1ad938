"""The managed Neo4j server a benchmark runs against: a given home's, or a throwaway one.

A throwaway home holds a whole Neo4j store (up to 3 GB after a million-node write-back),
so it is deleted when the benchmark ends, whether it finished or failed. A given home is
left as it was found: started only if it was stopped, and stopped again afterwards.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgstore.server import ManagedServer, free_port  # noqa: E402


def quiet(_: str) -> None:
    """Server install/start/stop messages would break up the benchmark's table."""


@contextmanager
def bench_server(home: Path | None, prefix: str, **install: object) -> Iterator[tuple[ManagedServer, Path]]:
    """Yield a running server and a scratch folder (deleted at the end) for the benchmark's files.

    ``install`` goes to :meth:`ManagedServer.install` for a throwaway home (ports are free
    ones unless given); ``prefix`` names the scratch folder in the system's temp dir.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    server = ManagedServer(home or work / "home")
    if home is None:
        ports = {"bolt_port": free_port(), "http_port": free_port(), **install}
        server.install(echo=quiet, **ports)
    started_here = not server.is_running()
    try:
        if started_here:
            server.start(echo=quiet)
        yield server, work
    finally:
        if started_here:
            server.stop(echo=quiet)
        shutil.rmtree(work, ignore_errors=True)
