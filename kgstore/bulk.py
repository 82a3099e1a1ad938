"""``kgstore sync --bulk``: a first load built offline by Neo4j's own importer.

Neo4j's transactional write path tops out near 50k triples/s on two cores; its offline
importer (``neo4j-admin database import full``) writes store files directly, an order of
magnitude faster. It can only build a whole database, with the server stopped, so the bulk
path is for *first* loads into the managed server's empty database. Everything after that
(a second dataset, changed triples, a resumed sync) goes through the online path, which
finds the bulk-built graph exactly as it would have left it:

1. **Validate** with the online path's own pass (:func:`kgstore.sync._scan`): bad input
   fails before anything is touched. A plain triple folder's split files are read as columns
   instead (:mod:`kgstore.bulk_triples`, pyarrow), giving the same files; anything unusual in
   them sends them to the Python readers, whose errors name the file and the line.
2. **Write CSV** files from the same rows the online path writes (entities with their
   labels and typed properties — one type per property, so a property holding both
   integers and decimals becomes a float, ``KgRelation`` texts, triples with ``split`` and their
   properties, images put in the content-addressed store, ``HAS_IMAGE`` links), in
   ``<home>/import/bulk-<namespace>/``. Nodes are identified by integers (``--id-type=integer``:
   the importer need not map strings), ``key`` and ``sha256`` are plain properties.
3. **Stop** the managed server, run the importer on the ``neo4j`` database
   (``--overwrite-destination``: it was empty; half the available memory), **start** it again.
4. Apply the schema (in one transaction: one scan fills every index) and write the ``KgSync``
   state (fingerprint, batch size, complete), so a later ``kgstore sync`` of the same input
   verifies and changes nothing.

Every entity and triple gets ``sync_gen = 1`` (:data:`BULK_GENERATION`), and the sync
generation counter is claimed once (the database was empty, so that is 1), as an online
first sync would leave them: the incremental snapshot export works the same on both.

A failed import leaves the (empty) database behind, restarts the server, and names the
importer's report; the CSV files stay for a look.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kgstore.bulk_triples import TripleColumns, scan_triple_folder
from kgstore.cypher_files import read_cypher, split_statements
from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.graph_names import HAS_IMAGE, SYNC_GEN
from kgstore.image_store import ImageStore
from kgstore.importers.base import Dataset
from kgstore.importers.input_errors import InputErrors
from kgstore.schema import SCHEMA_FILE, apply_schema
from kgstore.server import ManagedServer
from kgstore.sync import (
    TRIPLE_BATCH_SIZE,
    ProgressHook,
    SyncSummary,
    _entity_rows,
    _mark_complete,
    _mark_started,
    _no_progress,
    _relation_rows,
    _scan,
    _stored_image_rows,
    _triple_batches,
    _triple_row,
    claim_generation,
)

DATABASE = "neo4j"
# neo4j-admin's CSV value types for the Python types a dataset's properties hold
_CSV_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}
_ENTITY_FIELDS = ("id", "dataset", "name", "description")
BULK_GENERATION = 1  # the sync generation of everything a bulk load writes (its database was empty)
_GENERATION_HEADER = f"{SYNC_GEN}:long"
IMPORTER_MEMORY_CAP = 4 << 30  # bytes: neo4j-admin's --max-off-heap-memory at most


class BulkError(KgstoreError):
    """The bulk path cannot run here, or Neo4j's importer failed."""


@dataclass
class _Column:
    name: str
    kind: str

    @property
    def header(self) -> str:
        return self.name if self.kind == "string" else f"{self.name}:{self.kind}"


def _columns(seen: dict[str, set[type]], *, what: str, fixed: tuple[str, ...] = ()) -> list[_Column]:
    """One typed column per property; a property of mixed types cannot be one CSV column."""
    columns = [_Column(name, "string") for name in fixed]
    for name in sorted(set(seen) - set(fixed)):
        types = seen[name]
        if types <= {int, float} and float in types:
            types = {float}
        if len(types) != 1 or next(iter(types)) not in _CSV_TYPES:
            found = ", ".join(sorted(t.__name__ for t in types))
            raise BulkError(f"{what} property {name!r} holds values of types {found}: the bulk importer needs "
                            "one type per property", hint="Sync it without --bulk (the online path keeps each "
                            "value's own type).")
        columns.append(_Column(name, _CSV_TYPES[next(iter(types))]))
    return columns


def _cell(value: Any) -> str:
    """A CSV field as the importer reads it: a missing value is an empty *unquoted* field, while
    every string is quoted, so an empty string stays an empty string (csv.writer cannot tell them apart)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return repr(value)


class _CsvFile:
    """One importer input file: a header file and a data file."""

    def __init__(self, folder: Path, name: str, header: list[str]) -> None:
        self.header_path, self.path = folder / f"{name}.header.csv", folder / f"{name}.csv"
        self.header_path.write_text(",".join(header) + "\n", encoding="utf-8")
        self._handle = self.path.open("w", encoding="utf-8", newline="")
        self.rows = 0
        self.multiline = False
        self.columns: TripleColumns | None = None  # the triples as columns, when they were read so
        self.ids: dict[str, int] = {}  # entity key -> the importer's integer id (--id-type=integer)

    def write(self, row: list[Any]) -> None:
        line = ",".join(_cell(v) for v in row)
        if not self.multiline and ("\n" in line or "\r" in line):
            self.multiline = True
        self._handle.write(line + "\n")
        self.rows += 1

    @property
    def buffer(self) -> IO[bytes]:
        """The data file as bytes (call :meth:`flush` first), for rows formatted by :mod:`kgstore.bulk_triples`."""
        return self._handle.buffer

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    @property
    def argument(self) -> str:
        return f"{self.header_path},{self.path}"


def check_bulk_target(graph: Graph, server: ManagedServer, uri: str) -> None:
    """Refuse unless ``uri`` is this home's running managed server and its database is empty."""
    if not server.is_running():
        raise BulkError(f"--bulk builds the managed server's database offline, and no managed server runs in "
                        f"{server.home.root}", hint="Start it (`kgstore server start`), or sync without --bulk.")
    if uri.rstrip("/") != server.bolt_uri and uri.replace("neo4j://", "bolt://").rstrip("/") != server.bolt_uri:
        raise BulkError(f"--bulk needs the managed server ({server.bolt_uri}), not {uri}: Neo4j's importer "
                        "writes store files on this machine", hint="Sync into another server without --bulk.")
    count = graph.query("MATCH (n) RETURN count(n) AS n")[0]["n"]
    if count:
        raise BulkError(f"--bulk builds a new database, and {uri} already holds {count:,} nodes",
                        hint="Sync without --bulk (the online path adds to a graph), or start from an empty "
                             "home.")


class _TripleProperties(Exception):
    """A triple has properties: its columns are known only after the whole pass."""


def _triple_header(columns: list[_Column]) -> list[str]:  # ends are the entities' integer ids
    return [":START_ID(Entity)", ":TYPE", ":END_ID(Entity)", *(c.header for c in columns), _GENERATION_HEADER]


def scan_and_write_triples(dataset: Dataset, folder: Path, progress: ProgressHook, *,
                           vectorised: bool = True) -> tuple[Any, _CsvFile | None]:
    """The validation pass, writing the triples' CSV as it reads them when no triple has properties.

    A plain triple folder is read as columns (:mod:`kgstore.bulk_triples`, pyarrow), when it
    has nothing unusual. Otherwise one pass of the Python readers instead of two: parsing the
    files is most of a big load's Python time. A triple with properties (whose columns and types
    the pass has yet to learn) stops the writing: the pass starts again without it, and
    :func:`write_import_files` writes the triples after. ``vectorised=False`` always takes the
    Python readers (the tests compare both).
    """
    triples = _CsvFile(folder, "triples", _triple_header([_Column("split", "string")]))
    ns = dataset.namespace
    fast = scan_triple_folder(dataset, progress("validating", 0)) if vectorised else None
    if fast is not None:
        scan, triples.columns = fast
        triples.flush()
        triples.rows += triples.columns.write_csv(triples.buffer, BULK_GENERATION)
        triples.close()
        return scan, triples
    ids = triples.ids

    def write(triple: Any) -> None:
        if triple.properties:
            raise _TripleProperties
        row = _triple_row(ns, triple)
        triples.write([ids.setdefault(row["h"], len(ids)), row["r"], ids.setdefault(row["t"], len(ids)),
                       row["p"]["split"], BULK_GENERATION])

    policy = dataset.errors.policy
    try:
        scan = _scan(dataset, progress("validating", 0), on_triple=write)
    except _TripleProperties:
        triples.close()
        dataset.errors = InputErrors(policy=policy)  # the second pass reports each bad line once
        return _scan(dataset, progress("validating", 0)), None
    triples.close()
    return scan, triples


def write_import_files(dataset: Dataset, scan: Any, folder: Path, *, image_store: ImageStore | None,
                       summary: SyncSummary, triple_batch_size: int, progress: ProgressHook,
                       triples: _CsvFile | None = None) -> list[str]:
    """The importer's CSV files from the online path's rows; returns its --nodes/--relationships arguments.

    ``triples``: the triples' file when the validation pass wrote it already.
    """
    ns = dataset.namespace
    entity_columns = _columns(scan.entity_properties, what="entity", fixed=_ENTITY_FIELDS)
    entities = _CsvFile(folder, "entities", [":ID(Entity)", "key", ":LABEL", *(c.header for c in entity_columns),
                                             _GENERATION_HEADER])
    advance = progress("entities", len(scan.entity_ids))
    columns = triples.columns if triples is not None else None
    if columns is not None and type(dataset).entities is Dataset.entities and type(dataset).images is Dataset.images:
        # every entity is known from the triples alone: id, dataset, no name, no description
        entities.flush()
        entities.rows += columns.write_entities_csv(entities.buffer, ns, BULK_GENERATION)
        advance(entities.rows)
    ids = (columns.key_ids(ns) if columns is not None and not entities.rows
           else triples.ids if triples is not None else {})
    for row in () if entities.rows else _entity_rows(dataset, scan):
        labels = ";".join(dict.fromkeys(["Entity", *row["labels"]]))
        entities.write([ids.setdefault(row["key"], len(ids)), row["key"], labels,
                        *(row["props"].get(c.name) for c in entity_columns), BULK_GENERATION])
        advance(1)
    entities.close()
    summary.entities_created = entities.rows

    relation_rows = _relation_rows(dataset)
    relations = _CsvFile(folder, "relations", [":ID(KgRelation)", "key", "name", "dataset", "label", "description"])
    for number, row in enumerate(relation_rows):
        relations.write([number, row["key"],
                         *(row["props"].get(c) for c in ("name", "dataset", "label", "description"))])
    relations.close()
    summary.relations_written = relations.rows

    if triples is None:
        triple_columns = _columns(scan.triple_properties, what="triple", fixed=("split",))
        triples = _CsvFile(folder, "triples", _triple_header(triple_columns))
        advance = progress("triples", scan.triples - len(scan.duplicate_positions))
        for _, rows in _triple_batches(dataset, scan, triple_batch_size):
            for row in rows:
                triples.write([ids[row["h"]], row["r"], ids[row["t"]], *(row["p"].get(c.name) for c in triple_columns),
                               BULK_GENERATION])
            advance(len(rows))
        triples.close()
    summary.triples_created = triples.rows

    arguments = [f"--nodes={entities.argument}", f"--nodes=KgRelation={relations.argument}",
                 f"--relationships={triples.argument}"]
    files = [entities, relations, triples]
    if scan.images:
        if image_store is None:
            raise ValueError("the dataset has images: pass image_store (a folder for the image files)")
        rows = _stored_image_rows(dataset, scan, image_store, summary, progress("images", len(scan.images)))
        images = _CsvFile(folder, "images", [":ID(Image)", "sha256", "mime", "width:long", "height:long",
                                             "bytes:long", "uri"])
        links = _CsvFile(folder, "has_image", [":START_ID(Entity)", ":END_ID(Image)", "dataset", "source"])
        written: dict[str, int] = {}  # sha256 -> the image's integer id
        linked: set[tuple[str, str]] = set()
        for row in rows:
            if row["sha256"] not in written:  # content-addressed: one node per distinct file
                written[row["sha256"]] = len(written)
                images.write([written[row["sha256"]], row["sha256"], row["mime"], row["width"], row["height"],
                              row["bytes"], row["uri"]])
            if (row["key"], row["sha256"]) not in linked:
                linked.add((row["key"], row["sha256"]))
                links.write([ids[row["key"]], written[row["sha256"]], ns, row["source"]])
        images.close()
        links.close()
        summary.images_linked = links.rows
        arguments += [f"--nodes=Image={images.argument}", f"--relationships={HAS_IMAGE}={links.argument}"]
        files += [images, links]
    if any(f.multiline for f in files):
        arguments.append("--multiline-fields=true")
    return arguments


def bulk_sync(
    dataset: Dataset,
    *,
    server: ManagedServer,
    connect: Callable[[], AbstractContextManager[Graph]],
    image_store: Path | None = None,
    triple_batch_size: int = TRIPLE_BATCH_SIZE,
    progress: ProgressHook = _no_progress,
    echo: Callable[[str], None] = print,
) -> SyncSummary:
    """Import ``dataset`` into the managed server's empty database with ``neo4j-admin``.

    ``connect()`` opens a :class:`Graph` on the managed server; it is called before the stop
    (to check the target) and after the restart (schema and sync state).
    """
    started = time.monotonic()
    summary = SyncSummary(namespace=dataset.namespace, mode="bulk")
    with connect() as graph:
        check_bulk_target(graph, server, graph.settings.uri)
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        summary.phases[name] = now - clock
        clock = now

    folder = server.home.root / "import" / f"bulk-{_safe(dataset.namespace)}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    scan, triples = scan_and_write_triples(dataset, folder, progress)
    phase("validate" if triples is None else "validate + triples CSV")
    summary.skipped = list(dataset.errors.problems)
    summary.duplicate_triples = len(scan.duplicate_positions)
    summary.triples_by_split = dict(scan.splits)
    dataset.errors = InputErrors(policy="skip")  # pass 2 re-reads the files; bad lines were reported once
    fingerprint = dataset.fingerprint()
    arguments = write_import_files(dataset, scan, folder, image_store=ImageStore(image_store) if image_store
                                   else None, summary=summary, triple_batch_size=triple_batch_size,
                                   progress=progress, triples=triples)
    phase("write CSV")
    report = folder / "import.report"
    log_path = folder / "import.log"
    server.stop(echo=echo)
    phase("stop server")
    try:
        echo(f"Building the database with neo4j-admin database import full (log: {log_path}) ...")
        with log_path.open("w") as log:
            result = server.admin("database", "import", "full", DATABASE, "--overwrite-destination=true",
                                  "--bad-tolerance=0", "--id-type=integer", *_importer_memory(),
                                  f"--report-file={report}", *arguments, log=log)
        phase("neo4j-admin import")
    finally:
        server.start(echo=echo)
        phase("start server")
    if result.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise BulkError(f"neo4j-admin database import failed (exit {result.returncode}):\n{tail}",
                        hint=f"The input files are in {folder}; the full log is {log_path}.")
    with connect() as graph:
        apply_schema_at_once(graph)
        phase("schema")
        summary.generation = claim_generation(graph)  # BULK_GENERATION: the counter's first step
        _mark_started(graph, dataset, fingerprint, triple_batch_size, summary.generation)
        _mark_complete(graph, dataset.namespace, summary.triples_created)
    phase("sync state")
    summary.seconds = time.monotonic() - started
    return summary


def _importer_memory() -> list[str]:
    """``--max-off-heap-memory``: half of what the OS can hand out now (``MemAvailable``: reclaimable page
    cache counts), at most :data:`IMPORTER_MEMORY_CAP` (the importer estimated 0.5 GiB for 10M triples;
    other processes keep the rest). The importer's own default is 90% of *unused* memory, which on a
    machine whose RAM is mostly file cache leaves it a few hundred MiB (724 MiB, seen at 3M triples),
    and its relationship linking then crawls."""
    try:
        with open("/proc/meminfo") as meminfo:
            available_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return []  # not Linux: the importer's default
    return [f"--max-off-heap-memory={min(available_kib // 2 * 1024, IMPORTER_MEMORY_CAP)}"]


def apply_schema_at_once(graph: Graph) -> None:
    """The schema's statements in one transaction, so Neo4j fills the new indexes of the imported store in
    one scan rather than one each; then :func:`apply_schema` (creating nothing more) waits for them."""
    from neo4j.exceptions import Neo4jError

    statements = split_statements(read_cypher(SCHEMA_FILE))
    try:
        graph.execute_write(lambda tx: [tx.run(statement).consume() for statement in statements])
    except Neo4jError:
        pass  # apply_schema creates them one at a time
    apply_schema(graph)


def _safe(namespace: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in namespace) or "dataset"

