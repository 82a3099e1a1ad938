"""Entity vectors into Neo4j: one property and one vector index per model version.

A model name (``default``, ``movies``) has versions. Version ``n`` writes its vectors
into ``embedding_<model>_v<n>`` on the ``:Entity`` nodes, builds the vector index
``kgstore_<model>_v<n>`` and waits until it is ONLINE; only then does the
``(:KgModel {id: <model>})`` node switch to it, in one transaction. Readers that go
through the ``KgModel`` node (``kgstore nearest``, ``cypher/queries/nearest.cypher``,
``kgstore.nearest``) therefore see the old version or the new one, never a mix. The
previous version's property and index are removed afterwards. A write-back that fails or
is interrupted (Ctrl-C) removes what it had written, and of two write-backs of one model
that overlap, the higher version number stays current whichever ends last.

A model trained with modalities also gets, in the same version, the *modality vectors* of
the entities that have a text or an image: the alignment head's vector of their own text
(``embedding_<model>_v<n>_text``, index ``kgstore_<model>_v<n>_text``) or image (``_image``).
A text query goes through that same head, so searching the text index compares it with
the entities' texts in the shared space, and the image index answers "which entity's
picture fits this text or this image" (``kgstore nearest --text/--image``, ``--search``).

**Leases and orphaned versions.** A process killed with SIGKILL (or a lost machine) cannot
remove what it wrote, so every version that is not current is guarded by a *lease*: a
``(:KgWriteLease {model, version, holder, purpose, expires_at})`` node. A write-back
creates its lease in the same transaction that claims the version number, renews it from a
background thread every ``lease_ttl / LEASE_RENEWALS`` seconds (``expires_at`` is the
server's ``datetime()`` plus ``lease_ttl``, so client clocks do not matter), and deletes it
in the transaction that makes the version current. :func:`collect_orphans` (run after
every write-back, and by ``kgstore models gc``) finds the versions a model has in the
database itself: vector indexes named ``kgstore_<model>_v<n>[_<modality>]`` and ``:Entity``
properties named ``embedding_<model>_v<n>[_<modality>]`` that still have values. A version
that is not current and has no live lease is an orphan: in one transaction under the
``KgModel`` node's lock, the collector deletes expired leases and takes a ``drop`` lease on
each orphan (so two collectors never drop the same version), then drops its indexes and
removes its properties in batches. A write-back whose lease was collected (its process
stalled longer than ``lease_ttl``) notices at its next batch or at the switch, which checks
the lease under the same lock, and fails without becoming current.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kgstore.cypher_files import quote_identifier
from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.graph_names import (
    ENTITY,
    KG_MODEL,
    LEASE_EXPIRES_AT,
    LEASE_HOLDER,
    LEASE_MODEL,
    LEASE_PURPOSE,
    LEASE_VERSION,
    MODEL_DIMENSION,
    MODEL_ID,
    MODEL_INDEX,
    MODEL_LATEST_VERSION,
    MODEL_META_PREFIX,
    MODEL_MODALITY_VECTORS,
    MODEL_PROPERTY,
    MODEL_SIMILARITY,
    MODEL_VECTORS,
    MODEL_VERSION,
    MODEL_WRITTEN_AT,
    SEARCH_WIDTH,
    VECTOR_INDEX_PREFIX,
    VECTOR_PROPERTY_PREFIX,
    WRITE_LEASE,
)
from kgstore.vector_query import nearest_nodes_query

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
SIMILARITIES = ("cosine", "euclidean")
WRITE_BATCH = 10_000
DROP_BATCH = 10_000  # properties removed per transaction when a version is dropped
INDEX_WAIT_S = 4 * 3600  # HNSW population of 1M vectors takes well over 10 minutes on 2 cores
INDEX_POLL_S = 2.0  # the longest wait between two looks at a populating index
INDEX_FIRST_POLL_S = 0.05  # the first wait: a small graph's index is ONLINE within a second; waits double
ENTITIES = "entities"  # the search space of the entity vectors themselves; the others are modalities

WRITING, DROPPING = "write", "drop"
LEASE_TTL_S = 30.0  # a lease not renewed for this long is expired and its version an orphan
LEASE_RENEWALS = 6  # renewals per lease_ttl (every 5 s by default): a lease outlives 5 missed ones


@dataclass(frozen=True)
class ModelVersion:
    """Where one model version's vectors live."""

    model: str
    version: int
    dimension: int
    similarity: str
    modalities: tuple[str, ...] = ()  # which modality vectors this version has (see the module docstring)

    @property
    def property_name(self) -> str:
        return f"{VECTOR_PROPERTY_PREFIX}{self.model}_v{self.version}"

    @property
    def index_name(self) -> str:
        return f"{VECTOR_INDEX_PREFIX}{self.model}_v{self.version}"

    def property_for(self, space: str = ENTITIES) -> str:
        """The property holding the ``space`` vectors (``entities`` or a modality)."""
        return self.property_name if space == ENTITIES else f"{self.property_name}_{space}"

    def index_for(self, space: str = ENTITIES) -> str:
        """The vector index over the ``space`` vectors (``entities`` or a modality)."""
        return self.index_name if space == ENTITIES else f"{self.index_name}_{space}"


@dataclass(frozen=True)
class StoredVersion:
    """One version of a model as the database holds it, whatever the ``KgModel`` node says.

    ``properties`` maps each of its ``:Entity`` property names that still has values to how
    many entities hold one; ``indexes`` are the vector indexes named after the version.
    """

    model: str
    version: int
    properties: dict[str, int] = field(default_factory=dict)
    indexes: tuple[str, ...] = ()

    @property
    def vectors(self) -> int:
        """Vector values the version holds, all spaces together."""
        return sum(self.properties.values())


@dataclass
class WriteBackResult:
    version: ModelVersion
    vectors: int
    seconds: float
    missing_keys: int
    write_seconds: float = 0.0  # the batched property writes alone
    index_seconds: float = 0.0  # creating and awaiting the vector index
    collected: list[StoredVersion] = field(default_factory=list)  # versions dropped after the switch

    @property
    def vectors_per_second(self) -> float:
        return self.vectors / self.seconds if self.seconds else 0.0


def check_model_name(model: str) -> str:
    if not MODEL_NAME.match(model):
        raise KgstoreError(f"model name {model!r} is not allowed",
                           hint="Use a letter followed by letters, digits or _ (at most 63 characters).")
    return model


def check_similarity(similarity: str) -> str:
    if similarity not in SIMILARITIES:
        raise KgstoreError(f"similarity {similarity!r} is not supported",
                           hint=f"Use one of {', '.join(SIMILARITIES)}.")
    return similarity


# What a KgModel node says about its current version, as the columns _version_of reads.
VERSION_COLUMNS = (f"m.{MODEL_VERSION} AS version, m.{MODEL_DIMENSION} AS dimension, "
                   f"m.{MODEL_SIMILARITY} AS similarity, coalesce(m.{MODEL_MODALITY_VECTORS}, []) AS modalities")


def _version_of(model: str, row: dict[str, Any]) -> ModelVersion | None:
    if row["version"] is None:
        return None
    return ModelVersion(model, int(row["version"]), int(row["dimension"]), row["similarity"],
                        tuple(row["modalities"]))


def current_version(graph: Graph, model: str) -> ModelVersion | None:
    rows = graph.query(f"MATCH (m:{KG_MODEL} {{{MODEL_ID}: $model}}) RETURN {VERSION_COLUMNS}", {"model": model})
    return _version_of(model, rows[0]) if rows else None


# -------------------------------------------------------------------------- leases
_EXPIRES = "datetime() + duration({milliseconds: $ttl_ms})"
_LEASE = f"{WRITE_LEASE} {{{LEASE_MODEL}: $model, {LEASE_VERSION}: $v, {LEASE_HOLDER}: $holder}}"


class Leases:
    """The leases of one holder (a write-back or a collector) and the heartbeat that renews them.

    ``ttl``: seconds a lease stays live without renewal; the heartbeat renews every
    ``ttl / LEASE_RENEWALS`` seconds while it runs (``with leases.heartbeat(): ...``).
    """

    def __init__(self, graph: Graph, *, ttl: float = LEASE_TTL_S) -> None:
        if ttl <= 0:
            raise KgstoreError(f"lease_ttl must be positive, got {ttl}")
        self.graph = graph
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.lost = False  # a renewal found none of this holder's leases: a collector took them
        self._stop = threading.Event()

    @property
    def params(self) -> dict[str, Any]:
        """``$holder`` and ``$ttl_ms`` for the statements that create or renew a lease."""
        return {"holder": self.holder, "ttl_ms": max(1, round(self.ttl * 1000))}

    def renew(self) -> int:
        """Push every lease of this holder ``ttl`` into the future; how many it has."""
        rows = self.graph.query(f"MATCH (l:{WRITE_LEASE} {{{LEASE_HOLDER}: $holder}}) "
                                f"SET l.{LEASE_EXPIRES_AT} = {_EXPIRES} RETURN count(l) AS n", self.params, write=True)
        count = int(rows[0]["n"])
        if count == 0:
            self.lost = True
        return count

    def release(self, model: str | None = None, version: int | None = None) -> None:
        """Delete this holder's lease on ``model`` version ``version`` (all its leases when None)."""
        self.graph.query(f"MATCH (l:{WRITE_LEASE} {{{LEASE_HOLDER}: $holder}}) "
                         f"WHERE ($model IS NULL OR l.{LEASE_MODEL} = $model) "
                         f"AND ($v IS NULL OR l.{LEASE_VERSION} = $v) DELETE l",
                         {"holder": self.holder, "model": model, "v": version}, write=True)

    def check(self, model: str, version: int) -> None:
        """Fail when a collector took this write-back's lease (see the module docstring)."""
        if self.lost:
            raise KgstoreError(
                f"model {model!r}: the lease on version {version} expired and the version was collected as "
                "orphaned while it was being written (this process or the server stalled for longer than "
                f"{self.ttl:.0f} s); nothing of it became current",
                hint="Write it back again; on a slow or busy server raise lease_ttl.")

    @contextmanager
    def heartbeat(self) -> Iterator[Leases]:
        """Renew this holder's leases from a background thread while the block runs."""
        self._stop.clear()
        thread = threading.Thread(target=self._beat, name="kgstore-lease", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / LEASE_RENEWALS):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one; the TTL allows several
                continue


def _release_quietly(leases: Leases, error: BaseException) -> None:
    try:
        leases.release()
    except Exception as cleanup:  # noqa: BLE001 - the caller's own error is the one to raise
        error.add_note(f"kgstore could not delete its lease ({cleanup}); it expires within {leases.ttl:.0f} s.")


# ---------------------------------------------------------------------- write-back
# One round trip claims the next version number and leases it: the SET reads the property it
# writes, so Cypher takes the node's write lock first and concurrent claims get distinct numbers.
CLAIM = f"""
MERGE (m:{KG_MODEL} {{{MODEL_ID}: $model}})
SET m.{MODEL_LATEST_VERSION} = coalesce(m.{MODEL_LATEST_VERSION}, 0) + 1
CREATE (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model, {LEASE_VERSION}: m.{MODEL_LATEST_VERSION}, {LEASE_HOLDER}: $holder,
                          {LEASE_PURPOSE}: '{WRITING}', {LEASE_EXPIRES_AT}: {_EXPIRES}}})
RETURN m.{MODEL_LATEST_VERSION} AS v
"""


def write_vectors(
    graph: Graph,
    model: str,
    keys: Sequence[str],
    vectors: Any,
    *,
    similarity: str = "cosine",
    metadata: dict[str, Any] | None = None,
    batch_size: int = WRITE_BATCH,
    on_batch: Callable[[int], None] | None = None,
    index_timeout: float = INDEX_WAIT_S,
    modality_vectors: dict[str, tuple[Sequence[str], Any]] | None = None,
    lease_ttl: float = LEASE_TTL_S,
) -> WriteBackResult:
    """Write ``vectors[i]`` to the entity keyed ``keys[i]`` as a new version of ``model``.

    ``vectors`` is a float array ``[len(keys), dim]`` (numpy or nested lists).
    ``metadata`` (training config, metrics summary, checkpoint path) is kept on the
    ``KgModel`` node as ``meta_*`` properties. ``modality_vectors`` maps a modality
    (``text``, ``image``) to ``(keys, vectors)`` of the entities that have it, written with
    their own index in the same version (see the module docstring). ``lease_ttl``: how long
    the version's lease outlives this process's last heartbeat (see the module docstring).
    After the switch, the model's versions that are neither current nor leased (the one
    replaced, and any left by killed write-backs) are dropped (``result.collected``).
    """
    check_model_name(model)
    check_similarity(similarity)
    spaces = {ENTITIES: (list(keys), _checked_matrix(keys, vectors, ENTITIES))}
    for modality, (modality_keys, modality_matrix) in (modality_vectors or {}).items():
        if modality == ENTITIES or not MODEL_NAME.match(modality):
            raise KgstoreError(f"modality vectors named {modality!r}: expected a modality such as text or image")
        spaces[modality] = (list(modality_keys), _checked_matrix(modality_keys, modality_matrix, modality))
    dimension = int(spaces[ENTITIES][1].shape[1])

    started = time.monotonic()
    leases = Leases(graph, ttl=lease_ttl)
    claimed = graph.query(CLAIM, {"model": model, **leases.params}, write=True)
    version = ModelVersion(model, int(claimed[0]["v"]), dimension, similarity,
                           tuple(space for space in spaces if space != ENTITIES))
    with leases.heartbeat():
        try:
            written = _write_spaces(graph, version, spaces, batch_size, on_batch,
                                    between_batches=partial(leases.check, model, version.version))
            write_done = time.monotonic()
            for space, (_, matrix) in spaces.items():
                graph.query(
                    f"CREATE VECTOR INDEX {quote_identifier(version.index_for(space))} IF NOT EXISTS "
                    f"FOR (e:{ENTITY}) ON (e.{quote_identifier(version.property_for(space))}) "
                    "OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: $sim}}",
                    {"dim": int(matrix.shape[1]), "sim": similarity}, write=True)
            for space in spaces:
                await_online(graph, version.index_for(space), timeout=index_timeout)
            index_done = time.monotonic()
            meta = {f"{MODEL_META_PREFIX}{k}": v for k, v in (metadata or {}).items() if v is not None}
            leased, replaced = _switch(graph, version, written[ENTITIES], meta, leases)
            if not leased:
                leases.lost = True
                leases.check(model, version.version)
        except BaseException as error:  # Ctrl-C included: readers never saw this version, so nothing of it stays
            _discard(graph, version, error)
            _release_quietly(leases, error)
            raise
        if replaced is not None and replaced.version > version.version:
            try:
                drop_version(graph, version)
            finally:
                leases.release()
            raise KgstoreError(f"model {model!r}: version {replaced.version} was written while version "
                               f"{version.version} was being written; the newer one stays and this one was "
                               "discarded",
                               hint="Two write-backs of one model ran at once; give them different --model names.")
    try:
        collected = collect_orphans(graph, model, lease_ttl=lease_ttl)
    except Exception as error:
        raise KgstoreError(f"model {model!r}: version {version.version} is current, but removing its older "
                           f"versions failed: {error}",
                           hint="Run `kgstore models gc` to remove them.") from error
    return WriteBackResult(version, written[ENTITIES], time.monotonic() - started, len(keys) - written[ENTITIES],
                           write_seconds=write_done - started, index_seconds=index_done - write_done,
                           collected=collected)


def _write_spaces(graph: Graph, version: ModelVersion, spaces: dict[str, tuple[list[str], Any]], batch_size: int,
                  on_batch: Callable[[int], None] | None,
                  between_batches: Callable[[], None] | None = None) -> dict[str, int]:
    """Write every space's vectors into ``version``'s properties; how many entities each reached."""
    # With the kgstore plugin, a batch travels as one float32 blob plus its keys and one
    # procedure call writes it (an index lookup and a property write per vector); without
    # it, as rows of float lists through db.create.setNodeVectorProperty (any Neo4j 5.x).
    bulk = graph.has_procedure("kgstore.writeVectors")
    return {space: _write_property(graph, version.property_for(space), space_keys, matrix, batch_size,
                                   on_batch if space == ENTITIES else None, bulk=bulk,
                                   between_batches=between_batches)
            for space, (space_keys, matrix) in spaces.items()}


# The switch to a new version, in one transaction under the KgModel node's write lock (taken
# by the first SET, which reads what it writes), so that what it reads as the current version
# cannot change before it commits: of two write-backs of one model that end together, the
# higher version number stays current whatever the order they finish in. It switches only
# while the write-back still holds its lease (a collector takes leases under the same lock),
# and deletes the lease: a current version needs none.
SWITCH = f"""
MATCH (m:{KG_MODEL} {{{MODEL_ID}: $model}})
SET m.{MODEL_LATEST_VERSION} = m.{MODEL_LATEST_VERSION}
WITH m, {VERSION_COLUMNS}
OPTIONAL MATCH (l:{_LEASE})
WITH m, version, dimension, similarity, modalities, l, l IS NOT NULL AS leased
CALL (m, version, l, leased) {{
  WITH m, version, l, leased WHERE leased AND (version IS NULL OR version < $v)
  SET m.{MODEL_VERSION} = $v, m.{MODEL_PROPERTY} = $property, m.{MODEL_INDEX} = $index,
      m.{MODEL_DIMENSION} = $dim, m.{MODEL_SIMILARITY} = $sim, m.{MODEL_VECTORS} = $n,
      m.{MODEL_MODALITY_VECTORS} = $modalities, m.{MODEL_WRITTEN_AT} = datetime(), m += $meta
  DELETE l
}}
RETURN leased, version, dimension, similarity, modalities
"""


def _switch(graph: Graph, version: ModelVersion, vectors: int, meta: dict[str, Any],
            leases: Leases) -> tuple[bool, ModelVersion | None]:
    """Make ``version`` current unless a newer one already is or its lease is gone:
    ``(still leased, the version that was current)``."""
    rows = graph.query(SWITCH, {
        "model": version.model, "v": version.version, "property": version.property_name,
        "index": version.index_name, "dim": version.dimension, "sim": version.similarity, "n": vectors,
        "modalities": list(version.modalities), "meta": meta, "holder": leases.holder}, write=True)
    if not rows:  # the KgModel node itself is gone (`kgstore models drop`)
        return False, None
    return bool(rows[0]["leased"]), _version_of(version.model, rows[0])


def _discard(graph: Graph, version: ModelVersion, error: BaseException) -> None:
    """Remove what a failed write-back of ``version`` wrote, so no half-written version stays behind."""
    try:
        drop_version(graph, version)
    except Exception as cleanup:  # noqa: BLE001 - the write-back's own error is the one to raise
        error.add_note(f"kgstore could not remove the unfinished version {version.version} of model "
                       f"{version.model!r} ({cleanup}); `kgstore models gc` removes it once its lease expires.")


def _checked_matrix(keys: Sequence[str], vectors: Any, space: str) -> Any:
    """``vectors`` as a C-contiguous little-endian float32 ``[len(keys), dim]`` array, or a clear error."""
    import numpy as np

    matrix = np.ascontiguousarray(np.asarray(vectors, dtype="<f4"))
    what = "" if space == ENTITIES else f" ({space} vectors)"
    if matrix.ndim != 2 or matrix.shape[0] != len(keys):
        raise KgstoreError(f"{len(keys)} keys but {matrix.shape[0] if matrix.ndim else 0} vectors{what}"
                           + ("" if matrix.ndim == 2 else f" (expected a 2-d array, got {matrix.ndim}-d)"))
    if not np.isfinite(matrix).all():
        raise KgstoreError(f"vectors{what} contain NaN or infinite values: the model diverged; nothing was written")
    if not 1 <= matrix.shape[1] <= 4096:
        raise KgstoreError(f"vector dimension {matrix.shape[1]}{what} is outside Neo4j's 1..4096")
    return matrix


def _write_property(graph: Graph, property_name: str, keys: Sequence[str], matrix: Any, batch_size: int,
                    on_batch: Callable[[int], None] | None, *, bulk: bool,
                    between_batches: Callable[[], None] | None = None) -> int:
    """Set ``matrix[i]`` as ``property_name`` of the entity keyed ``keys[i]``; how many were found.

    ``bulk``: the server has ``kgstore.writeVectors`` (else plain Cypher). ``between_batches``
    runs after each committed batch and may raise to stop the write."""
    dimension = int(matrix.shape[1])
    if bulk:
        statement = ("CALL kgstore.writeVectors($property, $keys, $vectors, $dim) YIELD written "
                     "RETURN written")
    else:
        statement = (f"UNWIND $rows AS row MATCH (e:{ENTITY} {{key: row.key}}) "
                     "CALL db.create.setNodeVectorProperty(e, $property, row.vector) "
                     "RETURN count(e) AS written")

    def work(tx: Any, parameters: dict[str, Any]) -> int:
        return tx.run(statement, parameters, property=property_name).single()["written"]

    def batches() -> Iterator[tuple[dict[str, Any]]]:
        for start in range(0, len(keys), batch_size):
            chunk = matrix[start:start + batch_size]
            batch_keys = list(keys[start:start + batch_size])
            if bulk:
                yield ({"keys": batch_keys, "vectors": chunk.tobytes(), "dim": dimension},)
            else:
                yield ({"rows": [{"key": k, "vector": v} for k, v in zip(batch_keys, chunk.tolist(),
                                                                          strict=True)]},)

    written = 0
    for count in graph.write_concurrently(work, batches()):  # batches hold distinct keys
        written += count
        if between_batches is not None:
            between_batches()
        if on_batch is not None:
            on_batch(count)
    return written


def await_online(graph: Graph, index: str, *, timeout: float = INDEX_WAIT_S) -> None:
    """Wait until ``index`` is ONLINE, polling its state (a FAILED index is an error at once).

    Polling rather than ``db.awaitIndex`` keeps each query short, so no procedure or
    transaction timeout of the server cuts a long population (a million vectors) short.
    """
    deadline = time.monotonic() + timeout
    wait = INDEX_FIRST_POLL_S
    while True:
        rows = graph.query("SHOW INDEXES YIELD name, state, populationPercent, failureMessage "
                           "WHERE name = $name RETURN state, populationPercent AS done, failureMessage AS why",
                           {"name": index})
        if not rows:
            raise KgstoreError(f"vector index {index} disappeared while it was being built")
        state = rows[0]["state"]
        if state == "ONLINE":
            return
        if state == "FAILED":
            raise KgstoreError(f"vector index {index} failed: {rows[0]['why']}")
        if time.monotonic() > deadline:
            raise KgstoreError(f"vector index {index} is still {state} ({rows[0]['done']:.0f}% populated) after "
                               f"{timeout:.0f} s", hint="It keeps building in Neo4j: check with `kgstore status`.")
        time.sleep(wait)
        wait = min(2 * wait, INDEX_POLL_S)


def drop_version(graph: Graph, version: ModelVersion) -> None:
    """Remove one version's indexes and properties (the KgModel node no longer points at them)."""
    spaces = (ENTITIES, *version.modalities)
    drop_vectors(graph, [version.property_for(space) for space in spaces],
                 [version.index_for(space) for space in spaces])


def drop_vectors(graph: Graph, properties: Collection[str], indexes: Collection[str] = (), *,
                 batch_size: int = DROP_BATCH) -> int:
    """Drop ``indexes`` and remove ``properties`` from every ``:Entity``, ``batch_size`` nodes per
    transaction (a million large vectors never sit in one transaction); how many values went.

    Idempotent: a second run (or a concurrent one) finds nothing more to remove.
    """
    from neo4j.exceptions import TransientError

    for index in indexes:
        graph.query(f"DROP INDEX {quote_identifier(index)} IF EXISTS", write=True)
    if not properties:
        return 0
    quoted = [f"e.{quote_identifier(name)}" for name in properties]
    statement = (f"MATCH (e:{ENTITY}) WHERE {' OR '.join(f'{q} IS NOT NULL' for q in quoted)} "
                 f"CALL (e) {{ REMOVE {', '.join(quoted)} }} IN TRANSACTIONS OF {int(batch_size)} ROWS")
    removed = 0
    for attempt in range(5):  # a deadlock with a concurrent writer of the same nodes fails the whole statement
        try:
            with graph.session() as session:
                removed += session.run(statement).consume().counters.properties_set
            return removed
        except TransientError:
            if attempt == 4:
                raise
            time.sleep(0.2 * 2 ** attempt)
    return removed


# ---------------------------------------------------------------- orphaned versions
def _name_pattern(prefix: str, model: str) -> re.Pattern[str]:
    return re.compile(re.escape(f"{prefix}{model}_v") + r"(\d+)(?:_([A-Za-z][A-Za-z0-9_]*))?")


def parse_vector_name(name: str, prefix: str, models: Iterable[str]) -> tuple[str, int] | None:
    """``(model, version)`` of a property (``prefix`` ``embedding_``) or index (``kgstore_``) name
    ``<prefix><model>_v<n>[_<modality>]``, None when it names no version of ``models``.

    Model names may contain ``_v<digits>`` themselves (``a`` and ``a_v2``), so the longest
    model the name fits wins: ``embedding_a_v2_v1`` is version 1 of ``a_v2`` when both exist.
    """
    for model in sorted(models, key=len, reverse=True):
        match = _name_pattern(prefix, model).fullmatch(name)
        if match:
            return model, int(match.group(1))
    return None


def model_names(graph: Graph) -> list[str]:
    """Every model the database knows: ``KgModel`` nodes and models with leases, sorted."""
    rows = graph.query(f"MATCH (m:{KG_MODEL}) RETURN m.{MODEL_ID} AS name UNION "
                       f"MATCH (l:{WRITE_LEASE}) RETURN l.{LEASE_MODEL} AS name")
    return sorted(row["name"] for row in rows if isinstance(row["name"], str))


def stored_versions(graph: Graph, models: Collection[str] | None = None) -> list[StoredVersion]:
    """The versions of ``models`` (all known models when None) that the database holds: vector
    indexes named after them and ``:Entity`` properties that still have values.

    Property names come from ``db.propertyKeys()``, which keeps names whose values are long
    gone, so one scan of the ``:Entity`` nodes counts the values each name still has.
    """
    known = set(model_names(graph))
    wanted = set(known if models is None else models)
    known |= wanted
    properties: dict[str, tuple[str, int]] = {}
    for row in graph.query("CALL db.propertyKeys() YIELD propertyKey WHERE propertyKey STARTS WITH $prefix "
                           "RETURN propertyKey", {"prefix": VECTOR_PROPERTY_PREFIX}):
        owner = parse_vector_name(row["propertyKey"], VECTOR_PROPERTY_PREFIX, known)
        if owner is not None and owner[0] in wanted:
            properties[row["propertyKey"]] = owner
    counts: dict[str, int] = {}
    if properties:
        counts = {row["k"]: int(row["n"]) for row in graph.query(
            f"MATCH (e:{ENTITY}) UNWIND [k IN $names WHERE e[k] IS NOT NULL] AS k RETURN k, count(*) AS n",
            {"names": sorted(properties)})}
    found: dict[tuple[str, int], tuple[dict[str, int], list[str]]] = {}
    for name, owner in properties.items():
        if counts.get(name):
            found.setdefault(owner, ({}, []))[0][name] = counts[name]
    for row in graph.query("SHOW INDEXES YIELD name, type WHERE type = 'VECTOR' AND name STARTS WITH $prefix "
                           "RETURN name", {"prefix": VECTOR_INDEX_PREFIX}):
        owner = parse_vector_name(row["name"], VECTOR_INDEX_PREFIX, known)
        if owner is not None and owner[0] in wanted:
            found.setdefault(owner, ({}, []))[1].append(row["name"])
    return [StoredVersion(model, version, dict(sorted(props.items())), tuple(sorted(indexes)))
            for (model, version), (props, indexes) in sorted(found.items())]


# Under the KgModel node's lock (see SWITCH): delete the model's expired leases, then lease for
# dropping each of $versions that is neither current, nor claimed after the caller looked
# (above latest_version), nor leased by a live holder; return those.
CLAIM_ORPHANS = f"""
MATCH (m:{KG_MODEL} {{{MODEL_ID}: $model}})
SET m.{MODEL_LATEST_VERSION} = m.{MODEL_LATEST_VERSION}
WITH m
OPTIONAL MATCH (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model}})
WITH m, collect(l) AS leases
WITH m, [l IN leases WHERE l.{LEASE_EXPIRES_AT} <= datetime()] AS expired,
     [l IN leases WHERE l.{LEASE_EXPIRES_AT} > datetime() | l.{LEASE_VERSION}] AS busy
FOREACH (l IN expired | DELETE l)
WITH m, [v IN $versions WHERE v <= coalesce(m.{MODEL_LATEST_VERSION}, m.{MODEL_VERSION}, 0)
         AND v <> coalesce(m.{MODEL_VERSION}, -1) AND NOT v IN busy] AS orphans
FOREACH (v IN orphans | CREATE (:{WRITE_LEASE} {{{LEASE_MODEL}: $model, {LEASE_VERSION}: v, {LEASE_HOLDER}: $holder,
                                               {LEASE_PURPOSE}: '{DROPPING}', {LEASE_EXPIRES_AT}: {_EXPIRES}}}))
RETURN orphans
"""


def collect_orphans(graph: Graph, model: str | None = None, *, lease_ttl: float = LEASE_TTL_S,
                    batch_size: int = DROP_BATCH) -> list[StoredVersion]:
    """Drop the versions of ``model`` (every model when None) that are neither current nor
    leased by a live write-back: their vector indexes and, ``batch_size`` entities per
    transaction, their properties. Returns what was dropped (see the module docstring).
    """
    models = [check_model_name(model)] if model is not None else model_names(graph)
    by_model: dict[str, dict[int, StoredVersion]] = {}
    for stored in stored_versions(graph, models):
        by_model.setdefault(stored.model, {})[stored.version] = stored
    collected: list[StoredVersion] = []
    leases = Leases(graph, ttl=lease_ttl)
    with leases.heartbeat():
        try:
            for name in models:
                candidates = by_model.get(name, {})
                rows = graph.query(CLAIM_ORPHANS, {"model": name, "versions": sorted(candidates), **leases.params},
                                   write=True)
                for version in rows[0]["orphans"] if rows else []:
                    stored = candidates[version]
                    drop_vectors(graph, stored.properties, stored.indexes, batch_size=batch_size)
                    leases.release(name, version)
                    collected.append(stored)
        except BaseException as error:
            _release_quietly(leases, error)
            raise
    # Leases of models whose KgModel node is gone: nothing above looked at them.
    graph.query(f"MATCH (l:{WRITE_LEASE}) WHERE l.{LEASE_EXPIRES_AT} <= datetime() "
                f"AND NOT EXISTS {{ MATCH (:{KG_MODEL} {{{MODEL_ID}: l.{LEASE_MODEL}}}) }} DELETE l", write=True)
    return collected


def require_space(version: ModelVersion | None, model: str, space: str = ENTITIES) -> ModelVersion:
    """``version`` (``model``'s current one, None if it has none), which must have ``space``
    vectors; a clear error otherwise. No I/O: callers check before encoding a query."""
    if version is None:
        raise KgstoreError(f"no vectors for model {model!r} in this database",
                           hint="Train and write back first: `kgstore train` (or `kgstore write-back CKPT`).")
    if space != ENTITIES and space not in version.modalities:
        have = ", ".join((ENTITIES, *version.modalities))
        raise KgstoreError(f"model {model!r} (version {version.version}) has no {space} vectors in this database "
                           f"(it has: {have})",
                           hint=f"Train it with `kgstore train --modalities {space}` to search its {space} vectors.")
    return version


def nearest(graph: Graph, model: str, *, key: str | None = None, vector: Sequence[float] | None = None,
            k: int = 10, space: str = ENTITIES, version: ModelVersion | None = None) -> list[dict[str, Any]]:
    """The ``k`` entities nearest to ``key`` (itself excluded) or to ``vector``, via the vector index.

    ``space`` is what is searched: ``entities`` (the entity vectors) or a modality the
    model version has vectors for (``text``, ``image``; see the module docstring). A
    ``key`` is looked up in the same space (an entity's text vector, say). ``version``: the
    model's current version when the caller already read it (saves the lookup).
    """
    version = require_space(version or current_version(graph, model), model, space)
    if k < 1:
        raise KgstoreError(f"k must be at least 1, got {k}")
    if key is not None:
        rows = graph.query(f"MATCH (e:Entity {{key: $key}}) RETURN e.{quote_identifier(version.property_for(space))} "
                           "AS v", {"key": key})
        if not rows:
            raise KgstoreError(f"no entity with key {key!r}",
                               hint="Keys look like `<dataset>:<id>`, e.g. `fb15k-237:/m/027rn`.")
        if rows[0]["v"] is None:
            what = "vector" if space == ENTITIES else f"{space} vector (it has no {space})"
            raise KgstoreError(f"entity {key!r} has no {what} in model {model!r} (version {version.version})")
        vector = rows[0]["v"]
    if vector is None:
        raise KgstoreError("give a key or a vector")
    results = graph.query(
        nearest_nodes_query(graph, version.index_for(space)) + " "
        "WHERE node.key <> coalesce($key, '') "
        "RETURN node.key AS key, node.name AS name, score ORDER BY score DESC LIMIT $limit",
        {"index": version.index_for(space), "k": max(k + (1 if key else 0), SEARCH_WIDTH), "vector": list(vector),
         "key": key, "limit": k})
    return results
