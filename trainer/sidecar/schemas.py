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
