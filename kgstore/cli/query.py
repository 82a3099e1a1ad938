"""Asking the graph: ``kgstore status``, ``nearest``, ``complete`` and ``predictions``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kgstore.cli import render
from kgstore.cli.common import CONTEXT, connection_options, echo, home_of, json_option, need_trainer, open_graph


@click.command(context_settings=CONTEXT)
@json_option
@connection_options
@click.pass_context
def status(ctx: click.Context, as_json: bool, **conn: Any) -> None:
    """Print the server and version, node and relationship counts, and indexes with their state."""
    from kgstore.schema import database_status

    with open_graph(ctx, **conn) as graph:
        state = database_status(graph)
    if as_json:
        render.emit_json(state)
        return
    info = state["server"]
    render.console().print(f"[bold]{info['name']} {info['version']} {info['edition']}[/] at {info['uri']}")
    render.counts_table("Nodes by label", "label", state["nodes"], empty="No nodes yet.")
    render.counts_table("Relationships by type", "type", state["relationships"], empty="No relationships yet.")
    render.table("Indexes", ["name", "type", "on", "state", "populated"],
                 ([row["name"], row["type"], _index_target(row), row["state"], f"{row['populationPercent']:.0f}%"]
                  for row in state["indexes"]))


def _index_target(row: dict[str, Any]) -> str:
    target = f"{','.join(row['labelsOrTypes'] or [])}({','.join(row['properties'] or [])})"
    if row["type"] == "VECTOR" and row.get("config"):
        target += f" dim={row['config'].get('vector.dimensions')} {row['config'].get('vector.similarity_function')}"
    return target


@click.command(context_settings=CONTEXT)
@click.argument("key", required=False)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many neighbours.")
@click.option("--model", default="default", show_default=True, help="Which model's vectors to search.")
@click.option("--text", "text", metavar="TEXT", help="Search by a text (model trained with --modalities text).")
@click.option("--image", "image", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Search by an image file (model trained with --modalities image).")
@click.option("--search", "space", type=click.Choice(["entities", "text", "image"]), default=None,
              help="Which vectors to search: the entity vectors, or the entities' own text or image vectors "
                   "in the shared space. Default: the query's modality (--text: text, --image: image) when "
                   "the model has it, else entities.")
@json_option
@connection_options
@click.pass_context
def nearest(ctx: click.Context, key: str | None, k: int, model: str, text: str | None, image: Path | None,
            space: str | None, as_json: bool, **conn: Any) -> None:
    """Print the K entities nearest to entity KEY, a --text or an --image in a model's vector indexes.

    A text or image query is encoded with the model's checkpoint (its encoder and alignment
    head). By default it is compared with the same modality of the entities (a text with
    the entities' texts, an image with their images) through the alignment head, in the
    space the entity vectors were aligned to; --search entities compares it with the entity
    vectors themselves, --search image finds the pictures that fit a text. The same queries
    in Cypher are in cypher/queries/nearest.cypher.

    \b
    Examples:
      kgstore nearest "fb15k-237:/m/0dr_4" -k 10
      kgstore nearest --text "space opera with rebels"
      kgstore nearest --text "a boy and his toys" --search image
      kgstore nearest --image poster.jpg
    """
    from kgstore.search import search

    if sum(x is not None for x in (key, text, image)) != 1:
        raise click.UsageError("give exactly one of KEY, --text or --image")
    if key is None:
        need_trainer()
    with open_graph(ctx, **conn) as graph:
        result = search(graph, home_of(ctx), model, key=key, text=text, image=image, k=k, space=space)
    if as_json:
        render.emit_json(result)
        return
    searched = "" if result.space == "entities" else f", {result.space} vectors"
    render.table(f"nearest to {result.query} ({model}{searched})", [("#", "right"), "key", "name", ("score", "right")],
                 ([str(rank), row["key"], row["name"] or "", row["score"]]
                  for rank, row in enumerate(result.rows, start=1)))


# ------------------------------------------------------------------ completion
@click.command(context_settings=CONTEXT)
@click.argument("relation")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Predicted tails per head entity.")
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True,
              help="At most this many predicted edges in all (the best ones).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Head entities per sidecar request.")
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@click.option("--show", type=click.IntRange(0), default=10, show_default=True,
              help="How many of the predicted edges to print.")
@connection_options
@click.pass_context
def complete(ctx: click.Context, relation: str, k: int, min_score: float | None, limit: int, batch_size: int,
             dry_run: bool, show: int, **conn: Any) -> None:
    """Add predicted RELATION edges for every entity that has RELATION facts.

    Runs `CALL kgstore.complete(RELATION, {...})` inside Neo4j, exactly as a Cypher user
    would: the plugin asks the decoder sidecar (`kgstore serve`) for each head's top-k
    tails that are not known facts and writes them, in one transaction, as
    (h)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(t).
    Re-running refreshes existing predictions instead of duplicating them.

    \b
    Example:
      kgstore serve --model demo &
      kgstore complete interacts_with -k 1 --limit 20
    """
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        rows = predictions.complete(graph, relation, k=k, min_score=min_score, limit=limit, dry_run=dry_run,
                                    batch_size=batch_size)
    created = sum(r.created for r in rows)
    verb = "would be written (dry run)" if dry_run else f"written: {created} new, {len(rows) - created} refreshed"
    echo(f"{len(rows)} predicted {relation!r} edges {verb}.")
    if rows and show:
        best = sorted(rows, key=lambda r: -r.score)[:show]
        render.table(f"predicted {relation} (best {len(best)})", ["head", "tail", ("score", "right"), "new"],
                     ([row.head, row.tail, row.score, row.created] for row in best))


@click.group("predictions", context_settings=CONTEXT)
def predictions_group() -> None:
    """Predicted edges (KGSTORE_PREDICTED): list, drop, or accept them as facts.

    Predictions never count as facts: training and evaluation skip them. In Cypher,
    `MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p` removes them all.
    """


def _prediction_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--relation", metavar="NAME", help="Only predictions of this relation.")(command)
    return click.option("--model", metavar="NAME", help="Only predictions made by this model.")(command)


@predictions_group.command("list", context_settings=CONTEXT)
@_prediction_filters
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="How many to print.")
@json_option
@connection_options
@click.pass_context
def predictions_list(ctx: click.Context, model: str | None, relation: str | None, min_score: float | None,
                     limit: int, as_json: bool, **conn: Any) -> None:
    """Print predicted edges, best first, and how many there are in all."""
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        rows = predictions.list_predictions(graph, model=model, relation=relation, min_score=min_score,
                                            limit=limit)
        total = predictions.count_predictions(graph, model=model, relation=relation)
    if as_json:
        render.emit_json({"total": total, "predictions": rows})
        return
    if not rows:
        echo("No predicted edges" + (" match." if model or relation or min_score is not None else " yet."))
        return
    render.table(f"predicted edges ({len(rows)} of {total:,})",
                 ["head", "relation", "tail", ("score", "right"), "model", "created"],
                 ([row["head"], row["relation"], row["tail"], row["score"],
                   f"{row['model']}@{row['version']}" if row["version"] else str(row["model"]),
                   str(row["created_at"])[:19]] for row in rows))


@predictions_group.command("drop", context_settings=CONTEXT)
@_prediction_filters
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
@click.pass_context
def predictions_drop(ctx: click.Context, model: str | None, relation: str | None, yes: bool, **conn: Any) -> None:
    """Delete predicted edges (all of them, or one model's or relation's). Facts are never touched."""
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        count = predictions.count_predictions(graph, model=model, relation=relation)
        if count == 0:
            echo("No predicted edges to drop.")
            return
        if not yes:
            click.confirm(f"Delete {count:,} predicted edges?", abort=True)
        dropped = predictions.drop_predictions(graph, model=model, relation=relation)
    echo(f"Dropped {dropped:,} predicted edges.")


@predictions_group.command("accept", context_settings=CONTEXT)
@_prediction_filters
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@connection_options
@click.pass_context
def predictions_accept(ctx: click.Context, model: str | None, relation: str | None, min_score: float | None,
                       **conn: Any) -> None:
    """Turn predictions into facts of their relation (split train), removing the predictions.

    The next `kgstore train` learns from them; each keeps `accepted_from` (the model) and
    its score.
    """
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        accepted = predictions.accept_predictions(graph, model=model, relation=relation, min_score=min_score)
    echo(f"Accepted {accepted:,} predictions as facts.")
