"""The Cypher that asks a node vector index for its nearest nodes, as this server offers it.

The one place that branches on the server's version for vector search (the plugin's
``Nearest.vectorQuery`` is its Java twin). Neo4j 2026.01 and newer answer the Cypher 25
``SEARCH`` subclause, which replaces the procedure ``db.index.vector.queryNodes``
(deprecated from 2026.04); Neo4j 5.26 and the 2025 releases only have the procedure.
Both queries take ``$vector`` and ``$k`` and return ``node`` and ``score``, best first.
"""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kgstore.driver import Graph

SEARCH_CLAUSE_SINCE = (2026, 1)
_SEARCH_CLAUSE: weakref.WeakKeyDictionary[Graph, bool] = weakref.WeakKeyDictionary()


def has_search_clause(version: str) -> bool:
    """True when Neo4j ``version`` (``5.26.30``, ``2026.08.1``) answers the Cypher ``SEARCH`` subclause."""
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    return parts >= SEARCH_CLAUSE_SINCE


def node_vector_query(index: str, *, search_clause: bool) -> str:
    """``MATCH``/``CALL`` text returning ``node, score`` for ``$vector`` and ``$k`` on ``index``.

    The ``SEARCH`` subclause takes the index as a name in the query, not as a parameter:
    it is quoted as an identifier.
    """
    if not search_clause:
        return "CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score"
    name = "`" + index.replace("`", "``") + "`"
    return (f"CYPHER 25 MATCH (node) SEARCH node IN (VECTOR INDEX {name} FOR $vector LIMIT $k) "
            "SCORE AS score WITH node, score")


def nearest_nodes_query(graph: Graph, index: str) -> str:
    """:func:`node_vector_query` for the server ``graph`` is connected to (its version read once)."""
    search_clause = _SEARCH_CLAUSE.get(graph)
    if search_clause is None:
        search_clause = has_search_clause(graph.server_info()["version"])
        _SEARCH_CLAUSE[graph] = search_clause
    return node_vector_query(index, search_clause=search_clause)
