"""The kgstore guide and style for the Neo4j Browser, served by the sidecar: ``browser_router(store)``.

- ``GET /guide``: a Browser guide (``:play http://localhost:<port>/guide``): HTML slides
  (``<article class="guide">``, ``<carousel>``, ``<slide>``) whose ``<pre class="runnable">``
  blocks a click puts in the Browser's editor. Its examples name the model this sidecar
  serves, and an entity and a relation picked from that model's facts (the relation with
  the most facts and that relation's most frequent head), so every query runs as it
  stands on any dataset. 503 while no model is loaded.
- ``GET /style.grass``: a Browser style (``:style http://localhost:<port>/style.grass``):
  entities captioned by ``name``, predicted edges orange (:data:`PREDICTED_COLOR`) and
  captioned by their score, the data's images green, generated images (their extra label
  ``GeneratedImage``) and the edges to them violet. GraSS styles by label and type only, so
  a generated image is told apart by that label, not by its ``generated`` property.

The Browser fetches both with ``fetch()`` from its own origin (``http://127.0.0.1:7474``
for the managed server), so each answer carries CORS headers, and ``OPTIONS`` answers the
preflight that the guide's ``pragma``/``cache-control`` request headers cause. The origin
is ``*``: both are public, hold no data beyond names already in the user's database, and
are fetched without credentials. Neither needs the sidecar's bearer token.
The Browser only plays guides from hosts on ``browser.remote_content_hostname_whitelist``
(default ``guides.neo4j.com,localhost``): the URLs to give it name ``localhost``
(:mod:`kgstore.browser` builds them), also when the sidecar listens on 127.0.0.1.

The templates are ``browser_assets/guide.html`` and ``browser_assets/kgstore.grass``;
graph names (labels, the predicted-edge type) come from :mod:`kgstore.graph_names`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

import numpy as np
from fastapi import APIRouter, HTTPException, Request, Response

from kgstore import graph_names
from kgstore.browser import GUIDE_HOST, GUIDE_PATH, STYLE_PATH
from trainer.checkpoint import Checkpoint
from trainer.sidecar.model_store import LoadedModel, ModelStore, NoModel

ASSETS = Path(__file__).resolve().parent / "browser_assets"
GUIDE_TEMPLATE = ASSETS / "guide.html"
STYLE_TEMPLATE = ASSETS / "kgstore.grass"
PREDICTED_COLOR = "#F76707"  # predicted edges in the kgstore style (facts keep the Browser's grey)
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Max-Age": "600",
}
# The request headers the Browser's guide fetch sends (services/remote.ts), allowed when a preflight names none.
BROWSER_REQUEST_HEADERS = "cache-control, pragma, content-type"
NO_CACHE = {"Cache-Control": "no-cache"}  # the guide follows the model; the style may change with kgstore


@dataclass(frozen=True)
class GuideExamples:
    """What the guide's queries ask about: the served model, one entity and one relation of it."""

    model: str
    version: str
    decoder: str
    entities: int
    relations: int
    entity: str  # an entity key
    relation: str  # a relation name (a relationship type)


def cypher_string(value: str) -> str:
    """``value`` as a Cypher string literal (single quotes; backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@lru_cache(maxsize=4)
def _busiest(checkpoint: str) -> tuple[int, int]:
    """``(relation id, head id)``: the relation with the most known facts and its most frequent head.

    Cached per checkpoint folder: a checkpoint never changes, and a reload is a new folder.
    """
    triples, _ = Checkpoint(Path(checkpoint)).read_known()
    if not len(triples):
        raise ValueError(f"checkpoint {checkpoint} holds no facts to pick an example from")
    relation = int(np.bincount(triples[:, 1]).argmax())
    head = int(np.bincount(triples[triples[:, 1] == relation, 0]).argmax())
    return relation, head


def guide_examples(loaded: LoadedModel) -> GuideExamples:
    """The guide's examples for ``loaded`` (see the module docstring for how they are picked)."""
    relation, head = _busiest(str(loaded.checkpoint))
    return GuideExamples(model=loaded.name, version=loaded.version, decoder=loaded.decoder,
                         entities=len(loaded.entity_keys), relations=loaded.num_relations,
                         entity=loaded.entity_keys[head], relation=loaded.relation_names[relation])


def _names() -> dict[str, str]:
    return {"ENTITY": graph_names.ENTITY, "IMAGE": graph_names.IMAGE, "KG_MODEL": graph_names.KG_MODEL,
            "PREDICTED": graph_names.PREDICTED, "HAS_IMAGE": graph_names.HAS_IMAGE,
            "GENERATED_IMAGE": graph_names.GENERATED_IMAGE, "GENERATED": graph_names.GENERATED,
            "NOT_FACTS": "[" + ", ".join(cypher_string(name) for name in graph_names.NOT_FACTS) + "]"}


def render_guide(examples: GuideExamples, *, style_url: str) -> str:
    """The guide's HTML: the template with the examples filled in, escaped for Cypher, then for HTML."""
    text = {"model": examples.model, "version": examples.version, "decoder": examples.decoder,
            "entities": f"{examples.entities:,}", "relations": f"{examples.relations:,}",
            "entity_text": examples.entity, "relation_text": examples.relation, "style_url": style_url}
    cypher = {"E": cypher_string(examples.entity), "R": cypher_string(examples.relation),
              "M": cypher_string(examples.model)}
    values = {key: html.escape(value) for key, value in {**text, **cypher, **_names()}.items()}
    return Template(GUIDE_TEMPLATE.read_text()).substitute(values)


def render_style() -> str:
    """The GraSS text: the template with kgstore's labels, relationship type and colours."""
    return Template(STYLE_TEMPLATE.read_text()).substitute({**_names(), "PREDICTED_COLOR": PREDICTED_COLOR})


def browser_router(store: ModelStore) -> APIRouter:
    """``GET``/``OPTIONS`` of :data:`~kgstore.browser.GUIDE_PATH` and :data:`~kgstore.browser.STYLE_PATH`."""
    router = APIRouter(tags=["Neo4j Browser"])

    def preflight(request: Request) -> Response:
        headers = {**CORS, "Access-Control-Allow-Headers":
                   request.headers.get("access-control-request-headers") or BROWSER_REQUEST_HEADERS}
        if request.headers.get("access-control-request-private-network") == "true":
            headers["Access-Control-Allow-Private-Network"] = "true"  # Chromium: a public page asking localhost
        return Response(status_code=204, headers=headers)

    @router.get(GUIDE_PATH, response_class=Response,
                responses={200: {"content": {"text/html": {}}, "description": "The guide's HTML."},
                           503: {"description": "No model is loaded."}})
    def guide(request: Request) -> Response:
        """The kgstore guide for the Neo4j Browser: `:play http://localhost:<port>/guide`."""
        try:
            loaded = store.current()
        except NoModel as exc:
            raise HTTPException(503, f"no model loaded, so the guide has nothing to show: {exc}",
                                headers=CORS) from exc
        style_url = f"http://{GUIDE_HOST}:{request.url.port or 80}{STYLE_PATH}"
        return Response(render_guide(guide_examples(loaded), style_url=style_url),
                        media_type="text/html; charset=utf-8", headers={**CORS, **NO_CACHE})

    @router.get(STYLE_PATH, response_class=Response,
                responses={200: {"content": {"text/plain": {}}, "description": "The GraSS text."}})
    def style() -> Response:
        """The kgstore style (GraSS) for the Neo4j Browser: `:style http://localhost:<port>/style.grass`."""
        return Response(render_style(), media_type="text/plain; charset=utf-8", headers={**CORS, **NO_CACHE})

    router.add_api_route(GUIDE_PATH, preflight, methods=["OPTIONS"], include_in_schema=False)
    router.add_api_route(STYLE_PATH, preflight, methods=["OPTIONS"], include_in_schema=False)
    return router
