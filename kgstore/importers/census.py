"""Counting what a dataset yields, in the vocabulary of ``Dataset.expected``.

Each importer declares ``expected`` counts (taken from the data's MANIFEST); the tests
compare them with :func:`census` of the real files, and a user can do the same to
check a download. Every key has one exact meaning, below, so that "14,541 entities"
means the same thing for every dataset.
"""

from __future__ import annotations

import hashlib

from kgstore.importers.base import Dataset
from kgstore.importers.records import SPLITS

COUNT_KEYS: dict[str, str] = {
    "entities": "distinct entity ids over entity records, triple heads and tails, and image "
                "entities: the (:Entity) nodes a sync creates",
    "relations": "distinct relation names over triples and relation records",
    "train": "triples in the train split, every line counted (repeats too)",
    "valid": "triples in the valid split, every line counted",
    "test": "triples in the test split, every line counted",
    "duplicate_triples": "triples (any split) whose (head, relation, tail) came before; sync skips them",
    "names": "entity records with a non-empty name",
    "descriptions": "entity records with a non-empty description",
    "relation_labels": "relation records with a non-empty label",
    "relation_descriptions": "relation records with a non-empty description",
    "images": "image records",
}


def census(dataset: Dataset) -> dict[str, int]:
    """Read every stream of ``dataset`` once and count it; keys as in :data:`COUNT_KEYS`."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    entity_ids: set[str] = set()
    relation_names: set[str] = set()
    for entity in dataset.entities():
        entity_ids.add(entity.id)
        counts["names"] += bool(entity.name)
        counts["descriptions"] += bool(entity.description)
    for relation in dataset.relations():
        relation_names.add(relation.name)
        counts["relation_labels"] += bool(relation.label)
        counts["relation_descriptions"] += bool(relation.description)
    seen: set[bytes] = set()
    for triple in dataset.triples():
        entity_ids.add(triple.head)
        entity_ids.add(triple.tail)
        relation_names.add(triple.relation)
        split = triple.split or "train"
        if split in SPLITS:
            counts[split] += 1
        digest = hashlib.blake2b(f"{triple.head}\0{triple.relation}\0{triple.tail}".encode(),
                                 digest_size=8).digest()
        if digest in seen:
            counts["duplicate_triples"] += 1
        seen.add(digest)
    for image in dataset.images():
        entity_ids.add(image.entity)
        counts["images"] += 1
    counts["entities"] = len(entity_ids)
    counts["relations"] = len(relation_names)
    return counts
