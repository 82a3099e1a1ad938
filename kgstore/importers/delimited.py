"""Reading delimited text (TSV/CSV) line by line, validating as it goes.

Every importer reads its text files through :func:`read_rows`, so encoding problems,
NUL bytes, runaway lines and wrong column counts are caught in one place and reported
with the file and the line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from kgstore.importers.input_errors import InputErrors

MAX_LINE_BYTES = 1 << 20  # a line of a megabyte is not a triple: it is a broken file


def open_checked(path: Path, errors: InputErrors) -> bool:
    """True when ``path`` is a readable file; otherwise report it and return False."""
    if not path.exists():
        errors.report(path, None, "file does not exist")
        return False
    if not path.is_file():
        errors.report(path, None, "not a regular file")
        return False
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        errors.report(path, None, f"cannot be read: {exc.strerror or exc}")
        return False
    return True


def read_rows(
    path: Path,
    errors: InputErrors,
    *,
    delimiter: str | None = "\t",
    min_columns: int = 1,
    max_columns: int | None = None,
    encoding: str = "utf-8",
    skip_header: bool = False,
    quoting: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for each valid non-empty line of ``path``.

    ``quoting=True`` parses CSV quoting rules (for CSV files); TSV benchmark files are
    split on the delimiter alone; ``delimiter=None`` yields the whole line as one field.
    Line numbers start at 1 and count every line.
    """
    if not open_checked(path, errors):
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if skip_header and number == 1:
                continue
            if len(raw) > max_line_bytes:
                errors.report(path, number, f"line is {len(raw):,} bytes long (limit "
                              f"{max_line_bytes:,}): not a record of this format")
                continue
            if b"\x00" in raw:
                errors.report(path, number, "line contains a NUL byte")
                continue
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                errors.report(path, number, f"not valid {encoding} (byte {exc.start}: "
                              f"{raw[exc.start:exc.start + 4]!r}); pass --encoding if the file "
                              "uses another one")
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            if delimiter is None:
                fields = [text]
            elif quoting:
                fields = next(csv.reader(io.StringIO(text), delimiter=delimiter))
            else:
                fields = text.split(delimiter)
            if len(fields) < min_columns or (max_columns is not None and len(fields) > max_columns):
                expected = (f"{min_columns}" if max_columns == min_columns
                            else f"{min_columns} to {max_columns or 'any'}")
                errors.report(path, number, f"expected {expected} columns separated by "
                              f"{delimiter!r}, found {len(fields)}")
                continue
            yield number, fields
