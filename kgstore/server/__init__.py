"""Running things on this machine: the managed Neo4j server and the detached sidecar.

``managed`` runs Neo4j Community as a Java process whose jars ``neo4j_dist`` resolves
with Maven, with the plugin jar ``plugin_jar`` finds or builds, after ``prerequisites``
has checked Java and Maven; ``sidecar_process`` runs ``kgstore serve`` in the background.
"""

from kgstore.server.managed import ManagedServer, ServerStatus, free_port, port_in_use

__all__ = ["ManagedServer", "ServerStatus", "free_port", "port_in_use"]
