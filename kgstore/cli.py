"""The ``kgstore`` command line: a thin shell over the library (every command calls it).

Example::

    kgstore server install && kgstore server start
    kgstore schema apply
    kgstore status
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kgstore import __version__
from kgstore.errors import KgstoreError
from kgstore.home import HOME_ENV, KgstoreHome

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def echo(message: str) -> None:
    click.echo(message, err=False)


def _home(ctx: click.Context) -> KgstoreHome:
    return KgstoreHome(ctx.obj.get("home") if ctx.obj else None)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--uri --user --password --database``, falling back to NEO4J_* env and the managed server."""
    options = [
        click.option("--uri", metavar="URI", help="bolt://, neo4j:// (routing) or neo4j+s:// URI. "
                     "[env NEO4J_URI; default: the managed server of the kgstore home]"),
        click.option("--user", metavar="NAME", help="User name. [env NEO4J_USERNAME; default neo4j]"),
        click.option("--password", metavar="SECRET", help="Password. [env NEO4J_PASSWORD; default: "
                     "the managed server's password file]"),
        click.option("--database", metavar="NAME", help="Database name. [env NEO4J_DATABASE; "
                     "default: the server's default database]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def open_graph(ctx: click.Context, uri: str | None, user: str | None, password: str | None,
               database: str | None):  # noqa: ANN201 - returns kgstore.Graph
    from kgstore.driver import connect

    return connect(uri, user, password, database, home=_home(ctx))


class KgstoreGroup(click.Group):
    """Turns KgstoreError into a short message and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KgstoreError as exc:
            click.secho(f"Error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(exc.hint, err=True)
            ctx.exit(1)


@click.group(cls=KgstoreGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="kgstore")
@click.option("--home", type=click.Path(path_type=Path), envvar=HOME_ENV, show_envvar=True,
              help="kgstore home: the managed server's data, config, logs and password. "
              "[default: the per-user data folder]")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """kgstore makes a Neo4j database learn.

    Sync a knowledge graph into Neo4j, train entity vectors on it, write them back into a
    vector index and complete missing links from Cypher.

    \b
    Quick start (managed local Neo4j, no Docker needed):
      kgstore server install && kgstore server start
      kgstore schema apply
      kgstore status
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


# ----------------------------------------------------------------------- server
@main.group(context_settings=CONTEXT)
def server() -> None:
    """Manage the local Neo4j server of the kgstore home (no Docker needed).

    Neo4j Community 5.26 is resolved from Maven Central with `mvn` into a versioned
    cache and runs as a Java process whose data, config and logs live in the kgstore
    home (KGSTORE_HOME). Two homes give two independent servers.
    """


@server.command(context_settings=CONTEXT)
@click.option("--neo4j-version", metavar="X.Y.Z", help="Exact Neo4j version. [default: newest 5.26 patch]")
@click.option("--upgrade", is_flag=True, help="Ask Maven for the newest 5.26 patch even if one is cached.")
@click.option("--cache-dir", type=click.Path(path_type=Path), envvar="KGSTORE_NEO4J_CACHE",
              show_envvar=True, help="Where Neo4j versions are cached. [default: ~/.cache/kgstore/neo4j]")
@click.option("--bolt-port", type=click.IntRange(1, 65535), help="Bolt port. [default: 7687, or a free one]")
@click.option("--http-port", type=click.IntRange(1, 65535), help="HTTP/Browser port. [default: 7474, or a free one]")
@click.option("--password", metavar="SECRET", help="Password for user neo4j. [default: generated, kept in "
              "<home>/password with mode 0600]")
@click.option("--heap", "heap_size", metavar="SIZE", help="JVM heap, e.g. 1g. [default 1g]")
@click.option("--pagecache", "pagecache_size", metavar="SIZE", help="Page cache, e.g. 512m. [default 512m]")
@click.option("--plugin-jar", type=click.Path(path_type=Path, dir_okay=False),
              help="kgstore plugin jar to install. [env KGSTORE_PLUGIN_JAR; default: built from plugin/]")
@click.pass_context
def install(ctx: click.Context, neo4j_version: str | None, upgrade: bool, cache_dir: Path | None,
            bolt_port: int | None, http_port: int | None, password: str | None,
            heap_size: str | None, pagecache_size: str | None, plugin_jar: Path | None) -> None:
    """Install Neo4j into the kgstore home (safe to repeat).

    Resolves the jars with Maven (cached), writes neo4j.conf (127.0.0.1 only, auth on),
    sets the password and installs the kgstore plugin.

    \b
    Example:
      KGSTORE_HOME=/tmp/kg2 kgstore server install --bolt-port 17687 --http-port 17474
    """
    from kgstore.server import ManagedServer

    ManagedServer(_home(ctx), cache_dir=cache_dir).install(
        version=neo4j_version, upgrade=upgrade, bolt_port=bolt_port, http_port=http_port,
        password=password, heap_size=heap_size, pagecache_size=pagecache_size,
        plugin_jar=plugin_jar, echo=echo)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=180.0, show_default=True,
              help="Seconds to wait for Bolt to answer.")
@click.pass_context
def start(ctx: click.Context, timeout: float) -> None:
    """Start the managed Neo4j in the background and wait until Bolt answers."""
    from kgstore.server import ManagedServer

    status = ManagedServer(_home(ctx)).start(timeout=timeout, echo=echo)
    for line in status.lines():
        echo(line)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing the process.")
@click.pass_context
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the managed Neo4j gracefully and wait until it has exited."""
    from kgstore.server import ManagedServer

    ManagedServer(_home(ctx)).stop(timeout=timeout, echo=echo)


@server.command("status", context_settings=CONTEXT)
@click.pass_context
def server_status(ctx: click.Context) -> None:
    """Say whether the managed Neo4j is installed and running, and where."""
    from kgstore.server import ManagedServer

    status = ManagedServer(_home(ctx)).status()
    for line in status.lines():
        echo(line)
    ctx.exit(0 if status.running else 3)


@server.command(context_settings=CONTEXT)
@click.option("-n", "--lines", type=click.IntRange(1), default=50, show_default=True,
              help="How many lines from the end.")
@click.option("--which", type=click.Choice(["neo4j", "debug", "console", "query", "security"]),
              default="neo4j", show_default=True, help="Which log file.")
@click.pass_context
def logs(ctx: click.Context, lines: int, which: str) -> None:
    """Print the end of the managed server's log."""
    from kgstore.server import ManagedServer

    echo(ManagedServer(_home(ctx)).logs(lines, which=which))


# ----------------------------------------------------------------------- schema
@main.group(context_settings=CONTEXT)
def schema() -> None:
    """The constraints and indexes kgstore needs (cypher/schema.cypher)."""


@schema.command("apply", context_settings=CONTEXT)
@connection_options
@click.pass_context
def schema_apply(ctx: click.Context, **conn: Any) -> None:
    """Create the missing constraints and indexes and wait until they are ONLINE (idempotent)."""
    from kgstore.schema import apply_schema

    with open_graph(ctx, **conn) as graph:
        result = apply_schema(graph)
    if result.changed:
        echo(f"Schema applied: created {', '.join(result.created)}")
    else:
        echo(f"Schema up to date: nothing changed ({len(result.existing)} constraints and indexes).")


# ----------------------------------------------------------------------- status
@main.command(context_settings=CONTEXT)
@connection_options
@click.pass_context
def status(ctx: click.Context, **conn: Any) -> None:
    """Print the server and version, node and relationship counts, and indexes with their state."""
    from kgstore import schema as kg_schema

    console = Console()  # made here so the width follows the terminal (or $COLUMNS)

    with open_graph(ctx, **conn) as graph:
        info = graph.server_info()
        nodes = kg_schema.node_counts(graph)
        rels = kg_schema.relationship_counts(graph)
        index_rows = kg_schema.indexes(graph)
    console.print(f"[bold]{info['name']} {info['version']} {info['edition']}[/] at {info['uri']}")
    table = Table(title="Nodes by label")
    table.add_column("label")
    table.add_column("count", justify="right")
    for label, count in nodes.items():
        table.add_row(label, f"{count:,}")
    console.print(table if nodes else "No nodes yet.")
    table = Table(title="Relationships by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for rel_type, count in rels.items():
        table.add_row(rel_type, f"{count:,}")
    console.print(table if rels else "No relationships yet.")
    table = Table(title="Indexes")
    for column in ("name", "type", "on", "state", "populated"):
        table.add_column(column)
    for row in index_rows:
        target = f"{','.join(row['labelsOrTypes'] or [])}({','.join(row['properties'] or [])})"
        if row["type"] == "VECTOR" and row.get("config"):
            cfg = row["config"]
            target += f" dim={cfg.get('vector.dimensions')} {cfg.get('vector.similarity_function')}"
        table.add_row(row["name"], row["type"], target, row["state"],
                      f"{row['populationPercent']:.0f}%")
    console.print(table)






if __name__ == "__main__":
    main()
