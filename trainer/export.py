"""Export a Neo4j graph into a :class:`~trainer.snapshot.Snapshot`: read once, train many times.

The graph is read over Bolt in two passes of keyset pages in ``key`` order (driven by
the ``:Entity(key)`` uniqueness constraint's index; never ``SKIP``):

1. entities: ``fetch_size`` per page (key, name, description, labels, and the sha256 and
   URI of each ``(:Image)`` linked by ``HAS_IMAGE``);
2. facts, by head: each page takes the next heads in key order and returns all their
   outgoing facts as ``(type, tail key, split)`` lists; the number of heads per page
   adapts so a page holds about ``FACTS_PER_PAGE_FACTOR * fetch_size`` facts.

Each page is one record of parallel lists: the Python driver's cost is per record, not
per list element, so this is several times faster than a record per fact (measured on
FB15k-237: ~18k triples/s streaming one record per fact, ~70-130k triples/s in pages).
Keys and relation names are mapped to indices in Python with dicts; triples accumulate
in typed ``array`` buffers (8 bytes per index, 1 per split), so memory is proportional to
the graph, not to Python objects per triple.

What is a fact: a relationship ``(:Entity)-[r]->(:Entity)`` whose type is neither
``KGSTORE_PREDICTED`` (model predictions, :mod:`kgstore.predictions`) nor ``HAS_IMAGE``;
``:Image`` nodes and kgstore's bookkeeping nodes (``:KgSync``, ``:KgSyncBatch``, ``:KgSyncCounter``,
``:KgRelation``, ``:KgModel``) are never entities. A fact without a ``split`` property is
a ``train`` fact; any split other than train/valid/test is an error. Entities are indexed
in order of their ``key`` (string keys only), relations in order of their name and facts by
(head, relation, tail), so the same graph always gives the same arrays. ``entity_labels``
lists each entity's labels other than ``Entity``, sorted.

Before exporting, a cheap census of the graph (see :func:`graph_fingerprint`) is hashed
into a fingerprint that is stored in ``meta.json``; an export into a folder that already
holds a snapshot with the same fingerprint loads that snapshot instead of reading the
graph again.

**Incremental re-export.** When the fingerprint differs and the folder holds an earlier
snapshot of the same scope and database, only what the syncs since that snapshot wrote
is read — the entities and facts stamped with a sync generation newer than the snapshot's
*watermark* — and the old snapshot is patched and checked against the new census
(:mod:`trainer.incremental_export`). When the check fails (facts or entities written by
plain Cypher without a generation, deletions) a full export runs instead, and one line
says why. ``meta`` tells which it was: ``export_mode`` (``full``, ``incremental`` or, in
memory, ``reused``), ``entities_read`` and ``facts_read`` (what came over Bolt),
``sync_watermark``, ``sync_counter`` and ``census``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
from neo4j import READ_ACCESS
from neo4j.exceptions import Neo4jError

from kgstore.driver import Graph
from kgstore.graph_names import NOT_FACTS
from kgstore.home import KgstoreHome
from trainer.incremental_export import Delta, NotPatchable, Watermark, census_counts, patch_snapshot, read_watermark
from trainer.snapshot import FEATURES_DIR, FORMAT_VERSION, SPLIT_CODES, Snapshot

logger = logging.getLogger(__name__)

EXCLUDED_TYPES = NOT_FACTS
"""Relationship types between entities that are never facts."""

FINGERPRINT_VERSION = 2
"""Bumped when what the export reads changes, so older snapshots are not reused."""

DEFAULT_FETCH_SIZE = 20_000
FACTS_PER_PAGE_FACTOR = 5

# -- Cypher ---------------------------------------------------------------------------
# The namespace filter is spliced in as a fixed clause (never user text): a separate
# query without it keeps the unfiltered plan a plain label scan.
_ENTITY_COUNTS = """
MATCH (e:Entity) WHERE e.key IS NOT NULL
RETURN e.dataset AS dataset, count(*) AS entities
"""

_FACT_COUNTS = """
MATCH (h:Entity)-[r]->(t:Entity)
WHERE NOT type(r) IN $excluded {filter}
RETURN type(r) AS type, r.split AS split, count(*) AS triples
"""

_IMAGE_COUNTS = """
MATCH (e:Entity)-[:HAS_IMAGE]->(i:Image) WHERE e.key IS NOT NULL AND i.generated IS NULL {filter}
RETURN count(*) AS links, count(DISTINCT i) AS images
"""

_SYNC_STATE = """
MATCH (s:KgSync) {filter}
RETURN s.namespace AS namespace, s.fingerprint AS fingerprint, toString(s.finished_at) AS finished_at,
       s.complete AS complete
"""

# Keyset pages in key order, driven by the :Entity(key) uniqueness constraint's index.
# Each page is ONE record of parallel lists: the Python driver pays per record, not per
# list element, so this is many times faster than a record per entity or per fact.
_ENTITY_PAGE = """
MATCH (e:Entity) WHERE e.key {after} $after {filter}
WITH e ORDER BY e.key LIMIT $limit
WITH collect(e) AS page
RETURN [e IN page | e.key] AS keys, [e IN page | e.name] AS names,
       [e IN page | e.description] AS descriptions, [e IN page | labels(e)] AS labels,
       [e IN page | [(e)-[:HAS_IMAGE]->(i:Image) WHERE i.sha256 IS NOT NULL AND i.generated IS NULL
                     | [i.sha256, i.uri]]] AS images
"""

_FACT_PAGE = """
MATCH (h:Entity) WHERE h.key {after} $after {head_filter}
WITH h ORDER BY h.key LIMIT $limit
CALL (h) {{
  MATCH (h)-[r]->(t:Entity)
  WHERE NOT type(r) IN $excluded AND t.key IS NOT NULL {tail_filter}
  RETURN collect(type(r)) AS relations, collect(t.key) AS tails, collect(coalesce(r.split, '')) AS splits
}}
WITH collect(h.key) AS heads, collect(size(relations)) AS degrees, collect(relations) AS relations,
     collect(tails) AS tails, collect(splits) AS splits
RETURN heads, degrees, relations, tails, splits
"""

_BOTH_ENDS_IN = "AND h.dataset IN $namespaces AND t.dataset IN $namespaces"


# -- paths ------------------------------------------------------------------------------
def snapshot_dir_for(home: KgstoreHome, namespaces: Iterable[str] | None) -> Path:
    """The home's snapshot folder for ``namespaces`` (:meth:`KgstoreHome.snapshot_dir`), checked first.

    Where the cache of one export lives is decided by its namespaces only; whether it is
    still fresh is decided by its fingerprint. Bad namespaces (a string, an empty list, a
    path) are refused here, before they become a folder name.
    """
    return home.snapshot_dir(_check_namespaces(namespaces))


def _check_namespaces(namespaces: Iterable[str] | None) -> list[str] | None:
    """Sorted, de-duplicated namespaces; None means every entity."""
    if namespaces is None:
        return None
    if isinstance(namespaces, str):
        raise TypeError(f"namespaces must be a list of names, not the string {namespaces!r}: "
                        f"use [{namespaces!r}]")
    names = sorted(set(namespaces))
    if not names:
        raise ValueError("namespaces is an empty list: give at least one namespace, or None for all entities")
    bad = [n for n in names if not isinstance(n, str) or not n or "/" in n or os.sep in n or n in (".", "..")]
    if bad:
        raise ValueError(f"invalid namespace(s) {bad!r}: a namespace is a non-empty name without path "
                         "separators (as `kgstore sync --namespace` writes it)")
    return names


# -- fingerprint ----------------------------------------------------------------------------
@dataclass
class GraphCensus:
    """What the cheap pre-export queries found; hashed into :attr:`fingerprint`."""

    namespaces: list[str] | None
    entities_by_dataset: dict[str, int] = field(default_factory=dict)  # of the selected namespaces
    triples_by_type_and_split: list[tuple[str, str | None, int]] = field(default_factory=list)
    sync_state: list[dict[str, Any]] = field(default_factory=list)
    image_links: tuple[int, int] = (0, 0)  # (HAS_IMAGE links, distinct images) of the selected entities
    database_id: str | None = None
    fingerprint: str = ""

    @property
    def num_entities(self) -> int:
        return sum(self.entities_by_dataset.values())

    @property
    def num_triples(self) -> int:
        return sum(n for _, _, n in self.triples_by_type_and_split)


def _cypher(template: str, namespaces: list[str] | None, clause: str) -> str:
    return template.format(filter=clause if namespaces is not None else "")


def take_census(graph: Graph, namespaces: Iterable[str] | None = None) -> GraphCensus:
    """Count entities per dataset and facts per (type, split), read the sync state, and hash it all.

    Raises ``ValueError`` when a requested namespace has no entities, naming the ones present.
    """
    names = _check_namespaces(namespaces)
    census = GraphCensus(namespaces=names)
    with graph.session(default_access_mode=READ_ACCESS) as session:
        by_dataset = {row["dataset"]: row["entities"] for row in session.run(_ENTITY_COUNTS)}
        if names is not None:
            missing = [n for n in names if n not in by_dataset]
            if missing:
                present = sorted(str(d) for d in by_dataset if d is not None)
                raise ValueError(f"no entities in namespace(s) {', '.join(missing)}: the database has "
                                 f"{', '.join(present) if present else 'no namespaces at all'}; "
                                 "sync the dataset first (`kgstore sync NAME`) or fix the names")
            by_dataset = {n: by_dataset[n] for n in names}
        census.entities_by_dataset = {str(k): v for k, v in by_dataset.items()}
        params = {"excluded": list(EXCLUDED_TYPES), "namespaces": names}
        census.triples_by_type_and_split = sorted(
            ((row["type"], row["split"], row["triples"])
             for row in session.run(_cypher(_FACT_COUNTS, names, _BOTH_ENDS_IN), params)),
            key=lambda row: (row[0], str(row[1]), row[1] is None))
        images = session.run(_cypher(_IMAGE_COUNTS, names, "AND e.dataset IN $namespaces"), params).single()
        census.image_links = (images["links"], images["images"]) if images else (0, 0)
        census.sync_state = sorted(
            (row.data() for row in session.run(
                _cypher(_SYNC_STATE, names, "WHERE s.namespace IN $namespaces"), params)),
            key=lambda row: str(row["namespace"]))
        try:
            census.database_id = session.run("CALL db.info() YIELD id RETURN id").single(strict=True)["id"]
        except Neo4jError:  # a server or role without db.info(): counts alone identify the graph
            census.database_id = None
    payload = {
        "version": FINGERPRINT_VERSION, "format_version": FORMAT_VERSION, "namespaces": names,
        "excluded": list(EXCLUDED_TYPES), "database_id": census.database_id,
        "entities": sorted(census.entities_by_dataset.items()),
        "triples": census.triples_by_type_and_split, "sync": census.sync_state, "images": census.image_links,
    }
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()
    census.fingerprint = hashlib.sha256(blob).hexdigest()[:32]
    return census


def graph_fingerprint(graph: Graph, namespaces: Iterable[str] | None = None) -> str:
    """A hash of the graph's census: what :func:`export_snapshot` compares to reuse a snapshot.

    It covers, for the selected namespaces (both ends of a fact inside them): the number
    of ``:Entity`` nodes per ``dataset``; the number of facts per (relationship type,
    ``split``); each ``:KgSync`` node's ``fingerprint``, ``finished_at`` and ``complete``
    (every ``kgstore sync`` that wrote something changes them); the database id; the
    namespace filter; and the snapshot format version.

    .. note:: It is a census, not a checksum of the content. An edit that keeps every
       count equal is missed: renaming an entity or changing its description or labels,
       re-pointing a fact to another entity of the same namespace, or deleting one fact
       and creating another of the same type and split, when done by hand in Cypher
       rather than by ``kgstore sync``. Pass ``refresh=True`` to
       :func:`export_snapshot` after such edits.
    """
    return take_census(graph, namespaces).fingerprint


# -- export -----------------------------------------------------------------------------------
def _bar(progress: bool, total: int, unit: str, desc: str) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc, file=sys.stderr, leave=False)


def _reusable(path: Path, fingerprint: str) -> bool:
    try:
        meta = Snapshot.read_meta(path)
    except (OSError, ValueError):
        return False
    return meta is not None and meta.get("fingerprint") == fingerprint and meta.get("format_version") == FORMAT_VERSION


def export_snapshot(
    graph: Graph,
    path: Path | None = None,
    *,
    namespaces: list[str] | None = None,
    refresh: bool = False,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    progress: bool = True,
) -> Snapshot:
    """Stream the graph once into a :class:`Snapshot`, saved to ``path`` when given.

    ``namespaces`` keeps the entities whose ``dataset`` is one of them, and the facts whose
    head and tail are both kept; None exports every entity. ``fetch_size`` is the number of
    entities per page, and a fifth of the facts per page (pages are single records of
    lists, see the module docstring); a head with more facts than that makes a larger page.
    ``progress`` shows tqdm bars on stderr
    (totals come from the census).

    Reuse: the graph's fingerprint (:func:`graph_fingerprint`) is computed first. When
    ``path`` already holds a snapshot with the same fingerprint and ``refresh`` is False,
    that snapshot is loaded and returned without reading the graph, and a line says so.
    The fingerprint is a census of counts, so an edit that keeps every count equal (a
    renamed entity, a re-pointed fact made in Cypher) goes unnoticed: ``refresh=True``
    always re-exports.

    Incremental: when the fingerprint differs but ``path`` holds an earlier snapshot of the
    same namespaces and database, only the entities and facts written by syncs since its
    watermark are read and patched in (:mod:`trainer.incremental_export`); if the patch does
    not match the graph's census, a line says why and the whole graph is exported.
    ``refresh=True`` always exports the whole graph.

    The returned snapshot's ``meta`` holds ``fingerprint``, ``source_uri``, ``database``,
    ``database_id``, ``namespaces``, ``created_at`` (UTC, ISO 8601), ``export_seconds``,
    ``export_mode`` (``full`` or ``incremental``), ``entities_read`` and ``facts_read``
    (entities and facts transferred), ``sync_watermark``, ``sync_counter`` and ``census``; in memory only,
    ``meta["reused"]`` tells whether it was loaded instead of exported (then ``export_mode``
    is ``reused`` and nothing was read). A new snapshot is
    written to a temporary sibling folder and moved into place, so an interrupted export
    never leaves a half-written folder that looks complete.

    The fingerprint is taken before the export; if the graph changes while it is read,
    the snapshot mixes both states, and the next call sees a different fingerprint and
    exports again.
    """
    if fetch_size < 1:
        raise ValueError(f"fetch_size must be at least 1, got {fetch_size}")
    path = Path(path) if path is not None else None
    watermark = read_watermark(graph)  # before the census: what a sync adds meanwhile is read next time
    census = take_census(graph, namespaces)
    if path is not None and not refresh and _reusable(path, census.fingerprint):
        snapshot = Snapshot.load(path)
        snapshot.meta.update(reused=True, export_mode="reused", entities_read=0, facts_read=0)
        message = (f"graph unchanged (fingerprint {census.fingerprint}): reusing the snapshot in {path} "
                   f"({snapshot.num_entities} entities, {len(snapshot.triples)} triples); "
                   "pass refresh=True to export again")
        logger.info(message)
        if progress:
            print(message, file=sys.stderr)
        return snapshot

    started = time.monotonic()
    patched = None if refresh or path is None else _patched(graph, path, census, watermark, fetch_size, progress)
    if patched is not None:
        snapshot, delta = patched
        mode, entities_read, facts_read = "incremental", len(delta.entities), delta.facts_read
    else:
        snapshot = _stream(graph, census, fetch_size=fetch_size, progress=progress)
        mode, entities_read, facts_read = "full", snapshot.num_entities, len(snapshot.triples)
    seconds = time.monotonic() - started
    snapshot.meta.update({
        "fingerprint": census.fingerprint, "source_uri": graph.settings.uri, "database": graph.database,
        "database_id": census.database_id,
        "namespaces": census.namespaces, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "export_seconds": round(seconds, 3),
        "triples_per_second": round(len(snapshot.triples) / seconds) if seconds > 0 else None,
        "export_mode": mode, "entities_read": entities_read, "facts_read": facts_read,
        "sync_watermark": watermark.generation, "sync_counter": watermark.counter,
        "census": census_counts(census),
    })
    if path is not None:
        _save_atomically(snapshot, path)
        snapshot.path = path
    if mode == "incremental":
        message = (f"patched the snapshot with {entities_read} changed entities and {facts_read} changed facts "
                   f"(of {snapshot.num_entities} and {len(snapshot.triples)}) in {seconds:.1f} s"
                   + (f" in {path}" if path is not None else ""))
    else:
        message = (f"exported {snapshot.num_entities} entities, {snapshot.num_relations} relations and "
                   f"{len(snapshot.triples)} triples in {seconds:.1f} s"
                   + (f" to {path}" if path is not None else ""))
    logger.info(message)
    if progress:
        print(message, file=sys.stderr)
    snapshot.meta["reused"] = False
    return snapshot


def _patched(graph: Graph, path: Path, census: GraphCensus, watermark: Watermark, fetch_size: int,
             progress: bool) -> tuple[Snapshot, Delta] | None:
    """The snapshot in ``path`` patched with what changed since it (None: export everything)."""
    try:
        meta = Snapshot.read_meta(path)
    except (OSError, ValueError):
        meta = None
    if meta is None or meta.get("format_version") != FORMAT_VERSION:
        return None  # nothing to patch: a first export says nothing more
    try:
        return patch_snapshot(graph, Snapshot.load(path), census, watermark=watermark,
                              excluded=list(EXCLUDED_TYPES), fetch_size=fetch_size)
    except NotPatchable as reason:
        message = f"incremental export not possible ({reason}): exporting the whole graph"
        logger.warning(message)
        if progress:
            print(message, file=sys.stderr)
        return None


def load_or_export(graph: Graph | None, home: KgstoreHome, *, snapshot: Path | None = None,
                   namespaces: list[str] | None = None, refresh: bool = False, progress: bool = True) -> Snapshot:
    """The snapshot in the folder ``snapshot`` (``export_mode`` ``given``), or one exported from
    ``graph`` into the home's snapshot folder for ``namespaces`` (reused while the graph is
    unchanged, patched after syncs: :func:`export_snapshot`)."""
    if snapshot is not None:
        given = Snapshot.load(snapshot)
        given.meta.update(export_mode="given", entities_read=0, facts_read=0)  # nothing read from the graph
        return given
    if graph is None:
        raise ValueError("either a snapshot folder or a database connection is needed")
    return export_snapshot(graph, snapshot_dir_for(home, namespaces), namespaces=namespaces, refresh=refresh,
                           progress=progress)


def _save_atomically(snapshot: Snapshot, path: Path) -> None:
    staging = path.with_name(f".{path.name}.export-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    snapshot.save(staging)
    if (path / FEATURES_DIR).is_dir():  # encoder features are keyed by content: keep them
        (path / FEATURES_DIR).rename(staging / FEATURES_DIR)
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
        staging.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(path)


def _entity_page(session: Any, names: list[str] | None, after: str | None, limit: int) -> Any:
    query = _ENTITY_PAGE.format(after=">=" if after is None else ">",
                                filter="AND e.dataset IN $namespaces" if names is not None else "")
    return session.run(query, after=after or "", limit=limit, namespaces=names).single(strict=True)


def _fact_page(session: Any, names: list[str] | None, after: str | None, limit: int) -> Any:
    query = _FACT_PAGE.format(after=">=" if after is None else ">",
                              head_filter="AND h.dataset IN $namespaces" if names is not None else "",
                              tail_filter="AND t.dataset IN $namespaces" if names is not None else "")
    return session.run(query, after=after or "", limit=limit, namespaces=names,
                       excluded=list(EXCLUDED_TYPES)).single(strict=True)


def _stream(graph: Graph, census: GraphCensus, *, fetch_size: int, progress: bool) -> Snapshot:
    """Two passes of keyset pages: entities (``fetch_size`` per page), then facts by head."""
    names = census.namespaces
    keys: list[str] = []
    texts: dict[str, list[str | None]] = {"name": [], "description": []}
    labels: list[list[str]] = []
    entity_images: list[list[str]] = []
    image_uris: dict[str, str] = {}
    heads, relations, tails = array("q"), array("q"), array("q")
    splits = array("B")
    relation_index: dict[str, int] = {}
    split_code = {**SPLIT_CODES, "": SPLIT_CODES["train"]}
    dangling = 0
    with graph.session(default_access_mode=READ_ACCESS, fetch_size=fetch_size) as session:
        bar = _bar(progress, census.num_entities, "entity", "entities")
        after: str | None = None
        while page := _entity_page(session, names, after, fetch_size):
            if not page["keys"]:
                break
            keys.extend(page["keys"])
            texts["name"].extend(page["names"])
            texts["description"].extend(page["descriptions"])
            labels.extend(sorted(label for label in node_labels if label != "Entity")
                          for node_labels in page["labels"])
            for pairs in page["images"]:
                entity_images.append(sorted(sha for sha, _ in pairs))
                image_uris.update((sha, uri) for sha, uri in pairs if uri)
            after = keys[-1]
            if bar is not None:
                bar.update(len(page["keys"]))
        if bar is not None:
            bar.close()
        index_of = {key: i for i, key in enumerate(keys)}  # keys arrive sorted: index order = key order

        bar = _bar(progress, census.num_triples, "triple", "triples")
        after, limit, target = None, fetch_size, FACTS_PER_PAGE_FACTOR * fetch_size
        while True:
            page = _fact_page(session, names, after, limit)
            page_heads: list[str] = page["heads"]
            if not page_heads:
                break
            after = page_heads[-1]
            degrees: list[int] = page["degrees"]
            size = sum(degrees)
            # Heads per page adapt so a page holds about `target` facts (hubs make pages short).
            limit = max(1, min(target, int(limit * target / size) if size else limit * 2))
            if not size:
                continue
            rel_ids = [relation_index.setdefault(r, len(relation_index))
                       for r in chain.from_iterable(page["relations"])]
            tail_ids = [index_of.get(t, -1) for t in chain.from_iterable(page["tails"])]
            try:
                codes = [split_code[x] for x in chain.from_iterable(page["splits"])]
            except (KeyError, TypeError):
                raise _bad_split(page, keys) from None
            head_ids: list[int] = []
            for head, degree in zip(page_heads, degrees, strict=True):
                head_ids.extend(repeat(index_of.get(head, -1), degree))
            if -1 in head_ids or -1 in tail_ids:  # an entity created after the entity pass
                keep = [i for i, (h, t) in enumerate(zip(head_ids, tail_ids, strict=True)) if h >= 0 and t >= 0]
                dangling += size - len(keep)
                head_ids = [head_ids[i] for i in keep]
                rel_ids = [rel_ids[i] for i in keep]
                tail_ids = [tail_ids[i] for i in keep]
                codes = [codes[i] for i in keep]
            heads.extend(head_ids)
            relations.extend(rel_ids)
            tails.extend(tail_ids)
            splits.extend(codes)
            if bar is not None:
                bar.update(size)
        if bar is not None:
            bar.close()
    if dangling:
        logger.warning("skipped %d relationships whose head or tail was not in the entity pass "
                       "(created during the export)", dangling)

    relation_names = sorted(relation_index)
    remap = np.empty(len(relation_names), dtype=np.int64)
    for new, name in enumerate(relation_names):
        remap[relation_index[name]] = new
    triples = np.empty((len(heads), 3), dtype=np.int64)
    if len(heads):
        triples[:, 0] = np.frombuffer(heads, dtype=np.int64)
        triples[:, 1] = remap[np.frombuffer(relations, dtype=np.int64)]
        triples[:, 2] = np.frombuffer(tails, dtype=np.int64)
    del heads, relations, tails
    # Neo4j does not promise an order for a node's relationships (it differed between two
    # exports of the same graph once), so the snapshot sorts its facts: the same graph gives
    # the same arrays, and a seeded training run is repeatable.
    order = np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))
    return Snapshot(
        entity_keys=keys, relation_names=relation_names, triples=triples[order],
        splits=np.frombuffer(splits, dtype=np.uint8)[order], entity_text=texts, entity_labels=labels,
        entity_images=entity_images, image_uris=image_uris,
        meta={"skipped_relationships": dangling} if dangling else {},
    )


def _bad_split(page: Any, keys: list[str]) -> ValueError:
    for head, relations, tails, splits in zip(page["heads"], page["relations"], page["tails"], page["splits"],
                                              strict=True):
        for relation, tail, split in zip(relations, tails, splits, strict=True):
            if split not in SPLIT_CODES and split != "":
                return ValueError(f"a {relation!r} fact from {head!r} to {tail!r} has split {split!r}: use one of "
                                  f"{', '.join(SPLIT_CODES)} (or no split property, meaning train)")
    return ValueError("a fact has an invalid split")
