"""``kgstore doctor``: one command that checks what kgstore needs and prints how to fix it."""

from __future__ import annotations

from typing import Any

import click

from kgstore.cli import render
from kgstore.cli.common import CONTEXT, connection_options, home_of, json_option

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@click.command(context_settings=CONTEXT)
@connection_options
@json_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, **conn: Any) -> None:
    """Check Java, Maven, disk, ports, the server, the plugin, the sidecar, torch and encoders.

    Each problem comes with the command that fixes it. Nothing is started, stopped or
    installed. Exit code 1 when a check fails (warnings do not count), so scripts and CI
    can run it first.

    \b
    Examples:
      kgstore doctor
      kgstore doctor --json | jq '.checks[] | select(.status != "ok")'
      kgstore doctor --uri neo4j+s://db.example.com --user neo4j --password ...
    """
    from rich.console import Console
    from rich.markup import escape

    from kgstore.doctor import run_checks

    with Console(stderr=True).status("checking ...") as spinner:  # on stderr: stdout stays the report
        report = run_checks(home_of(ctx), progress=lambda name: spinner.update(f"checking {name} ..."), **conn)
    if as_json:
        render.emit_json({"ok": report.ok, "home": report.home, "version": report.version,
                          "checks": report.checks})
    else:
        render.table(f"kgstore doctor ({report.home})", ["check", "status", "detail", "fix"],
                     ([c.name, f"[{STYLE[c.status]}]{c.status}[/]", escape(c.detail), escape(c.fix or "")]
                      for c in report.checks))
        failed = [c.name for c in report.checks if c.status == "fail"]
        render.console().print(f"[bold red]{len(failed)} failed:[/] {', '.join(failed)}" if failed
                               else "[green]No check failed.[/]")
    ctx.exit(0 if report.ok else 1)
