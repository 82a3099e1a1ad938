"""The kgstore guide and style in the Neo4j Browser, served by a real sidecar process.

One model is trained on Nations (synced into the session's managed server), `kgstore serve`
runs as a subprocess on the home's sidecar port (the one the plugin calls and `kgstore
browser` names), and the tests fetch the guide and style over HTTP, run every query of the
guide in Neo4j, and, with Debian's Chromium driven by Playwright, play the guide in the
real Browser of the managed server, apply the style and run the complete slide.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from neo4j.exceptions import ClientError

from kgstore import graph_names
from kgstore.driver import connect
from kgstore.importers.registry import open_dataset
from kgstore.sync import sync_dataset
from tests.conftest import ServerUnderTest, wipe
from tests.extras import in_ci, require
from tests.sidecars import start_sidecar

require("fastapi", reason="the sidecar needs the `serve` extra")
require("torch", reason="training needs the `train` extra")

MODEL = "guide"
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
RUNNABLE = re.compile(r'<pre mode="cypher" class="pre-scrollable code runnable">(.*?)</pre>', re.S)
SLIDE = re.compile(r"<slide\b")
GENERATORS_MISSING = re.compile(r"generator|There is no procedure with the name `kgstore\.imagine`", re.I)


class Served:
    """The module's sidecar and what the guide should say about its model."""

    def __init__(self, port: int, relation: str, entity: str) -> None:
        self.port, self.relation, self.entity = port, relation, entity
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(neo4j_server: ServerUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if neo4j_server.managed is None or neo4j_server.home is None:
        pytest.fail("the Browser guide tests need the managed test server (its Browser, plugin and kgstore.conf)")
    from trainer.checkpoint import Checkpoint
    from trainer.config import TrainConfig
    from trainer.pipeline import train_model

    home = neo4j_server.managed.home
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        wipe(graph)
        sync_dataset(graph, open_dataset("nations"))
        # Nations has no entity names; give each its id as name, so the style's name captions can be checked.
        graph.query(f"MATCH (e:{graph_names.ENTITY}) SET e.name = e.id", write=True)
        train_model(graph, home=home, model=MODEL, progress=False,
                    config=TrainConfig(decoder="distmult", dim=32, epochs=20, patience=0, batch_size=128,
                                       num_threads=1))
    # What the guide must pick, computed here independently: the relation with the most facts, its top head.
    checkpoint = Checkpoint(home.latest_checkpoint(MODEL))
    vocab, (triples, _) = checkpoint.read_vocab(), checkpoint.read_known()
    relations, heads = vocab["relation_names"], vocab["entity_keys"]
    counts = {name: int((triples[:, 1] == i).sum()) for i, name in enumerate(relations)}
    relation = max(relations, key=lambda name: (counts[name], -relations.index(name)))
    r = relations.index(relation)
    head = heads[int(np.bincount(triples[triples[:, 1] == r, 0]).argmax())]
    port = neo4j_server.managed.settings.sidecar_port
    process = start_sidecar(neo4j_server.home, MODEL, port, tmp_path_factory.mktemp("sidecar") / "serve.log")
    yield Served(port, relation, head)
    process.kill()
    process.wait(timeout=30)


def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """GraSS read as the Neo4j Browser reads it (GraphStyle.parse): selectors in order, each with its
    properties; single quotes delimit strings (and are dropped); there are no comments."""
    rules: dict[str, str] = {}
    selector, props, in_string, in_props = "", "", False, False
    for char in text:
        if char == "'":
            in_string = not in_string
            continue
        if char == "{" and not in_string:
            in_props = True
            continue
        if char == "}" and not in_string:
            in_props = False
            rules[selector], selector, props = props, "", ""
            continue
        if in_props:
            props += char
        elif not char.isspace():
            selector += char
    parsed = {}
    for name, body in rules.items():
        pairs = [prop.split(":") for prop in body.split(";")]
        parsed[name] = {pair[0].strip(): pair[1].strip() for pair in pairs if len(pair) > 1 and pair[0].strip()}
    return parsed


def runnable_blocks(guide: str) -> list[str]:
    return [html.unescape(block).strip() for block in RUNNABLE.findall(guide)]


def test_guide_is_served_with_cors_and_names_the_served_model(served: Served) -> None:
    origin = "http://127.0.0.1:7474"
    response = httpx.get(f"{served.url}/guide", headers={"Origin": origin, "pragma": "no-cache"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    guide = response.text
    assert '<article class="guide">' in guide and '<carousel class="deck container-fluid">' in guide
    assert len(SLIDE.findall(guide)) == 9
    blocks = runnable_blocks(guide)
    assert blocks[0] == f":style http://localhost:{served.port}/style.grass"
    for procedure in ("kgstore.nearest(", "kgstore.predict(", "kgstore.complete(", "kgstore.score(",
                      "kgstore.describe(", "kgstore.imagine("):
        assert any(procedure in block for block in blocks), procedure
    assert f"CALL kgstore.complete('{served.relation}', {{k: 1, limit: 10}})" in "\n".join(blocks)
    assert f"{{key: '{served.entity}'}}" in "\n".join(blocks)
    assert f"kgstore.nearest(e, 10, '{MODEL}')" in "\n".join(blocks)

    # The Browser's fetch sends pragma and cache-control: a CORS preflight comes first.
    preflight = httpx.options(f"{served.url}/guide", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "cache-control,pragma"}, timeout=30)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "cache-control,pragma"
    assert "GET" in preflight.headers["access-control-allow-methods"]


def test_a_sidecar_with_a_token_serves_guide_and_style_without_it(served: Served, neo4j_server: ServerUnderTest,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from kgstore.server import free_port

    monkeypatch.setenv("KGSTORE_SIDECAR_TOKEN", "s3cret-token")  # `kgstore serve` reads it (--token's envvar)
    port = free_port()
    process = start_sidecar(neo4j_server.home, MODEL, port, tmp_path / "serve.log")
    try:
        url = f"http://127.0.0.1:{port}"
        refused = httpx.post(f"{url}/predict", json={"queries": [{"entity": served.entity,
                                                                  "relation": served.relation}]}, timeout=30)
        assert refused.status_code == 401  # the token is in force ...
        for path in ("/guide", "/style.grass"):  # ... but the Browser cannot send it, and needs none here
            assert httpx.get(url + path, timeout=30).status_code == 200, path
    finally:
        process.kill()
        process.wait(timeout=30)


def test_style_is_served_with_cors_and_styles_kgstore_names(served: Served) -> None:
    from trainer.sidecar.browser import PREDICTED_COLOR

    response = httpx.get(f"{served.url}/style.grass", headers={"Origin": "http://127.0.0.1:7474"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["access-control-allow-origin"] == "*"
    rules = parse_grass(response.text)
    assert list(rules)[:2] == ["node", "relationship"]  # a comment would have become part of a selector
    assert rules[f"node.{graph_names.ENTITY}"]["caption"] == "{name}"
    predicted = rules[f"relationship.{graph_names.PREDICTED}"]
    assert predicted["color"] == PREDICTED_COLOR and predicted["caption"] == "{score}"
    assert predicted["color"] != rules["relationship"]["color"]  # facts keep the default grey
    # Later rules win in the Browser: the generated-image rule must follow the image rule, in another colour.
    order, generated = list(rules), f"node.{graph_names.GENERATED_IMAGE}"
    assert order.index(generated) > order.index(f"node.{graph_names.IMAGE}")
    assert rules[generated]["color"] != rules[f"node.{graph_names.IMAGE}"]["color"]
    assert rules[f"relationship.{graph_names.GENERATED}"]["color"] == rules[generated]["color"]


def test_every_query_of_the_guide_runs_in_neo4j(served: Served, neo4j_server: ServerUnderTest) -> None:
    guide = httpx.get(f"{served.url}/guide", timeout=30).text
    queries = [block for block in runnable_blocks(guide) if not block.startswith(":")]
    assert len(queries) == 14
    ran = []
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        for query in queries:
            try:
                rows = graph.query(query, write=True)
            except ClientError as exc:
                # describe and imagine need generators this test does not train (imagine may not exist yet).
                assert "kgstore.describe" in query or "kgstore.imagine" in query, (query, exc.message)
                assert GENERATORS_MISSING.search(exc.message or ""), exc.message
                continue
            ran.append((query, rows))
    by_call = {call: rows for call in ("kgstore.nearest", "kgstore.predict", "kgstore.complete")
               for query, rows in ran if call in query}
    assert len(by_call["kgstore.nearest"]) == 10
    assert 1 <= len(by_call["kgstore.predict"]) <= 10
    completed = by_call["kgstore.complete"]
    assert 1 <= len(completed) <= 10
    assert all(row["p"][1] == graph_names.PREDICTED for row in completed)
    score = next(rows for query, rows in ran if "kgstore.score" in query)
    assert "fact" in {row["kind"] for row in score} and all(isinstance(row["score"], float) for row in score)
    assert queries[-1].startswith(f"MATCH ()-[p:{graph_names.PREDICTED} {{model: '{MODEL}'}}]->()")
    assert ran[-1][0] == queries[-1]  # the clean-up ran last: no predicted edge of the model is left
    assert not graph_query_count(neo4j_server)
    assert len(ran) >= 12  # at most describe and imagine failed


def graph_query_count(neo4j_server: ServerUnderTest) -> int:
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        return graph.query(f"MATCH ()-[p:{graph_names.PREDICTED}]->() RETURN count(p) AS n")[0]["n"]


def test_kgstore_browser_prints_the_lines_of_this_home(served: Served, neo4j_server: ServerUnderTest,
                                                       run_cli) -> None:
    http_port = neo4j_server.managed.settings.http_port
    result = run_cli("browser", "--no-open")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"Neo4j Browser: http://127.0.0.1:{http_port}/browser/" in lines
    assert f"  :play http://localhost:{served.port}/guide" in lines
    assert f"  :style http://localhost:{served.port}/style.grass" in lines
    assert "note:" not in result.output  # the server and the sidecar both answer
    document = json.loads(run_cli("browser", "--no-open", "--json").output)
    assert document["server_running"] and document["sidecar_running"] and not document["opened"]
    # What the lines name is what the sidecar serves.
    assert httpx.get(document["guide_url"].replace("localhost", "127.0.0.1"), timeout=30).status_code == 200


def test_models_show_prints_where_the_training_curves_are(served: Served, run_cli) -> None:
    result = run_cli("models", "show", MODEL, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    found = re.search(r"training curves \(latest checkpoint\): (\S+)", result.output)
    assert found, result.output
    curves = Path(found[1])
    assert curves.name == "curves.png" and curves.is_file() and curves.stat().st_size > 10_000


# -- the real Browser ---------------------------------------------------------------------------
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000


def _chromium() -> str:
    """Debian's chromium: a skip where it is missing, a failure under CI (as tests/extras.py does for modules)."""
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)"
        if in_ci():
            pytest.fail(f"CI must run every test, but {message}")
        pytest.skip(reason=message)
    return CHROMIUM


def _run(page, command: str) -> object:
    """Type ``command`` in the Browser's editor, run it, and return the frame it opened (the newest)."""
    frames = page.locator("[data-testid=frame]")
    before = frames.count()
    page.click("[data-testid=activeEditor]")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(command)
    page.click("[data-testid=editor-Run]")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=frame]').length > n", arg=before,
                           timeout=TIMEOUT_MS)
    return frames.first


def _run_slide_query(page, guide_url: str, slide: int, text: str) -> object:
    """Play the guide at ``slide`` (counted from 1, as the Browser does), click its runnable block
    holding ``text`` (a click fills the editor) and run it; the result frame, which must hold no error."""
    guide_frame = _run(page, f":play {guide_url}#slide-{slide}")
    block = guide_frame.locator("pre.runnable", has_text=text).first
    block.wait_for(timeout=TIMEOUT_MS)
    frames = page.locator("[data-testid=frame]")
    before = frames.count()
    block.click()
    page.click("[data-testid=editor-Run]")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=frame]').length > n", arg=before,
                           timeout=TIMEOUT_MS)
    frame = frames.first
    frame.locator("[data-testid=frame-loaded-contents], [data-testid=cypherFrameErrorMessage]").first.wait_for(
        timeout=TIMEOUT_MS)
    errors = frame.locator("[data-testid=cypherFrameErrorMessage]")
    assert not errors.count(), frame.inner_text()
    return frame


def _dismiss_usage_banner(page) -> None:
    """Close the Browser's 'we collect information on product usage' banner when it shows (cosmetic)."""
    banner = page.get_by_text("we collect information on product usage")
    if banner.count():
        try:
            banner.first.locator("xpath=following-sibling::span[1]").click(timeout=2000)
        except Exception:  # noqa: BLE001 - a banner left open only spoils the picture
            pass


def test_guide_and_style_in_the_real_browser(served: Served, neo4j_server: ServerUnderTest,
                                             tmp_path: Path) -> None:
    chromium = _chromium()
    require("playwright.sync_api", reason="the Browser test drives Chromium with playwright (the `dev` extra)")
    from playwright.sync_api import sync_playwright

    from trainer.sidecar.browser import PREDICTED_COLOR

    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        graph.query(f"MATCH ()-[p:{graph_names.PREDICTED}]->() DELETE p", write=True)
    guide_url = f"http://localhost:{served.port}/guide"
    bolt = neo4j_server.uri.removeprefix("bolt://")
    png = tmp_path / "browser_guide.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            # Nothing leaves the machine: the Browser, Bolt and the sidecar are on the loopback.
            context.route("**/*", lambda route: route.continue_()
                          if httpx.URL(route.request.url).host in ("127.0.0.1", "localhost") else route.abort())
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            try:
                page.goto(f"{neo4j_server.http_url}/browser/", wait_until="domcontentloaded")
                page.wait_for_selector("[data-testid=boltaddress]")
                page.select_option("[data-testid=bolt-scheme-select]", "bolt://")
                page.fill("[data-testid=boltaddress]", bolt)
                page.fill("[data-testid=username]", neo4j_server.user)
                page.fill("[data-testid=password]", neo4j_server.password)
                page.click("[data-testid=connect]")
                page.get_by_text("You are connected as user").first.wait_for(timeout=TIMEOUT_MS)

                style_frame = _run(page, f":style http://localhost:{served.port}/style.grass")
                style_frame.get_by_text(graph_names.PREDICTED).first.wait_for(timeout=TIMEOUT_MS)

                # The guide plays (CORS and the allowlist let the Browser fetch it) and its slides run.
                predicted = _run_slide_query(page, guide_url, 4, "kgstore.predict(e, ")
                assert predicted.locator("table.relatable__table").count() or predicted.locator("pre").count()
                frame = _run_slide_query(page, guide_url, 5, "kgstore.complete(")
                svg = frame.locator("svg.neod3viz")
                svg.wait_for(timeout=TIMEOUT_MS)
                page.wait_for_timeout(3000)  # the force layout settles; the screenshot shows it at rest
                drawn = svg.evaluate("""svg => [...svg.querySelectorAll('g.relationship')].map(g => ({
                    fills: [...g.querySelectorAll('path')].map(p => (p.getAttribute('fill') || '').toLowerCase()),
                    caption: [...g.querySelectorAll('text')].map(t => t.textContent).join(' ').trim()}))""")
                node_captions = svg.evaluate("""svg => [...svg.querySelectorAll('g.node')].map(g =>
                    [...g.querySelectorAll('text')].map(t => t.textContent).join('').trim())""")
                _dismiss_usage_banner(page)
                page.mouse.move(0, 0)  # no hover highlight in the picture
                page.screenshot(path=str(png))
                frame.screenshot(path=str(png.with_name("browser_guide_frame.png")))
            except Exception:
                page.screenshot(path=str(tmp_path / "browser_guide.error.png"))
                print(f"the page as it was: {tmp_path / 'browser_guide.error.png'}")
                raise
        finally:
            browser.close()
    print(f"Browser screenshot: {png}")
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        written = graph.query(f"MATCH ()-[p:{graph_names.PREDICTED}]->() RETURN p.score AS score")
    assert 1 <= len(written) <= 10
    orange = [rel for rel in drawn if PREDICTED_COLOR.lower() in rel["fills"]]
    assert len(orange) == len(written), drawn  # every predicted edge in the style's colour, and only those
    grey = [rel for rel in drawn if PREDICTED_COLOR.lower() not in rel["fills"]]
    assert all(graph_names.PREDICTED not in rel["caption"] for rel in orange)  # captioned by score, not type
    # The caption is the score as the Browser prints it, cut with an ellipsis where the arrow is short.
    shown = [rel["caption"].rstrip("…").strip() for rel in orange]
    assert all(re.fullmatch(r"-?\d[\d.e+-]*", caption) for caption in shown), shown
    assert all(any(repr(row["score"]).startswith(caption) for row in written) for caption in shown), (shown, written)
    assert all(rel["caption"] != "" for rel in grey)  # facts keep their type as caption
    # Entities are captioned by their name (long ones are cut to fit the circle).
    with connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password) as graph:
        names = {row["name"] for row in graph.query(
            f"MATCH (h)-[:{graph_names.PREDICTED}]->(t) UNWIND [h.name, t.name] AS name RETURN DISTINCT name")}
    assert len(node_captions) == len(names), (node_captions, names)
    assert all(any(name.startswith(caption.rstrip("…")) for name in names) for caption in node_captions), \
        (node_captions, names)
    assert png.is_file() and png.stat().st_size > 20_000
