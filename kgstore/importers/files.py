"""Generic sources: your own triples, entity attributes and images, in common file formats.

- **Triples**: TSV or CSV with head, relation, tail; a header row (``head,relation,tail``
  or ``h,r,t``, any order) is recognised; a ``split`` column gives each triple its split;
  further columns become relationship properties. Or one file per split. JSON Lines work
  too: one object per line with the same keys (``{"head": ..., "relation": ..., "tail": ...}``).
  ``kgstore sync facts.tsv`` reads one such file, namespaced by its name (:func:`file_namespace`).
- **Entities**: TSV/CSV with a header (``key`` or ``id``, ``name``, ``description``,
  ``labels`` separated by ``;``, anything else a property) or JSON Lines with the same
  fields (``properties`` may be an object).
- **Images**: a folder of ``<entity id>.<ext>`` files, or a TSV/CSV manifest of
  ``entity``, ``path`` (relative to the manifest).

The format follows the extension (``.csv`` → comma with CSV quoting, ``.tsv``/``.txt`` → tab,
``.jsonl``/``.ndjson`` → JSON Lines) unless ``fmt`` forces one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kgstore.importers.base import Dataset
from kgstore.importers.delimited import open_checked, read_rows
from kgstore.importers.input_errors import InputErrors
from kgstore.importers.records import SPLITS, EntityRecord, ImageRecord, TripleRecord

Format = Literal["tsv", "csv", "jsonl"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp"}
_HEAD_NAMES = {"head": "head", "h": "head", "subject": "head", "source": "head",
               "relation": "relation", "r": "relation", "predicate": "relation", "rel": "relation",
               "tail": "tail", "t": "tail", "object": "tail", "target": "tail"}


def sniff_format(path: Path, forced: str | None = None) -> Format:
    if forced:
        if forced not in ("tsv", "csv", "jsonl"):
            raise ValueError(f"unknown format {forced!r}: use tsv, csv or jsonl")
        return forced  # type: ignore[return-value]
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "tsv"


def file_namespace(path: Path) -> str:
    """The namespace of a dataset given as one triples file: its name without the extension.

    ``facts.tsv`` -> ``facts``, as a folder's namespace is the folder's name; ``--namespace``
    overrides both.
    """
    return path.name.split(".", 1)[0] or path.name


def _delimited(path: Path, errors: InputErrors, fmt: Format, encoding: str,
               **kwargs: Any) -> Iterator[tuple[int, list[str]]]:
    return read_rows(path, errors, delimiter="," if fmt == "csv" else "\t",
                     quoting=fmt == "csv", encoding=encoding, **kwargs)


def _convert(value: str) -> Any:
    """Numbers stay numbers (a rating of "4" is the integer 4); everything else is text."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


@dataclass(frozen=True)
class TripleFile:
    path: Path
    split: str | None = None  # every triple of the file has this split (else a split column)


class FileSource(Dataset):
    """A dataset assembled from files named on the command line."""

    name = ""

    def __init__(self, *, namespace: str, triple_files: list[TripleFile],
                 entity_files: list[Path] = (), image_source: Path | None = None,  # type: ignore[assignment]
                 fmt: str | None = None, encoding: str = "utf-8", split_column: str = "split",
                 errors: InputErrors | None = None) -> None:
        root = triple_files[0].path.parent if triple_files else Path(".")
        super().__init__(root, namespace=namespace, errors=errors)
        self.triple_files = list(triple_files)
        self.entity_files = list(entity_files)
        self.image_source = image_source
        self.fmt = fmt
        self.encoding = encoding
        self.split_column = split_column

    def files(self) -> list[Path]:
        paths = [t.path for t in self.triple_files] + list(self.entity_files)
        if self.image_source is not None:
            paths += [self.image_source] if self.image_source.is_file() else \
                sorted(p for p in self.image_source.iterdir() if p.is_file())
        return [p for p in paths if p.is_file()]

    # -- triples --------------------------------------------------------------
    def triples(self) -> Iterator[TripleRecord]:
        for source in self.triple_files:
            yield from self._triples_of(source)

    def _triples_of(self, source: TripleFile) -> Iterator[TripleRecord]:
        path, fmt = source.path, sniff_format(source.path, self.fmt)
        found, problems_before = False, len(self.errors.problems)
        rows = self._json_triple_rows(path) if fmt == "jsonl" else self._delimited_triple_rows(path, fmt)
        for number, row in rows:
            head, relation, tail = (str(row.pop(k, "") or "").strip() for k in ("head", "relation", "tail"))
            if not head or not relation or not tail:
                empty = [k for k, v in (("head", head), ("relation", relation), ("tail", tail)) if not v]
                self.errors.report(path, number, f"empty {' and '.join(empty)}")
                continue
            split = source.split or row.pop(self.split_column, None) or None
            if split is not None and split not in SPLITS:
                self.errors.report(path, number, f"split {split!r} is not one of {', '.join(SPLITS)}")
                continue
            props = {k: _convert(v) if isinstance(v, str) else v for k, v in row.items() if v not in ("", None)}
            found = True
            yield TripleRecord(head, relation, tail, split, props)
        if not found and path.is_file() and len(self.errors.problems) == problems_before:
            self.errors.report(path, None, "holds no triples (expected lines of head, relation, tail)")

    def _delimited_triple_rows(self, path: Path, fmt: Format) -> Iterator[tuple[int, dict[str, Any]]]:
        columns: list[str] | None = None
        for number, fields in _delimited(path, self.errors, fmt, self.encoding, min_columns=3):
            if columns is None:
                columns, is_header = self._columns(fields)
                if is_header:
                    continue
            if len(fields) != len(columns):
                self.errors.report(path, number, f"expected {len(columns)} columns like the first "
                                   f"line, found {len(fields)}")
                continue
            yield number, dict(zip(columns, fields, strict=True))

    def _json_triple_rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """Objects with head/relation/tail keys (or their aliases: h/r/t, subject/predicate/object)."""
        for number, value in self._json_objects(path):
            row = {_HEAD_NAMES.get(k.strip().lower(), k): v for k, v in value.items()}
            bad = [k for k in ("head", "relation", "tail") if isinstance(row.get(k), dict | list)]
            if bad:
                self.errors.report(path, number, f"{' and '.join(bad)} must be a string or a number")
                continue
            yield number, row

    def _columns(self, first: list[str]) -> tuple[list[str], bool]:
        """Column names from a header line (and True), or positional names (and False)."""
        lowered = [f.strip().lower() for f in first]
        if {_HEAD_NAMES.get(f) for f in lowered} >= {"head", "relation", "tail"}:
            return [_HEAD_NAMES.get(f, first[i].strip()) for i, f in enumerate(lowered)], True
        return ["head", "relation", "tail"] + [f"col{i}" for i in range(4, len(first) + 1)], False

    # -- entities -------------------------------------------------------------
    def entities(self) -> Iterator[EntityRecord]:
        for path in self.entity_files:
            if sniff_format(path, self.fmt) == "jsonl":
                yield from self._entities_jsonl(path)
            else:
                yield from self._entities_delimited(path)

    def _entities_delimited(self, path: Path) -> Iterator[EntityRecord]:
        fmt = sniff_format(path, self.fmt)
        header: list[str] | None = None
        for number, fields in _delimited(path, self.errors, fmt, self.encoding):
            if header is None:
                header = [f.strip() for f in fields]
                if not {"key", "id"} & {h.lower() for h in header}:
                    self.errors.report(path, number, "the first line must be a header naming a "
                                       "`key` (or `id`) column")
                    return
                continue
            if len(fields) != len(header):
                self.errors.report(path, number, f"expected {len(header)} columns like the header, "
                                   f"found {len(fields)}")
                continue
            record = self._entity(path, number, dict(zip(header, fields, strict=True)))
            if record is not None:
                yield record

    def _json_objects(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, object)`` of a JSON Lines file; other lines are reported."""
        for number, fields in read_rows(path, self.errors, delimiter=None, encoding=self.encoding):
            try:
                value = json.loads(fields[0])
            except json.JSONDecodeError as exc:
                self.errors.report(path, number, f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(value, dict):
                self.errors.report(path, number, "each line must be a JSON object")
                continue
            yield number, value

    def _entities_jsonl(self, path: Path) -> Iterator[EntityRecord]:
        for number, value in self._json_objects(path):
            record = self._entity(path, number, value)
            if record is not None:
                yield record

    def _entity(self, path: Path, number: int, row: dict[str, Any]) -> EntityRecord | None:
        row = dict(row)
        key = row.pop("key", None) or row.pop("id", None)
        if not isinstance(key, str | int) or not str(key).strip():
            self.errors.report(path, number, "empty entity key")
            return None
        labels = row.pop("labels", None) or []
        if isinstance(labels, str):
            labels = [label.strip() for label in labels.split(";") if label.strip()]
        props = row.pop("properties", None) or {}
        if not isinstance(props, dict):
            self.errors.report(path, number, "`properties` must be an object")
            return None
        props.update({k: (_convert(v) if isinstance(v, str) else v) for k, v in row.items()
                      if k not in ("name", "description") and v not in ("", None)})
        name = row.get("name") or None
        description = row.get("description") or None
        return EntityRecord(str(key).strip(), name, description, tuple(labels), props)

    # -- images ---------------------------------------------------------------
    def images(self) -> Iterator[ImageRecord]:
        source = self.image_source
        if source is None:
            return
        if source.is_dir():
            for path in sorted(source.iterdir()):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    yield ImageRecord(path.stem, path)
            return
        if not open_checked(source, self.errors):
            return
        fmt = sniff_format(source, self.fmt)
        for number, fields in _delimited(source, self.errors, fmt, self.encoding,
                                         min_columns=2, max_columns=2):
            entity, file = fields[0].strip(), fields[1].strip()
            if number == 1 and entity.lower() in ("entity", "key", "id"):
                continue
            if not entity or not file:
                self.errors.report(source, number, "empty entity or path")
                continue
            path = (source.parent / file).resolve()
            if not path.is_file():
                self.errors.report(source, number, f"image file {path} does not exist")
                continue
            yield ImageRecord(entity, path)
