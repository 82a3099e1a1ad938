"""``kgstore server ...``: install, start, stop and inspect the managed local Neo4j."""

from __future__ import annotations

from pathlib import Path

import click

from kgstore.cli.common import CONTEXT, echo, home_of


@click.group(context_settings=CONTEXT)
def server() -> None:
    """Manage the local Neo4j server of the kgstore home (no Docker needed).

    Neo4j Community (5.26 LTS, or a calendar release) is resolved from Maven Central into a versioned
    cache and runs as a Java process whose data, config and logs live in the kgstore
    home (KGSTORE_HOME). Two homes give two independent servers.
    """


@server.command(context_settings=CONTEXT)
@click.option("--neo4j-version", metavar="VERSION",
              help="5.26 (LTS) or 5.26.N; a calendar release line (2026, 2026.08), an exact calendar release "
              "(2026.08.1) or `latest` (the newest calendar release; needs Java 21+). [default: newest 5.26 patch]")
@click.option("--upgrade", is_flag=True, help="Ask Maven for the newest release of the version's line even if "
              "one is cached.")
@click.option("--java-home", metavar="DIR", help="JDK the server runs on, remembered by the home. [default: "
              "JAVA_HOME or java on PATH; for a calendar release the newest installed JDK 21+ when those are older]")
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
            heap_size: str | None, pagecache_size: str | None, plugin_jar: Path | None,
            java_home: str | None) -> None:
    """Install Neo4j into the kgstore home (safe to repeat).

    Resolves the jars with Maven (cached), writes neo4j.conf (127.0.0.1 only, auth on),
    sets the password and installs the kgstore plugin.

    \b
    Example:
      KGSTORE_HOME=/tmp/kg2 kgstore server install --bolt-port 17687 --http-port 17474
      KGSTORE_HOME=/tmp/kg3 kgstore server install --neo4j-version latest
    """
    from kgstore.server import ManagedServer

    ManagedServer(home_of(ctx), cache_dir=cache_dir).install(
        version=neo4j_version, upgrade=upgrade, bolt_port=bolt_port, http_port=http_port,
        password=password, heap_size=heap_size, pagecache_size=pagecache_size,
        plugin_jar=plugin_jar, java_home=java_home, echo=echo)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=180.0, show_default=True,
              help="Seconds to wait for Bolt to answer.")
@click.pass_context
def start(ctx: click.Context, timeout: float) -> None:
    """Start the managed Neo4j in the background and wait until Bolt answers."""
    from kgstore.server import ManagedServer

    status = ManagedServer(home_of(ctx)).start(timeout=timeout, echo=echo)
    for line in status.lines():
        echo(line)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing the process.")
@click.pass_context
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the managed Neo4j gracefully and wait until it has exited."""
    from kgstore.server import ManagedServer

    ManagedServer(home_of(ctx)).stop(timeout=timeout, echo=echo)


@server.command("status", context_settings=CONTEXT)
@click.pass_context
def server_status(ctx: click.Context) -> None:
    """Say whether the managed Neo4j is installed and running, and where."""
    from kgstore.server import ManagedServer

    status = ManagedServer(home_of(ctx)).status()
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

    echo(ManagedServer(home_of(ctx)).logs(lines, which=which))
