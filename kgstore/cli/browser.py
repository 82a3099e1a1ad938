"""``kgstore browser``: the Neo4j Browser URL and the lines that open the kgstore guide and style."""

from __future__ import annotations

import os
import sys

import click

from kgstore.cli import render
from kgstore.cli.common import CONTEXT, echo, home_of, json_option


@click.command("browser", context_settings=CONTEXT)
@click.option("--open/--no-open", "open_browser", default=True, show_default=True,
              help="Open the Neo4j Browser in a web browser, when this machine has one.")
@click.option("--sidecar-port", type=click.IntRange(1, 65535), metavar="PORT",
              help="The sidecar's port, when `kgstore serve --port` moved it. [default: the home's sidecar port]")
@json_option
@click.pass_context
def browser(ctx: click.Context, open_browser: bool, sidecar_port: int | None, as_json: bool) -> None:
    """Print the Neo4j Browser URL, and the :play and :style lines of the kgstore guide and style.

    The decoder sidecar (`kgstore serve`) serves both: the guide's slides run kgstore.nearest,
    kgstore.predict, kgstore.complete, kgstore.score, kgstore.describe and kgstore.imagine on
    the model it serves; the style captions entities by name and draws predicted edges in
    orange with their score. Paste the two lines into the Browser's editor. The Browser opens
    with its connect form filled in and the :play line in its editor.

    \b
    Example:
      kgstore server start && kgstore serve --model demo --detach
      kgstore browser
      kgstore browser --no-open --json
    """
    from kgstore.browser import browser_links

    home = home_of(ctx)
    links = browser_links(home, sidecar_port=sidecar_port)
    opened = False
    if open_browser and links.server_running and _has_display():
        import webbrowser

        try:
            opened = webbrowser.open(links.open_url)  # False when this machine has no browser to open
        except webbrowser.Error:
            opened = False
    if as_json:
        render.emit_json({**links.as_dict(), "opened": opened})
        return
    echo(f"Neo4j Browser: {links.browser_url}" + ("  (opened)" if opened else ""))
    echo("In its editor, run the kgstore guide and style:")
    echo(f"  {links.play}")
    echo(f"  {links.style}")
    if not links.server_running:
        click.echo(f"note: the home's Neo4j server does not answer at {links.browser_url}: "
                   "start it with `kgstore server start`.", err=True)
    if not links.sidecar_running:
        click.echo(f"note: no sidecar answers at {links.guide_url.rsplit('/', 1)[0]}: the guide and style come "
                   "from it; start it with `kgstore serve --model NAME --detach`.", err=True)


def _has_display() -> bool:
    """Whether a graphical browser can open here: without one, Python's ``webbrowser`` falls back
    to a text browser (lynx, w3m) that would take over the terminal."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
