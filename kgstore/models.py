"""The model catalogue: which models a database (and a kgstore home) holds, and removing them.

A *model* is a name (``default``, ``movies``) with a ``(:KgModel {id})`` node that says
which version of its entity vectors is current (see :mod:`kgstore.writeback`), the
vector properties and indexes of that version (and of any version still being written,
or orphaned), the predicted edges it wrote (``KGSTORE_PREDICTED {model}``), and its
checkpoints in the home (``models/<model>/<UTC time>/``, ``latest``).

- :func:`list_models`: every model, one :class:`ModelInfo` each (no scan of the entities);
- :func:`show_model`: one model in detail: every version the database holds, with how many
  vectors each has, its indexes, its predictions and its checkpoints with their metrics;
- :func:`drop_model`: remove all of a model from the database (and its checkpoints);
- :func:`gc`: drop the versions that are neither current nor being written.

Everything returned is a dataclass of plain values (``str``, numbers, lists, dicts; times
as ISO 8601 strings), so ``dataclasses.asdict`` (or :meth:`ModelInfo.to_dict`) gives
what ``json.dumps`` takes. The CLI's ``kgstore models`` commands only render these.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.graph_names import (
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
    VECTOR_INDEX_PREFIX,
    WRITE_LEASE,
)
from kgstore.home import KgstoreHome
from kgstore.predictions import count_predictions, drop_predictions
from kgstore.schema import indexes
from kgstore.writeback import (
    DROPPING,
    LEASE_TTL_S,
    WRITING,
    Leases,
    StoredVersion,
    check_model_name,
    collect_orphans,
    drop_vectors,
    model_names,
    parse_vector_name,
    stored_versions,
)

# What a version is, as VersionInfo.status says it.
CURRENT = "current"  # the KgModel node points at it; readers use it
BEING_WRITTEN = "writing"  # a live write-back holds its lease
BEING_DROPPED = "dropping"  # a live gc or drop holds its lease
ORPHANED = "orphaned"  # none of the above: the next write-back or `kgstore models gc` drops it


@dataclass
class IndexInfo:
    """One vector index of a model version."""

    name: str
    version: int
    property: str  # the :Entity property it indexes
    state: str  # ONLINE, POPULATING, FAILED
    population_percent: float
    dimension: int | None
    similarity: str | None  # COSINE or EUCLIDEAN, as Neo4j spells it


@dataclass
class LeaseInfo:
    """A write-back's (``write``) or collector's (``drop``) lease on a version."""

    version: int
    holder: str  # <host>:<pid>:<random>
    purpose: str
    expires_at: str  # server time, ISO 8601
    live: bool  # False: the holder stopped renewing it; the version is an orphan


@dataclass
class VersionInfo:
    """One version of a model as the database holds it."""

    version: int
    status: str  # current, writing, dropping or orphaned
    properties: dict[str, int] = field(default_factory=dict)  # :Entity property -> entities with a value
    indexes: list[str] = field(default_factory=list)
    lease: LeaseInfo | None = None

    @property
    def vectors(self) -> int:
        return sum(self.properties.values())


@dataclass
class CheckpointInfo:
    """One training run's checkpoint folder in the home."""

    path: str
    latest: bool  # models/<model>/latest points at it
    metrics: dict[str, Any] | None  # its metrics.json, None when it has none (an unfinished run)
    curves: str | None = None  # its curves.png (training loss, validation MRR), None before the run finished


@dataclass
class ModelInfo:
    """What :func:`list_models` and :func:`show_model` say about one model.

    The fields from ``version`` to ``meta`` are the ``KgModel`` node's (None when the model
    has only checkpoints, ``in_database`` False). :func:`show_model` also fills ``versions``,
    ``predictions`` and (with a home) ``checkpoints``; :func:`list_models` leaves them None.
    """

    name: str
    in_database: bool
    version: int | None = None  # the current version
    latest_version: int | None = None  # the last version number a write-back claimed
    dimension: int | None = None
    similarity: str | None = None
    vectors: int | None = None  # entities with a vector in the current version
    modality_vectors: list[str] = field(default_factory=list)  # text, image: their own property and index
    property: str | None = None  # the current version's :Entity property
    index: str | None = None  # and its vector index
    written_at: str | None = None  # ISO 8601
    meta: dict[str, Any] = field(default_factory=dict)  # decoder, test_mrr, checkpoint, ... (meta_* on the node)
    indexes: list[IndexInfo] = field(default_factory=list)  # every vector index of the model, all versions
    latest_checkpoint: str | None = None  # with a home: models/<model>/latest, resolved
    versions: list[VersionInfo] | None = None
    predictions: int | None = None  # KGSTORE_PREDICTED edges with model = name
    checkpoints: list[CheckpointInfo] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DropResult:
    """What :func:`drop_model` removed."""

    model: str
    versions: list[int] = field(default_factory=list)  # versions whose vectors or indexes were removed
    vectors: int = 0  # vector values removed from :Entity nodes, all versions and spaces
    indexes: list[str] = field(default_factory=list)
    predictions: int = 0  # KGSTORE_PREDICTED edges deleted
    model_node: bool = False  # the KgModel node was deleted
    checkpoints: str | None = None  # the checkpoint folder removed (checkpoints=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_models(graph: Graph, home: KgstoreHome | None = None) -> list[ModelInfo]:
    """Every model: each ``KgModel`` node, and with ``home`` the models that only have
    checkpoints there, sorted by name. Each with its vector indexes and their state."""
    infos = {name: ModelInfo(name, in_database=True) for name in model_names(graph)}
    for props in _model_nodes(graph):
        _fill_from_node(infos.setdefault(props[MODEL_ID], ModelInfo(props[MODEL_ID], in_database=True)), props)
    for index in _vector_indexes(graph, infos):
        infos[index[0]].indexes.append(index[1])
    if home is not None:
        for name in home.model_names():
            infos.setdefault(name, ModelInfo(name, in_database=False))
        for name, info in infos.items():
            latest = home.latest_checkpoint(name)
            info.latest_checkpoint = str(latest) if latest is not None else None
    return [infos[name] for name in sorted(infos)]


def show_model(graph: Graph, model: str, home: KgstoreHome | None = None) -> ModelInfo:
    """``model`` in detail: its node's fields, every version the database holds (current,
    being written, orphaned) with how many vectors each has, its vector indexes, how many
    predicted edges it wrote and, with ``home``, its checkpoints and their metrics.

    Counting the vectors reads every ``:Entity`` node once.
    """
    info = _require_model(graph, model, home, "show")
    if not info.in_database:
        info.versions, info.predictions = [], 0
    else:
        leases = {lease.version: lease for lease in _leases(graph, model)}
        versions = {stored.version: VersionInfo(stored.version, ORPHANED, dict(stored.properties),
                                                list(stored.indexes))
                    for stored in stored_versions(graph, [model])}
        for number, lease in leases.items():
            versions.setdefault(number, VersionInfo(number, ORPHANED)).lease = lease
        for version in versions.values():
            if version.version == info.version:
                version.status = CURRENT
            elif version.lease is not None and version.lease.live:
                version.status = BEING_WRITTEN if version.lease.purpose == WRITING else BEING_DROPPED
        info.versions = [versions[number] for number in sorted(versions)]
        info.predictions = count_predictions(graph, model=model)
    if home is not None:
        info.checkpoints = _checkpoints(home, model)
    return info


def drop_model(graph: Graph, model: str, *, home: KgstoreHome | None = None, checkpoints: bool = False,
               lease_ttl: float = LEASE_TTL_S) -> DropResult:
    """Remove ``model`` from the database: its vector properties (every version, in batches),
    its vector indexes, its predicted edges and its ``KgModel`` node; with ``checkpoints``
    also its folder ``home.model_dir(model)``.

    Refused while a live write-back (or gc) holds a lease on one of its versions. The node
    is cleared at once (readers stop using the model), kept while the vectors go (it guards
    the version numbers), and deleted last, unless a write-back that started meanwhile made
    a new version current.
    """
    if checkpoints and home is None:
        raise KgstoreError("dropping a model's checkpoints needs the kgstore home that holds them",
                           hint="Pass home=KgstoreHome(...) (the CLI passes the configured home).")
    info = _require_model(graph, model, home, "drop")
    folder = home.model_dir(model) if home is not None else None
    result = DropResult(model)
    if info.in_database:
        _drop_from_database(graph, model, result, lease_ttl)
    elif not checkpoints:
        raise KgstoreError(f"model {model!r} has nothing in this database; only checkpoints in {folder}",
                           hint="Drop them with checkpoints=True (`kgstore models drop --checkpoints`).")
    if checkpoints and folder is not None and folder.exists():
        shutil.rmtree(folder)
        result.checkpoints = str(folder)
    return result


def gc(graph: Graph, model: str | None = None, *, lease_ttl: float = LEASE_TTL_S) -> list[StoredVersion]:
    """Drop the vector properties and indexes of ``model``'s versions (every model's when None)
    that are neither current nor being written by a live write-back; what was dropped.

    Every write-back does this for its own model after it switches; this is for versions
    left by write-backs that were killed (see :mod:`kgstore.writeback`).
    """
    if model is not None:
        _require_model(graph, model, None, "collect")
    return collect_orphans(graph, model, lease_ttl=lease_ttl)


# ------------------------------------------------------------------------ helpers
def _require_model(graph: Graph, model: str, home: KgstoreHome | None, verb: str) -> ModelInfo:
    """``model``'s :class:`ModelInfo` (node fields and indexes), or an error naming the known models."""
    check_model_name(model)
    known = list_models(graph, home)
    for info in known:
        if info.name == model:
            return info
    names = ", ".join(info.name for info in known)
    where = "this database" + (f" or in {home.models_dir}" if home is not None else "")
    raise KgstoreError(f"cannot {verb} model {model!r}: there is no such model in {where}",
                       hint=f"Known models: {names}." if names else
                       "There are no models yet: `kgstore train` makes one.")


def _model_nodes(graph: Graph) -> list[dict[str, Any]]:
    return [row["m"] for row in graph.query(f"MATCH (m:{KG_MODEL}) WHERE m.{MODEL_ID} IS NOT NULL "
                                            "RETURN properties(m) AS m")]


def _fill_from_node(info: ModelInfo, props: dict[str, Any]) -> None:
    info.version = props.get(MODEL_VERSION)
    info.latest_version = props.get(MODEL_LATEST_VERSION)
    info.dimension = props.get(MODEL_DIMENSION)
    info.similarity = props.get(MODEL_SIMILARITY)
    info.vectors = props.get(MODEL_VECTORS)
    info.modality_vectors = list(props.get(MODEL_MODALITY_VECTORS) or [])
    info.property = props.get(MODEL_PROPERTY)
    info.index = props.get(MODEL_INDEX)
    info.written_at = _plain(props.get(MODEL_WRITTEN_AT))
    info.meta = {key[len(MODEL_META_PREFIX):]: _plain(value) for key, value in sorted(props.items())
                 if key.startswith(MODEL_META_PREFIX)}


def _vector_indexes(graph: Graph, models: Any) -> list[tuple[str, IndexInfo]]:
    """``(model, index)`` for every vector index named after a version of one of ``models``."""
    found = []
    for row in indexes(graph):  # every index, sorted by name: the vector ones of kgstore's models below
        if row["type"] != "VECTOR" or not row["name"].startswith(VECTOR_INDEX_PREFIX):
            continue
        owner = parse_vector_name(row["name"], VECTOR_INDEX_PREFIX, models)
        if owner is None:
            continue
        config = row["config"] or {}
        found.append((owner[0], IndexInfo(
            name=row["name"], version=owner[1], property=(row["properties"] or [""])[0], state=row["state"],
            population_percent=float(row["populationPercent"] or 0.0),
            dimension=config.get("vector.dimensions"), similarity=config.get("vector.similarity_function"))))
    return found


def _leases(graph: Graph, model: str) -> list[LeaseInfo]:
    rows = graph.query(f"MATCH (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model}}) "
                       f"RETURN l.{LEASE_VERSION} AS version, l.{LEASE_HOLDER} AS holder, "
                       f"l.{LEASE_PURPOSE} AS purpose, l.{LEASE_EXPIRES_AT} AS expires_at, "
                       f"l.{LEASE_EXPIRES_AT} > datetime() AS live ORDER BY version", {"model": model})
    return [LeaseInfo(int(r["version"]), r["holder"], r["purpose"], _plain(r["expires_at"]), bool(r["live"]))
            for r in rows]


def _checkpoints(home: KgstoreHome, model: str) -> list[CheckpointInfo]:
    latest = home.latest_checkpoint(model)
    return [CheckpointInfo(str(run), latest is not None and run.resolve() == latest, _metrics(run), _curves(run))
            for run in home.checkpoint_dirs(model)]


def _curves(checkpoint: Path) -> str | None:
    from trainer.checkpoint import Checkpoint  # the checkpoint format's owner; it needs no torch

    path = Checkpoint(checkpoint).curves_path
    return str(path) if path.is_file() else None


def _metrics(checkpoint: Path) -> dict[str, Any] | None:
    from trainer.checkpoint import Checkpoint  # the checkpoint format's owner; it needs no torch

    try:
        return Checkpoint(checkpoint).read_metrics() or None
    except (OSError, ValueError):
        return None  # a run being written, or a damaged file: show the checkpoint without metrics


def _plain(value: Any) -> Any:
    """Neo4j temporal values as ISO 8601 strings, lists element-wise; other values as they are."""
    if hasattr(value, "iso_format"):
        return value.iso_format()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


# Under the KgModel node's lock: unless a live lease guards one of its versions, delete its
# expired leases, clear the node (readers stop following it; the version counter stays) and
# lease every version to drop; the live leases otherwise.
CLAIM_DROP = f"""
MATCH (m:{KG_MODEL} {{{MODEL_ID}: $model}})
SET m.{MODEL_LATEST_VERSION} = m.{MODEL_LATEST_VERSION}
WITH m
OPTIONAL MATCH (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model}})
WITH m, collect(l) AS leases
WITH m, [l IN leases WHERE l.{LEASE_EXPIRES_AT} > datetime()] AS live,
     [l IN leases WHERE l.{LEASE_EXPIRES_AT} <= datetime()] AS expired
CALL (m, live, expired) {{
  WITH m, live, expired WHERE size(live) = 0
  FOREACH (l IN expired | DELETE l)
  SET m = {{{MODEL_ID}: m.{MODEL_ID}, {MODEL_LATEST_VERSION}: m.{MODEL_LATEST_VERSION}}}
  FOREACH (v IN $versions | CREATE (:{WRITE_LEASE} {{{LEASE_MODEL}: $model, {LEASE_VERSION}: v,
      {LEASE_HOLDER}: $holder, {LEASE_PURPOSE}: '{DROPPING}',
      {LEASE_EXPIRES_AT}: datetime() + duration({{milliseconds: $ttl_ms}})}}))
}}
RETURN [l IN live | {{version: l.{LEASE_VERSION}, holder: l.{LEASE_HOLDER}, purpose: l.{LEASE_PURPOSE}}}] AS busy
"""

# Last: delete the node and the model's leftover leases, unless a write-back that started
# while the vectors were going has made a version current or still holds a live lease.
DELETE_NODE = f"""
MATCH (m:{KG_MODEL} {{{MODEL_ID}: $model}})
SET m.{MODEL_LATEST_VERSION} = m.{MODEL_LATEST_VERSION}
WITH m WHERE m.{MODEL_VERSION} IS NULL AND NOT EXISTS {{
  MATCH (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model}}) WHERE l.{LEASE_EXPIRES_AT} > datetime() }}
OPTIONAL MATCH (l:{WRITE_LEASE} {{{LEASE_MODEL}: $model}})
DELETE l
WITH DISTINCT m
DETACH DELETE m
RETURN true AS deleted
"""


def _drop_from_database(graph: Graph, model: str, result: DropResult, lease_ttl: float) -> None:
    stored = stored_versions(graph, [model])
    leases = Leases(graph, ttl=lease_ttl)
    rows = graph.query(CLAIM_DROP, {"model": model, "versions": [s.version for s in stored], **leases.params},
                       write=True)
    busy = rows[0]["busy"] if rows else []
    if busy:
        held = ", ".join(f"version {b['version']} ({'being written' if b['purpose'] == WRITING else 'being dropped'}"
                         f" by {b['holder']})" for b in busy)
        raise KgstoreError(f"model {model!r} is in use by another kgstore process: {held}",
                           hint="Wait until it ends and drop again. A killed process's lease expires "
                                f"{lease_ttl:.0f} s after it died.")
    with leases.heartbeat():
        try:
            result.predictions = drop_predictions(graph, model=model)
            for version in stored:
                result.vectors += drop_vectors(graph, version.properties, version.indexes)
                result.versions.append(version.version)
                result.indexes.extend(version.indexes)
            leases.release()
        except BaseException as error:
            error.add_note(f"model {model!r} is partly dropped; drop it again to finish.")
            try:
                leases.release()
            except Exception:  # noqa: BLE001 - the leases expire on their own; the drop's error is the one to raise
                pass
            raise
    result.model_node = bool(graph.query(DELETE_NODE, {"model": model}, write=True))
