"""Dataset importers: files in, records out (``kgstore.sync`` writes them to Neo4j)."""
