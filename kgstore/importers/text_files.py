"""Side files that carry text: ``id<TAB>text`` maps and JSON objects keyed by id.

Named datasets come with such files next to their triples (entity names, Wikidata
descriptions, relation labels). They are small enough to hold in a dict while the
entity stream runs; reading them here keeps the reporting of bad lines the same for
every importer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kgstore.importers.delimited import open_checked, read_rows
from kgstore.importers.input_errors import InputErrors


def read_text_map(path: Path, errors: InputErrors, *, what: str = "text") -> dict[str, str]:
    """``{id: text}`` from a two-column tab-separated file.

    Surrounding whitespace is trimmed. An id given twice with different texts is
    reported (which one is right cannot be told); the first text is kept.
    """
    texts: dict[str, str] = {}
    for number, (key, text) in read_rows(path, errors, min_columns=2, max_columns=2):
        key, text = key.strip(), text.strip()
        if not key:
            errors.report(path, number, f"empty id before the {what}")
            continue
        previous = texts.setdefault(key, text)
        if previous != text:
            errors.report(path, number, f"{key!r} has a second, different {what} ({text!r}; "
                          f"the first was {previous!r})")
    return texts


def read_id_list(path: Path, errors: InputErrors) -> list[str]:
    """One id per line (entity or relation lists), in file order, without repeats."""
    seen: set[str] = set()
    ids: list[str] = []
    for number, (key,) in read_rows(path, errors, min_columns=1, max_columns=1):
        key = key.strip()
        if key in seen:
            errors.report(path, number, f"{key!r} is listed twice")
            continue
        seen.add(key)
        ids.append(key)
    return ids


def read_json_object(path: Path, errors: InputErrors) -> dict[str, Any]:
    """A JSON file whose top level is an object; ``{}`` after reporting when it is not."""
    if not open_checked(path, errors):
        return {}
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except UnicodeDecodeError as exc:
        errors.report(path, None, f"not valid utf-8 (byte {exc.start})")
        return {}
    except json.JSONDecodeError as exc:
        errors.report(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})")
        return {}
    if not isinstance(data, dict):
        errors.report(path, None, f"expected a JSON object keyed by id, found a {type(data).__name__}")
        return {}
    return data


def json_text(path: Path, errors: InputErrors, key: str, entry: Any, field: str) -> str | None:
    """``entry[field]`` as trimmed text: None when absent, null or empty; reported when not text."""
    if not isinstance(entry, dict):
        errors.report(path, None, f"entry {key!r}: expected an object, found {type(entry).__name__}")
        return None
    value = entry.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.report(path, None, f"entry {key!r}: {field!r} should be text, found {type(value).__name__}")
        return None
    return value.strip() or None
