"""`kgstore predictions list|drop|accept` on predicted edges.

The edges here are written in Cypher with the shape ``kgstore.complete`` writes (the
procedure itself is exercised with a real sidecar in test_procedures.py), so these tests
need neither the sidecar nor a trained model.
"""

from __future__ import annotations

import pytest

from kgstore import predictions
from kgstore.driver import Graph
from kgstore.errors import KgstoreError

SETUP = """
CREATE (a:Entity {key: 't:a', name: 'A'}), (b:Entity {key: 't:b'}), (c:Entity {key: 't:c'})
CREATE (a)-[:`likes / weird`  {split: 'train'}]->(b)
CREATE (a)-[:KGSTORE_PREDICTED {relation: 'likes / weird', score: 0.9, model: 'm1', version: 'v1',
                                created_at: datetime()}]->(c)
CREATE (b)-[:KGSTORE_PREDICTED {relation: 'likes / weird', score: 0.2, model: 'm2', version: 'v1',
                                created_at: datetime()}]->(c)
CREATE (c)-[:KGSTORE_PREDICTED {relation: 'other', score: 0.5, model: 'm1', version: 'v1',
                                created_at: datetime()}]->(a)
"""


def _facts(graph: Graph) -> list[dict]:
    return graph.query("MATCH (h)-[r]->(t) WHERE type(r) <> 'KGSTORE_PREDICTED' "
                       "RETURN h.key AS h, type(r) AS r, t.key AS t, r.split AS split, "
                       "r.accepted_from AS source ORDER BY h, r, t")


def test_list_filters_and_orders_by_score(graph: Graph, run_cli) -> None:
    graph.query(SETUP, write=True)
    rows = predictions.list_predictions(graph)
    assert [r["score"] for r in rows] == [0.9, 0.5, 0.2]
    assert [r["tail"] for r in predictions.list_predictions(graph, model="m1", relation="likes / weird")] == ["t:c"]
    assert predictions.count_predictions(graph, model="m1") == 2
    assert len(predictions.list_predictions(graph, min_score=0.4)) == 2

    result = run_cli("predictions", "list", "--relation", "likes / weird")
    assert result.exit_code == 0, result.output
    assert "t:a" in result.output and "0.9000" in result.output and "m1@v1" in result.output
    assert "2 of 2" in result.output
    empty = run_cli("predictions", "list", "--model", "nope")
    assert empty.exit_code == 0 and "No predicted edges match" in empty.output


def test_drop_removes_only_matching_predictions_never_facts(graph: Graph, run_cli) -> None:
    graph.query(SETUP, write=True)
    before = _facts(graph)
    result = run_cli("predictions", "drop", "--model", "m1", "--yes")
    assert result.exit_code == 0 and "Dropped 2 predicted edges" in result.output, result.output
    assert predictions.count_predictions(graph) == 1
    assert _facts(graph) == before
    # Without --yes the command asks, and "n" keeps everything.
    refused = run_cli("predictions", "drop")
    assert refused.exit_code != 0 and predictions.count_predictions(graph) == 1


def test_accept_turns_predictions_into_training_facts_once(graph: Graph, run_cli) -> None:
    graph.query(SETUP, write=True)
    # An identical fact already exists for one of them: it must not be duplicated.
    graph.query("MATCH (b:Entity {key: 't:b'}), (c:Entity {key: 't:c'}) "
                "CREATE (b)-[:`likes / weird` {split: 'test'}]->(c)", write=True)
    result = run_cli("predictions", "accept", "--relation", "likes / weird")
    assert result.exit_code == 0, result.output
    assert "Accepted 1 predictions" in result.output
    facts = _facts(graph)
    assert {"h": "t:a", "r": "likes / weird", "t": "t:c", "split": "train", "source": "m1"} in facts
    assert sum(1 for f in facts if (f["h"], f["t"]) == ("t:b", "t:c")) == 1
    # Both predictions of that relation are gone; the other relation's stays.
    assert [r["relation"] for r in predictions.list_predictions(graph)] == ["other"]


def test_a_missing_plugin_procedure_is_a_clear_error(graph: Graph) -> None:
    """The session server has the plugin; asking for a procedure it lacks shows the message."""
    with pytest.raises(KgstoreError) as info:
        predictions.require_plugin(graph, "kgstore.no_such_procedure")
    assert "plugin is not installed" in str(info.value) and "plugins/" in str(info.value)
