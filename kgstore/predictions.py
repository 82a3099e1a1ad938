"""Predicted edges: how a completion is stored so that it is never mistaken for a fact.

A prediction is a relationship of the single type ``KGSTORE_PREDICTED`` between two
entities, carrying the predicted ``relation`` name, its ``score``, the ``model`` name, the
model ``version`` (checkpoint) and ``created_at``. Facts use the relation itself as their
type, so:

- snapshot export reads ``(:Entity)-[r]->(:Entity) WHERE type(r) <> 'KGSTORE_PREDICTED'``
  (training and evaluation never see a prediction);
- the Browser shows predictions as one distinct relationship type (give it its own colour);
- ``MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p`` removes them all;
- accepting one turns it into a training fact of its relation (``split = 'train'``, with
  ``accepted_from`` naming the model) and deletes the prediction, so the next training
  run learns from it.

Predictions are written by the plugin's ``kgstore.complete`` procedure (the CLI goes
through it too, so Cypher users and ``kgstore complete`` behave the same); this module
reads, removes and accepts them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.graph_names import PREDICTED

ACCEPTED_SPLIT = "train"

_FILTER = ("($model IS NULL OR p.model = $model) AND ($relation IS NULL OR p.relation = $relation) "
           "AND ($min_score IS NULL OR p.score >= $min_score)")


@dataclass(frozen=True)
class CompletionRow:
    head: str
    relation: str
    tail: str
    score: float
    created: bool


def _params(model: str | None, relation: str | None, min_score: float | None = None) -> dict[str, Any]:
    return {"model": model, "relation": relation, "min_score": min_score}


def require_plugin(graph: Graph, procedure: str) -> None:
    """Fail clearly when the server lacks the kgstore plugin (a user's own Neo4j, say)."""
    if not graph.has_procedure(procedure):
        raise KgstoreError(
            f"this Neo4j server has no {procedure} procedure: the kgstore plugin is not installed",
            hint="The managed server gets it from `kgstore server install`; for another server copy "
                 "plugin/target/kgstore-plugin-*.jar into its plugins/ folder and restart it.")


def complete(graph: Graph, relation: str, *, k: int = 1, min_score: float | None = None, limit: int = 1000,
             dry_run: bool = False, batch_size: int = 500) -> list[CompletionRow]:
    """Run ``CALL kgstore.complete`` (one transaction: all edges or none) and return its rows."""
    require_plugin(graph, "kgstore.complete")
    config: dict[str, Any] = {"k": k, "limit": limit, "dryRun": dry_run, "batchSize": batch_size}
    if min_score is not None:
        config["minScore"] = min_score
    from neo4j.exceptions import ClientError

    try:
        rows = graph.query(
            "CALL kgstore.complete($relation, $config) YIELD head, tail, score, created "
            "RETURN head.key AS head, tail.key AS tail, score, created",
            {"relation": relation, "config": config}, write=True)  # a WRITE procedure, even dry
    except ClientError as exc:
        raise KgstoreError(f"kgstore.complete failed: {exc.message}") from exc
    return [CompletionRow(r["head"], relation, r["tail"], r["score"], r["created"]) for r in rows]


def list_predictions(graph: Graph, *, model: str | None = None, relation: str | None = None,
                     min_score: float | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Predicted edges, best first."""
    return graph.query(
        f"MATCH (h:Entity)-[p:{PREDICTED}]->(t:Entity) WHERE {_FILTER} "
        "RETURN elementId(p) AS id, h.key AS head, p.relation AS relation, t.key AS tail, p.score AS score, "
        "p.model AS model, p.version AS version, p.created_at AS created_at "
        "ORDER BY p.score DESC LIMIT $limit",
        {**_params(model, relation, min_score), "limit": limit})


def count_predictions(graph: Graph, *, model: str | None = None, relation: str | None = None) -> int:
    rows = graph.query(f"MATCH ()-[p:{PREDICTED}]->() WHERE {_FILTER} RETURN count(p) AS n",
                       _params(model, relation))
    return int(rows[0]["n"])


def drop_predictions(graph: Graph, *, model: str | None = None, relation: str | None = None) -> int:
    """Delete predicted edges (all, or one model's, or one relation's); returns how many."""
    with graph.session() as session:
        summary = session.run(
            f"MATCH ()-[p:{PREDICTED}]->() WHERE {_FILTER} "
            "CALL (p) { DELETE p } IN TRANSACTIONS OF 10000 ROWS", _params(model, relation)).consume()
    return summary.counters.relationships_deleted


def accept_predictions(graph: Graph, *, model: str | None = None, relation: str | None = None,
                       min_score: float | None = None) -> int:
    """Turn predictions into training facts of their relation, in one transaction.

    The new fact keeps where it came from (``accepted_from`` model, ``score``,
    ``accepted_at``); an identical fact that already exists is not duplicated.
    """
    rows = graph.query(
        f"MATCH (h:Entity)-[p:{PREDICTED}]->(t:Entity) WHERE {_FILTER} "
        "OPTIONAL MATCH (h)-[f]->(t) WHERE type(f) = p.relation "
        "WITH h, p, t, count(f) AS existing "
        "CALL (h, p, t, existing) { "
        "  WITH * WHERE existing = 0 "
        "  CREATE (h)-[f:$(p.relation)]->(t) "
        "  SET f.split = $split, f.accepted_from = p.model, f.score = p.score, f.accepted_at = datetime() "
        "  RETURN count(f) AS made } "
        "DELETE p RETURN sum(made) AS accepted",
        {**_params(model, relation, min_score), "split": ACCEPTED_SPLIT}, write=True)
    return int(rows[0]["accepted"] or 0)
