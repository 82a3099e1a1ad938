"""Screenshot of the Neo4j Browser connected to a running Neo4j server.

Opens the Browser that the Neo4j server serves at ``<http-url>/browser/`` in headless
Debian Chromium, fills in its connect form (connect URL, user, password), runs one query
(``CALL dbms.components()`` by default), opens the database information drawer and
saves a PNG. It prints the Browser URL, the Neo4j version the Browser shows and the PNG
path, and exits non-zero with the reason when the page or the connection fails (the
page as it was is then saved next to the PNG, as ``<name>.error.png``).

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
class Screenshot:
    browser_url: str
    bolt_uri: str
    neo4j_version: str
    png: Path


def default_target() -> BrowserTarget:
    """Defaults for the flags: the environment, else the managed server of the kgstore home."""
    from kgstore.config import resolve_connection
    from kgstore.server import ManagedServer

    connection = resolve_connection()
    managed = connection.source == "managed"
    return BrowserTarget(
        http_url=os.environ.get("KGSTORE_HTTP_URL")
        or (ManagedServer().http_url if managed else DEFAULT_HTTP_URL),
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
                version = _connect_and_run(page, target, scheme, address, bolt_uri, query, timeout_ms)
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
    return Screenshot(target.browser_url, bolt_uri, version, out)


def _connect_and_run(page, target, scheme, address, bolt_uri, query, timeout_ms) -> str:
    """Drive the Browser UI; returns the Neo4j version its database drawer shows."""
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

    if query:
        page.click("[data-testid=activeEditor]")
        page.keyboard.type(query)
        page.click("[data-testid=editor-Run]")
        # The status line reads "... completed after 4  ms." (the gap is not one plain space).
        done = page.get_by_text(re.compile(r"completed after \d+\s+ms"))
        query_failed = page.locator("[data-testid=frame]").first.get_by_text(ERROR_TEXT)
        done.or_(query_failed).first.wait_for(timeout=timeout_ms)
        if not done.first.is_visible():
            raise ScreenshotError(f"the query failed in the Browser: {query_failed.first.inner_text().strip()}")

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
    return version


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
    print(f"neo4j version: {shot.neo4j_version}")
    print(f"png: {shot.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
