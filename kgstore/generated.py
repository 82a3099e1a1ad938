"""Generated images and descriptions in the graph: written, listed and dropped, never
mistaken for real ones.

A generated image is ``(:Image:GeneratedImage {sha256, mime, width, height, uri,
generated: true, model, version, seed, created_at})`` linked
``(:Entity)-[:KGSTORE_GENERATED]->(image)``; its bytes sit in the content-addressed image
store like any image's. The export reads images only through ``HAS_IMAGE`` and skips any
``:Image`` with ``generated`` set, so generated images never become training images,
posters in the feature cache, or facts. The plugin's ``kgstore.imagine(..., {write: true})``
writes the same node with the same statement shape (``io.kgstore.plugin.Imagine``).

A generated description is the entity's ``generated_description`` property, with
``generated_description_model``, ``_version`` (the KG model version the generator was
trained on), ``_generator`` (its checkpoint) and ``_at``; ``description`` is never touched,
and it is the only text the export reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kgstore.driver import Graph
from kgstore.graph_names import (
    ENTITY,
    ENTITY_KEY,
    GENERATED,
    GENERATED_DESCRIPTION,
    GENERATED_DESCRIPTION_FIELDS,
    GENERATED_FLAG,
    GENERATED_IMAGE,
    IMAGE,
)

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


_MODEL_FIELD, _VERSION_FIELD, _GENERATOR_FIELD, _AT_FIELD = GENERATED_DESCRIPTION_FIELDS

MISSING_ENTITIES = f"""
UNWIND $keys AS key
OPTIONAL MATCH (e:{ENTITY} {{{ENTITY_KEY}: key}})
WITH key, e WHERE e IS NULL
RETURN collect(key) AS missing
"""

WRITE_DESCRIPTIONS = f"""
UNWIND $rows AS row
MATCH (e:{ENTITY} {{{ENTITY_KEY}: row.key}})
SET e.{GENERATED_DESCRIPTION} = row.text, e.{_MODEL_FIELD} = $model, e.{_VERSION_FIELD} = $version,
    e.{_GENERATOR_FIELD} = $generator, e.{_AT_FIELD} = datetime()
RETURN count(e) AS written
"""

# Entities with neither their own description nor a generated one: what `describe --undescribed` fills.
UNDESCRIBED = f"""
MATCH (e:{ENTITY})
WHERE (e.description IS NULL OR trim(e.description) = '') AND e.{GENERATED_DESCRIPTION} IS NULL
RETURN e.{ENTITY_KEY} AS key ORDER BY key
"""

LIST_DESCRIPTIONS = f"""
MATCH (e:{ENTITY}) WHERE e.{GENERATED_DESCRIPTION} IS NOT NULL AND ($model IS NULL OR e.{_MODEL_FIELD} = $model)
RETURN e.{ENTITY_KEY} AS key, e.{GENERATED_DESCRIPTION} AS text, e.{_MODEL_FIELD} AS model,
       e.{_VERSION_FIELD} AS version, e.{_GENERATOR_FIELD} AS generator, toString(e.{_AT_FIELD}) AS created_at
ORDER BY key
"""

_REMOVE = ", ".join(f"e.{name}" for name in (GENERATED_DESCRIPTION, *GENERATED_DESCRIPTION_FIELDS))
DROP_DESCRIPTIONS = f"""
MATCH (e:{ENTITY}) WHERE e.{GENERATED_DESCRIPTION} IS NOT NULL AND ($model IS NULL OR e.{_MODEL_FIELD} = $model)
REMOVE {_REMOVE}
RETURN count(e) AS dropped
"""


class NotWritten(ValueError):
    """The entity a generated image or description belongs to is not in the graph."""


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


def write_generated_descriptions(graph: Graph, texts: dict[str, str], *, model: str, version: str,
                                 generator: str) -> int:
    """Store each key's generated text on its entity, in one transaction; when any key is not
    in the graph, nothing is written (:class:`NotWritten` names it)."""
    missing = graph.query(MISSING_ENTITIES, {"keys": list(texts)})[0]["missing"]
    if missing:
        raise NotWritten(f"entity {missing[0]!r} is not in the graph ({len(missing)} of {len(texts)} keys missing): "
                         "nothing was written")
    rows = [{"key": key, "text": text} for key, text in texts.items()]
    result = graph.query(WRITE_DESCRIPTIONS, {"rows": rows, "model": model, "version": version,
                                              "generator": generator}, write=True)
    return int(result[0]["written"])


def undescribed_keys(graph: Graph) -> list[str]:
    """Keys of the entities with neither a description nor a generated one, in key order."""
    return [row["key"] for row in graph.query(UNDESCRIBED)]


def list_generated_descriptions(graph: Graph, *, model: str | None = None) -> list[dict[str, Any]]:
    return graph.query(LIST_DESCRIPTIONS, {"model": model})


def drop_generated_descriptions(graph: Graph, *, model: str | None = None) -> int:
    """Remove the generated descriptions (of ``model``, or all); ``description`` stays."""
    return int(graph.query(DROP_DESCRIPTIONS, {"model": model}, write=True)[0]["dropped"])
