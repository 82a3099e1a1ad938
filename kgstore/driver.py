"""``kgstore.connect()``: a small object over the official Neo4j driver.

It adds what every kgstore part needs and nothing more: one way to resolve the
connection, clear connection errors, retried write transactions, and the one
batched-UNWIND helper that every bulk write (sync, vector write-back, completion)
goes through, so batching and progress are done in a single place.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

from neo4j import Driver, GraphDatabase, ManagedTransaction, Session
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    DatabaseUnavailable,
    IncompleteCommit,
    ServiceUnavailable,
    SessionExpired,
)

from kgstore.config import ConnectionSettings, resolve_connection
from kgstore.errors import ConnectionFailed
from kgstore.home import KgstoreHome

T = TypeVar("T")
DEFAULT_BATCH_SIZE = 5_000
DEFAULT_WRITERS = 2  # concurrent write transactions: one commits while the next executes


@dataclass
class WriteSummary:
    """Counters of a batched write, added up over its transactions."""

    rows: int = 0
    batches: int = 0
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, rows: int, counters: Mapping[str, int]) -> None:
        self.rows += rows
        self.batches += 1
        for key, value in counters.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.counters[key] = self.counters.get(key, 0) + value


def batched(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class Graph:
    """A connected Neo4j database. Close it, or use it as a context manager."""

    def __init__(self, driver: Driver, settings: ConnectionSettings) -> None:
        self.driver = driver
        self.settings = settings
        self.database = settings.database

    # -- sessions and transactions --------------------------------------------
    def session(self, **config: Any) -> Session:
        config.setdefault("database", self.database)
        return self.driver.session(**config)

    def execute_write(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``work(tx, ...)`` in a write transaction, retried on transient errors.

        The driver retries only errors it marks retryable (deadlocks, leader switches);
        ``work`` must therefore be idempotent or safe to repeat as a whole.
        """
        with self.session() as session:
            return session.execute_write(work, *args, **kwargs)

    def execute_read(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self.session() as session:
            return session.execute_read(work, *args, **kwargs)

    def query(
        self, cypher: str, parameters: Mapping[str, Any] | None = None, *, write: bool = False
    ) -> list[dict[str, Any]]:
        """Run one statement in a retried transaction and return its rows as dicts."""

        def work(tx: ManagedTransaction) -> list[dict[str, Any]]:
            return [record.data() for record in tx.run(cypher, parameters or {})]

        return self.execute_write(work) if write else self.execute_read(work)

    def unwind(
        self,
        cypher: str,
        rows: Iterable[Mapping[str, Any]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        parameters: Mapping[str, Any] | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> WriteSummary:
        """Write ``rows`` in transactions of ``batch_size`` rows each.

        ``cypher`` receives one batch as ``$rows`` (it usually starts with
        ``UNWIND $rows AS row``). Each batch commits on its own, so a failure leaves
        earlier batches written and the failing batch not written at all; callers make
        the statement idempotent (``MERGE``) so a re-run completes the job.
        ``on_batch(n)`` is called after each commit (progress bars hook in here).
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        summary = WriteSummary()
        extra = dict(parameters or {})

        def work(tx: ManagedTransaction, batch: list[Mapping[str, Any]]) -> dict[str, int]:
            result = tx.run(cypher, {**extra, "rows": batch})
            return dict(vars(result.consume().counters))

        with self.session() as session:
            for batch in batched(rows, batch_size):
                counters = session.execute_write(work, batch)
                summary.add(len(batch), counters)
                if on_batch is not None:
                    on_batch(len(batch))
        return summary

    def write_concurrently(
        self,
        work: Callable[..., T],
        batches: Iterable[tuple[Any, ...]],
        *,
        writers: int = DEFAULT_WRITERS,
    ) -> Iterator[T]:
        """Run ``work(tx, *batch)`` for each batch in write transactions on ``writers`` sessions.

        While one transaction commits (log flush, index updates) the next one executes,
        which on a small server is worth up to ``writers``-fold throughput. Results come
        back in input order, and at most ``writers + 1`` batches are in memory, so
        ``batches`` may be a stream. Batches must not write the same entities (deadlocks
        between them are retried by the driver, but repeated work is wasted).
        """
        if writers < 1:
            raise ValueError(f"writers must be at least 1, got {writers}")

        # A failed batch (say, the server died) ends the job: batches queued behind it must not
        # start and spend the driver's retry time (30 s) again before the error reaches the user.
        failed = threading.Event()

        def run(batch: tuple[Any, ...]) -> T:
            if failed.is_set():
                raise CancelledError("an earlier batch failed")
            try:
                with self.session() as session:
                    return session.execute_write(work, *batch)
            except BaseException:
                failed.set()
                raise

        with ThreadPoolExecutor(writers, thread_name_prefix="kgstore-write") as pool:
            in_flight: deque[Future[T]] = deque()
            for batch in batches:
                in_flight.append(pool.submit(run, batch))
                if len(in_flight) > writers:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()

    # -- facts about the server ------------------------------------------------
    def server_info(self) -> dict[str, str]:
        """Name, version and edition of the server (``dbms.components()``)."""
        rows = self.query("CALL dbms.components() YIELD name, versions, edition "
                          "RETURN name, versions[0] AS version, edition")
        row = rows[0] if rows else {}
        return {"name": row.get("name", "?"), "version": row.get("version", "?"),
                "edition": row.get("edition", "?"), "uri": self.settings.uri}

    def has_procedure(self, name: str) -> bool:
        """True when the server has the procedure ``name`` (e.g. the kgstore plugin's bulk paths,
        ``kgstore.writeVectors``); callers fall back to plain Cypher without it."""
        return bool(self.query("SHOW PROCEDURES YIELD name WHERE name = $name RETURN name", {"name": name}))

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Graph({self.settings.describe()})"


def connect(
    uri: str | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    *,
    home: KgstoreHome | Path | str | None = None,
    verify: bool = True,
    **driver_config: Any,
) -> Graph:
    """Connect to Neo4j: explicit arguments, else ``NEO4J_*`` env, else the managed server.

    ``bolt://``, ``neo4j://`` (routing, clusters) and their ``+s``/``+ssc`` variants all work.
    """
    settings = resolve_connection(uri, user, password, database, home=home)
    if verify and settings.source == "managed":
        _check_managed_server(settings)
    auth = (settings.user, settings.password) if settings.password is not None else None
    driver_config.setdefault("max_connection_lifetime", 3600)
    # Schema-discovery warnings ("property key does not exist" on a fresh database) are
    # expected in kgstore's own queries; real failures still raise.
    driver_config.setdefault("notifications_min_severity", "OFF")
    try:
        driver = GraphDatabase.driver(settings.uri, auth=auth, **driver_config)
    except (ConfigurationError, ValueError) as exc:
        raise ConnectionFailed(
            f"invalid Neo4j URI {settings.uri!r}: {exc}",
            hint="Use bolt://host:7687, neo4j://host:7687 (cluster routing) or neo4j+s://host.",
        ) from exc
    if verify:
        try:
            driver.verify_connectivity()
        except AuthError as exc:
            driver.close()
            raise ConnectionFailed(
                f"Neo4j at {settings.uri} refused the credentials of user {settings.user!r}: "
                f"{exc.message or exc}",
                hint="Check --user/--password or NEO4J_USERNAME/NEO4J_PASSWORD "
                "(the managed server's password is in the kgstore home's `password` file).",
            ) from exc
        except (ServiceUnavailable, OSError) as exc:
            driver.close()
            raise ConnectionFailed(
                f"no Neo4j server answered at {settings.uri}: {exc}",
                hint=f"{_start_hint(settings)}, or point --uri / NEO4J_URI at a running server.",
            ) from exc
    return Graph(driver, settings)


def _check_managed_server(settings: ConnectionSettings) -> None:
    """Fail before connecting when the home's installed server is stopped.

    Whatever answers on its port then is another process: sending it the home's password
    would only end in a puzzling "refused the credentials" (or a hang, when it is not Neo4j).
    A home without an installed server is left alone: its default URI may be a server the
    user runs themselves.
    """
    from kgstore.server.managed import ManagedServer, port_in_use

    server = ManagedServer(settings.home)
    status = server.status()
    if not status.installed or status.running:
        return
    host, port = server.settings.listen_address, server.settings.bolt_port
    taken = port_in_use(host, port)
    held = (f"; its bolt port {host}:{port} is held by another process, which was not sent this home's "
            "credentials") if taken else ""
    raise ConnectionFailed(
        f"the Neo4j server of the kgstore home {status.home} is not running{held}",
        hint="Start it with `kgstore server start`"
        + (" (stop the other process first, or move this home to a free port with "
           "`kgstore server install --bolt-port N`)" if taken else "")
        + "; to use another server, pass --uri/--user/--password or set NEO4J_URI. "
        "`kgstore doctor` checks ports and servers.",
    )


def _start_hint(settings: ConnectionSettings) -> str:
    """How to get the managed server up: a home that never installed one needs ``install`` first."""
    from kgstore.server.managed import ManagedServer

    if settings.source == "managed" and not ManagedServer(settings.home).status().installed:
        return (f"The kgstore home {settings.home} has no Neo4j server yet: "
                "`kgstore server install && kgstore server start`")
    return "Start the managed one with `kgstore server start`"


def _driver_text(exc: BaseException) -> str:
    """A driver error in one short line: the socket's reason when it gives one ("[Errno 111]
    Connection refused"), else its message with the whitespace folded."""
    text = " ".join(str(getattr(exc, "message", None) or exc or type(exc).__name__).split())
    reason = re.search(r"\(reason (.+?)\)$", text)
    if reason:
        return reason.group(1)
    return text if len(text) <= 160 else text[:157] + "..."


# Not BrokenPipeError: that is stdout closed by `| head`, not a server going away.
_SOCKET_ERRORS = ConnectionRefusedError | ConnectionResetError | ConnectionAbortedError


def connection_lost(exc: BaseException, *, uri: str | None = None, resumable: bool = False) -> ConnectionFailed | None:
    """The user-facing error for a connection that broke or was refused while working, else None.

    The official driver reports a server that died or went away as ``ServiceUnavailable``,
    ``SessionExpired``, ``IncompleteCommit`` (the commit's fate is unknown) or, while the
    database shuts down or recovers, ``DatabaseUnavailable``; a plain socket error can
    surface too. ``exc``'s causes are searched as well, since callers may wrap it.
    ``resumable``: the command picks up where it stopped when re-run (``kgstore sync``).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ServiceUnavailable | SessionExpired | DatabaseUnavailable | _SOCKET_ERRORS):
            break
        current = current.__cause__ or current.__context__
    else:
        return None
    where = f"Neo4j at {uri}" if uri else "Neo4j"
    if isinstance(current, IncompleteCommit):
        what = f"the connection to {where} broke while a transaction was committing"
    elif isinstance(current, DatabaseUnavailable):
        what = f"the database of {where} became unavailable (the server is stopping or recovering)"
    elif isinstance(current, ServiceUnavailable | SessionExpired):
        what = f"lost the connection to {where}: the server stopped answering"
    else:
        what = "a connection was refused or dropped"
    again = ("Work committed before is kept: re-run the same command once the server is back and it resumes "
             "where it stopped." if resumable else "Re-run the command once the server is back.")
    return ConnectionFailed(f"{what} ({_driver_text(current)})",
                            hint=f"{again} Check the server with `kgstore server status` (its log: "
                                 "`kgstore server logs`; everything at once: `kgstore doctor`).")
