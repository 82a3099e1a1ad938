"""Request and response bodies of the sidecar's HTTP API (contract v1).

Responses carry exactly the contract's fields: the Neo4j plugin binds them to Java
classes, where an unexpected field can be an error. Request caps (``max_k``,
``max_batch``) are per-process settings, so the request models are built by
:func:`request_models`; a violated cap is a 422 whose message names the cap and the
option that raises it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator


class Triple(BaseModel):
    head: str = Field(description="Entity key of the head (the `key` property of an :Entity node).")
    relation: str = Field(description="Relation name (the relationship type in Neo4j).")
    tail: str = Field(description="Entity key of the tail.")


class Query(BaseModel):
    entity: str = Field(description="Entity key the query starts from.")
    relation: str = Field(description="Relation name.")
    direction: Literal["out", "in"] = Field(
        "out", description="`out`: (entity)-[relation]->(answer), answers are tails; "
        "`in`: (answer)-[relation]->(entity), answers are heads.")


class Prediction(BaseModel):
    key: str = Field(description="Entity key of the answer.")
    score: float = Field(description="The decoder's score (higher = more plausible).")


class QueryResult(BaseModel):
    entity: str
    relation: str
    direction: Literal["out", "in"]
    unknown: bool = Field(description="The entity or relation is not in the model (on_unknown=skip).")
    predictions: list[Prediction] = Field(description="Best first, at most k.")


class Health(BaseModel):
    status: Literal["ok"]
    model: str = Field(description="Model name (kgstore train --model).")
    checkpoint: str = Field(description="Absolute path of the checkpoint folder being served.")
    version: str = Field(description="The checkpoint folder's name (its UTC stamp).")
    decoder: str
    dim: int
    entities: int
    relations: int


class ScoreResponse(BaseModel):
    model: str
    version: str
    scores: list[float] = Field(description="One score per triple, in request order.")


class PredictResponse(BaseModel):
    model: str
    version: str
    results: list[QueryResult] = Field(description="One result per query, in request order.")


class Detail(BaseModel):
    """Error body (FastAPI style)."""

    detail: str


def _cap(value: list, *, cap: int, what: str) -> list:
    if len(value) > cap:
        raise ValueError(f"at most max_batch={cap} {what} per request, got {len(value)}: split the request "
                         "or start the sidecar with a larger --max-batch")
    return value


def request_models(*, max_k: int, max_batch: int) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(ScoreRequest, PredictRequest)`` enforcing ``max_k`` and ``max_batch``."""

    class ScoreRequest(BaseModel):
        triples: list[Triple] = Field(description=f"Triples to score (at most {max_batch}).",
                                      json_schema_extra={"maxItems": max_batch})

        @field_validator("triples")
        @classmethod
        def _batch(cls, value: list[Triple]) -> list[Triple]:
            return _cap(value, cap=max_batch, what="triples")

    class PredictRequest(BaseModel):
        queries: list[Query] = Field(description=f"Link queries (at most {max_batch}).",
                                     json_schema_extra={"maxItems": max_batch})
        k: int = Field(10, description=f"Answers per query, 1 to {max_k}.",
                       json_schema_extra={"minimum": 1, "maximum": max_k})
        filter_known: bool = Field(True, description="Drop answers that form a known fact "
                                   "(train, valid or test split of the model's snapshot).")
        min_score: float | None = Field(None, description="Drop answers scoring below this (null: keep all).")
        on_unknown: Literal["error", "skip"] = Field(
            "error", description="`error`: 404 for an unknown entity or relation; `skip`: that result has "
            "unknown=true and no predictions.")

        @field_validator("queries")
        @classmethod
        def _batch(cls, value: list[Query]) -> list[Query]:
            return _cap(value, cap=max_batch, what="queries")

        @field_validator("k")
        @classmethod
        def _k(cls, value: int) -> int:
            if not 1 <= value <= max_k:
                raise ValueError(f"k must be between 1 and max_k={max_k}, got {value} "
                                 "(start the sidecar with --max-k to allow more)")
            return value

    return ScoreRequest, PredictRequest


MAX_GENERATE_BATCH = 32  # entities per /generate/text request: each costs a language-model decode
MAX_TOKENS = 256  # the longest text /generate/text writes
MAX_BEAMS = 8  # the widest beam search /generate/text runs: each beam costs a decode


class TextRequest(BaseModel):
    entities: list[str] = Field(description=f"Entity keys to describe (1 to {MAX_GENERATE_BATCH}).",
                                json_schema_extra={"minItems": 1, "maxItems": MAX_GENERATE_BATCH})
    max_tokens: int | None = Field(None, description=f"Longest text in tokens, 1 to {MAX_TOKENS} (null: the "
                                   "generator's description budget, chosen at training from its descriptions).")
    temperature: float = Field(0.0, description="0: greedy (the same text every time); above 0: sampled.")
    seed: int | None = Field(0, description="Sampling seed: the same seed gives the same text (null: unseeded).")
    beams: int = Field(1, description=f"Beam search width, 1 to {MAX_BEAMS} (1: one token at a time). More beams "
                       "keep the likeliest whole text, at about one decode per beam (FB15k-237: BLEU 0.314 with 4 "
                       "beams, 0.291 with 1).")

    @field_validator("entities")
    @classmethod
    def _batch(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("entities is empty: give at least one entity key")
        if len(value) > MAX_GENERATE_BATCH:
            raise ValueError(f"at most {MAX_GENERATE_BATCH} entities per /generate/text request (the cap), got "
                             f"{len(value)}: split the request")
        return value

    @field_validator("max_tokens")
    @classmethod
    def _tokens(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_TOKENS:
            raise ValueError(f"max_tokens must be between 1 and the cap {MAX_TOKENS}, got {value}")
        return value

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, value: float) -> float:
        if not 0.0 <= value <= 5.0:
            raise ValueError(f"temperature must be between 0 and 5, got {value}")
        return value

    @field_validator("beams")
    @classmethod
    def _beams(cls, value: int) -> int:
        if not 1 <= value <= MAX_BEAMS:
            raise ValueError(f"beams must be between 1 and the cap {MAX_BEAMS}, got {value}")
        return value


class TextResponse(BaseModel):
    model: str = Field(description="The KG model whose vectors conditioned the text.")
    version: str = Field(description="The KG model checkpoint the generator was trained on.")
    generator: str = Field(description="The text generator's checkpoint (its UTC stamp).")
    texts: list[str] = Field(description="One text per entity, in request order.")


MAX_IMAGE_BATCH = 8  # entities per /generate/image request: each costs a UNet pass per step
MAX_IMAGE_STEPS = 200  # the most denoising steps one image may take


class ImageRequest(BaseModel):
    entities: list[str] = Field(description=f"Entity keys to draw (1 to {MAX_IMAGE_BATCH}).",
                                json_schema_extra={"minItems": 1, "maxItems": MAX_IMAGE_BATCH})
    seed: int = Field(0, description="Noise seed: the same entity, seed, steps and guidance give the same image.")
    steps: int | None = Field(None, description=f"DDIM denoising steps, 1 to {MAX_IMAGE_STEPS} (null: the "
                              "generator's default).")
    guidance: float | None = Field(None, description="Classifier-free guidance scale, 0 to 20 (1: none; null: the "
                                   "generator's default).")
    store: bool = Field(False, description="Also put each PNG in the kgstore home's content-addressed image store "
                        "and answer its file URI (what kgstore.imagine's write: true links to).")

    @field_validator("entities")
    @classmethod
    def _batch(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("entities is empty: give at least one entity key")
        if len(value) > MAX_IMAGE_BATCH:
            raise ValueError(f"at most {MAX_IMAGE_BATCH} entities per /generate/image request (the cap), got "
                             f"{len(value)}: split the request")
        return value

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_IMAGE_STEPS:
            raise ValueError(f"steps must be between 1 and the cap {MAX_IMAGE_STEPS}, got {value}")
        return value

    @field_validator("guidance")
    @classmethod
    def _guidance(cls, value: float | None) -> float | None:
        if value is not None and not 0.0 <= value <= 20.0:
            raise ValueError(f"guidance must be between 0 and 20, got {value}")
        return value


class GeneratedImage(BaseModel):
    key: str
    seed: int
    png: str = Field(description="The PNG file, base64-encoded.")
    sha256: str = Field(description="sha256 of the PNG bytes (the :Image node's key).")
    mime: str
    width: int
    height: int
    uri: str | None = Field(description="file:// URI in the image store (store: true), else null.")


class ImageResponse(BaseModel):
    model: str = Field(description="The KG model whose vectors conditioned the images.")
    version: str = Field(description="The KG model checkpoint the generator was trained on.")
    generator: str = Field(description="The image generator's checkpoint (its UTC stamp).")
    steps: int
    guidance: float
    images: list[GeneratedImage] = Field(description="One image per entity, in request order.")
