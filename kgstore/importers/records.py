"""What every importer yields: plain records, independent of file formats and of Neo4j.

Importers turn files into these; ``kgstore.sync`` turns these into Neo4j writes. Ids are
the dataset's own local ids (``/m/027rn``, ``user/1``); the writer adds the namespace.
Property values must be Neo4j-storable: str, int, float, bool or lists of one of those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLITS = ("train", "valid", "test")


@dataclass(slots=True)
class EntityRecord:
    """An entity with its attributes; ``labels`` become extra Neo4j labels (``:Movie``)."""

    id: str
    name: str | None = None
    description: str | None = None
    labels: tuple[str, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TripleRecord:
    """A fact ``(head) -[relation]-> (tail)``; ``split`` is the dataset's official split."""

    head: str
    relation: str
    tail: str
    split: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RelationRecord:
    """Human-readable text for a relation (labels, descriptions), stored on ``:KgRelation``."""

    name: str
    label: str | None = None
    description: str | None = None


@dataclass(slots=True)
class ImageRecord:
    """An image file that depicts an entity (a poster, a photo)."""

    entity: str
    path: Path
