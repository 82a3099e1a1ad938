"""A graph snapshot: the training input, read from Neo4j once and kept on disk.

Training never queries Neo4j per mini-batch: ``trainer.export`` streams the graph over
Bolt once into a snapshot folder, and everything after that (training, evaluation, a
GPU machine that cannot reach the database) reads the folder.

Folder layout (format version 1)::

    meta.json           fingerprint, counts, namespaces, source URI, creation time
    entities.parquet    index, key, name, description, labels   (row i = entity i)
    relations.parquet   index, name                              (row j = relation j)
    triples.npy         int64 [N, 3]  (head index, relation index, tail index)
    splits.npy          uint8 [N]     0 = train, 1 = valid, 2 = test
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}


@dataclass
class Snapshot:
    """Integer triples with their vocabularies; ``entity_keys[i]`` names entity ``i``."""

    entity_keys: list[str]
    relation_names: list[str]
    triples: np.ndarray  # int64 [N, 3]
    splits: np.ndarray  # uint8 [N]
    entity_text: dict[str, list[str | None]] = field(default_factory=dict)  # "name", "description"
    entity_labels: list[list[str]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_entities(self) -> int:
        return len(self.entity_keys)

    @property
    def num_relations(self) -> int:
        return len(self.relation_names)

    @property
    def fingerprint(self) -> str | None:
        return self.meta.get("fingerprint")

    def split(self, name: str) -> np.ndarray:
        """The ``[n, 3]`` triples of one split (``train``, ``valid`` or ``test``)."""
        if name not in SPLIT_CODES:
            raise ValueError(f"unknown split {name!r}: use one of {', '.join(SPLIT_CODES)}")
        return self.triples[self.splits == SPLIT_CODES[name]]

    @classmethod
    def from_labeled(
        cls,
        splits: dict[str, list[tuple[str, str, str]]],
        *,
        meta: dict[str, Any] | None = None,
    ) -> Snapshot:
        """Build a snapshot from string triples per split (tests, benchmarks, PyKEEN files)."""
        entities: dict[str, int] = {}
        relations: dict[str, int] = {}
        rows, codes = [], []
        for split, triples in splits.items():
            for head, relation, tail in triples:
                h = entities.setdefault(head, len(entities))
                r = relations.setdefault(relation, len(relations))
                t = entities.setdefault(tail, len(entities))
                rows.append((h, r, t))
                codes.append(SPLIT_CODES[split])
        return cls(
            entity_keys=list(entities), relation_names=list(relations),
            triples=np.asarray(rows, dtype=np.int64).reshape(-1, 3),
            splits=np.asarray(codes, dtype=np.uint8), meta=dict(meta or {}),
        )

    # -- disk ----------------------------------------------------------------
    def save(self, path: Path) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        columns: dict[str, Any] = {"index": list(range(self.num_entities)), "key": self.entity_keys}
        for name in ("name", "description"):
            columns[name] = self.entity_text.get(name) or [None] * self.num_entities
        columns["labels"] = self.entity_labels or [[] for _ in range(self.num_entities)]
        pq.write_table(pa.table(columns), path / "entities.parquet")
        pq.write_table(pa.table({"index": list(range(self.num_relations)), "name": self.relation_names}),
                       path / "relations.parquet")
        np.save(path / "triples.npy", self.triples.astype(np.int64))
        np.save(path / "splits.npy", self.splits.astype(np.uint8))
        meta = {**self.meta, "format_version": FORMAT_VERSION, "num_entities": self.num_entities,
                "num_relations": self.num_relations,
                "num_triples": {s: int((self.splits == c).sum()) for s, c in SPLIT_CODES.items()}}
        (path / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        import pyarrow.parquet as pq

        path = Path(path)
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(f"{path} is not a kgstore snapshot (no meta.json); "
                                    "make one with `kgstore export PATH`")
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"snapshot {path} has format {meta.get('format_version')}, "
                             f"this kgstore reads {FORMAT_VERSION}: export it again")
        entities = pq.read_table(path / "entities.parquet").to_pydict()
        relations = pq.read_table(path / "relations.parquet").to_pydict()
        return cls(
            entity_keys=entities["key"], relation_names=relations["name"],
            triples=np.load(path / "triples.npy"), splits=np.load(path / "splits.npy"),
            entity_text={"name": entities["name"], "description": entities["description"]},
            entity_labels=entities["labels"], meta=meta,
        )
