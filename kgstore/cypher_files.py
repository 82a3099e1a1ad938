"""Reading the Cypher files shipped in ``cypher/`` (the repo folder, or its copy in the wheel)."""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "cypher"
_CHECKOUT = Path(__file__).resolve().parent.parent / "cypher"


def cypher_dir() -> Path:
    """``kgstore/cypher`` inside a wheel, the repo's ``cypher/`` in a source checkout."""
    return _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT


def read_cypher(name: str) -> str:
    path = cypher_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"kgstore's Cypher file {name} is missing (looked in {path})")
    return path.read_text()


def split_statements(text: str) -> list[str]:
    """Statements of a ``;``-separated Cypher file, with ``//`` comment lines dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", "\n".join(lines)) if s.strip()]


def quote_identifier(name: str) -> str:
    """Quote a label, relationship type or property name for Cypher.

    Identifiers cannot be query parameters, so this is the one place where a name
    from data becomes Cypher text: backticks are doubled, and anything else (spaces,
    dots, quotes, unicode, keywords) is then safe inside the quotes.
    """
    if not name:
        raise ValueError("a Cypher identifier cannot be empty")
    if "\x00" in name:
        raise ValueError(f"a Cypher identifier cannot contain NUL: {name!r}")
    return "`" + name.replace("`", "``") + "`"
