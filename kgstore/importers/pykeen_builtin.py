"""Nations, Kinships and UMLS: the small benchmarks that ship inside PyKEEN's wheel.

Reading PyKEEN's own copies gives kgstore and PyKEEN exactly the same splits, which the
benchmarks compare side by side. The files are found with
``importlib.util.find_spec("pykeen")``, which locates the package without importing it
(importing pykeen imports torch). Each folder holds tab-separated ``train.txt``,
``valid.txt`` and ``test.txt``; Nations also has ``literals.txt`` (``area`` and
``population`` of 13 countries), which become entity properties.

A folder with the same files, given with ``--source``, is read the same way.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from kgstore.errors import KgstoreError
from kgstore.importers.base import TripleFolder
from kgstore.importers.delimited import read_rows
from kgstore.importers.records import EntityRecord


def pykeen_datasets_dir(dataset: str) -> Path:
    """``.../site-packages/pykeen/datasets``, found without importing pykeen."""
    spec = importlib.util.find_spec("pykeen")
    if spec is None or not spec.submodule_search_locations:
        raise KgstoreError(f"the {dataset} dataset ships inside PyKEEN, which is not installed",
                           hint="Install it with `pip install pykeen` (or `pip install kgstore[dev]`).")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets"


class PyKEENBuiltin(TripleFolder):
    """A benchmark whose splits live in ``pykeen/datasets/<pykeen_folder>/``."""

    pykeen_folder: ClassVar[str] = ""
    licence = "distributed inside PyKEEN (MIT); data from ZhenfengLei/KGDatasets"

    @classmethod
    def bundled_root(cls) -> Path | None:
        folder = pykeen_datasets_dir(cls.name) / cls.pykeen_folder
        if not cls.is_present(folder):
            raise KgstoreError(f"the installed PyKEEN has no {cls.name} splits in {folder}",
                               hint="Reinstall it with `pip install --force-reinstall pykeen`.")
        return folder

    def entities(self) -> Iterator[EntityRecord]:
        """Every entity of the splits, named by its id made readable (``amino_acid`` -> ``amino acid``):
        the files have ids only, and a name is what the Browser captions and the text encoder reads."""
        properties = self.literals()
        seen: dict[str, None] = {}
        for triple in self.triples():
            seen.setdefault(triple.head)
            seen.setdefault(triple.tail)
        for entity in [*seen, *(e for e in properties if e not in seen)]:
            yield EntityRecord(entity, name=entity.replace("_", " "), properties=properties.get(entity, {}))

    def literals(self) -> dict[str, dict[str, int | float]]:
        """Numeric attributes by entity (none unless the dataset ships them)."""
        return {}


class Nations(PyKEENBuiltin):
    """Nations: relations between 14 countries (Rummel's Dimensionality of Nations)."""

    name = "nations"
    description = "Nations: 14 countries, 55 relations (shipped with PyKEEN)"
    folder_names = ("nations", "Nations")
    optional_files = ("literals.txt",)
    pykeen_folder = "nations"
    expected: ClassVar[dict[str, int]] = {"entities": 14, "relations": 55, "train": 1_592, "valid": 199,
                                          "test": 201}

    def literals(self) -> dict[str, dict[str, int | float]]:
        """Countries' numeric literals (``area``, ``population``), kept as properties."""
        path = self.root / "literals.txt"
        if not path.exists():
            return {}
        properties: dict[str, dict[str, int | float]] = {}
        for number, (entity, attribute, value) in read_rows(path, self.errors, min_columns=3, max_columns=3):
            try:
                parsed: int | float = int(value)
            except ValueError:
                try:
                    parsed = float(value)
                except ValueError:
                    self.errors.report(path, number, f"{attribute} value {value!r} is not a number")
                    continue
            values = properties.setdefault(entity.strip(), {})
            if values.setdefault(attribute.strip(), parsed) != parsed:
                self.errors.report(path, number, f"{entity} has a second, different {attribute}: {value}")
        return properties


class Kinships(PyKEENBuiltin):
    """Kinships: kinship terms among 104 people of the Alyawarra (Denham 1973)."""

    name = "kinships"
    description = "Kinships: 104 people, 25 kinship relations (shipped with PyKEEN)"
    folder_names = ("kinships", "Kinships")
    pykeen_folder = "kinships"
    expected: ClassVar[dict[str, int]] = {"entities": 104, "relations": 25, "train": 8_544, "valid": 1_068,
                                          "test": 1_074}


class UMLS(PyKEENBuiltin):
    """UMLS: the Unified Medical Language System's semantic network of 135 concepts."""

    name = "umls"
    description = "UMLS: 135 biomedical concepts, 46 relations (shipped with PyKEEN)"
    folder_names = ("umls", "UMLS")
    pykeen_folder = "umls"
    expected: ClassVar[dict[str, int]] = {"entities": 135, "relations": 46, "train": 5_216, "valid": 652,
                                          "test": 661}
