"""`Analytics`: the Python entry point, with the seed's method names.

    analytics = Analytics(open_backend(settings), settings)
    signals = analytics.get_retriever_signals(retriever_id="ret_123")
    for pair in analytics.get_query_document_pairs("last_30_days", min_interactions=2): ...

Read-only: nothing here writes to ClickHouse. The backend comes from the caller (built once
at the edge from settings), so the same code runs on chDB and on a ClickHouse server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from interaction_pipeline.analytics._sql import QueryRunner
from interaction_pipeline.analytics.bias import (
    DEFAULT_MAX_POSITIONS,
    DEFAULT_MIN_IMPRESSIONS,
    PRIOR_ETA,
    BiasEstimate,
    ClickCounts,
    estimate_position_bias,
)
from interaction_pipeline.analytics.daterange import DateRange
from interaction_pipeline.analytics.export import ExportSummary, ProgressFn, TrainingExporter
from interaction_pipeline.analytics.pairs import ExportOptions, TextLookup, TrainingPair
from interaction_pipeline.analytics.report import RelevanceReport, ReportBuilder, ReportOptions
from schemas.settings import Settings
from sinks import ClickHouseBackend


def as_range(date_range: DateRange | str) -> DateRange:
    return date_range if isinstance(date_range, DateRange) else DateRange.parse(date_range)


class Analytics:
    """Relevance report, position-bias estimate and training export over one backend."""

    def __init__(
        self, backend: ClickHouseBackend, settings: Settings, *, dedupe: bool = False
    ) -> None:
        self.runner = QueryRunner(backend, settings, dedupe=dedupe)

    # -- relevance signals -----------------------------------------------------------------
    def report(
        self,
        date_range: DateRange | str = "last_7_days",
        retriever_id: str | None = None,
        options: ReportOptions | None = None,
    ) -> RelevanceReport:
        return ReportBuilder(self.runner, options).build(as_range(date_range), retriever_id)

    def get_retriever_signals(
        self, retriever_id: str | None = None, date_range: DateRange | str = "last_7_days"
    ) -> RelevanceReport:
        """The seed's name for the report."""
        return self.report(date_range, retriever_id)

    # -- position bias ---------------------------------------------------------------------
    def has_search_events(self, date_range: DateRange | str, retriever_id: str | None) -> bool:
        rows = self.runner.rows("retrievers", as_range(date_range), None)
        return any(
            int(r["searches"]) > 0
            for r in rows
            if not retriever_id or r["retriever_id"] == retriever_id
        )

    def click_counts(
        self,
        date_range: DateRange | str,
        retriever_id: str | None = None,
        *,
        max_positions: int = DEFAULT_MAX_POSITIONS,
    ) -> ClickCounts:
        table = self.runner.arrow(
            "click_counts", as_range(date_range), retriever_id, max_positions=max_positions
        )
        return ClickCounts.from_columns(
            table.column("pair").to_numpy(),
            table.column("position").to_numpy(),
            table.column("impressions").to_numpy(),
            table.column("clicks").to_numpy(),
        )

    def position_bias(
        self,
        date_range: DateRange | str = "last_30_days",
        retriever_id: str | None = None,
        *,
        min_impressions: int = DEFAULT_MIN_IMPRESSIONS,
        max_positions: int = DEFAULT_MAX_POSITIONS,
        prior_eta: float = PRIOR_ETA,
    ) -> BiasEstimate:
        """PBM/EM estimate from the logs; the prior where search events are missing."""
        if not self.has_search_events(date_range, retriever_id):
            return BiasEstimate.prior_only(
                max_positions,
                prior_eta,
                "no search events in this range: impressions are unknown, every propensity "
                f"is the prior 1/(position+1)^{prior_eta:g}",
            )
        counts = self.click_counts(date_range, retriever_id, max_positions=max_positions)
        return estimate_position_bias(
            counts,
            min_impressions=min_impressions,
            max_positions=max_positions,
            prior_eta=prior_eta,
        )

    # -- training data ---------------------------------------------------------------------
    def exporter(
        self, options: ExportOptions, bias: BiasEstimate | None = None
    ) -> TrainingExporter:
        """An exporter; with IPW on and no `bias` given, the bias is estimated first."""
        if options.ipw and bias is None:
            bias = self.position_bias(options.date_range, options.retriever)
        return TrainingExporter(self.runner, options, bias)

    def get_query_document_pairs(
        self,
        date_range: DateRange | str = "last_30_days",
        min_interactions: int = 2,
        *,
        retriever_id: str | None = None,
        ipw: bool = True,
        bias: BiasEstimate | None = None,
        texts: TextLookup | Mapping[str, str] | None = None,
    ) -> Iterator[TrainingPair]:
        """The seed's call: (query, positive, hard negative) pairs, bias-corrected weights.

        With `texts` (feature_id -> document text) each pair carries `positive_text` and
        `negative_text`, which fine-tuning needs.
        """
        options = ExportOptions(
            as_range(date_range),
            retriever=retriever_id,
            min_interactions=min_interactions,
            ipw=ipw,
        )
        pairs = self.exporter(options, bias).pairs()
        if texts is None:
            return pairs
        lookup = texts if isinstance(texts, TextLookup) else TextLookup(dict(texts))
        return (pair.with_texts(lookup) for pair in pairs)

    def export_training(
        self,
        path: Path,
        options: ExportOptions,
        *,
        fmt: str | None = None,
        texts: TextLookup | None = None,
        bias: BiasEstimate | None = None,
        on_progress: ProgressFn | None = None,
    ) -> ExportSummary:
        return self.exporter(options, bias).export(
            path, fmt=fmt, texts=texts, on_progress=on_progress
        )
