"""The base every importer builds on: a dataset is files plus four record streams.

A :class:`Dataset` knows where its files are, how to parse them into records, what it
should contain (``expected`` counts, asserted by the tests) and, for named datasets,
where users who are online can download it (``downloads``). It never talks to Neo4j.
Streams are generators, re-read on each call, so memory stays flat however large the
files are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kgstore.importers.delimited import read_rows
from kgstore.importers.input_errors import InputErrors
from kgstore.importers.records import SPLITS, EntityRecord, ImageRecord, RelationRecord, TripleRecord


@dataclass(frozen=True)
class Download:
    """One file a user can fetch: official URL, expected sha256, where it goes in the folder."""

    url: str
    sha256: str
    filename: str
    unpack: bool = False  # a .zip/.tar.gz to extract into the dataset folder
    #: ``(path inside the archive, sha256)`` of the members to extract, for archives whose own
    #: checksum is not published but whose files' are: each extracted file is verified, and
    #: ``sha256`` may then be empty. Without ``members`` an archive is extracted whole.
    members: tuple[tuple[str, str], ...] = ()


class Dataset:
    """Files of one dataset, read as records.

    Subclasses set ``name`` (the registry name, also the default namespace),
    ``folder_names`` (what the folder is called inside a data directory such as
    ``../shared/data``), ``required_files`` and ``expected``; and override the
    record streams they have. ``optional_files`` are read when present (side data such
    as texts); they count towards the fingerprint like the required ones.

    ``expected`` uses the keys of :data:`kgstore.importers.census.COUNT_KEYS`, each
    defined there exactly; the tests compare it with a census of the files.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    folder_names: ClassVar[tuple[str, ...]] = ()
    required_files: ClassVar[tuple[str, ...]] = ()
    optional_files: ClassVar[tuple[str, ...]] = ()
    expected: ClassVar[dict[str, int]] = {}
    downloads: ClassVar[tuple[Download, ...]] = ()
    licence: ClassVar[str] = ""

    def __init__(self, root: Path, *, namespace: str | None = None,
                 errors: InputErrors | None = None) -> None:
        self.root = Path(root)
        self.namespace = namespace or self.name or self.root.name
        self.errors = errors if errors is not None else InputErrors()  # an empty one is falsy

    # -- locating -------------------------------------------------------------
    @classmethod
    def is_present(cls, root: Path) -> bool:
        return all((root / f).is_file() for f in cls.required_files)

    @classmethod
    def bundled_root(cls) -> Path | None:
        """The folder of a copy shipped inside an installed package (PyKEEN's wheel), else None.

        Datasets that live in a data directory return None; the registry then looks in
        ``--source``, ``$KGSTORE_DATA`` and the download folder.
        """
        return None

    @classmethod
    def locate(cls, data_dir: Path) -> Path | None:
        """This dataset's folder inside ``data_dir`` (or ``data_dir`` itself), if present."""
        for candidate in (data_dir, *(data_dir / n for n in cls.folder_names)):
            if candidate.is_dir() and cls.is_present(candidate):
                return candidate
        return None

    def files(self) -> list[Path]:
        """Every input file this dataset reads (the sync fingerprint is computed over them)."""
        names = (*self.required_files, *self.optional_files)
        return sorted({p for p in (self.root / f for f in names) if p.is_file()})

    def fingerprint(self) -> str:
        """Identifies the exact input: file names, sizes and modification times."""
        digest = hashlib.sha256(self.namespace.encode())
        for path in self.files():
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        return digest.hexdigest()[:32]

    # -- record streams (override what the dataset has) ------------------------
    def entities(self) -> Iterator[EntityRecord]:
        return iter(())

    def relations(self) -> Iterator[RelationRecord]:
        return iter(())

    def triples(self) -> Iterator[TripleRecord]:
        return iter(())

    def images(self) -> Iterator[ImageRecord]:
        return iter(())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, namespace={self.namespace!r})"


class TripleFolder(Dataset):
    """The common benchmark layout: ``train.txt``, ``valid.txt``, ``test.txt`` of head, relation,
    tail separated by tabs. Any folder with these files is a dataset by itself; named
    datasets with this layout subclass it and add their text files.
    """

    required_files: ClassVar[tuple[str, ...]] = ("train.txt", "valid.txt", "test.txt")
    split_files: ClassVar[dict[str, str]] = {s: f"{s}.txt" for s in SPLITS}
    triple_order: ClassVar[str] = "hrt"  # "htr" for files that put the relation last
    #: splits that may be absent (some datasets ship only some); the others must exist
    optional_splits: ClassVar[tuple[str, ...]] = ("valid", "test")

    def files(self) -> list[Path]:
        names = (*self.split_files.values(), *self.required_files, *self.optional_files)
        return sorted({p for p in (self.root / f for f in names) if p.is_file()})

    def split_paths(self) -> Iterator[tuple[str, Path]]:
        """``(split, path)`` of each split file to read: optional ones only when present."""
        for split, filename in self.split_files.items():
            path = self.root / filename
            if not path.exists() and split in self.optional_splits:
                continue
            yield split, path

    def triples(self) -> Iterator[TripleRecord]:
        for split, path in self.split_paths():
            yield from read_triple_file(path, self.errors, split=split, order=self.triple_order)

    def vocabulary(self) -> tuple[set[str], set[str]]:
        """Entity ids and relation names used by the split files.

        Importers use it to keep side files that cover more than this dataset (CoDEx's
        type map spans all CoDEx sizes) to this dataset's entities. Bad lines are skipped
        here without a report: :meth:`triples` reports each of them once. Computed once
        per instance (sync reads the entity stream twice).
        """
        cached = getattr(self, "_vocabulary", None)
        if cached is not None:
            return cached
        quiet = InputErrors(policy="skip")
        entities: set[str] = set()
        relations: set[str] = set()
        for split, path in self.split_paths():
            for triple in read_triple_file(path, quiet, split=split, order=self.triple_order):
                entities.add(triple.head)
                entities.add(triple.tail)
                relations.add(triple.relation)
        self._vocabulary = (entities, relations)
        return entities, relations


def read_triple_file(path: Path, errors: InputErrors, *, split: str | None,
                     order: str = "hrt", delimiter: str = "\t") -> Iterator[TripleRecord]:
    """Triples from a 3-column file; empty fields are reported, not imported."""
    h_at, r_at, t_at = order.index("h"), order.index("r"), order.index("t")
    for number, fields in read_rows(path, errors, delimiter=delimiter, min_columns=3, max_columns=3):
        head, relation, tail = fields[h_at].strip(), fields[r_at].strip(), fields[t_at].strip()
        if not head or not relation or not tail:
            empty = [n for n, v in (("head", head), ("relation", relation), ("tail", tail)) if not v]
            errors.report(path, number, f"empty {' and '.join(empty)}")
            continue
        yield TripleRecord(head, relation, tail, split)
