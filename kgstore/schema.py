"""Applying ``cypher/schema.cypher`` and reading back what the database holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kgstore.cypher_files import quote_identifier, read_cypher, split_statements
from kgstore.driver import Graph

SCHEMA_FILE = "schema.cypher"
INDEX_WAIT_S = 300


@dataclass(frozen=True)
class SchemaResult:
    created: list[str]
    existing: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.created)


def schema_names(graph: Graph) -> set[str]:
    """Names of all constraints and indexes (a constraint's backing index included)."""
    names = {row["name"] for row in graph.query("SHOW CONSTRAINTS YIELD name RETURN name")}
    names |= {row["name"] for row in graph.query("SHOW INDEXES YIELD name RETURN name")}
    return names


def apply_schema(graph: Graph, *, wait_s: int = INDEX_WAIT_S) -> SchemaResult:
    """Create what is missing from ``schema.cypher`` and wait until every index is ONLINE."""
    statements = split_statements(read_cypher(SCHEMA_FILE))
    before = schema_names(graph)
    for statement in statements:
        graph.query(statement, write=True)
    graph.query(f"CALL db.awaitIndexes({int(wait_s)})")
    after = schema_names(graph)
    return SchemaResult(created=sorted(after - before), existing=sorted(after & before))


def node_counts(graph: Graph) -> dict[str, int]:
    """Nodes per label, from the count store (constant time per label)."""
    labels = [row["label"] for row in graph.query("CALL db.labels() YIELD label RETURN label")]
    counts = {}
    for label in sorted(labels):
        rows = graph.query(f"MATCH (n:{quote_identifier(label)}) RETURN count(n) AS n")
        counts[label] = rows[0]["n"]
    return counts


def relationship_counts(graph: Graph) -> dict[str, int]:
    """Relationships per type, from the count store."""
    types = [row["relationshipType"] for row in
             graph.query("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType")]
    counts = {}
    for rel_type in sorted(types):
        rows = graph.query(f"MATCH ()-[r:{quote_identifier(rel_type)}]->() RETURN count(r) AS n")
        counts[rel_type] = rows[0]["n"]
    return counts


def indexes(graph: Graph) -> list[dict[str, Any]]:
    """Every index with its type, target, state and population progress."""
    return graph.query(
        "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, properties, state, "
        "populationPercent, options "
        "RETURN name, type, entityType, labelsOrTypes, properties, state, populationPercent, "
        "options.indexConfig AS config ORDER BY name"
    )


def constraints(graph: Graph) -> list[dict[str, Any]]:
    return graph.query(
        "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties "
        "RETURN name, type, labelsOrTypes, properties ORDER BY name"
    )


def database_status(graph: Graph) -> dict[str, Any]:
    """What `kgstore status` shows: the server, node and relationship counts, the indexes."""
    return {"server": graph.server_info(), "nodes": node_counts(graph), "relationships": relationship_counts(graph),
            "indexes": indexes(graph)}
