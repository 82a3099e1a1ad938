"""Rendering for the CLI: every table goes through :func:`table`, every ``--json`` through :func:`emit_json`.

A command builds plain rows (dicts) once; the same rows become a rich table for people or a
JSON document for scripts, so the two never disagree.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

Column = str | tuple[str, str]  # "name" (left-aligned) or ("name", "right")


def console() -> Console:
    """Made per call, so the width follows the terminal (or $COLUMNS)."""
    return Console()


def table(title: str | None, columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
          empty: str | None = None) -> None:
    """Print ``rows`` under ``columns``; when there are none and ``empty`` is given, print that instead."""
    rows = [[cell if isinstance(cell, str) else _cell(cell) for cell in row] for row in rows]
    if not rows and empty is not None:
        console().print(empty)
        return
    out = Table(title=title)
    for column in columns:
        name, justify = (column, "left") if isinstance(column, str) else column
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        out.add_row(*row)
    console().print(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def counts_table(title: str, key: str, counts: Mapping[str, int], *, empty: str) -> None:
    """A two-column table of names and counts (labels, relationship types, ...)."""
    table(title, [key, ("count", "right")], ((name, count) for name, count in counts.items()), empty=empty)


def metrics_table(metrics: Mapping[str, Any], *, title: str, per_relation: int = 0) -> None:
    """Filtered MRR / Hits@k, and the most frequent relations' own figures."""
    row = [] if not metrics else [[metrics["mrr"], metrics["hits@1"], metrics["hits@3"], metrics["hits@10"],
                                   metrics.get("count", 0) // 2]]
    if metrics.get("sampled_from"):  # a big graph's evaluation ranks a seeded sample (trainer.evaluation)
        title = f"{title} (a seeded sample of {metrics['count'] // 2:,} of {metrics['sampled_from']:,} triples)"
    table(title, [(c, "right") for c in ("MRR", "H@1", "H@3", "H@10", "triples")], row)
    rows = sorted((metrics.get("per_relation") or {}).items(), key=lambda kv: -kv[1]["count"])[:per_relation]
    if rows:
        table("per relation (most frequent first)", ["relation", ("MRR", "right"), ("H@10", "right"),
                                                     ("ranks", "right")],
              ([name, m["mrr"], m["hits@10"], m["count"]] for name, m in rows))


def jsonable(value: Any) -> Any:
    """Dataclasses, paths, datetimes (Neo4j's too) and tuples as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "iso_format"):  # neo4j.time.DateTime and friends
        return value.iso_format()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def emit_json(document: Any) -> None:
    click.echo(json.dumps(jsonable(document), indent=2, sort_keys=False))
