"""The sidecar's FastAPI app, ``create_app(store)``, serving the sidecar HTTP contract v1.

The computing endpoints are ``async def`` and run on the event loop: a request is about a
millisecond of CPU under the GIL, and the thread-pool hand-off FastAPI makes for plain
``def`` handlers cost more than that (the sidecar scales with ``--workers``). The /predict
queries of requests that are ready together are answered by one search (``batching``).
A newer checkpoint loads in a background thread (see ``model_store``). Each request takes
the store's current model once and answers from it, so a reload never mixes two
checkpoints in one response.

Security: with a ``token`` every endpoint except ``GET /health`` needs
``Authorization: Bearer <token>``. The OpenAPI description (``/docs``,
``/openapi.json``) stays open: it holds no data, and the browser page could not send
the header to fetch it. A body that is not JSON at all is rejected (422) before the token
is looked at: FastAPI parses the body first; nothing is computed or revealed by that.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint annotations at run
# time, and the request models are local to create_app (their caps are per app).
import base64
import hashlib
import json
import secrets
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field

from kgstore.image_store import ImageStore
from trainer import __version__
from trainer.sidecar.batching import PredictBatcher
from trainer.sidecar.browser import browser_router
from trainer.sidecar.generators import GeneratorStore, NoGenerator
from trainer.sidecar.model_store import LoadedModel, ModelStore, NoModel
from trainer.sidecar.schemas import (
    Detail,
    Health,
    ImageRequest,
    ImageResponse,
    PredictResponse,
    ScoreResponse,
    TextRequest,
    TextResponse,
    request_models,
)


class SearchHealth(Health):
    """``/health`` with where top-k search runs (issue 17: GPU FAISS)."""

    search: str = Field(description="What answers /predict: faiss-exact, faiss-hnsw or brute-force.")
    faiss: Literal["cpu", "gpu"] | None = Field(
        description="Where the FAISS index lives: gpu (faiss-gpu build and a CUDA device) or cpu; null for "
        "brute force.")


DESCRIPTION = """Scores links and predicts missing ones with a trained kgstore model.

The `kgstore.*` procedures in Neo4j call it; any HTTP client can. Entities are named by
their `key` property, relations by their relationship type.
"""


def create_app(store: ModelStore, *, token: str | None = None, max_k: int = 1000,
               max_batch: int = 10000, texts: GeneratorStore | None = None,
               images: GeneratorStore | None = None) -> FastAPI:
    """The sidecar app answering from ``store``.

    Args:
        store: where the current model comes from.
        texts: where the model's text generator comes from (None: ``/generate/text`` answers 503).
        images: where the model's image generator comes from (None: ``/generate/image`` answers 503).
        token: bearer token required by every endpoint except ``/health`` (None: open).
        max_k: the largest ``k`` a ``/predict`` request may ask for.
        max_batch: the most triples (``/score``) or queries (``/predict``) per request.
    """
    if max_k < 1 or max_batch < 1:
        raise ValueError(f"max_k ({max_k}) and max_batch ({max_batch}) must be at least 1")
    ScoreRequest, PredictRequest = request_models(max_k=max_k, max_batch=max_batch)
    bearer = HTTPBearer(auto_error=False, description="The token `kgstore serve --token` was started with.")

    # `async def` although they compute: see the module docstring.
    async def authorize(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        assert token is not None  # only routes of an app with a token depend on this
        given = credentials.credentials if credentials is not None else ""
        if not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                                headers={"WWW-Authenticate": "Bearer"})

    def current() -> LoadedModel:
        try:
            return store.current()
        except NoModel as exc:
            raise HTTPException(503, f"no model loaded: {exc}") from exc

    errors = {401: {"model": Detail, "description": "Missing or wrong bearer token."},
              503: {"model": Detail, "description": "No checkpoint is loaded."}}
    app = FastAPI(title="kgstore decoder sidecar", version=__version__, description=DESCRIPTION)
    batcher = PredictBatcher()
    # Without a token there is nothing to check: no dependency to solve on every request.
    guarded = [Depends(authorize)] if token is not None else []
    app.include_router(browser_router(store))  # the Neo4j Browser's guide and style: open, like /health

    @app.get("/health", response_model=SearchHealth, responses={503: errors[503]})
    def health() -> SearchHealth:
        """Which model and checkpoint answer, and where top-k search runs (no token needed)."""
        loaded = current()
        return SearchHealth(status="ok", model=loaded.name, checkpoint=str(loaded.checkpoint),
                            version=loaded.version, decoder=loaded.decoder, dim=loaded.dim,
                            entities=len(loaded.entity_keys), relations=loaded.num_relations,
                            search=loaded.topk.method, faiss=loaded.topk.backend)

    @app.post("/score", response_model=ScoreResponse, dependencies=guarded,
              responses={404: {"model": Detail, "description": "Unknown entity or relation."}, **errors})
    async def score(request: ScoreRequest) -> Response:  # type: ignore[valid-type]
        """The decoder's score of each triple, in request order."""
        loaded = current()
        ids = np.array([[_entity(loaded, t.head), _relation(loaded, t.relation), _entity(loaded, t.tail)]
                        for t in request.triples], dtype=np.int64).reshape(-1, 3)
        scores = loaded.score(ids[:, 0], ids[:, 1], ids[:, 2]) if len(ids) else []
        return _json({"model": loaded.name, "version": loaded.version, "scores": scores})

    @app.post("/predict", response_model=PredictResponse, dependencies=guarded,
              responses={404: {"model": Detail, "description": "Unknown entity or relation "
                               "(on_unknown=error)."}, **errors})
    async def predict(request: PredictRequest) -> Response:  # type: ignore[valid-type]
        """The top-k answers of each link query, best first (direction `in` asks for heads)."""
        loaded = current()
        rows, entities, relations = [], [], []
        for row, query in enumerate(request.queries):
            if request.on_unknown == "error":
                entity, relation = _entity(loaded, query.entity), _relation(loaded, query.relation)
            else:
                entity, relation = loaded.entity_ids.get(query.entity), loaded.relation_ids.get(query.relation)
            if entity is None or relation is None:
                continue
            rows.append(row)
            entities.append(entity)
            relations.append(relation + (loaded.num_relations if query.direction == "in" else 0))
        answers = await batcher.predict(loaded, np.array(entities, dtype=np.int64),
                                        np.array(relations, dtype=np.int64), k=request.k,
                                        filter_known=request.filter_known) if rows else []
        found = dict(zip(rows, answers, strict=True))
        results = []
        for row, query in enumerate(request.queries):
            predictions = []
            if row in found:
                ids, values = found[row]
                predictions = [{"key": loaded.entity_keys[i], "score": s}
                               for i, s in zip(ids.tolist(), values.tolist(), strict=True)
                               if request.min_score is None or s >= request.min_score]
            results.append({"entity": query.entity, "relation": query.relation, "direction": query.direction,
                            "unknown": row not in found, "predictions": predictions})
        return _json({"model": loaded.name, "version": loaded.version, "results": results})

    @app.post("/generate/text", response_model=TextResponse, dependencies=guarded,
              responses={404: {"model": Detail, "description": "Unknown entity."},
                         503: {"model": Detail, "description": "No text generator is trained for the model."},
                         401: errors[401]})
    def generate_text(request: TextRequest) -> Response:
        """A short description of each entity, generated from its vector and its facts (`kgstore.describe`).

        Runs in a worker thread, one generation at a time: a text costs a language-model
        decode per token (about a second for a few words on one CPU core).
        """
        if texts is None:
            raise HTTPException(503, "this sidecar serves no text generator (start it with `kgstore serve`)")
        try:
            generator, written = texts.run(request.entities, lambda g: g.describe(
                request.entities, max_tokens=request.max_tokens, temperature=request.temperature, seed=request.seed,
                beams=request.beams))
        except NoGenerator as exc:
            raise HTTPException(503, str(exc)) from exc
        except KeyError as exc:
            raise HTTPException(404, f"unknown entity '{exc.args[0]}': the text generator of model "
                                     f"{texts.model!r} does not know it") from exc
        return _json({"model": texts.model, "version": generator.kg_version, "generator": generator.checkpoint.name,
                      "texts": written})

    @app.post("/generate/image", response_model=ImageResponse, dependencies=guarded,
              responses={404: {"model": Detail, "description": "Unknown entity."},
                         503: {"model": Detail, "description": "No image generator is trained for the model."},
                         401: errors[401]})
    def generate_image(request: ImageRequest) -> Response:
        """A PNG image of each entity, drawn from its vector by the model's image generator (`kgstore.imagine`).

        Runs in a worker thread, one generation at a time: an image costs a UNet pass per
        denoising step. With `store: true` each PNG also goes into the kgstore home's
        content-addressed image store (the bytes only: the graph is written by the caller).
        """
        if images is None:
            raise HTTPException(503, "this sidecar serves no image generator (start it with `kgstore serve`)")
        try:
            generator, drawn = images.run(request.entities, lambda g: g.imagine(
                request.entities, seed=request.seed, steps=request.steps, guidance=request.guidance))
        except NoGenerator as exc:
            raise HTTPException(503, str(exc)) from exc
        except KeyError as exc:
            raise HTTPException(404, f"unknown entity '{exc.args[0]}': the image generator of model "
                                     f"{images.model!r} does not know it") from exc
        answers = []
        for key, pixels in zip(request.entities, drawn, strict=True):
            data = generator.png(pixels)
            height, width = int(pixels.shape[0]), int(pixels.shape[1])
            uri = None
            if request.store:
                if images.image_store is None:
                    raise HTTPException(503, "this sidecar has no image store to write to")
                path, _, _ = ImageStore(images.image_store).put_png(data, width=width, height=height)
                uri = path.resolve().as_uri()
            answers.append({"key": key, "seed": request.seed, "png": base64.b64encode(data).decode("ascii"),
                            "sha256": hashlib.sha256(data).hexdigest(), "mime": "image/png", "width": width,
                            "height": height, "uri": uri})
        return _json({"model": images.model, "version": generator.kg_version, "generator": generator.checkpoint.name,
                      "steps": request.steps or generator.config.sample_steps,
                      "guidance": generator.config.guidance if request.guidance is None else request.guidance,
                      "images": answers})

    return app


def _json(answer: dict[str, Any]) -> Response:
    """``answer`` as JSON, as it stands: the shape its route's ``response_model`` documents
    (PredictResponse, ScoreResponse), built from values the handler computed itself. Building
    pydantic models only for FastAPI to validate and serialise them again was a quarter of
    a /predict request's CPU. JSON cannot carry NaN or infinity: a model that produces them
    (a diverged checkpoint) gets a 500 that says so."""
    try:
        body = json.dumps(answer, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:
        raise HTTPException(500, "the model's scores are not finite numbers (NaN or infinity): the checkpoint "
                                 "diverged; train it again") from exc
    return Response(body, media_type="application/json")


def _entity(loaded: LoadedModel, key: str) -> int:
    entity = loaded.entity_ids.get(key)
    if entity is None:
        raise HTTPException(404, f"unknown entity '{key}'")
    return entity


def _relation(loaded: LoadedModel, name: str) -> int:
    relation = loaded.relation_ids.get(name)
    if relation is None:
        raise HTTPException(404, f"unknown relation '{name}'")
    return relation
