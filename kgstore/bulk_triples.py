"""The bulk path's validation pass for plain triple folders, vectorised with pyarrow.

A big first load is usually a folder of ``train.txt``/``valid.txt``/``test.txt`` (head,
relation, tail; tab-separated) — the Python reader (:func:`kgstore.importers.base.read_triple_file`)
spends most of ``kgstore sync --bulk``'s time parsing it line by line. Here each split file is
read by pyarrow's multi-threaded CSV reader, checked on its distinct values, de-duplicated on
integer codes, and the importer's triples CSV is written from whole columns, byte for byte what
the Python path writes (:func:`kgstore.bulk.scan_and_write_triples`).

It never reports a problem itself: whenever anything is unusual — a missing or empty file, a
line with another column count, a NUL byte, a lone carriage return, a byte-order mark, bytes that
are not UTF-8, an empty field or one with surrounding whitespace, a line over
:data:`~kgstore.importers.delimited.MAX_LINE_BYTES` — :func:`scan_triple_folder` returns None and
the caller runs the Python pass, whose errors name the file and the line. Without pyarrow
(``pip install pyarrow``) the Python pass runs too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kgstore.importers.base import Dataset, TripleFolder
from kgstore.importers.delimited import MAX_LINE_BYTES
from kgstore.sync import _scan

_ROWS_PER_WRITE = 1 << 20  # rows formatted at once when writing the CSV


def eligible(dataset: Dataset) -> bool:
    """True when the dataset's triples are a :class:`TripleFolder`'s split files, read the standard way."""
    if not isinstance(dataset, TripleFolder) or type(dataset).triples is not TripleFolder.triples:
        return False
    if sorted(dataset.triple_order) != ["h", "r", "t"]:
        return False
    try:
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class TripleColumns:
    """Every triple as integer codes into the distinct entity and relation strings, in input order."""

    entities: Any  # pyarrow StringArray: the distinct entity ids
    relations: Any  # pyarrow StringArray: the distinct relation names
    heads: Any  # numpy int64 codes into entities, one per triple
    relation_codes: Any  # numpy int64 codes into relations
    tails: Any  # numpy int64 codes into entities
    split_codes: Any  # numpy int8 codes into split_names
    split_names: list[str]
    first: Any  # numpy bool: the first occurrence of its (head, relation, tail)

    def entity_numbers(self) -> Any:
        """Each entity's integer id for the importer (numpy, by code): the order of first sight, heads
        before tails, as the Python path numbers them."""
        import numpy as np

        if getattr(self, "_numbers", None) is None:
            sightings = np.empty(2 * len(self.heads), dtype=np.int64)
            sightings[0::2], sightings[1::2] = self.heads, self.tails
            _, codes_in_order = _first_sight(sightings)
            numbers = np.empty(len(codes_in_order), dtype=np.int64)
            numbers[codes_in_order] = np.arange(len(codes_in_order))
            self._numbers = numbers
        return self._numbers

    def key_ids(self, namespace: str) -> dict[str, int]:
        """Entity key (``ns:id``) -> the importer's integer id, for entity rows written by the Python path."""
        return {f"{namespace}:{entity}": number for entity, number in
                zip(self.entities.to_pylist(), self.entity_numbers().tolist(), strict=True)}

    def write_csv(self, handle: IO[bytes], generation: int) -> int:
        """The first occurrences as importer rows ``head number,"r",tail number,"split",generation``; returns
        the count."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        numbers = pc.cast(pa.array(self.entity_numbers()), pa.string())
        relations = pc.binary_join_element_wise('"', pc.replace_substring(self.relations, '"', '""'), '"', "")
        ends = pa.array([f'"{name}",{generation}\n' for name in self.split_names])
        kept = np.flatnonzero(self.first)
        for start in range(0, len(kept), _ROWS_PER_WRITE):
            rows = kept[start:start + _ROWS_PER_WRITE]
            lines = pc.binary_join_element_wise(
                numbers.take(pa.array(self.heads[rows])), relations.take(pa.array(self.relation_codes[rows])),
                numbers.take(pa.array(self.tails[rows])), ends.take(pa.array(self.split_codes[rows])), ",")
            handle.write(_string_bytes(lines))
        return len(kept)

    def write_entities_csv(self, handle: IO[bytes], namespace: str, generation: int) -> int:
        """Entity rows ``number,"ns:id","Entity","id","ns",,,generation`` (no name, no description) in id
        order, as the Python path writes an entity known only from triples; returns the count."""
        import pyarrow as pa
        import pyarrow.compute as pc

        order = pc.sort_indices(self.entities)
        ids = pc.replace_substring(self.entities.take(order), '"', '""')
        numbers = pc.cast(pa.array(self.entity_numbers()).take(order), pa.string())
        escaped = namespace.replace('"', '""')
        lines = pc.binary_join_element_wise(numbers, f',"{escaped}:', ids, '","Entity","', ids,
                                            f'","{escaped}",,,{generation}\n', "")
        handle.write(_string_bytes(lines))
        return len(ids)


def _string_bytes(array: Any) -> memoryview:
    """The concatenated values of a pyarrow string array, without copying them."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    _, offsets, data = array.buffers()
    offsets = np.frombuffer(offsets, dtype=offset_type)[array.offset:array.offset + len(array) + 1]
    if data is None or len(array) == 0:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]):int(offsets[-1])]


def _read_split(path: Path, order: str) -> Any | None:
    """The file's (head, relation, tail) string columns as a pyarrow table, or None when anything is unusual."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        if not path.is_file():
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if not data.strip(b"\n") or b"\x00" in data or data.startswith(b"\xef\xbb\xbf") \
            or data.count(b"\r") != data.count(b"\r\n"):
        return None
    names = ["c0", "c1", "c2"]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False,
                                              escape_char=False, newlines_in_values=False,
                                              ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, check_utf8=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != 3:
        return None
    import pyarrow.compute as pc

    longest = sum(pc.max(pc.binary_length(table.column(n))).as_py() or 0 for n in names)
    if longest + 4 > MAX_LINE_BYTES:
        return None
    return table.rename_columns([order[0], order[1], order[2]])


def _indices(encoded: Any) -> Any:
    """The codes of a dictionary-encoded chunked array (one dictionary for all chunks) as one int64 numpy array."""
    import numpy as np

    return np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks]).astype(np.int64)


def _first_sight(values: Any) -> Any:
    """``(numbers, order)``: each value's rank in order of first appearance, and the distinct values in that order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(values))
    return encoded.indices.to_numpy(), encoded.dictionary.to_numpy()


def _first_occurrences(keys: Any) -> Any:
    """True where a key appears for the first time (a dictionary's codes grow by one at each new key)."""
    import numpy as np

    numbers, _ = _first_sight(keys)
    first = np.empty(len(numbers), dtype=bool)
    if len(numbers):
        first[0] = True
        first[1:] = numbers[1:] > np.maximum.accumulate(numbers)[:-1]
    return first


def _plain(values: list[str]) -> bool:
    """No empty value and none the Python reader would strip."""
    return all(value and value == value.strip() for value in values)


def triple_columns(dataset: TripleFolder) -> TripleColumns | None:
    """The split files as :class:`TripleColumns`, or None when they need the Python reader."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    tables, split_names = [], []
    for split, path in dataset.split_paths():
        table = _read_split(path, dataset.triple_order)
        if table is None:
            return None
        tables.append(table)
        split_names.append(split)
    heads = [c for t in tables for c in t.column("h").chunks]
    tails = [c for t in tables for c in t.column("t").chunks]
    if sum(t.num_rows for t in tables) == 0:
        return None
    # one hash pass each: codes in a dictionary shared by heads and tails, and one for relations
    entity_codes = pc.dictionary_encode(pa.chunked_array(heads + tails, type=pa.string()))
    relation_codes = pc.dictionary_encode(pa.chunked_array([c for t in tables for c in t.column("r").chunks],
                                                           type=pa.string()))
    entities, relation_names = entity_codes.chunks[-1].dictionary, relation_codes.chunks[-1].dictionary
    if not _plain(relation_names.to_pylist()) or not _plain(entities.to_pylist()):
        return None
    end_codes = _indices(entity_codes)
    head_codes, tail_codes = end_codes[:len(end_codes) // 2], end_codes[len(end_codes) // 2:]
    relation_codes = _indices(relation_codes)
    n_entities, n_relations = max(len(entities), 1), max(len(relation_names), 1)
    if n_entities * n_entities * n_relations >= 1 << 62:
        return None  # the combined code would overflow
    first = _first_occurrences((head_codes * n_relations + relation_codes) * n_entities + tail_codes)
    split_codes = np.repeat(np.arange(len(tables), dtype=np.int8), [t.num_rows for t in tables])
    return TripleColumns(entities, relation_names, head_codes, relation_codes, tail_codes, split_codes,
                         split_names, first)


def scan_triple_folder(dataset: Dataset, advance: Callable[[int], None]) -> tuple[Any, TripleColumns] | None:
    """:func:`kgstore.sync._scan`'s result, with the triples read as columns; None when the Python pass must run.

    The entity, relation and image streams are still read by ``_scan`` (in the same order,
    so their errors are the same); only the triples are read here.
    """
    if not eligible(dataset):
        return None
    columns = triple_columns(dataset)  # type: ignore[arg-type]
    if columns is None:
        return None
    import numpy as np

    scan = _scan(dataset, advance, read_triples=False)
    scan.entity_ids.update(columns.entities.to_pylist())
    scan.triples = len(columns.first)
    scan.duplicate_positions = set(np.flatnonzero(~columns.first).tolist())
    counts = np.bincount(columns.split_codes, minlength=len(columns.split_names))
    for name, count in zip(columns.split_names, counts.tolist(), strict=True):
        if count:
            scan.splits[name] = scan.splits.get(name, 0) + count
    advance(scan.triples)
    return scan, columns
