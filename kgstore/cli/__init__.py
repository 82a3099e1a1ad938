"""The ``kgstore`` command line: a thin shell over the library (every command calls it).

One module per command group: :mod:`~kgstore.cli.server` (the managed Neo4j),
:mod:`~kgstore.cli.data` (schema, sync, datasets, export), :mod:`~kgstore.cli.models`
(train, eval, write-back, serve, models), :mod:`~kgstore.cli.query` (status, nearest,
complete, predictions), :mod:`~kgstore.cli.generators` (generators, describe, imagine,
generated);
:mod:`~kgstore.cli.doctor` (doctor); :mod:`~kgstore.cli.render` prints tables and ``--json``.

Example::

    kgstore server install && kgstore server start
    kgstore schema apply
    kgstore status
"""

from __future__ import annotations

from pathlib import Path

import click

from kgstore import __version__
from kgstore.cli import browser, data, doctor, generators, models, query, server
from kgstore.cli.common import CONTEXT, KgstoreGroup
from kgstore.home import HOME_ENV


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


for command in (server.server, data.schema, data.sync, data.datasets, data.export, models.train, models.evaluate,
                models.write_back, models.serve, models.models_group, query.status, query.nearest, query.complete,
                query.predictions_group, generators.generators, generators.describe, generators.imagine,
                generators.generated_group, browser.browser, doctor.doctor):
    main.add_command(command)

__all__ = ["main"]
