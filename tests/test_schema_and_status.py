"""schema.cypher applies idempotently; `kgstore status` shows what the database holds."""

from __future__ import annotations

from kgstore.cypher_files import quote_identifier, read_cypher, split_statements
from kgstore.driver import Graph
from kgstore.schema import apply_schema, constraints, schema_names


def test_schema_apply_twice_changes_nothing(graph: Graph) -> None:
    first = apply_schema(graph)
    names_after_first = schema_names(graph)
    second = apply_schema(graph)
    assert not second.changed, second.created
    assert schema_names(graph) == names_after_first
    expected = {"entity_key", "image_sha256", "model_id", "entity_dataset", "entity_name",
                "entity_text"}
    assert expected <= names_after_first
    assert set(first.created) | set(first.existing) >= expected


def test_entity_key_is_unique(graph: Graph) -> None:
    apply_schema(graph)
    unique = {c["name"]: c for c in constraints(graph)}["entity_key"]
    assert unique["labelsOrTypes"] == ["Entity"] and unique["properties"] == ["key"]
    graph.query("CREATE (:Entity {key: 'k1'})", write=True)
    try:
        graph.query("CREATE (:Entity {key: 'k1'})", write=True)
    except Exception as exc:  # noqa: BLE001 - the driver raises ConstraintError
        assert "already exists" in str(exc)
    else:
        raise AssertionError("a duplicate entity key was accepted")


def test_schema_file_statements_are_idempotent_cypher() -> None:
    statements = split_statements(read_cypher("schema.cypher"))
    assert len(statements) >= 6
    assert all("IF NOT EXISTS" in s for s in statements)


def test_status_prints_counts_and_index_states(graph: Graph, run_cli) -> None:  # noqa: ANN001
    apply_schema(graph)
    rel_type = "odd type/with `ticks`"
    graph.query(
        f"CREATE (:Entity:Movie {{key: 'm1'}})-[:{quote_identifier(rel_type)}]->(:Entity {{key: 'g1'}})",
        write=True,
    )
    graph.query("CREATE VECTOR INDEX status_probe IF NOT EXISTS FOR (e:Entity) ON e.probe_vec "
                "OPTIONS {indexConfig: {`vector.dimensions`: 4, `vector.similarity_function`: 'cosine'}}",
                write=True)
    graph.query("CALL db.awaitIndexes(60)")
    result = run_cli("status", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Neo4j Kernel 5.26" in out
    assert "Movie" in out and "Entity" in out
    assert "odd type/with `ticks`" in out
    assert "status_probe" in out and "VECTOR" in out and "dim=4" in out and "cosine" in out.lower()
    assert "ONLINE" in out


def test_schema_apply_cli(graph: Graph, run_cli) -> None:  # noqa: ANN001
    first = run_cli("schema", "apply")
    assert first.exit_code == 0, first.output
    second = run_cli("schema", "apply")
    assert second.exit_code == 0
    assert "nothing changed" in second.output
