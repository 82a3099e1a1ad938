"""Incremental re-export: patch a snapshot with what the syncs since it changed.

Every ``kgstore sync`` claims the next *sync generation* from a counter in the graph
(``(:KgSyncCounter {name: "sync"})``, :func:`kgstore.sync.claim_generation`) and stamps it
as ``sync_gen`` on each entity and fact it creates or changes; where a written fact's head
is older than the generation, the head gets ``facts_sync_gen`` too. Both entity properties
have range indexes. A snapshot's ``meta.json`` records the *watermark* — the newest
generation it holds completely (:func:`read_watermark`, read before the census) — and the
census it was built from.

When the census fingerprint differs from the snapshot's, :func:`patch_snapshot` reads only

1. the entities with ``sync_gen > watermark`` (new or changed: key, name, description,
   labels, images), found through the ``sync_gen`` index;
2. the facts with ``sync_gen > watermark`` out of the heads with ``sync_gen`` or
   ``facts_sync_gen > watermark`` (both indexes), as one record of lists per head;

and patches the old snapshot: new entities are inserted in key order and every old index is
remapped (an insert is a shift, so the old order is kept), new relation names likewise, a
changed fact (same head, relation and tail) replaces the old one, and the facts are sorted
as a full export sorts them. The patched snapshot is then checked against the graph's
current census (entities, facts per relation and split, image links); any difference — a
fact or entity written by plain Cypher without a generation, a deletion, an interrupted
sync — makes the caller fall back to a full export, saying why in one line.

The patched snapshot is array-for-array equal to a full export of the same graph (keys,
relation names, triples, splits, texts, labels, images); ``tests/test_incremental_export.py``
checks that. Edits a census cannot see (renaming an entity in Cypher) are missed, as by the
fingerprint itself: ``refresh=True`` re-exports everything.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
from neo4j import READ_ACCESS

from kgstore.driver import Graph
from kgstore.graph_names import FACTS_SYNC_GEN, SYNC_COUNTER, SYNC_COUNTER_ID, SYNC_COUNTER_NAME, SYNC_GEN
from trainer.snapshot import SPLIT_CODES, Snapshot

if TYPE_CHECKING:
    from trainer.export import GraphCensus

logger = logging.getLogger(__name__)

# The newest generation every sync has finished: a running (or killed) sync's generation
# is not complete yet, so the watermark stays below it and the next export reads it again.
_WATERMARK = f"""
OPTIONAL MATCH (c:{SYNC_COUNTER} {{name: $name}})
WITH coalesce(c.value, 0) AS top, c.{SYNC_COUNTER_ID} AS counter
OPTIONAL MATCH (s:KgSync) WHERE s.complete = false AND s.{SYNC_GEN} IS NOT NULL
RETURN top, counter, min(s.{SYNC_GEN}) AS running
"""

_CHANGED_ENTITIES = f"""
MATCH (e:Entity) WHERE e.{SYNC_GEN} > $since AND e.key >= '' {{filter}}
RETURN e.key AS key, e.name AS name, e.description AS description, labels(e) AS labels,
       [(e)-[:HAS_IMAGE]->(i:Image) WHERE i.sha256 IS NOT NULL AND i.generated IS NULL
        | [i.sha256, i.uri]] AS images
"""

_CHANGED_FACTS = f"""
CALL () {{{{
  MATCH (h:Entity) WHERE h.{SYNC_GEN} > $since RETURN h
  UNION
  MATCH (h:Entity) WHERE h.{FACTS_SYNC_GEN} > $since RETURN h
}}}}
WITH h WHERE h.key >= '' {{head_filter}}
MATCH (h)-[r]->(t:Entity)
WHERE r.{SYNC_GEN} > $since AND NOT type(r) IN $excluded AND t.key IS NOT NULL {{tail_filter}}
RETURN h.key AS head, collect(type(r)) AS relations, collect(t.key) AS tails,
       collect(coalesce(r.split, '')) AS splits
"""


@dataclass(frozen=True)
class Watermark:
    """The newest sync generation whose writes are all in the graph (0 before any sync), and
    the id of the counter it comes from (a wiped and re-synced graph counts afresh)."""

    generation: int
    counter: str | None


def read_watermark(graph: Graph) -> Watermark:
    """The graph's :class:`Watermark`: a running (or killed) sync's generation is not complete yet."""
    row = graph.query(_WATERMARK, {"name": SYNC_COUNTER_NAME})[0]
    top, running = int(row["top"] or 0), row["running"]
    return Watermark(top if running is None else min(top, int(running) - 1), row["counter"])


class NotPatchable(Exception):
    """The snapshot cannot be patched; the message says why (one line)."""


@dataclass
class Delta:
    """What an incremental export read: changed entities and changed facts (by key)."""

    entities: dict[str, tuple[str | None, str | None, list[str], list[tuple[str, str | None]]]]
    facts: list[tuple[str, str, str, str]]  # (head key, relation, tail key, split or '')

    @property
    def facts_read(self) -> int:
        return len(self.facts)


def read_delta(graph: Graph, since: int, namespaces: list[str] | None, *, excluded: list[str],
               fetch_size: int) -> Delta:
    """The entities and facts written by sync generations after ``since``."""
    scoped = namespaces is not None
    entities: dict[str, Any] = {}
    facts: list[tuple[str, str, str, str]] = []
    params = {"since": since, "namespaces": namespaces, "excluded": excluded}
    with graph.session(default_access_mode=READ_ACCESS, fetch_size=fetch_size) as session:
        query = _CHANGED_ENTITIES.format(filter="AND e.dataset IN $namespaces" if scoped else "")
        for row in session.run(query, params):
            entities[row["key"]] = (row["name"], row["description"], row["labels"], row["images"])
        query = _CHANGED_FACTS.format(head_filter="AND h.dataset IN $namespaces" if scoped else "",
                                      tail_filter="AND t.dataset IN $namespaces" if scoped else "")
        for row in session.run(query, params):
            head = row["head"]
            facts.extend((head, r, t, s) for r, t, s in zip(row["relations"], row["tails"], row["splits"],
                                                              strict=True))
    return Delta(entities, facts)


def _inserted(old: list[Any], positions: list[int], values: list[Any]) -> list[Any]:
    """``old`` with ``values[j]`` inserted before ``old[positions[j]]`` (positions non-decreasing)."""
    out: list[Any] = []
    previous = 0
    for position, value in zip(positions, values, strict=True):
        out.extend(old[previous:position])
        out.append(value)
        previous = position
    out.extend(old[previous:])
    return out


def patch(old: Snapshot, delta: Delta) -> Snapshot:
    """``old`` with the delta applied, ordered as a full export orders it."""
    keys = old.entity_keys
    if any(a >= b for a, b in pairwise(keys)):
        raise NotPatchable("its entity keys are not in the order this Python sorts them")
    index_of = {key: i for i, key in enumerate(keys)}
    added = sorted(key for key in delta.entities if key not in index_of)
    positions = [bisect_left(keys, key) for key in added]
    old_to_new = np.arange(len(keys), dtype=np.int64)
    if added:
        old_to_new += np.searchsorted(np.asarray(positions, dtype=np.int64), old_to_new, side="right")

    def record(key: str) -> tuple[str | None, str | None, list[str], list[str]]:
        name, description, labels, images = delta.entities[key]
        return name, description, sorted(x for x in labels if x != "Entity"), sorted(sha for sha, _ in images)

    new_records = [record(key) for key in added]
    merged_keys = _inserted(keys, positions, added)
    names = _inserted(list(old.entity_text.get("name") or [None] * len(keys)), positions,
                      [r[0] for r in new_records])
    descriptions = _inserted(list(old.entity_text.get("description") or [None] * len(keys)), positions,
                             [r[1] for r in new_records])
    labels = _inserted([list(x) for x in (old.entity_labels or [[] for _ in keys])], positions,
                       [r[2] for r in new_records])
    images = _inserted([list(x) for x in (old.entity_images or [[] for _ in keys])], positions,
                       [r[3] for r in new_records])
    image_uris = dict(old.image_uris)
    for key in delta.entities:
        if key in index_of:  # changed: its new record replaces the old one
            i = int(old_to_new[index_of[key]])
            names[i], descriptions[i], labels[i], images[i] = record(key)
        image_uris.update((sha, uri) for sha, uri in delta.entities[key][3] if uri)

    new_index = {key: i for i, key in enumerate(merged_keys)} if added else \
        {key: int(old_to_new[i]) for key, i in index_of.items()}
    relation_names = sorted(set(old.relation_names) | {r for _, r, _, _ in delta.facts})
    relation_index = {name: i for i, name in enumerate(relation_names)}
    relation_remap = np.asarray([relation_index[name] for name in old.relation_names], dtype=np.int64)

    split_code = {**SPLIT_CODES, "": SPLIT_CODES["train"]}
    rows, codes = [], []
    for head, relation, tail, split in delta.facts:
        h, t = new_index.get(head), new_index.get(tail)
        if h is None or t is None:
            raise NotPatchable(f"a changed fact's {'head' if h is None else 'tail'} is not an entity of the "
                               "snapshot (written outside kgstore sync?)")
        if split not in split_code:
            raise NotPatchable(f"a changed fact has the split {split!r}")
        rows.append((h, relation_index[relation], t))
        codes.append(split_code[split])

    triples = old.triples.astype(np.int64, copy=True)
    if len(triples):
        triples[:, 0] = old_to_new[triples[:, 0]]
        triples[:, 1] = relation_remap[triples[:, 1]]
        triples[:, 2] = old_to_new[triples[:, 2]]
    splits = np.asarray(old.splits, dtype=np.uint8)
    if rows:
        new_rows = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        keep = ~_contained(triples, new_rows, len(merged_keys), len(relation_names))
        triples = np.concatenate([triples[keep], new_rows])
        splits = np.concatenate([splits[keep], np.asarray(codes, dtype=np.uint8)])
    order = np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))
    return Snapshot(
        entity_keys=merged_keys, relation_names=relation_names, triples=triples[order], splits=splits[order],
        entity_text={"name": names, "description": descriptions}, entity_labels=labels,
        entity_images=images, image_uris=image_uris,
    )


def _contained(triples: np.ndarray, rows: np.ndarray, num_entities: int, num_relations: int) -> np.ndarray:
    """A mask of the ``triples`` equal to one of ``rows`` (both ``[n, 3]`` int64)."""
    if num_entities * num_entities * max(num_relations, 1) < 2**62:  # one int64 code per triple
        def code(a: np.ndarray) -> np.ndarray:
            return (a[:, 0] * num_relations + a[:, 1]) * num_entities + a[:, 2]

        return np.isin(code(triples), code(rows))
    wanted = {tuple(row) for row in rows.tolist()}
    mask = np.zeros(len(triples), dtype=bool)
    for i in np.flatnonzero(np.isin(triples[:, 0], rows[:, 0])).tolist():
        mask[i] = tuple(triples[i].tolist()) in wanted
    return mask


def census_counts(census: GraphCensus) -> dict[str, Any]:
    """The census as ``meta.json`` keeps it (and as :func:`check_against` compares it)."""
    triples: Counter[str] = Counter()
    for relation, split, n in census.triples_by_type_and_split:
        triples[f"{relation}\t{split or 'train'}"] += n
    return {"entities": census.num_entities, "triples": dict(sorted(triples.items())),
            "image_links": list(census.image_links)}


def snapshot_counts(snapshot: Snapshot) -> dict[str, Any]:
    """The same counts, taken from a snapshot's arrays."""
    names = {code: name for name, code in SPLIT_CODES.items()}
    triples: Counter[str] = Counter()
    if len(snapshot.triples):
        per_pair = np.bincount(snapshot.triples[:, 1] * len(names) + snapshot.splits.astype(np.int64))
        for pair in np.flatnonzero(per_pair).tolist():
            relation, split = divmod(pair, len(names))
            triples[f"{snapshot.relation_names[relation]}\t{names[split]}"] += int(per_pair[pair])
    images = snapshot.entity_images or []
    distinct = set().union(*images) if images else set()
    return {"entities": snapshot.num_entities, "triples": dict(sorted(triples.items())),
            "image_links": [sum(len(x) for x in images), len(distinct)]}


def check_against(snapshot: Snapshot, census: GraphCensus) -> None:
    """Raise :class:`NotPatchable` naming the first count where the patch and the graph differ."""
    want, got = census_counts(census), snapshot_counts(snapshot)
    if want["entities"] != got["entities"]:
        raise NotPatchable(f"the graph has {want['entities']:,} entities, the patched snapshot "
                           f"{got['entities']:,}")
    for pair in sorted(set(want["triples"]) | set(got["triples"])):
        if want["triples"].get(pair, 0) != got["triples"].get(pair, 0):
            relation, split = pair.split("\t")
            raise NotPatchable(f"the graph has {want['triples'].get(pair, 0):,} {relation!r} {split} facts, "
                               f"the patched snapshot {got['triples'].get(pair, 0):,}")
    if want["image_links"] != got["image_links"]:
        raise NotPatchable(f"the graph has {want['image_links'][0]:,} image links, the patched snapshot "
                           f"{got['image_links'][0]:,}")


def patch_snapshot(graph: Graph, old: Snapshot, census: GraphCensus, *, watermark: Watermark, excluded: list[str],
                   fetch_size: int) -> tuple[Snapshot, Delta]:
    """Read what changed since ``old`` was made, patch it, check it against ``census``.

    Raises :class:`NotPatchable` (one-line reason) when ``old`` cannot be patched into an exact
    copy of the graph; the caller then exports everything.
    """
    meta = old.meta
    since = meta.get("sync_watermark")
    if since is None:
        raise NotPatchable("it has no sync watermark (made by an older kgstore)")
    if meta.get("namespaces") != census.namespaces:
        raise NotPatchable(f"it holds namespaces {meta.get('namespaces')}, not {census.namespaces}")
    if meta.get("database_id") != census.database_id:
        raise NotPatchable("it was exported from another database")
    if meta.get("skipped_relationships"):
        raise NotPatchable("its export skipped relationships created while it ran")
    if meta.get("sync_counter") != watermark.counter:
        raise NotPatchable("the graph's sync counter is not the one the snapshot was made with (a wiped graph?)")
    if watermark.generation < since:
        raise NotPatchable(f"the graph's sync generation ({watermark.generation}) is older than the snapshot's "
                           f"({since})")
    delta = read_delta(graph, int(since), census.namespaces, excluded=excluded, fetch_size=fetch_size)
    patched = patch(old, delta)
    check_against(patched, census)
    return patched, delta
