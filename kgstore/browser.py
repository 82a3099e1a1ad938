"""Where the Neo4j Browser, the kgstore guide and the kgstore Browser style are for a home.

The decoder sidecar serves a Browser guide at :data:`GUIDE_PATH` and a Browser style
(GraSS) at :data:`STYLE_PATH` (``trainer.sidecar.browser``). The Neo4j Browser fetches
both cross-origin and only from hosts on its allowlist
(``browser.remote_content_hostname_whitelist``), whose default holds ``localhost`` but
not ``127.0.0.1``: so the lines given to the user name ``localhost``, whatever address
the sidecar listens on. The ports are the home's (``kgstore.json``): the Browser is the
managed server's, the sidecar is where ``kgstore serve`` listens by default and where
the procedures look for it.

This module needs neither the trainer nor FastAPI: ``kgstore browser`` prints the lines
on a machine with the light install.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from kgstore.home import KgstoreHome

GUIDE_PATH = "/guide"
STYLE_PATH = "/style.grass"
GUIDE_HOST = "localhost"  # on the Browser's default allowlist (127.0.0.1 is not)


@dataclass(frozen=True)
class BrowserLinks:
    """What a user types or opens to see kgstore in the Neo4j Browser."""

    browser_url: str  # the managed server's Browser
    open_url: str  # the Browser with the connect URL filled in and the :play line in its editor
    guide_url: str
    style_url: str
    play: str  # ":play <guide_url>"
    style: str  # ":style <style_url>"
    server_running: bool  # the home's managed server answers over HTTP
    sidecar_running: bool  # something answers the sidecar's /health on the home's sidecar port

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def browser_links(home: KgstoreHome, *, sidecar_port: int | None = None, timeout: float = 1.0) -> BrowserLinks:
    """The Browser URL and the ``:play`` and ``:style`` lines of ``home``, and whether the
    server and the sidecar they need answer now (each asked once, ``timeout`` seconds).

    Args:
        home: the kgstore home whose ports are used.
        sidecar_port: the sidecar's port when it was started with ``kgstore serve --port``
            (default: the home's sidecar port).
    """
    settings = home.load_settings()
    port = sidecar_port or settings.sidecar_port
    http_url = f"http://{settings.listen_address}:{settings.http_port}"
    browser_url = f"{http_url}/browser/"
    guide_url = f"http://{GUIDE_HOST}:{port}{GUIDE_PATH}"
    style_url = f"http://{GUIDE_HOST}:{port}{STYLE_PATH}"
    play = f":play {guide_url}"
    bolt = f"bolt://{settings.user}@{settings.listen_address}:{settings.bolt_port}"
    # The Browser's URL parameters: `dbms` fills in the connect form, `cmd=edit` puts a command in its editor.
    open_url = browser_url + "?" + urlencode({"dbms": bolt, "cmd": "edit", "arg": play})
    return BrowserLinks(browser_url=browser_url, open_url=open_url, guide_url=guide_url, style_url=style_url,
                        play=play, style=f":style {style_url}",
                        server_running=_answers(http_url + "/", timeout),
                        sidecar_running=_answers(f"http://{settings.listen_address}:{port}/health", timeout,
                                                 json_key="model"))


def _answers(url: str, timeout: float, *, json_key: str | None = None) -> bool:
    """Whether ``url`` answers 200 (with ``json_key`` in its JSON body, when given)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a local URL
            if json_key is None:
                return response.status == 200
            return json_key in json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
