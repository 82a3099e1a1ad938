"""``kgstore sync``: write a dataset's records into Neo4j, exactly once.

The write is done in two passes over the input:

1. **Validate.** Every stream is read once and every image decoded. With
   ``on_error="fail"`` the first bad line raises :class:`BadInputError` before anything
   is written, so bad input never leaves a half-imported graph. The pass also counts
   (for progress bars) and finds repeated triples.
2. **Write**, in batched UNWIND transactions through :meth:`Graph.unwind`:
   entities (``MERGE`` on the namespaced key; only new or changed ones are written),
   relation texts, triples, images.

Triples are the bulk. Relationship types come from data, so they are passed as values
with Cypher's dynamic types (``CREATE (h)-[:$(row.r)]->(t)``) and never spliced into
the query text. A ``(:KgSync {namespace})`` node records the input's fingerprint and how
many triples are committed, updated in the same transaction as each batch. That makes
the common cases fast and exact:

- *fresh* (nothing of this namespace yet) and *resume* (same input, killed half-way):
  plain ``CREATE`` from the first uncommitted triple;
- *verify* (already complete, or different input): each batch first reads which
  triples exist and creates only the missing ones (and updates the ``split`` and
  properties of those the input changed), so a second run changes nothing.

**Sync generations.** Each run claims the next value of one counter in the graph
(``(:KgSyncCounter {name: "sync"})``, :func:`claim_generation`) and stamps it as
``sync_gen`` on every entity it creates or changes (a new image link counts), on every
fact it creates or changes, and on its ``KgSync`` node. Where the head of such a fact
was not itself new in this run, the head gets ``facts_sync_gen`` too. Both entity
properties are indexed, so the snapshot export (:mod:`trainer.export`) finds what changed
since its snapshot's watermark without a scan: the incremental re-export.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgstore.driver import DEFAULT_BATCH_SIZE, Graph, batched
from kgstore.graph_names import FACTS_SYNC_GEN, HAS_IMAGE, SYNC_COUNTER, SYNC_COUNTER_ID, SYNC_COUNTER_NAME, SYNC_GEN
from kgstore.image_store import ImageStore, NotAnImage, inspect_image
from kgstore.importers.base import Dataset
from kgstore.importers.input_errors import InputErrors, InputProblem
from kgstore.importers.records import SPLITS, EntityRecord, TripleRecord
from kgstore.schema import apply_schema

TRIPLE_BATCH_SIZE = 10_000

ProgressHook = Callable[[str, int], Callable[[int], None]]
"""``hook(phase, total)`` returns ``advance(n)``; the CLI plugs a rich progress bar in."""


@dataclass
class SyncSummary:
    """What a sync did; ``changed`` is False when the database was already up to date."""

    namespace: str
    mode: str = "fresh"
    entities_created: int = 0
    entities_updated: int = 0
    entities_unchanged: int = 0
    relations_written: int = 0
    triples_created: int = 0
    triples_existing: int = 0  # already there (those whose split or properties changed included)
    triples_updated: int = 0  # existing triples whose split or properties the input changed
    triples_resumed: int = 0
    duplicate_triples: int = 0
    images_linked: int = 0
    images_stored: int = 0
    images_existing: int = 0
    skipped: list[InputProblem] = field(default_factory=list)
    seconds: float = 0.0
    triples_by_split: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (the bulk path's)
    generation: int = 0  # the sync generation this run claimed (and stamped on what it wrote)

    @property
    def changed(self) -> bool:
        return bool(self.entities_created or self.entities_updated or self.triples_created
                    or self.triples_updated or self.images_linked or self.relations_written)

    @property
    def triples_total(self) -> int:
        return self.triples_created + self.triples_existing + self.triples_resumed

    @property
    def triples_per_second(self) -> float:
        return self.triples_total / self.seconds if self.seconds else 0.0


# --------------------------------------------------------------------------- keys
def entity_key(namespace: str, local_id: str) -> str:
    """The database-wide key of an entity: datasets never collide inside one database."""
    return f"{namespace}:{local_id}"


def _triple_digest(head: str, relation: str, tail: str) -> bytes:
    return hashlib.blake2b(f"{head}\0{relation}\0{tail}".encode(), digest_size=8).digest()


# ------------------------------------------------------------------------ pass 1
@dataclass
class _Scan:
    entity_ids: set[str] = field(default_factory=set)
    triples: int = 0
    duplicate_positions: set[int] = field(default_factory=set)
    images: list[tuple[str, Path, Any]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    # property name -> Python types of its values (the bulk path's CSV headers need them up front)
    entity_properties: dict[str, set[type]] = field(default_factory=dict)
    triple_properties: dict[str, set[type]] = field(default_factory=dict)


def _note_types(seen: dict[str, set[type]], properties: dict[str, Any]) -> None:
    for name, value in properties.items():
        if value is not None:
            seen.setdefault(name, set()).add(type(value))


def _scan(dataset: Dataset, advance: Callable[[int], None],
          on_triple: Callable[[TripleRecord], None] | None = None, *, read_triples: bool = True) -> _Scan:
    """Read everything once: validates, counts, and finds repeated triples.

    ``on_triple`` sees each triple's first occurrence as it is read (the bulk path writes its
    CSV in this same pass rather than parsing the files a second time). ``read_triples=False``
    leaves the triples out (the bulk path has read them as columns, :mod:`kgstore.bulk_triples`).
    """
    scan = _Scan()
    for entity in dataset.entities():
        scan.entity_ids.add(entity.id)
        _note_types(scan.entity_properties, entity.properties)
    for _ in dataset.relations():  # read once so a bad relation file fails before any write
        pass
    seen: set[bytes] = set()
    for position, triple in enumerate(dataset.triples() if read_triples else ()):
        if triple.split is not None and triple.split not in SPLITS:
            dataset.errors.report(dataset.root, None, f"triple split {triple.split!r} is not one of {SPLITS}")
        digest = _triple_digest(triple.head, triple.relation, triple.tail)
        if digest in seen:
            scan.duplicate_positions.add(position)
        else:
            seen.add(digest)
            if on_triple is not None:
                on_triple(triple)
        scan.entity_ids.add(triple.head)
        scan.entity_ids.add(triple.tail)
        if triple.properties:
            _note_types(scan.triple_properties, triple.properties)
        scan.triples += 1
        split = triple.split or "train"
        scan.splits[split] = scan.splits.get(split, 0) + 1
        if scan.triples % 10_000 == 0:
            advance(10_000)
    advance(scan.triples % 10_000)
    for image in dataset.images():
        try:
            info = inspect_image(image.path)
        except NotAnImage as exc:
            dataset.errors.report(image.path, None, str(exc))
            continue
        scan.entity_ids.add(image.entity)
        scan.images.append((image.entity, image.path, info))
    return scan


# ------------------------------------------------------------------------ pass 2
_READ_ENTITIES = """
UNWIND $keys AS key
MATCH (e:Entity {key: key})
RETURN key, properties(e) AS props, labels(e) AS labels
"""

_WRITE_ENTITIES = f"""
UNWIND $rows AS row
MERGE (e:Entity {{key: row.key}})
SET e += row.props, e.{SYNC_GEN} = $gen
SET e:$(row.labels)
"""


def _entity_rows(dataset: Dataset, scan: _Scan) -> Iterator[dict[str, Any]]:
    """One row per entity: attributed ones first, then ids known only from triples/images."""
    ns = dataset.namespace
    attributed: set[str] = set()
    for entity in dataset.entities():
        if entity.id in attributed:
            continue  # the first record of an id wins, as in the scan
        attributed.add(entity.id)
        yield _entity_row(ns, entity)
    for local_id in sorted(scan.entity_ids - attributed):
        yield _entity_row(ns, EntityRecord(local_id))


def _entity_row(namespace: str, entity: EntityRecord) -> dict[str, Any]:
    props: dict[str, Any] = {"id": entity.id, "dataset": namespace}
    if entity.name is not None:
        props["name"] = entity.name
    if entity.description is not None:
        props["description"] = entity.description
    for name, value in entity.properties.items():
        if value is not None:
            props[name] = value
    return {"key": entity_key(namespace, entity.id), "props": props, "labels": list(entity.labels)}


def _write_entities(graph: Graph, rows: Iterable[dict[str, Any]], summary: SyncSummary,
                    batch_size: int, advance: Callable[[int], None], *, generation: int,
                    namespace_empty: bool = False) -> None:
    """Write only new or changed entities, so an unchanged re-run writes nothing at all.

    When the namespace has no entity yet, every row is new: the batches are written
    without first reading what exists (``MERGE`` keeps it correct either way).
    """
    if namespace_empty:
        result = graph.unwind(_WRITE_ENTITIES, rows, batch_size=batch_size, on_batch=advance,
                              parameters={"gen": generation})
        summary.entities_created += result.counters.get("nodes_created", 0)
        summary.entities_updated += result.rows - result.counters.get("nodes_created", 0)
        return
    for batch in batched(rows, batch_size):
        existing = {row["key"]: row for row in
                    graph.query(_READ_ENTITIES, {"keys": [r["key"] for r in batch]})}
        todo = []
        for row in batch:
            old = existing.get(row["key"])
            if old is None:
                summary.entities_created += 1
                todo.append(row)
            elif any(old["props"].get(k) != v for k, v in row["props"].items()) or \
                    not set(row["labels"]) <= set(old["labels"]):
                summary.entities_updated += 1
                todo.append(row)
            else:
                summary.entities_unchanged += 1
        if todo:
            graph.unwind(_WRITE_ENTITIES, todo, batch_size=len(todo), parameters={"gen": generation})
        advance(len(batch))


_WRITE_RELATIONS = """
UNWIND $rows AS row
MERGE (r:KgRelation {key: row.key})
SET r += row.props
"""


def _relation_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """One ``(:KgRelation)`` row per relation text of the dataset."""
    ns = dataset.namespace
    rows = []
    for relation in dataset.relations():
        props = {"name": relation.name, "dataset": ns}
        if relation.label is not None:
            props["label"] = relation.label
        if relation.description is not None:
            props["description"] = relation.description
        rows.append({"key": entity_key(ns, relation.name), "props": props})
    return rows


def _write_relations(graph: Graph, dataset: Dataset, summary: SyncSummary) -> None:
    rows = _relation_rows(dataset)
    if not rows:
        return
    existing = {r["key"]: r["props"] for r in graph.query(
        "UNWIND $keys AS key MATCH (r:KgRelation {key: key}) RETURN key, properties(r) AS props",
        {"keys": [r["key"] for r in rows]})}
    todo = [r for r in rows if existing.get(r["key"]) != r["props"]]
    if todo:
        graph.unwind(_WRITE_RELATIONS, todo)
        summary.relations_written = len(todo)


_CREATE_TRIPLES = """
UNWIND $rows AS row
MATCH (h:Entity {key: row.h})
MATCH (t:Entity {key: row.t})
CREATE (h)-[e:$(row.r)]->(t)
SET e = row.p
"""

# The same through the plugin's kernel-level procedure (about twice as fast), columns not rows.
_CREATE_TRIPLES_BULK = """
CALL kgstore.createTriples($heads, $types, $tails, $properties) YIELD created
RETURN created
"""


def _triple_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``kgstore.createTriples``'s parameters for ``rows``: one list per field and property."""
    names = sorted({name for row in rows for name in row["p"]})
    return {"heads": [row["h"] for row in rows], "types": [row["r"] for row in rows],
            "tails": [row["t"] for row in rows],
            "properties": {name: [row["p"].get(name) for row in rows] for name in names}}


_EXISTING_TRIPLES = """
UNWIND range(0, size($rows) - 1) AS i
WITH i, $rows[i] AS row
MATCH (h:Entity {key: row.h})-[e]->(t:Entity {key: row.t})
WHERE type(e) = row.r
RETURN i, all(k IN keys(row.p) WHERE coalesce(e[k] = row.p[k], false)) AS same
"""

# Existing triples whose split or properties the input changed (`+=`: other properties stay).
_UPDATE_TRIPLES = """
UNWIND $rows AS row
MATCH (h:Entity {key: row.h})-[e]->(t:Entity {key: row.t})
WHERE type(e) = row.r
SET e += row.p
"""

# The heads of facts a generation wrote, where the head itself is older than the generation.
_MARK_HEADS = f"""
UNWIND $heads AS key
MATCH (h:Entity {{key: key}})
SET h.{FACTS_SYNC_GEN} = $gen
"""

# One small node per committed batch (not a list on the KgSync node: concurrent writers
# would all wait for that one node's lock).
_MARK_BATCH = """
CREATE (:KgSyncBatch {namespace: $ns, number: $batch})
"""



def _triple_batches(dataset: Dataset, scan: _Scan, batch_size: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Numbered batches of triple rows; the numbering is stable for the same input and size."""
    ns = dataset.namespace
    rows = (_triple_row(ns, t) for position, t in enumerate(dataset.triples())
            if position not in scan.duplicate_positions)
    yield from enumerate(batched(rows, batch_size))


def _triple_row(namespace: str, triple: TripleRecord) -> dict[str, Any]:
    props = {k: v for k, v in triple.properties.items() if v is not None}
    props["split"] = triple.split or "train"
    return {"h": entity_key(namespace, triple.head), "r": triple.relation,
            "t": entity_key(namespace, triple.tail), "p": props}


def _write_triples(graph: Graph, dataset: Dataset, scan: _Scan, summary: SyncSummary, *,
                   create_blindly: bool, done: set[int], batch_size: int,
                   advance: Callable[[int], None], generation: int, mark_heads: bool) -> None:
    """Write triple batches; each commits together with its number in the sync state.

    ``done`` holds the numbers of batches committed by an earlier, interrupted run with the
    same input: they are skipped. Blind ``CREATE`` batches run on concurrent sessions at
    once (deadlocks between them are retried by the driver), and so do verifying batches.
    Every triple written gets ``sync_gen = generation``; with ``mark_heads`` (the namespace
    had entities before this run, so a head may be older than the generation) the heads of
    the written triples get ``facts_sync_gen`` in the same transaction.
    """
    ns = dataset.namespace
    bulk = graph.has_procedure("kgstore.createTriples")

    def stamped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**row, "p": {**row["p"], SYNC_GEN: generation}} for row in rows]

    def mark(tx: Any, rows: list[dict[str, Any]]) -> None:
        if mark_heads and rows:
            tx.run(_MARK_HEADS, heads=sorted({row["h"] for row in rows}), gen=generation).consume()

    def create_rows(tx: Any, rows: list[dict[str, Any]]) -> int:
        rows = stamped(rows)
        if bulk:
            created = tx.run(_CREATE_TRIPLES_BULK, _triple_columns(rows)).single()["created"]
        else:
            created = tx.run(_CREATE_TRIPLES, rows=rows).consume().counters.relationships_created
        mark(tx, rows)
        return created

    def create(tx: Any, number: int, rows: list[dict[str, Any]]) -> tuple[int, int, int]:
        created = create_rows(tx, rows)
        tx.run(_MARK_BATCH, ns=ns, batch=number).consume()
        return created, 0, 0

    def verify_and_create(tx: Any, number: int, rows: list[dict[str, Any]]) -> tuple[int, int, int]:
        present: dict[int, bool] = {}  # row -> whether an existing relationship already says the same
        for record in tx.run(_EXISTING_TRIPLES, rows=rows):
            present[record["i"]] = present.get(record["i"], False) or record["same"]
        missing = [row for i, row in enumerate(rows) if i not in present]
        changed = stamped([rows[i] for i, same in present.items() if not same])
        created = create_rows(tx, missing) if missing else 0
        if changed:
            tx.run(_UPDATE_TRIPLES, rows=changed).consume()
            mark(tx, changed)
        tx.run(_MARK_BATCH, ns=ns, batch=number).consume()
        return created, len(rows) - len(missing), len(changed)

    work = create if create_blindly else verify_and_create

    def pending() -> Iterator[tuple[int, list[dict[str, Any]]]]:
        for number, rows in _triple_batches(dataset, scan, batch_size):  # streamed: memory stays flat
            if number in done:
                summary.triples_resumed += len(rows)
                continue
            sizes.append(len(rows))
            yield number, rows

    # Batches hold distinct triples (repeats were dropped), so concurrent batches never
    # write the same relationship; deadlocks on shared nodes are retried by the driver.
    sizes: deque[int] = deque()
    for created, existing, updated in graph.write_concurrently(work, pending()):
        size = sizes.popleft()
        if created + existing != size:
            raise RuntimeError(f"{size - created - existing} triples of a batch reference entities "
                               "that do not exist; the entity pass must run first")
        summary.triples_created += created
        summary.triples_existing += existing
        summary.triples_updated += updated
        advance(size)


_LINK_IMAGES = f"""
UNWIND $rows AS row
MATCH (e:Entity {{key: row.key}})
MERGE (i:Image {{sha256: row.sha256}})
  ON CREATE SET i.mime = row.mime, i.width = row.width, i.height = row.height,
                i.bytes = row.bytes, i.uri = row.uri
MERGE (e)-[l:{HAS_IMAGE}]->(i)
  ON CREATE SET l.dataset = $ns, l.source = row.source, e.{SYNC_GEN} = $gen
"""


def _stored_image_rows(dataset: Dataset, scan: _Scan, store: ImageStore, summary: SyncSummary,
                       advance: Callable[[int], None]) -> list[dict[str, Any]]:
    """Put each image in the content-addressed store; one row per (entity, image) link."""
    rows = []
    for local_id, path, info in scan.images:
        stored, new = store.put(path, info)
        summary.images_stored += int(new)
        summary.images_existing += int(not new)
        rows.append({"key": entity_key(dataset.namespace, local_id), "sha256": info.sha256,
                     "mime": info.mime, "width": info.width, "height": info.height,
                     "bytes": info.size, "uri": stored.resolve().as_uri(), "source": path.name})
        advance(1)
    return rows


def _write_images(graph: Graph, dataset: Dataset, scan: _Scan, store: ImageStore,
                  summary: SyncSummary, batch_size: int, advance: Callable[[int], None], generation: int) -> None:
    rows = _stored_image_rows(dataset, scan, store, summary, advance)
    if rows:
        result = graph.unwind(_LINK_IMAGES, rows, batch_size=batch_size,
                              parameters={"ns": dataset.namespace, "gen": generation})
        summary.images_linked = result.counters.get("relationships_created", 0)


# ------------------------------------------------------------------------ sync state
_CLAIM_GENERATION = f"""
MERGE (c:{SYNC_COUNTER} {{name: $name}})
  ON CREATE SET c.{SYNC_COUNTER_ID} = randomUUID()
SET c.value = coalesce(c.value, 0) + 1
RETURN c.value AS generation
"""


def claim_generation(graph: Graph) -> int:
    """The next sync generation (1 for the first sync of a database): one atomic counter step."""
    return graph.query(_CLAIM_GENERATION, {"name": SYNC_COUNTER_NAME}, write=True)[0]["generation"]


def _mark_started(graph: Graph, dataset: Dataset, fingerprint: str, triple_batch_size: int,
                  generation: int) -> None:
    graph.query(
        "MERGE (s:KgSync {namespace: $ns}) "
        "SET s.fingerprint = $fp, s.batch_size = $bs, s.complete = false, s.started_at = datetime(), "
        f"    s.source = $source, s.{SYNC_GEN} = $gen",
        {"ns": dataset.namespace, "fp": fingerprint, "bs": triple_batch_size, "source": str(dataset.root),
         "gen": generation},
        write=True)


def _mark_complete(graph: Graph, namespace: str, triples: int) -> None:
    graph.query("MATCH (s:KgSync {namespace: $ns}) "
                "SET s.complete = true, s.finished_at = datetime(), s.triples = $n "
                "WITH s MATCH (b:KgSyncBatch {namespace: $ns}) DELETE b",
                {"ns": namespace, "n": triples}, write=True)


# ------------------------------------------------------------------------ entry
def _no_progress(_phase: str, _total: int) -> Callable[[int], None]:
    return lambda _n: None


def sync_dataset(
    graph: Graph,
    dataset: Dataset,
    *,
    image_store: Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    triple_batch_size: int = TRIPLE_BATCH_SIZE,
    progress: ProgressHook = _no_progress,
) -> SyncSummary:
    """Import ``dataset`` into ``graph``; safe to repeat and to resume after a kill."""
    started = time.monotonic()
    ns = dataset.namespace
    summary = SyncSummary(namespace=ns)

    scan = _scan(dataset, progress("validating", 0))
    summary.skipped = list(dataset.errors.problems)
    summary.duplicate_triples = len(scan.duplicate_positions)
    summary.triples_by_split = dict(scan.splits)
    # Pass 2 re-reads the files; skipped lines were already reported once.
    dataset.errors = InputErrors(policy="skip")

    apply_schema(graph)
    fingerprint = dataset.fingerprint()
    state = graph.query("MATCH (s:KgSync {namespace: $ns}) RETURN properties(s) AS s", {"ns": ns})
    previous = state[0]["s"] if state else None
    namespace_has_edges = bool(graph.query(
        "MATCH (e:Entity {dataset: $ns})-[r]->(:Entity) RETURN 1 LIMIT 1", {"ns": ns}))
    namespace_empty = not graph.query("MATCH (e:Entity {dataset: $ns}) RETURN 1 LIMIT 1", {"ns": ns})
    same_input = bool(previous) and previous.get("fingerprint") == fingerprint \
        and previous.get("batch_size") == triple_batch_size
    done: set[int] = set()
    if same_input and not previous.get("complete"):  # type: ignore[union-attr]
        summary.mode, create_blindly = "resume", True
        done = {r["n"] for r in graph.query(
            "MATCH (b:KgSyncBatch {namespace: $ns}) RETURN b.number AS n", {"ns": ns})}
    elif previous is None and not namespace_has_edges:
        summary.mode, create_blindly = "fresh", True
    else:
        summary.mode, create_blindly = "verify", False
    if summary.mode != "resume":  # batch numbers of another input or batch size mean nothing now
        graph.query("MATCH (b:KgSyncBatch {namespace: $ns}) DELETE b", {"ns": ns}, write=True)
    summary.generation = generation = claim_generation(graph)
    _mark_started(graph, dataset, fingerprint, triple_batch_size, generation)

    _write_entities(graph, _entity_rows(dataset, scan), summary, batch_size,
                    progress("entities", len(scan.entity_ids)), generation=generation,
                    namespace_empty=namespace_empty)
    _write_relations(graph, dataset, summary)
    # In an empty namespace every head is new in this generation: its own sync_gen says enough.
    _write_triples(graph, dataset, scan, summary, create_blindly=create_blindly, done=done,
                   batch_size=triple_batch_size,
                   advance=progress("triples", scan.triples - len(scan.duplicate_positions)),
                   generation=generation, mark_heads=not namespace_empty)
    if scan.images:
        store = ImageStore(image_store) if image_store else None
        if store is None:
            raise ValueError("the dataset has images: pass image_store (a folder for the image files)")
        _write_images(graph, dataset, scan, store, summary, batch_size,
                      progress("images", len(scan.images)), generation)
    _mark_complete(graph, ns, scan.triples - len(scan.duplicate_positions))
    summary.seconds = time.monotonic() - started
    return summary
