"""HTTP read routes over PopularityReader, for rerankers and retrievers in any language.

Mounted by `interactions serve` (which adds API keys, limits and metrics around them); this
module only maps requests onto the reader and its errors onto status codes: a bad argument is
a 422 naming the field, Redis not answering a 503 (both from the error hierarchy).

    POST /v1/retrievers/popularity/counts    counts per type for a list of feature_ids
    POST /v1/retrievers/popularity/boost     the seed's boost_by_interaction_count rerank,
                                             optionally with logged exploration (`explore`)
    GET  /v1/retrievers/popularity/trending  top feature_ids by one type or weighted score
    GET  /v1/retrievers/users/{user_id}/history   what a user interacted with, newest first
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, TypeVar
from uuid import uuid4

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Identifier, TypeName
from schemas.exploration import Exploration, explore, seeded_rng
from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from stream_processors.boost import BoostConfig
from stream_processors.reader import PopularityReader

MAX_CANDIDATES: Final = 1_000
"""Feature ids per counts/boost request: a reranker's candidate list, not a table scan."""
MAX_TRENDING: Final = 1_000
MAX_HISTORY: Final = 10_000

T = TypeVar("T")


class CountsRequest(BaseModel):
    feature_ids: list[Identifier] = Field(min_length=1, max_length=MAX_CANDIDATES)
    interaction_types: list[TypeName] | None = Field(
        None, description="Types to count (every requested one is returned); null: all seen."
    )
    time_window_days: int | None = Field(
        None, ge=1, le=30, description="Window in days; null: DEFAULT_WINDOW_DAYS."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "feature_ids": ["doc_xyz789", "doc_abc123"],
                    "interaction_types": ["click", "purchase"],
                    "time_window_days": 7,
                }
            ]
        },
    )


class FeatureCounts(BaseModel):
    counts: dict[str, int] = Field(description="Count per interaction type in the window.")
    weighted: float = Field(description="Sum of weight x count: what the boost uses.")


class CountsResponse(BaseModel):
    window_days: int
    features: dict[str, FeatureCounts]


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feature_id: Identifier
    score: float = Field(allow_inf_nan=False, description="The retriever's score (any sign).")


class ExploreOption(BaseModel):
    """Opt-in logged exploration (docs/counterfactual.md): with probability `epsilon`, swap
    one adjacent pair among the top `depth` of the boosted ranking."""

    model_config = ConfigDict(extra="forbid")

    epsilon: float = Field(ge=0.0, le=1.0, description="Probability of a swap.")
    depth: int = Field(10, ge=2, le=MAX_CANDIDATES, description="Top positions taking part.")
    query_id: Identifier | None = Field(
        None,
        description="The id the search event will carry; the decision is a function of it "
        "(a retried request gets the same order). Null: one is made and returned.",
    )


class BoostRequest(BaseModel):
    """The seed's rerank stage: candidates plus its `boost_by_interaction_count` config."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "candidates": [
                        {"feature_id": "doc_xyz789", "score": 0.82},
                        {"feature_id": "doc_abc123", "score": 0.80},
                    ],
                    "boost_by_interaction_count": {
                        "interaction_types": ["click", "purchase"],
                        "time_window_days": 7,
                        "boost_multiplier": 1.2,
                    },
                    "explore": {"epsilon": 0.05, "depth": 10, "query_id": "q_7f3a"},
                }
            ]
        },
    )

    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    boost_by_interaction_count: BoostConfig = Field(default_factory=BoostConfig)
    explore: ExploreOption | None = Field(
        None, description="Apply logged exploration to the boosted ranking; null: none."
    )


class BoostedItem(BaseModel):
    feature_id: str
    score: float
    boosted_score: float
    multiplier: float = Field(description="1 with no interactions, never above the config's.")
    weighted_count: float
    counts: dict[str, int]


class BoostResponse(BaseModel):
    candidates: list[BoostedItem] = Field(
        description="Highest boosted score first; with `explore`, the order to show (one "
        "adjacent pair swapped when `exploration.swap` is set)."
    )
    query_id: str | None = Field(
        None, description="With `explore`: the query_id to send the search event with."
    )
    exploration: Exploration | None = Field(
        None,
        description="With `explore`: the record to send in the search event's "
        "`metadata.exploration`, with `results` in the order of `candidates`.",
    )


class TrendingEntry(BaseModel):
    rank: int
    feature_id: str
    score: float


class TrendingResponse(BaseModel):
    interaction_type: str | None
    window_days: int
    items: list[TrendingEntry]


class HistoryEntry(BaseModel):
    feature_id: str
    interaction_type: str
    timestamp: datetime


class HistoryResponse(BaseModel):
    user_id: str
    items: list[HistoryEntry]


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    422: {"description": "An argument is invalid; `detail` names it."},
    503: {"description": "Redis does not answer; retry."},
}


def popularity_router(reader: PopularityReader, settings: Settings) -> APIRouter:
    """Routes over `reader`; user ids given to /history are hashed as producers hash them."""
    router = APIRouter(tags=["popularity"], responses=_ERRORS)
    registry = TypeRegistry(settings.events.type_weights)
    windows = settings.popularity
    hasher = settings.privacy.hasher

    @router.post(
        "/v1/retrievers/popularity/counts",
        response_model=CountsResponse,
        summary="Interaction counts per type for a list of feature_ids",
    )
    def counts(body: CountsRequest) -> CountsResponse:
        days = windows.resolve_window(body.time_window_days)
        found = reader.counts(body.feature_ids, body.interaction_types, days)
        return CountsResponse(
            window_days=days,
            features={
                fid: FeatureCounts(
                    counts=by_type,
                    weighted=sum(registry.weight(t) * c for t, c in by_type.items()),
                )
                for fid, by_type in found.items()
            },
        )

    @router.post(
        "/v1/retrievers/popularity/boost",
        response_model=BoostResponse,
        summary="Re-rank scored candidates by recent interactions (the seed's boost stage)",
    )
    def boost(body: BoostRequest) -> BoostResponse:
        """multiplier = 1 + (boost_multiplier - 1) x c / (c + half_saturation), where c is
        the weighted count in the window; positive scores are multiplied, negative ones
        divided, so a boost only ever moves an item up."""
        pairs = [(c.feature_id, c.score) for c in body.candidates]
        ranked = reader.boost(pairs, body.boost_by_interaction_count)
        query_id: str | None = None
        record: Exploration | None = None
        if body.explore is not None:
            query_id = body.explore.query_id or uuid4().hex
            option = body.explore
            ranked, record = explore(ranked, option.epsilon, option.depth, seeded_rng(query_id))
        return BoostResponse(
            query_id=query_id,
            exploration=record,
            candidates=[
                BoostedItem(
                    feature_id=c.feature_id,
                    score=c.score,
                    boosted_score=c.boosted_score,
                    multiplier=c.multiplier,
                    weighted_count=c.weighted_count,
                    counts=c.counts,
                )
                for c in ranked
            ],
        )

    @router.get(
        "/v1/retrievers/popularity/trending",
        response_model=TrendingResponse,
        summary="Top feature_ids in a window, by one type's count or by weighted score",
    )
    def trending(
        interaction_type: Annotated[
            TypeName | None, Query(description="Rank by this type; omit for the weighted score.")
        ] = None,
        window_days: Annotated[int | None, Query(ge=1, le=30)] = None,
        n: Annotated[int, Query(ge=1, le=MAX_TRENDING, description="How many.")] = 10,
    ) -> TrendingResponse:
        days = windows.resolve_window(window_days)
        items = reader.trending(interaction_type, days, n)
        return TrendingResponse(
            interaction_type=interaction_type,
            window_days=days,
            items=[
                TrendingEntry(rank=i.rank, feature_id=i.feature_id, score=i.score) for i in items
            ],
        )

    @router.get(
        "/v1/retrievers/users/{user_id:path}/history",
        response_model=HistoryResponse,
        summary="What a user interacted with, newest first (exclude past purchases)",
    )
    def history(
        user_id: Annotated[Identifier, Path()],
        interaction_type: Annotated[
            list[TypeName] | None, Query(description="Only these types; repeat the parameter.")
        ] = None,
        days: Annotated[int | None, Query(ge=1, description="How far back.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY)] = 100,
    ) -> HistoryResponse:
        lookup = hasher(user_id)
        items = reader.history(lookup, interaction_type, days, limit)
        return HistoryResponse(
            user_id=user_id,
            items=[
                HistoryEntry(
                    feature_id=i.feature_id,
                    interaction_type=i.interaction_type,
                    timestamp=i.timestamp,
                )
                for i in items
            ],
        )

    return router
