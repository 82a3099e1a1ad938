"""Datasets in OpenKE's id format: DB15K and MKG-Y (multimodal KG benchmarks, structure only).

OpenKE (https://github.com/thunlp/OpenKE) stores a graph as integer ids:

- ``entity2id.txt`` / ``relation2id.txt``: first line the count, then ``name id``;
- ``train2id.txt`` / ``valid2id.txt`` / ``test2id.txt``: first line the count, then
  ``head tail relation`` ids (relation last).

Fields are separated by a tab or a space (both occur in the wild). The header counts
are checked against the rows. Entities and relations are imported by name, not id:
DBpedia URIs lose their angle brackets (``<http://dbpedia.org/resource/Anarchism>``
-> ``http://dbpedia.org/resource/Anarchism``), and each entity keeps its integer id as
``openke_id``, the row index of the external image and text feature files published
for these benchmarks (not included). Names and relation labels are derived from the
identifiers (``Anarchism``, ``wasBornIn`` -> "was born in"), since the graphs ship no
text.

.. note:: The published DB15K split repeats triples: 9,007 of the 9,904 lines of
   ``valid2id.txt`` repeat a train triple (6,584 distinct ones) or an earlier valid line,
   and 824 test triples are also in valid (9,831 repeats in all,
   ``expected["duplicate_triples"]``).
   Every line is yielded as published; ``kgstore sync`` writes each triple once, with
   the split of its first occurrence. MKG-Y has no repeats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote

from kgstore.importers.base import Dataset, Download
from kgstore.importers.delimited import read_rows
from kgstore.importers.fetch import github_raw
from kgstore.importers.records import SPLITS, EntityRecord, RelationRecord, TripleRecord

_ADAMF = ("zjukg/AdaMF-MAT", "50930e9b28aed57133bedfc281391185ac9b68a4")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def strip_brackets(name: str) -> str:
    """``<uri>`` -> ``uri``; other names unchanged."""
    return name[1:-1] if name.startswith("<") and name.endswith(">") else name


def readable(identifier: str, *, split_camel_case: bool = False) -> str:
    """A display text for an identifier: the part after DBpedia's ``/resource/`` (which may hold
    a ``/``: ``AC/DC``) or else after the last ``/`` or ``#``, with ``_`` as spaces; relation
    names are also split at camelCase (``wasBornIn`` -> "was born in")."""
    _, marker, resource = identifier.partition("/resource/")
    tail = resource if marker else re.split(r"[/#]", identifier.rstrip("/"))[-1] or identifier
    text = unquote(tail).replace("_", " ")
    if split_camel_case:
        text = _CAMEL.sub(" ", text).lower()
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    entities: dict[int, str]
    relations: dict[int, str]


class OpenKEFolder(Dataset):
    """A folder of OpenKE id files; subclasses name the dataset and its downloads."""

    required_files = ("entity2id.txt", "relation2id.txt", "train2id.txt", "valid2id.txt", "test2id.txt")

    @classmethod
    def declared_entities(cls, root: Path) -> int | None:
        """The entity count on the first line of ``entity2id.txt`` (None when unreadable)."""
        try:
            with (root / "entity2id.txt").open("rb") as handle:
                first = handle.readline(64).strip()
        except OSError:
            return None
        return int(first) if first.isdigit() else None

    @classmethod
    def mismatch(cls, root: Path) -> str | None:
        """Why ``root`` is not this named dataset (all OpenKE folders share one layout), or None.

        A folder whose ``entity2id.txt`` declares another entity count than ``expected`` is
        some other graph: filing it under this dataset's namespace would mislabel it.
        """
        expected = cls.expected.get("entities")
        declared = cls.declared_entities(root)
        if not cls.name or expected is None or declared is None or declared == expected:
            return None
        return f"its entity2id.txt declares {declared:,} entities, {cls.name} has {expected:,}"

    @cached_property
    def _vocabulary(self) -> _Vocabulary:
        """Both id maps, read once per instance (the triple stream resolves ids through them)."""
        return _Vocabulary(self._read_ids(self.root / "entity2id.txt"),
                           self._read_ids(self.root / "relation2id.txt"))

    def _header(self, path: Path, number: int, fields: list[str]) -> int | None:
        text = " ".join(fields).strip()
        if not text.isdigit():
            self.errors.report(path, number, f"the first line of an OpenKE file is the row count, found {text!r}")
            return None
        return int(text)

    def _check_count(self, path: Path, declared: int | None, rows: int) -> None:
        if declared is not None and declared != rows:
            self.errors.report(path, 1, f"the header says {declared:,} rows, the file has {rows:,}")

    def _read_ids(self, path: Path) -> dict[int, str]:
        """``{id: name}``; repeated ids or names are reported (the map must be one-to-one)."""
        by_id: dict[int, str] = {}
        names: set[str] = set()
        declared: int | None = None
        rows = 0
        for number, fields in read_rows(path, self.errors):
            if number == 1:
                declared = self._header(path, number, fields)
                continue
            rows += 1
            parts = "\t".join(fields).rsplit(maxsplit=1)
            if len(parts) != 2 or not parts[1].isdigit():
                self.errors.report(path, number, f"expected 'name id', found {' '.join(fields)!r}")
                continue
            name, index = strip_brackets(parts[0].strip()), int(parts[1])
            if index in by_id or name in names:
                self.errors.report(path, number, f"{name!r} / id {index} appears twice")
                continue
            by_id[index] = name
            names.add(name)
        self._check_count(path, declared, rows)
        return by_id

    def entities(self) -> Iterator[EntityRecord]:
        for index, name in sorted(self._vocabulary.entities.items()):
            yield EntityRecord(name, name=readable(name) or None, properties={"openke_id": index})

    def relations(self) -> Iterator[RelationRecord]:
        for _, name in sorted(self._vocabulary.relations.items()):
            yield RelationRecord(name, label=readable(name, split_camel_case=True) or None)

    def triples(self) -> Iterator[TripleRecord]:
        vocabulary = self._vocabulary
        for split in SPLITS:
            path = self.root / f"{split}2id.txt"
            declared: int | None = None
            rows = 0
            for number, fields in read_rows(path, self.errors):
                if number == 1:
                    declared = self._header(path, number, fields)
                    continue
                rows += 1
                parts = "\t".join(fields).split()
                if len(parts) != 3 or not all(p.isdigit() for p in parts):
                    self.errors.report(path, number, f"expected three ids 'head tail relation', "
                                       f"found {' '.join(fields)!r}")
                    continue
                head, tail, relation = (int(p) for p in parts)
                unknown = [f"{what} id {i}" for what, i, known in (
                    ("entity", head, vocabulary.entities), ("entity", tail, vocabulary.entities),
                    ("relation", relation, vocabulary.relations)) if i not in known]
                if unknown:
                    self.errors.report(path, number, f"{', '.join(unknown)} not in entity2id/relation2id")
                    continue
                yield TripleRecord(vocabulary.entities[head], vocabulary.relations[relation],
                                   vocabulary.entities[tail], split)
            self._check_count(path, declared, rows)


def _adamf_downloads(folder: str, hashes: dict[str, str]) -> tuple[Download, ...]:
    return tuple(Download(github_raw(*_ADAMF, f"benchmarks/{folder}/{name}"), sha256, name)
                 for name, sha256 in hashes.items())


class DB15K(OpenKEFolder):
    """DB15K (Liu et al. 2019, MMKG): a DBpedia subgraph aligned with FB15K, as in zjukg/AdaMF-MAT."""

    name = "db15k"
    description = "DB15K: DBpedia multimodal KG benchmark, structure only (12,842 entities, 279 relations)"
    folder_names = ("MMKG-structure/DB15K", "DB15K", "db15k")
    licence = "DBpedia content CC BY-SA 3.0; split from zjukg/AdaMF-MAT (MMKG, Liu et al. 2019)"
    expected: ClassVar[dict[str, int]] = {
        "entities": 12_842, "relations": 279, "train": 79_222, "valid": 9_904, "test": 9_902,
        "duplicate_triples": 9_831, "names": 12_842, "relation_labels": 279,
    }
    downloads = _adamf_downloads("DB15K", {
        "entity2id.txt": "8f8d070f1bb24d07ed3050e4e4e780cb7f2245d0b14db3346e8db4fa55981728",
        "relation2id.txt": "25e5a975ee079dbd5b8d22ffe23575a9e3135d263e0a3763224777bf526c1a74",
        "train2id.txt": "d41f9b9ab5c0e6eed393e0f93febb4258dc02e5e4a4e2a99c49410d167522804",
        "valid2id.txt": "dc7ed39aa14e35a2f7ac09a0ff046067ee0e0d7953f8a204f04e7c09776095b1",
        "test2id.txt": "15f28535d04f3711b739a49d824f2346167384283cde57123376392d418ad6de",
    })


class MKGY(OpenKEFolder):
    """MKG-Y (Xu et al. 2022): a YAGO subgraph with images and text, as in zjukg/AdaMF-MAT."""

    name = "mkg-y"
    description = "MKG-Y: YAGO multimodal KG benchmark, structure only (15,000 entities, 28 relations)"
    folder_names = ("MMKG-structure/MKG-Y", "MKG-Y", "mkg-y")
    licence = "YAGO content CC BY 3.0; split from zjukg/AdaMF-MAT (Xu et al. 2022)"
    expected: ClassVar[dict[str, int]] = {
        "entities": 15_000, "relations": 28, "train": 21_310, "valid": 2_665, "test": 2_663,
        "duplicate_triples": 0, "names": 15_000, "relation_labels": 28,
    }
    downloads = _adamf_downloads("MKG-Y", {
        "entity2id.txt": "416f6f77c13d0cf0c5cae9625a62b9f7d26320c27ae408f5ce4e7eae3206b8d9",
        "relation2id.txt": "78d468edc02688f742c9b5a1030a071789ab24784dd2e48897643fe108ff4e4d",
        "train2id.txt": "71310c2c274e5ba2ce550433ef5c8496920bd03f50fd6057e64fc9c34e1e1aac",
        "valid2id.txt": "6c82db2d2b809aabf72f94bc19be3080b53ffba1caec12b81510354a7fe3470e",
        "test2id.txt": "8602cbbe7e3aef2c857df66eec5f7e4a2d6b02b19f58feff085688fb28980158",
    })
