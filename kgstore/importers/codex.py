"""CoDEx-S: a small, clean Wikidata completion benchmark with relation texts and entity types.

Safavi & Koutra 2020 (https://arxiv.org/abs/2009.07810, https://github.com/tsafavi/codex).
Entities are Wikidata items (``Q7604``), relations Wikidata properties (``P1412``).

- Relation ``label``/``description`` come from ``relations_en.json``.
- Entity types come from ``entity2types.json`` (Wikidata ids) and their English labels
  from ``types_en.json``; they are stored as the list properties ``types`` and
  ``type_labels``, not as Neo4j labels: CoDEx-S alone uses 502 types, and hundreds of
  labels would swamp the schema (query them with ``'actor' IN e.type_labels``).
- Entity names and descriptions: CoDEx publishes them in ``entities/en/entities.json``;
  when that file is put in the folder as ``entities_en.json`` it is read. It is not in
  the shared copy (too large to stage) and not downloaded, since its checksum is not
  pinned here, so by default CoDEx entities have types but no names.

The JSON files describe all CoDEx sizes (77,951 entities, 71 relations); only entities
and relations of CoDEx-S's splits get records. The hard negatives
(``valid_negatives.txt``, ``test_negatives.txt``) are not facts and never become edges:
read them with :meth:`CodexS.hard_negatives`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from kgstore.importers.base import Download, TripleFolder, read_triple_file
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import EntityRecord, RelationRecord, TripleRecord
from kgstore.importers.text_files import json_text, read_json_object

_CODEX = ("tsafavi/codex", "3132e426c2a6b643b70bad679905a3a6270be440")
ENTITY_TEXT_FILE = "entities_en.json"


class CodexS(TripleFolder):
    """CoDEx-S triples, relation labels and descriptions, and entity types."""

    name = "codex-s"
    description = "CoDEx-S: Wikidata completion (2,034 entities, 42 relations) with relation texts and types"
    folder_names = ("CoDEx-S", "codex-s")
    required_files = ("train.txt", "valid.txt", "test.txt", "relations_en.json", "entity2types.json",
                      "types_en.json")
    optional_files = (ENTITY_TEXT_FILE, "valid_negatives.txt", "test_negatives.txt")
    licence = "MIT (tsafavi/codex); content from Wikidata (CC0) and Wikipedia (CC BY-SA)"
    expected: ClassVar[dict[str, int]] = {
        "entities": 2_034, "relations": 42, "train": 32_888, "valid": 1_827, "test": 1_828,
        "relation_labels": 42, "relation_descriptions": 42, "names": 0,
    }
    downloads = tuple(
        Download(github_raw(*_CODEX, source), sha256, filename) for source, sha256, filename in (
            ("data/triples/codex-s/train.txt",
             "64f93b7f314f3936a6f65739721429db3f6a7c8f5a1e1104ec3bb544f7434f59", "train.txt"),
            ("data/triples/codex-s/valid.txt",
             "3831c0e57daef03c3a18cdd1a72e370b496f696c5218883d35c7d2ab8a6a772c", "valid.txt"),
            ("data/triples/codex-s/test.txt",
             "27127fcb34688c4778e88a39ef3c9b540807da846021e9d9685660ac1838aca1", "test.txt"),
            ("data/triples/codex-s/valid_negatives.txt",
             "c1d84860d6ee786419f1f118d0e9479c6614283b3e267afc158734389036901f", "valid_negatives.txt"),
            ("data/triples/codex-s/test_negatives.txt",
             "d3fb32c41f3be26d09484ace571965806f1ade0ca712551b0de684c283cdbb22", "test_negatives.txt"),
            ("data/relations/en/relations.json",
             "2b467fab26430a0500e5fe82cdb9b3c4fbcfda01827ff3bfa833dc5470ad92f7", "relations_en.json"),
            ("data/types/entity2types.json",
             "9c3797961498fc312a6d62c798b250c3ad501578a8ac07c0829a2862c627a878", "entity2types.json"),
            ("data/types/en/types.json",
             "2934c3bac72fd9e7dc8a6452a84845e8fa232264aaa505c4b81cad2b0e7c5626", "types_en.json"),
            ("LICENSE", "8a8d718d139b33e7f1938aaf5c2b724f3ae1930411ca9593339d87cd5740621e", "LICENSE"),
        ))

    def entities(self) -> Iterator[EntityRecord]:
        entity_ids, _ = self.vocabulary()
        types_path, labels_path = self.root / "entity2types.json", self.root / "types_en.json"
        entity_types = read_json_object(types_path, self.errors)
        type_texts = read_json_object(labels_path, self.errors)
        texts_path = self.root / ENTITY_TEXT_FILE
        texts = read_json_object(texts_path, self.errors) if texts_path.exists() else {}
        for entity in sorted(entity_ids):
            types = self._types(types_path, entity, entity_types.get(entity, []))
            labels = [label for t in types if t in type_texts
                      and (label := json_text(labels_path, self.errors, t, type_texts[t], "label"))]
            name = description = None
            if entity in texts:
                name = json_text(texts_path, self.errors, entity, texts[entity], "label")
                description = json_text(texts_path, self.errors, entity, texts[entity], "description")
            properties: dict[str, Any] = {"types": types, "type_labels": labels}
            yield EntityRecord(entity, name=name, description=description,
                               properties={k: v for k, v in properties.items() if v})

    def _types(self, path: Path, entity: str, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            self.errors.report(path, None, f"entry {entity!r}: expected a list of type ids")
            return []
        return value

    def relations(self) -> Iterator[RelationRecord]:
        _, used = self.vocabulary()
        path = self.root / "relations_en.json"
        for relation, entry in read_json_object(path, self.errors).items():
            if relation in used:
                yield RelationRecord(relation, label=json_text(path, self.errors, relation, entry, "label"),
                                     description=json_text(path, self.errors, relation, entry, "description"))

    def hard_negatives(self) -> Iterator[TripleRecord]:
        """CoDEx's plausible-but-false triples for ``valid`` and ``test`` (for evaluation only)."""
        for split in ("valid", "test"):
            path = self.root / f"{split}_negatives.txt"
            for triple in read_triple_file(path, self.errors, split=split):
                triple.properties["negative"] = True
                yield triple
