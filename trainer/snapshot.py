"""A graph snapshot: the training input, read from Neo4j once and kept on disk.

Training never queries Neo4j per mini-batch: ``trainer.export`` streams the graph over
Bolt once into a snapshot folder, and everything after that (training, evaluation, a
GPU machine that cannot reach the database) reads the folder.

Folder layout (format version 2)::

    meta.json           fingerprint, counts, namespaces, source URI, creation time
    entities.parquet    index, key, name, description, labels, images   (row i = entity i)
    relations.parquet   index, name                              (row j = relation j)
    images.parquet      sha256, uri                  (one row per distinct image)
    triples.npy         int64 [N, 3]  (head index, relation index, tail index)
    splits.npy          uint8 [N]     0 = train, 1 = valid, 2 = test
    features/           cached text/image encoder outputs (trainer.feature_cache),
                        carried over when the snapshot is exported again

An entity's ``images`` are the sha256 of its ``(:Image)`` nodes (``HAS_IMAGE``); the
bytes stay in the image store, ``images.parquet`` gives each one's ``file://`` URI.
Version 1 (no images) still loads, as a snapshot whose entities have no images.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
SPLIT_CODES = {"train": 0, "valid": 1, "test": 2}
VALID_FRACTION = 0.05  # of train, held out for model selection when a graph has no valid split
VALID_CAP = 10_000
META_FILE = "meta.json"
FEATURES_DIR = "features"


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
    entity_images: list[list[str]] | None = None  # sha256 of each entity's images
    image_uris: dict[str, str] = field(default_factory=dict)  # sha256 -> file:// URI (or path)
    path: Path | None = field(default=None, compare=False, repr=False)  # the folder it was loaded from/saved to

    @property
    def num_entities(self) -> int:
        return len(self.entity_keys)

    @property
    def num_relations(self) -> int:
        return len(self.relation_names)

    @property
    def num_images(self) -> int:
        return len(self.image_uris)

    @property
    def feature_dir(self) -> Path | None:
        """Where encoder features are cached (``<snapshot>/features``); None for an unsaved snapshot."""
        return self.path / FEATURES_DIR if self.path is not None else None

    @property
    def fingerprint(self) -> str | None:
        return self.meta.get("fingerprint")

    def with_valid_from_train(self, *, fraction: float = VALID_FRACTION, cap: int = VALID_CAP,
                              seed: int = 0) -> tuple[Snapshot, int]:
        """A copy whose valid split is a seeded slice of the train triples, and the slice's size.

        For graphs without a valid split (MovieLens-100K's official u1 has none): early stopping
        and the choice of the best epoch then rest on triples the model never trained on,
        while test stays untouched. A snapshot that has a valid split is returned as it is.
        """
        if (self.splits == SPLIT_CODES["valid"]).any():
            return self, 0
        train = np.flatnonzero(self.splits == SPLIT_CODES["train"])
        count = min(cap, int(len(train) * fraction))
        if count < 1:
            return self, 0
        chosen = np.random.default_rng(seed).choice(train, size=count, replace=False)
        splits = self.splits.copy()
        splits[chosen] = SPLIT_CODES["valid"]
        return dataclasses.replace(self, splits=splits), count

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

    @classmethod
    def from_records(
        cls,
        *,
        entities: Iterable[Any],
        triples: Iterable[tuple[str, str, str, str]],
        images: Iterable[tuple[str, Path]] = (),
        meta: dict[str, Any] | None = None,
    ) -> Snapshot:
        """Build a snapshot without Neo4j (benchmarks, tests): importer records in, snapshot out.

        ``entities`` have ``id``, ``name``, ``description`` and ``labels`` (as
        :class:`kgstore.importers.records.EntityRecord`); ``triples`` are ``(head id,
        relation, tail id, split)``; ``images`` are ``(entity id, file path)``. Keys are
        the ids as given, entities in the given order, relations in order of their name;
        images are keyed by the sha256 of their bytes with the file's URI, as a sync stores them.
        """
        import hashlib

        records = list(entities)
        index = {record.id: i for i, record in enumerate(records)}
        rows = list(triples)
        relations = sorted({r for _, r, _, _ in rows})
        relation_index = {name: i for i, name in enumerate(relations)}
        missing = sorted({x for h, _, t, _ in rows for x in (h, t) if x not in index})
        if missing:
            raise ValueError(f"{len(missing)} triple ends are not among the entities, e.g. {missing[:3]}")
        entity_images: list[list[str]] = [[] for _ in records]
        image_uris: dict[str, str] = {}
        for entity, file in images:
            file = Path(file)
            sha = hashlib.sha256(file.read_bytes()).hexdigest()
            entity_images[index[entity]].append(sha)
            image_uris[sha] = file.resolve().as_uri()
        return cls(
            entity_keys=[record.id for record in records], relation_names=relations,
            triples=np.asarray([(index[h], relation_index[r], index[t]) for h, r, t, _ in rows],
                               dtype=np.int64).reshape(-1, 3),
            splits=np.asarray([SPLIT_CODES[split] for *_, split in rows], dtype=np.uint8),
            entity_text={"name": [record.name for record in records],
                         "description": [record.description for record in records]},
            entity_labels=[sorted(record.labels) for record in records], meta=dict(meta or {}),
            entity_images=[sorted(shas) for shas in entity_images], image_uris=image_uris,
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
        columns["images"] = pa.array(self.entity_images or [[] for _ in range(self.num_entities)],
                                     type=pa.list_(pa.string()))
        pq.write_table(pa.table(columns), path / "entities.parquet")
        shas = sorted(self.image_uris)
        pq.write_table(pa.table({"sha256": pa.array(shas, type=pa.string()),
                                 "uri": pa.array([self.image_uris[s] for s in shas], type=pa.string())}),
                       path / "images.parquet")
        pq.write_table(pa.table({"index": list(range(self.num_relations)), "name": self.relation_names}),
                       path / "relations.parquet")
        np.save(path / "triples.npy", self.triples.astype(np.int64))
        np.save(path / "splits.npy", self.splits.astype(np.uint8))
        meta = {**self.meta, "format_version": FORMAT_VERSION, "num_entities": self.num_entities,
                "num_relations": self.num_relations, "num_images": self.num_images,
                "num_triples": {s: int((self.splits == c).sum()) for s, c in SPLIT_CODES.items()}}
        (path / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        self.path = path
        return path

    @staticmethod
    def read_meta(path: Path) -> dict[str, Any] | None:
        """The ``meta.json`` of the snapshot folder ``path`` alone (None when there is none)."""
        meta_file = Path(path) / META_FILE
        return json.loads(meta_file.read_text()) if meta_file.is_file() else None

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        import pyarrow.parquet as pq

        path = Path(path)
        meta = cls.read_meta(path)
        if meta is None:
            raise FileNotFoundError(f"{path} is not a kgstore snapshot (no {META_FILE}); "
                                    "make one with `kgstore export PATH`")
        if meta.get("format_version") not in READABLE_VERSIONS:
            raise ValueError(f"snapshot {path} has format {meta.get('format_version')}, "
                             f"this kgstore reads {', '.join(map(str, READABLE_VERSIONS))}: export it again")
        entities = pq.read_table(path / "entities.parquet").to_pydict()
        relations = pq.read_table(path / "relations.parquet").to_pydict()
        image_uris: dict[str, str] = {}
        if (path / "images.parquet").is_file():
            images = pq.read_table(path / "images.parquet").to_pydict()
            image_uris = dict(zip(images["sha256"], images["uri"], strict=True))
        return cls(
            entity_keys=entities["key"], relation_names=relations["name"],
            triples=np.load(path / "triples.npy"), splits=np.load(path / "splits.npy"),
            entity_text={"name": entities["name"], "description": entities["description"]},
            entity_labels=entities["labels"], meta=meta,
            entity_images=entities.get("images"), image_uris=image_uris, path=path,
        )
