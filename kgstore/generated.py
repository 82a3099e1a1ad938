"""Generated images in the graph: written, listed and dropped, never mistaken for real ones.

A generated image is ``(:Image:GeneratedImage {sha256, mime, width, height, uri,
generated: true, model, version, seed, created_at})`` linked
``(:Entity)-[:KGSTORE_GENERATED]->(image)``; its bytes sit in the content-addressed image
store like any image's. The export reads images only through ``HAS_IMAGE`` and skips any
``:Image`` with ``generated`` set, so generated images never become training images,
posters in the feature cache, or facts. The plugin's ``kgstore.imagine(..., {write: true})``
writes the same node with the same statement shape (``io.kgstore.plugin.Imagine``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kgstore.driver import Graph
from kgstore.graph_names import ENTITY, ENTITY_KEY, GENERATED, GENERATED_FLAG, GENERATED_IMAGE, IMAGE

WRITE = f"""
MATCH (e:{ENTITY} {{{ENTITY_KEY}: $key}})
MERGE (i:{IMAGE} {{sha256: $sha256}})
ON CREATE SET i:{GENERATED_IMAGE}, i.{GENERATED_FLAG} = true, i.mime = $mime, i.width = $width, i.height = $height,
              i.uri = $uri, i.model = $model, i.version = $version, i.seed = $seed, i.created_at = datetime()
MERGE (e)-[:{GENERATED}]->(i)
RETURN i.sha256 AS sha256, i.{GENERATED_FLAG} AS generated
"""

LIST = f"""
MATCH (i:{IMAGE}:{GENERATED_IMAGE}) WHERE $model IS NULL OR i.model = $model
OPTIONAL MATCH (e:{ENTITY})-[:{GENERATED}]->(i)
RETURN i.sha256 AS sha256, collect(e.{ENTITY_KEY}) AS entities, i.model AS model, i.version AS version,
       i.seed AS seed, i.width AS width, i.height AS height, i.uri AS uri, toString(i.created_at) AS created_at
ORDER BY created_at, sha256
"""

DROP = f"""
MATCH (i:{IMAGE}:{GENERATED_IMAGE}) WHERE $model IS NULL OR i.model = $model
WITH i, i.uri AS uri, i.sha256 AS sha256
DETACH DELETE i
RETURN uri, sha256
"""

# Whether any node still points at a file (a real :Image of the same bytes, say): then it stays.
STILL_USED = f"MATCH (i:{IMAGE}) WHERE i.uri IN $uris RETURN collect(DISTINCT i.uri) AS uris"

CYPHER_DROP = f"MATCH (i:{IMAGE}:{GENERATED_IMAGE}) DETACH DELETE i"  # the one-liner (files stay on disk)


class NotWritten(ValueError):
    """The entity to link a generated image to is not in the graph."""


@dataclass(frozen=True)
class Dropped:
    nodes: int
    files: int
    kept_files: int  # still referenced by another :Image node, or outside the image store


def write_generated_image(graph: Graph, *, key: str, sha256: str, uri: str, width: int, height: int, model: str,
                          version: str, seed: int, mime: str = "image/png") -> None:
    """Link a generated image (already in the store) to entity ``key``; the same bytes again change nothing."""
    rows = graph.query(WRITE, {"key": key, "sha256": sha256, "mime": mime, "width": width, "height": height,
                               "uri": uri, "model": model, "version": version, "seed": seed}, write=True)
    if not rows:
        raise NotWritten(f"entity {key!r} is not in the graph: nothing was written")
    if not rows[0]["generated"]:
        raise NotWritten(f"the image {sha256} is a real image of the graph: it was not marked as generated")


def list_generated(graph: Graph, *, model: str | None = None) -> list[dict[str, Any]]:
    return graph.query(LIST, {"model": model})


def drop_generated(graph: Graph, *, model: str | None = None, image_store: Path | None = None) -> Dropped:
    """Delete the generated images (of ``model``, or all), their edges and, when nothing else
    points at them, their files inside ``image_store``."""
    rows = graph.query(DROP, {"model": model}, write=True)
    uris = [r["uri"] for r in rows if r["uri"]]
    used = set(graph.query(STILL_USED, {"uris": uris})[0]["uris"]) if uris else set()
    root = image_store.resolve() if image_store else None
    removed = kept = 0
    for uri in uris:
        path = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)
        inside = root is not None and path.resolve().is_relative_to(root)
        if uri in used or not inside:
            kept += 1
            continue
        if path.is_file():
            path.unlink()
            removed += 1
    return Dropped(nodes=len(rows), files=removed, kept_files=kept)
