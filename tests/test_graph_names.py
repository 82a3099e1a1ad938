"""The plugin and the Python package name things in Neo4j alike.

``kgstore/graph_names.py`` and ``io.kgstore.plugin.GraphNames`` are twins: every constant
the Java class declares must exist in the Python module with the same value (the Java
class holds only what the plugin uses, so the comparison runs one way).
"""

from __future__ import annotations

import re
from pathlib import Path

from kgstore import graph_names

JAVA = Path(__file__).resolve().parent.parent / "plugin/src/main/java/io/kgstore/plugin/GraphNames.java"
DECLARATION = re.compile(
    r"public static final \w+ (?P<name>[A-Z_]+) = "
    r"(?:Label\.label\(|RelationshipType\.withName\()?(?P<value>\"[^\"]*\"|\d+)\)?;")
PREDICTED_FIELD = re.compile(r"PREDICTED_(?P<field>[A-Z_]+)$")


def java_constants() -> dict[str, str | int]:
    found = {m["name"]: (m["value"].strip('"') if m["value"].startswith('"') else int(m["value"]))
             for m in DECLARATION.finditer(JAVA.read_text())}
    assert len(found) >= 10, f"parsed too few constants from {JAVA}: {found}"
    return found


def test_every_java_graph_name_has_the_same_python_value() -> None:
    for name, value in java_constants().items():
        predicted = PREDICTED_FIELD.match(name)
        if predicted and not hasattr(graph_names, name):  # the edge's fields are one tuple in Python
            assert value in graph_names.PREDICTED_FIELDS, f"{name} = {value!r} is not in PREDICTED_FIELDS"
            continue
        assert hasattr(graph_names, name), f"GraphNames.{name} has no twin in kgstore/graph_names.py"
        assert getattr(graph_names, name) == value, f"{name}: Java {value!r}, Python {getattr(graph_names, name)!r}"
