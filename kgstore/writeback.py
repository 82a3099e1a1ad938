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
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kgstore.cypher_files import quote_identifier
from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.graph_names import SEARCH_WIDTH, VECTOR_INDEX_PREFIX, VECTOR_PROPERTY_PREFIX

MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
SIMILARITIES = ("cosine", "euclidean")
WRITE_BATCH = 10_000
INDEX_WAIT_S = 4 * 3600  # HNSW population of 1M vectors takes well over 10 minutes on 2 cores
INDEX_POLL_S = 2.0  # the longest wait between two looks at a populating index
INDEX_FIRST_POLL_S = 0.05  # the first wait: a small graph's index is ONLINE within a second; waits double
ENTITIES = "entities"  # the search space of the entity vectors themselves; the others are modalities


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


@dataclass
class WriteBackResult:
    version: ModelVersion
    vectors: int
    seconds: float
    missing_keys: int
    write_seconds: float = 0.0  # the batched property writes alone
    index_seconds: float = 0.0  # creating and awaiting the vector index

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
VERSION_COLUMNS = ("m.version AS version, m.dimension AS dimension, m.similarity AS similarity, "
                   "coalesce(m.modality_vectors, []) AS modalities")


def _version_of(model: str, row: dict[str, Any]) -> ModelVersion | None:
    if row["version"] is None:
        return None
    return ModelVersion(model, int(row["version"]), int(row["dimension"]), row["similarity"],
                        tuple(row["modalities"]))


def current_version(graph: Graph, model: str) -> ModelVersion | None:
    rows = graph.query(f"MATCH (m:KgModel {{id: $model}}) RETURN {VERSION_COLUMNS}", {"model": model})
    return _version_of(model, rows[0]) if rows else None


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
) -> WriteBackResult:
    """Write ``vectors[i]`` to the entity keyed ``keys[i]`` as a new version of ``model``.

    ``vectors`` is a float array ``[len(keys), dim]`` (numpy or nested lists).
    ``metadata`` (training config, metrics summary, checkpoint path) is kept on the
    ``KgModel`` node as ``meta_*`` properties. ``modality_vectors`` maps a modality
    (``text``, ``image``) to ``(keys, vectors)`` of the entities that have it, written with
    their own index in the same version (see the module docstring).
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
    # One round trip claims the next version number: the SET reads the property it writes,
    # so Cypher takes the node's write lock first and concurrent claims get distinct numbers.
    claimed = graph.query("MERGE (m:KgModel {id: $model}) SET m.latest_version = coalesce(m.latest_version, 0) + 1 "
                          "RETURN m.latest_version AS v", {"model": model}, write=True)
    version = ModelVersion(model, int(claimed[0]["v"]), dimension, similarity,
                           tuple(space for space in spaces if space != ENTITIES))
    try:
        written = _write_spaces(graph, version, spaces, batch_size, on_batch)
        write_done = time.monotonic()
        for space, (_, matrix) in spaces.items():
            graph.query(
                f"CREATE VECTOR INDEX {quote_identifier(version.index_for(space))} IF NOT EXISTS "
                f"FOR (e:Entity) ON (e.{quote_identifier(version.property_for(space))}) "
                "OPTIONS {indexConfig: {`vector.dimensions`: $dim, `vector.similarity_function`: $sim}}",
                {"dim": int(matrix.shape[1]), "sim": similarity}, write=True)
        for space in spaces:
            await_online(graph, version.index_for(space), timeout=index_timeout)
        index_done = time.monotonic()
        meta = {f"meta_{k}": v for k, v in (metadata or {}).items() if v is not None}
        replaced = _switch(graph, version, written[ENTITIES], meta)
    except BaseException as error:  # Ctrl-C included: readers never saw this version, so nothing of it stays
        _discard(graph, version, error)
        raise
    if replaced is not None and replaced.version > version.version:
        drop_version(graph, version)
        raise KgstoreError(f"model {model!r}: version {replaced.version} was written while version "
                           f"{version.version} was being written; the newer one stays and this one was discarded",
                           hint="Two write-backs of one model ran at once; give them different --model names.")
    if replaced is not None:
        drop_version(graph, replaced)
    return WriteBackResult(version, written[ENTITIES], time.monotonic() - started, len(keys) - written[ENTITIES],
                           write_seconds=write_done - started, index_seconds=index_done - write_done)


def _write_spaces(graph: Graph, version: ModelVersion, spaces: dict[str, tuple[list[str], Any]], batch_size: int,
                  on_batch: Callable[[int], None] | None) -> dict[str, int]:
    """Write every space's vectors into ``version``'s properties; how many entities each reached."""
    # With the kgstore plugin, a batch travels as one float32 blob plus its keys and one
    # procedure call writes it (an index lookup and a property write per vector); without
    # it, as rows of float lists through db.create.setNodeVectorProperty (any Neo4j 5.x).
    bulk = graph.has_routine("kgstore.writeVectors", "PROCEDURES")
    return {space: _write_property(graph, version.property_for(space), space_keys, matrix, batch_size,
                                   on_batch if space == ENTITIES else None, bulk=bulk)
            for space, (space_keys, matrix) in spaces.items()}


# The switch to a new version, in one transaction under the KgModel node's write lock (taken
# by the first SET, which reads what it writes), so that what it reads as the current version
# cannot change before it commits: of two write-backs of one model that end together, the
# higher version number stays current whatever the order they finish in.
SWITCH = f"""
MATCH (m:KgModel {{id: $model}})
SET m.latest_version = m.latest_version
WITH m, {VERSION_COLUMNS}
CALL (m, version) {{
  WITH m WHERE version IS NULL OR version < $v
  SET m.version = $v, m.property = $property, m.index = $index, m.dimension = $dim, m.similarity = $sim,
      m.vectors = $n, m.modality_vectors = $modalities, m.written_at = datetime(), m += $meta
}}
RETURN version, dimension, similarity, modalities
"""


def _switch(graph: Graph, version: ModelVersion, vectors: int, meta: dict[str, Any]) -> ModelVersion | None:
    """Make ``version`` current unless a newer one already is; the version that was current."""
    row = graph.query(SWITCH, {
        "model": version.model, "v": version.version, "property": version.property_name,
        "index": version.index_name, "dim": version.dimension, "sim": version.similarity, "n": vectors,
        "modalities": list(version.modalities), "meta": meta}, write=True)[0]
    return _version_of(version.model, row)


def _discard(graph: Graph, version: ModelVersion, error: BaseException) -> None:
    """Remove what a failed write-back of ``version`` wrote, so no half-written version stays behind."""
    try:
        drop_version(graph, version)
    except Exception as cleanup:  # noqa: BLE001 - the write-back's own error is the one to raise
        error.add_note(f"kgstore could not remove the unfinished version {version.version} of model "
                       f"{version.model!r} ({cleanup}); `kgstore status` lists leftover vector indexes.")


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
                    on_batch: Callable[[int], None] | None, *, bulk: bool) -> int:
    """Set ``matrix[i]`` as ``property_name`` of the entity keyed ``keys[i]``; how many were found.

    ``bulk``: the server has ``kgstore.writeVectors`` (else plain Cypher)."""
    dimension = int(matrix.shape[1])
    if bulk:
        statement = ("CALL kgstore.writeVectors($property, $keys, $vectors, $dim) YIELD written "
                     "RETURN written")
    else:
        statement = ("UNWIND $rows AS row MATCH (e:Entity {key: row.key}) "
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
    for space in (ENTITIES, *version.modalities):
        property_name = quote_identifier(version.property_for(space))
        graph.query(f"DROP INDEX {quote_identifier(version.index_for(space))} IF EXISTS", write=True)
        with graph.session() as session:
            session.run(
                f"MATCH (e:Entity) WHERE e.{property_name} IS NOT NULL "
                f"CALL (e) {{ REMOVE e.{property_name} }} IN TRANSACTIONS OF 10000 ROWS"
            ).consume()


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
        "CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
        "WHERE node.key <> coalesce($key, '') "
        "RETURN node.key AS key, node.name AS name, score ORDER BY score DESC LIMIT $limit",
        {"index": version.index_for(space), "k": max(k + (1 if key else 0), SEARCH_WIDTH), "vector": list(vector),
         "key": key, "limit": k})
    return results
