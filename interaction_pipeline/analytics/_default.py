"""The seed's module-level calls (`analytics.get_query_document_pairs(...)`) on the default
connection of `interaction_pipeline.configure`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from interaction_pipeline._context import current_backend, current_settings
from interaction_pipeline.analytics._api import Analytics
from interaction_pipeline.analytics.bias import BiasEstimate
from interaction_pipeline.analytics.daterange import DateRange
from interaction_pipeline.analytics.pairs import TextLookup, TrainingPair
from interaction_pipeline.analytics.report import RelevanceReport


def default_analytics() -> Analytics:
    return Analytics(current_backend(), current_settings())


def get_query_document_pairs(
    date_range: DateRange | str = "last_30_days",
    min_interactions: int = 2,
    *,
    retriever_id: str | None = None,
    ipw: bool = True,
    texts: TextLookup | Mapping[str, str] | None = None,
) -> Iterator[TrainingPair]:
    """(query, clicked document, hard negative) pairs with position-bias-corrected weights."""
    return default_analytics().get_query_document_pairs(
        date_range, min_interactions, retriever_id=retriever_id, ipw=ipw, texts=texts
    )


def get_retriever_signals(
    retriever_id: str | None = None, date_range: DateRange | str = "last_7_days"
) -> RelevanceReport:
    """Skipped top results, low-CTR queries, first-click position: the relevance report."""
    return default_analytics().get_retriever_signals(retriever_id, date_range)


def position_bias(date_range: DateRange | str = "last_30_days", **options: Any) -> BiasEstimate:
    """The examination propensity per position, estimated from the logged clicks."""
    return default_analytics().position_bias(date_range, **options)
