"""neomodel classes for kgstore's nodes: a convenience for users who like an OGM.

kgstore itself writes through batched Cypher (``Graph.unwind``); these classes are for
application code that wants ``Entity.nodes.get(key=...)``. Bind them to a connection
first::

    graph = kgstore.connect()
    kgstore.ogm.bind(graph)
    star_wars = Entity.nodes.get(key="movielens-100k:movie/50")
"""

from __future__ import annotations

from neomodel import (
    IntegerProperty,
    RelationshipTo,
    StringProperty,
    StructuredNode,
    ZeroOrMore,
    db,
)

from kgstore.driver import Graph
from kgstore.graph_names import HAS_IMAGE


def bind(graph: Graph) -> None:
    """Point neomodel at ``graph``'s driver (neomodel keeps one global connection)."""
    db.set_connection(driver=graph.driver)
    if graph.database:
        db._database_name = graph.database  # neomodel has no public setter for the database


class Image(StructuredNode):
    """An image file, stored once per distinct content (``sha256``) in the file store."""

    sha256 = StringProperty(unique_index=True, required=True)
    mime = StringProperty()
    width = IntegerProperty()
    height = IntegerProperty()
    uri = StringProperty()


class Entity(StructuredNode):
    """A knowledge-graph entity, keyed per dataset namespace (``dataset:local-id``)."""

    key = StringProperty(unique_index=True, required=True)
    dataset = StringProperty(index=True)
    name = StringProperty(index=True)
    description = StringProperty()
    images = RelationshipTo(Image, HAS_IMAGE, cardinality=ZeroOrMore)
