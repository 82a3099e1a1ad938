"""kgstore: make a Neo4j database learn.

The light half of kgstore: Neo4j connection and config, schema, the ``kgstore`` CLI,
dataset importers, the managed local Neo4j server and write-back. It never imports
torch; the heavy half lives in the ``trainer`` package.
"""

from kgstore.driver import Graph, WriteSummary, connect
from kgstore.errors import ConnectionFailed, KgstoreError, PrerequisiteError, ServerError

__version__ = "0.1.0"

__all__ = [
    "ConnectionFailed",
    "Graph",
    "KgstoreError",
    "PrerequisiteError",
    "ServerError",
    "WriteSummary",
    "__version__",
    "connect",
]
