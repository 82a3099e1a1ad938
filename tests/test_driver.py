"""The Graph object: retried transactions, the batched UNWIND helper, the neomodel classes."""

from __future__ import annotations

import pytest

from kgstore.driver import Graph
from kgstore.schema import apply_schema


def test_unwind_batches_and_counts(graph: Graph) -> None:
    apply_schema(graph)
    rows = [{"key": f"k{i}", "name": f"entity {i}"} for i in range(12)]
    seen: list[int] = []
    cypher = "UNWIND $rows AS row MERGE (e:Entity {key: row.key}) SET e.name = row.name"
    summary = graph.unwind(cypher, rows, batch_size=5, on_batch=seen.append)
    assert (summary.rows, summary.batches, seen) == (12, 3, [5, 5, 2])
    assert summary.counters["nodes_created"] == 12
    again = graph.unwind(cypher, rows, batch_size=5)
    assert again.counters.get("nodes_created", 0) == 0
    assert graph.query("MATCH (e:Entity) RETURN count(e) AS n") == [{"n": 12}]


def test_unwind_failed_batch_is_not_half_written(graph: Graph) -> None:
    apply_schema(graph)
    graph.query("CREATE (:Entity {key: 'taken'})", write=True)
    rows = [{"key": "fresh-1"}, {"key": "fresh-2"}, {"key": "taken"}]
    with pytest.raises(Exception, match="already exists"):
        graph.unwind("UNWIND $rows AS row CREATE (:Entity {key: row.key})", rows, batch_size=10)
    assert graph.query("MATCH (e:Entity) RETURN count(e) AS n") == [{"n": 1}]


def test_unwind_rejects_bad_batch_size(graph: Graph) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        graph.unwind("UNWIND $rows AS row RETURN row", [{}], batch_size=0)


def test_neomodel_classes_read_and_write_the_same_nodes(graph: Graph) -> None:
    from kgstore import ogm

    apply_schema(graph)
    ogm.bind(graph)
    movie = ogm.Entity(key="ml:movie/1", name="Toy Story (1995)", dataset="ml").save()
    poster = ogm.Image(sha256="ab" * 32, mime="image/jpeg", width=92, height=138).save()
    movie.images.connect(poster)
    rows = graph.query("MATCH (e:Entity {key: 'ml:movie/1'})-[:HAS_IMAGE]->(i:Image) "
                       "RETURN e.name AS name, i.width AS width")
    assert rows == [{"name": "Toy Story (1995)", "width": 92}]
    assert ogm.Entity.nodes.get(key="ml:movie/1").name == "Toy Story (1995)"
