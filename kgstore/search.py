"""Nearest entities to an entity, a text or an image, in a model's vector indexes.

Owns the choice of *where* to search: an entity key is searched among the entity
vectors; a text among the entities' own text vectors and an image among their image
vectors, when the model version has them (else among the entity vectors); ``space``
overrides it. A text or image is encoded by the trainer (lazily imported), so a key
search needs neither torch nor the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from kgstore.writeback import ENTITIES, ModelVersion, current_version, nearest, require_space


@dataclass
class SearchResult:
    model: str
    version: int
    space: str  # entities, text or image
    query: str  # what was asked, in words
    rows: list[dict[str, Any]]  # key, name, score; best first


def default_space(version: ModelVersion, *, text: str | None = None, image: Path | None = None) -> str:
    """The query's own modality when the version has vectors for it, else the entity vectors."""
    own = "text" if text is not None else "image" if image is not None else ENTITIES
    return own if own in version.modalities else ENTITIES


def search(graph: Graph, home: KgstoreHome, model: str, *, key: str | None = None, text: str | None = None,
           image: Path | None = None, k: int = 10, space: str | None = None) -> SearchResult:
    """The ``k`` entities nearest to exactly one of ``key``, ``text`` or ``image``."""
    if sum(x is not None for x in (key, text, image)) != 1:
        raise KgstoreError("give exactly one of a key, a text or an image to search by")
    version = require_space(current_version(graph, model), model)
    space = space or default_space(version, text=text, image=image)
    require_space(version, model, space)  # before encoding the query: a missing space fails fast
    if key is not None:
        rows = nearest(graph, model, key=key, k=k, space=space, version=version)
        query = key
    else:
        from trainer.pipeline import query_vector

        vector = query_vector(graph, home, model, text=text, image=image)
        rows = nearest(graph, model, vector=vector, k=k, space=space, version=version)
        query = f"text {text!r}" if text is not None else f"image {image}"
    return SearchResult(model=model, version=version.version, space=space, query=query, rows=rows)
