"""Screenshot of the Neo4j Browser connected to a running Neo4j server.

Opens the Browser that the Neo4j server serves at ``<http-url>/browser/`` in headless
Debian Chromium, fills in its connect form (connect URL, user, password), runs one query
(``CALL dbms.components()`` by default), opens the database information drawer and
saves a PNG. It prints the Browser URL, the view the Browser picked for the query's
result, the Neo4j version the Browser shows and the PNG path, and exits non-zero with the
reason when the page, the connection or the query fails (the page as it was is then
saved next to the PNG, as ``<name>.error.png``).

The Browser picks the result view itself, and the script waits for the result frame
whichever it is and reports it on the ``result:`` line:

- ``graph: 3 nodes, 2 relationships``: the query returned nodes, relationships or
  paths, and the Browser draws them (the counts are the nodes and relationships drawn
  in the frame's SVG; the Browser's own "Displaying ..." line is added when it differs,
  as it does for ``MATCH (n) RETURN n``, where the Browser also draws the relationships
  between the returned nodes, and its "Not all return nodes are being displayed" warning
  when it shows one);
- ``table: 1 row (name, version, edition)``: rows of values, as a table (the columns
  in brackets);
- ``text: 1 row``: the same, as ASCII text (when the frame is in its Text view);
- ``no changes, no records``: a query that returned and changed nothing;
- ``summary: Added 1 label, created 1 node``: an update query without rows;

and an error frame (``Neo.ClientError.Statement.SyntaxError`` ...) is a failure.
``--query`` takes Cypher; Browser commands such as ``:sysinfo`` are not awaited.

Prerequisites (Chromium comes from Debian; Playwright's own browser downloads are not
used, so never run ``playwright install``)::

    apt-get install -y chromium       # provides /usr/bin/chromium
    pip install playwright            # the Python package ships its driver

Run it against a server (flags default to the environment variables shown)::

    python bench/browser_screenshot.py \\
        --http-url http://127.0.0.1:7474 \\      # KGSTORE_HTTP_URL
        --bolt-uri bolt://127.0.0.1:7687 \\      # NEO4J_URI (else the server's bolt_direct)
        --user neo4j \\                          # NEO4J_USERNAME (else neo4j)
        --password "$NEO4J_PASSWORD" \\          # NEO4J_PASSWORD
        --out bench/out/browser.png

Other flags: ``--query`` (the Cypher to run, empty for none), ``--chromium`` (the
Chromium binary, default ``$CHROMIUM`` or ``/usr/bin/chromium``), ``--timeout``
(seconds to wait for each step, default 60: the first connection to a fresh server can
take a while on a small machine).

Nothing is stored between runs: each run uses a fresh browser context, and requests to
hosts other than the Neo4j server (web fonts, product-usage reporting) are blocked.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_HTTP_URL = "http://127.0.0.1:7474"
DEFAULT_USER = "neo4j"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
DEFAULT_OUT = Path(__file__).resolve().parent / "out" / "browser.png"
DEFAULT_QUERY = "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS version, edition"
VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The Browser's connect form offers these two schemes (it picks TLS from the page's own
# scheme: http pages connect in plain text, https pages encrypted).
BROWSER_SCHEMES = ("bolt", "neo4j")
# How the Browser reports a failed connection or query.
ERROR_TEXT = re.compile(
    r"(Neo\.\w+Error\.[\w.]+|ServiceUnavailable|WebSocket connection failure|"
    r"Connection refused|Failed to establish connection)"
)
# The graph visualisation's own line, in the frame's overview panel.
GRAPH_STATUS = re.compile(r"Displaying (\d+) nodes?, (\d+) relationships?")
# A table or text result's status bar: "Started streaming 1 records after 5 ms and
# completed after 6 ms." (the gaps are not always one plain space).
ROWS_STATUS = re.compile(r"Started streaming\s+(\d+)\s+records?")
# An update's status bar: "Added 1 label, created 1 node, ..., completed after 187 ms."
COMPLETED_SUFFIX = re.compile(r",?\s*completed after\s+\d+\s+ms\.?\s*$", re.IGNORECASE)
NO_RECORDS_TEXT = "(no changes, no records)"


class ScreenshotError(Exception):
    """The Browser page, the connection or the query failed; the message says which."""


@dataclass(frozen=True)
class BrowserTarget:
    """The Neo4j server whose Browser is shown, and how the Browser logs in."""

    http_url: str
    bolt_uri: str | None  # None: the bolt_direct address the server advertises
    user: str
    password: str | None

    @property
    def browser_url(self) -> str:
        return self.http_url.rstrip("/") + "/browser/"


@dataclass(frozen=True)
class QueryResult:
    """The view the Browser picked for the query's result frame, and what it shows."""

    view: str  # "graph", "table", "text", "empty", "summary" or "frame" (none of those)
    detail: str

    def __str__(self) -> str:
        return self.detail if self.view == "empty" else f"{self.view}: {self.detail}"


@dataclass(frozen=True)
class Screenshot:
    browser_url: str
    bolt_uri: str
    neo4j_version: str
    png: Path
    result: QueryResult | None = None  # None: no query was run


def default_target() -> BrowserTarget:
    """Defaults for the flags: the environment, else the managed server of the kgstore home."""
    from kgstore.config import resolve_connection
    from kgstore.server import ManagedServer

    connection = resolve_connection()
    managed = connection.source == "managed"
    return BrowserTarget(
        http_url=os.environ.get("KGSTORE_HTTP_URL") or (ManagedServer().http_url if managed else DEFAULT_HTTP_URL),
        bolt_uri=connection.uri if os.environ.get("NEO4J_URI") or managed else None,
        user=connection.user or DEFAULT_USER,
        password=connection.password,
    )


def discover(http_url: str, *, timeout_s: float) -> dict:
    """The server's HTTP discovery document (versions and Bolt addresses)."""
    try:
        with urllib.request.urlopen(http_url.rstrip("/") + "/", timeout=timeout_s) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ScreenshotError(
            f"no Neo4j HTTP server answered at {http_url}: {exc}. Start the server, or "
            "pass --http-url / set KGSTORE_HTTP_URL to its HTTP address."
        ) from exc


def split_bolt_uri(bolt_uri: str) -> tuple[str, str]:
    """``bolt://host:port`` -> (``bolt://``, ``host:port``) as the connect form wants them."""
    parts = urlsplit(bolt_uri)
    if parts.scheme not in BROWSER_SCHEMES or not parts.netloc:
        allowed = ", ".join(f"{s}://host:port" for s in BROWSER_SCHEMES)
        raise ScreenshotError(
            f"cannot put bolt URI {bolt_uri!r} into the Browser's connect form: it takes "
            f"{allowed} (the Browser encrypts when it is itself opened over https)."
        )
    return f"{parts.scheme}://", parts.netloc


def take_screenshot(
    target: BrowserTarget,
    out: Path,
    *,
    query: str = DEFAULT_QUERY,
    chromium: str = DEFAULT_CHROMIUM,
    timeout_s: float = 60.0,
) -> Screenshot:
    """Connect the Browser of ``target``, run ``query`` and save a PNG at ``out``."""
    if not target.password:
        raise ScreenshotError(
            "no password: pass --password or set NEO4J_PASSWORD (the Browser's connect form needs it)."
        )
    if not Path(chromium).exists():
        raise ScreenshotError(
            f"no Chromium at {chromium}: install Debian's with `apt-get install -y chromium`, "
            "or pass --chromium / set CHROMIUM to another Chromium binary."
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ScreenshotError(
            "the playwright package is missing: `pip install playwright` "
            "(its bundled browsers are not needed; Debian's chromium is used)."
        ) from exc

    info = discover(target.http_url, timeout_s=timeout_s)
    bolt_uri = target.bolt_uri or info.get("bolt_direct")
    if not bolt_uri:
        raise ScreenshotError(
            f"the server at {target.http_url} advertises no bolt_direct address: pass --bolt-uri or set NEO4J_URI."
        )
    scheme, address = split_bolt_uri(bolt_uri)
    allowed_hosts = {urlsplit(target.http_url).hostname, urlsplit(bolt_uri).hostname}
    out.parent.mkdir(parents=True, exist_ok=True)
    timeout_ms = timeout_s * 1000

    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        except PlaywrightError as exc:
            raise ScreenshotError(f"Chromium at {chromium} did not start: {exc}") from exc
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.route(
                "**/*",
                lambda route: (
                    route.continue_() if urlsplit(route.request.url).hostname in allowed_hosts else route.abort()
                ),
            )
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            try:
                version, result = _connect_and_run(page, target, scheme, address, bolt_uri, query, timeout_ms)
            except (ScreenshotError, PlaywrightError) as exc:
                error_png = out.with_name(out.stem + ".error.png")
                try:
                    page.screenshot(path=str(error_png))
                    where = f" (the page as it was: {error_png})"
                except PlaywrightError:
                    where = ""
                if isinstance(exc, ScreenshotError):
                    raise ScreenshotError(f"{exc}{where}") from exc
                raise ScreenshotError(
                    f"the Browser at {target.browser_url} did not get through: {str(exc).splitlines()[0]}{where}"
                ) from exc
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return Screenshot(target.browser_url, bolt_uri, version, out, result)


def _connect_and_run(page, target, scheme, address, bolt_uri, query, timeout_ms) -> tuple[str, QueryResult | None]:
    """Drive the Browser UI; returns the Neo4j version its database drawer shows and the
    view of the query's result frame (None without a query)."""
    response = page.goto(target.browser_url, wait_until="domcontentloaded")
    if response is None or not response.ok:
        status = response.status if response is not None else "no response"
        raise ScreenshotError(
            f"the Neo4j Browser is not served at {target.browser_url} (HTTP {status}): "
            "the server needs the neo4j-browser jar on its classpath and HTTP enabled."
        )
    # A fresh context has no stored credentials, so the Browser opens `:server connect`.
    page.wait_for_selector("[data-testid=boltaddress]")
    page.select_option("[data-testid=bolt-scheme-select]", scheme)
    page.fill("[data-testid=boltaddress]", address)
    page.fill("[data-testid=username]", target.user)
    page.fill("[data-testid=password]", target.password)
    page.click("[data-testid=connect]")

    connected = page.get_by_text("You are connected as user")
    failed = page.locator("[data-testid=stream]").get_by_text(ERROR_TEXT)
    connected.or_(failed).first.wait_for(timeout=timeout_ms)
    if not connected.is_visible():
        raise ScreenshotError(
            f"the Browser could not connect to {bolt_uri} as {target.user!r}: {failed.first.inner_text().strip()}"
        )

    result = _run_query(page, query, timeout_ms) if query else None

    _dismiss_usage_banner(page)
    # The database drawer lists the DBMS version the Browser got from the server
    # (a table row "Version:" | "5.26.30").
    page.click("[data-testid=navigationDBMS]")
    version_cell = page.locator("td", has_text=re.compile(r"^\s*Version:\s*$")).locator(
        "xpath=following-sibling::td[1]"
    )
    version_cell.first.wait_for(timeout=timeout_ms)
    version = version_cell.first.inner_text().strip()
    if not version:
        raise ScreenshotError("the Browser's database drawer shows no Neo4j version")
    page.mouse.move(VIEWPORT["width"] - 1, VIEWPORT["height"] - 1)  # no hover highlight
    return version, result


def _run_query(page, query: str, timeout_ms: float) -> QueryResult:
    """Run ``query`` from the editor and wait for its result frame, whatever view it is in.

    The Browser puts each run's frame on top of the stream. While the query runs, the
    frame shows a spinner; once it is done, the frame holds ``frame-loaded-contents``
    (a result in one of its views, or an error message).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    frames = page.locator("[data-testid=frame]")
    before = frames.count()
    page.click("[data-testid=activeEditor]")
    page.keyboard.type(query)
    page.click("[data-testid=editor-Run]")
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=frame]').length > n", arg=before, timeout=timeout_ms
        )
    except PlaywrightTimeout as exc:
        raise ScreenshotError(
            f"the Browser opened no result frame for the query within {timeout_ms / 1000:g} s"
        ) from exc
    frame = frames.first
    loaded = frame.locator("[data-testid=frame-loaded-contents]")
    error = frame.locator("[data-testid=cypherFrameErrorMessage]")
    error_text = frame.get_by_text(ERROR_TEXT)
    try:
        loaded.or_(error).or_(error_text).first.wait_for(timeout=timeout_ms)
    except PlaywrightTimeout as exc:
        running = frame.locator("[data-testid=spinner]").count() > 0
        state = "it was still running (the frame shows its spinner)" if running else "the frame shows no result"
        raise ScreenshotError(
            f"the query gave no result frame in the Browser within {timeout_ms / 1000:g} s: {state}; "
            "raise --timeout for a slow query"
        ) from exc

    if error.count():
        # The message element holds the message only; the frame contents add "ERROR" and the code.
        shown = loaded.first.inner_text() if loaded.count() else error.first.inner_text()
        raise ScreenshotError(f"the query failed in the Browser: {_error_message(shown)}")

    graph = frame.locator("svg.neod3viz:visible")
    if graph.count():
        return _graph_result(page, frame, graph.first, timeout_ms)

    status_text = _status_text(frame)
    table = frame.locator("table.relatable__table:visible")
    if table.count():
        columns = [c.strip() for c in table.first.locator("th[role=columnheader]").all_inner_texts()]
        rows = _rows(status_text)
        listed = f" ({', '.join(columns)})" if columns else ""
        return QueryResult("table", f"{rows}{listed}")
    if frame.locator("[data-testid=frame-loaded-contents] pre:visible").count():
        return QueryResult("text", _rows(status_text))

    contents = loaded.first.inner_text().strip() if loaded.count() else ""
    if NO_RECORDS_TEXT in contents:
        return QueryResult("empty", NO_RECORDS_TEXT.strip("()"))
    if error_text.count():
        raise ScreenshotError(f"the query failed in the Browser: {_error_message(error_text.first.inner_text())}")
    summary = COMPLETED_SUFFIX.sub("", status_text).strip()
    if summary and not summary.lower().startswith("completed"):
        return QueryResult("summary", summary)
    first_line = next((line.strip() for line in contents.splitlines() if line.strip()), status_text or "empty")
    return QueryResult("frame", first_line[:200])


def _graph_result(page, frame, svg, timeout_ms: float) -> QueryResult:
    """Counts of the nodes and relationships the graph visualisation draws."""
    # The overview shows "Displaying N nodes, M relationships." or, when the Browser caps
    # the drawing at its Initial Node Display setting, a warning instead.
    inspector = frame.locator("[data-testid=vizInspector]")
    displaying = inspector.get_by_text(GRAPH_STATUS)
    truncated = inspector.get_by_text("Not all return nodes are being displayed")
    try:
        displaying.or_(truncated).first.wait_for(timeout=timeout_ms)
    except Exception:  # noqa: BLE001 - the overview is a cross-check; the SVG counts stand alone
        pass
    said = displaying.first.inner_text().strip() if displaying.count() else ""
    _wait_graph_settled(page, svg)
    nodes = svg.locator("g.node").count()
    relationships = svg.locator("g.relationship").count()
    detail = f"{nodes} {'node' if nodes == 1 else 'nodes'}, {relationships} " + (
        "relationship" if relationships == 1 else "relationships"
    )
    match = GRAPH_STATUS.search(said)
    if match and (int(match.group(1)), int(match.group(2))) != (nodes, relationships):
        detail += f" drawn (the frame's overview says: {said.rstrip('.')}"
        if int(match.group(1)) == nodes and int(match.group(2)) < relationships:
            detail += "; the Browser also draws the relationships between the returned nodes"
        detail += ")"
    if truncated.count():
        detail += f"; {' '.join(truncated.first.inner_text().split())}"
    return QueryResult("graph", detail)


def _wait_graph_settled(page, svg, *, max_ms: int = 5000, step_ms: int = 250) -> None:
    """Let the force layout come to rest, so the PNG shows the graph as a user sees it.

    Best effort: the node positions are polled until two reads agree, at most ``max_ms``.
    """
    read = "svg => [...svg.querySelectorAll('g.node')].map(g => g.getAttribute('transform')).join(';')"
    previous = None
    for _ in range(max_ms // step_ms):
        current = svg.evaluate(read)
        if current == previous:
            return
        previous = current
        page.wait_for_timeout(step_ms)


def _status_text(frame) -> str:
    bar = frame.locator("[data-testid=frameStatusbar]")
    return " ".join(bar.first.inner_text().split()) if bar.count() else ""


def _rows(status_text: str) -> str:
    match = ROWS_STATUS.search(status_text)
    if not match:
        return "rows (no row count in the status bar)"
    n = int(match.group(1))
    return f"{n} {'row' if n == 1 else 'rows'}"


def _error_message(text: str) -> str:
    """The error as the frame shows it, 'ERRORNeo.ClientError.X' then the message lines,
    as 'Neo.ClientError.X: message' (further lines, such as a syntax error's caret, kept)."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith("ERROR"):
        lines[0] = lines[0][len("ERROR") :].strip()
        if not lines[0]:
            lines = lines[1:]
    if len(lines) >= 2 and ERROR_TEXT.fullmatch(lines[0].strip()):
        lines = [f"{lines[0].strip()}: {lines[1].strip()}", *lines[2:]]
    return "\n".join(lines)


def _dismiss_usage_banner(page) -> None:
    """Close the 'we collect information on product usage' banner, if the Browser shows it.

    It appears a moment after the first connection; its close icon is the span after the
    message. Best effort: a Browser without the banner is fine as it is.
    """
    banner = page.get_by_text("we collect information on product usage")
    try:
        banner.first.wait_for(timeout=2000)
        banner.first.locator("xpath=following-sibling::span[1]").click(timeout=2000)
    except Exception:  # noqa: BLE001 - the banner is cosmetic; never fail the run on it
        pass


def _library_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"playwright {version('playwright')}"
    except PackageNotFoundError:
        return "playwright (not installed)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = default_target()
    parser = argparse.ArgumentParser(
        description="Screenshot the Neo4j Browser, connected to a running Neo4j server.",
        epilog="Example: python bench/browser_screenshot.py --password secret123 --out bench/out/browser.png",
    )
    parser.add_argument(
        "--http-url",
        default=defaults.http_url,
        help="the server's HTTP address (env KGSTORE_HTTP_URL; default %(default)s)",
    )
    parser.add_argument(
        "--bolt-uri",
        default=defaults.bolt_uri,
        help="connect URL typed into the Browser, bolt:// or neo4j:// "
        "(env NEO4J_URI; default: the server's advertised bolt_direct)",
    )
    parser.add_argument("--user", default=defaults.user, help="env NEO4J_USERNAME; default %(default)s")
    parser.add_argument("--password", default=defaults.password, help="env NEO4J_PASSWORD; required")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default %(default)s)")
    parser.add_argument("--query", default=DEFAULT_QUERY, help="Cypher to run once connected ('' for none)")
    parser.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM,
        help="Chromium binary (env CHROMIUM; default %(default)s)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step (default %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = BrowserTarget(http_url=args.http_url, bolt_uri=args.bolt_uri, user=args.user, password=args.password)
    print(f"browser: {target.browser_url}  ({_library_versions()}, chromium {args.chromium})")
    try:
        shot = take_screenshot(target, args.out, query=args.query, chromium=args.chromium, timeout_s=args.timeout)
    except ScreenshotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"connected: {shot.bolt_uri} as {target.user}")
    if shot.result is not None:
        print(f"result: {shot.result}")
    print(f"neo4j version: {shot.neo4j_version}")
    print(f"png: {shot.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
