"""Reading the logs from ClickHouse: search events with outcomes, and popularity timelines.

Both through the shipped SQL (analytics/sql/counterfactual_*.sql) and the analytics'
QueryRunner, so the vocabulary, the dedupe switch and the backend are the report's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import numpy as np
import pyarrow.compute as pc

from interaction_pipeline.analytics import DateRange, QueryRunner
from interaction_pipeline.counterfactual._counts import HOUR_MS, InteractionTimeline
from interaction_pipeline.counterfactual._logs import LoggedSearches, from_arrow
from schemas.interaction_types import TypeRegistry


def load_logs(
    runner: QueryRunner, date_range: DateRange, retriever: str | None, k: int
) -> LoggedSearches:
    """Every answered search in the range, its first k results and their outcomes."""
    table = runner.arrow("counterfactual_searches", date_range, retriever, max_positions=k)
    return from_arrow(table, k)


class ClickHouseTimelines:
    """Interaction timelines for boost replay, read for the logs' range plus one window
    before it (a TimelineLoader)."""

    def __init__(self, runner: QueryRunner, date_range: DateRange) -> None:
        self.runner = runner
        self.date_range = date_range
        self._registry = TypeRegistry(runner.settings.events.type_weights)

    def weights(self, types: list[str]) -> dict[str, float]:
        return self._registry.weights(types)

    def timeline(
        self, logs: LoggedSearches, weights: Mapping[str, float], window_days: int
    ) -> InteractionTimeline:
        start = self.date_range.start - timedelta(days=window_days, milliseconds=HOUR_MS)
        span = DateRange(start, self.date_range.end)
        table = self.runner.arrow(
            "counterfactual_counts",
            span,
            None,
            type_names=",".join(weights),
            type_weights=",".join(f"{w:g}" for w in weights.values()),
        )
        doc = pc.index_in(table.column("feature_id"), value_set=logs.docs)
        return InteractionTimeline(
            doc=pc.fill_null(doc, -1).to_numpy(zero_copy_only=False).astype(np.int64),
            timestamp_ms=table.column("ts_ms").to_numpy().astype(np.int64),
            weight=table.column("weight").to_numpy().astype(np.float64),
        )
