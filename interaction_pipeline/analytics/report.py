"""The relevance report: the seed's get_retriever_signals, plus week-over-week regression flags.

Every number comes from one of the shipped SQL files (analytics/sql/), so what the report,
the Grafana dashboard and an analyst at a SQL prompt see is the same. When a deployment sends
no search events, there are no impressions: CTR falls back to clicks / (clicks + skips), the
metrics that need impressions are reported as unavailable, and `notes` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from interaction_pipeline.analytics._sql import QueryRunner
from interaction_pipeline.analytics.daterange import DateRange
from schemas.errors import InvalidArgumentError

Direction = Literal["higher", "lower"]
CtrSource = Literal["impressions", "clicks_and_skips"]

WEEK: Final = timedelta(days=7)

HEADLINE_DIRECTIONS: Final[dict[str, Direction]] = {
    "ctr": "higher",
    "search_ctr": "higher",
    "conversion_rate": "higher",
    "long_click_share": "higher",
    "zero_result_rate": "lower",
    "avg_first_click_position": "lower",
    "median_time_to_first_click_s": "lower",
}
"""Headline metrics watched week over week (with search events), and which way is better."""

HEADLINE_COLUMNS: Final = (
    "searches",
    "zero_result_searches",
    "zero_result_rate",
    "answered_searches",
    "impressions",
    "clicks",
    "ctr",
    "searches_with_click",
    "search_ctr",
    "searches_with_conversion",
    "conversion_rate",
    "long_clicks",
    "long_click_share",
    "avg_first_click_position",
    "mean_time_to_first_click_s",
    "median_time_to_first_click_s",
)
"""query_stats.sql's total row, as the headline shows it."""
LOW_CTR_COLUMNS: Final = (
    "query", "answered_searches", "impressions", "clicks", "ctr", "no_click_rate",
)  # fmt: skip
FIRST_CLICK_COLUMNS: Final = (
    "query",
    "answered_searches",
    "searches_with_click",
    "avg_first_click_position",
    "mean_time_to_first_click_s",
    "median_time_to_first_click_s",
)

FALLBACK_DIRECTIONS: Final[dict[str, Direction]] = {
    "ctr_proxy": "higher",
    "conversion_rate": "higher",
    "long_click_share": "higher",
    "avg_first_click_position": "lower",
}
"""The same for interaction-only deployments."""


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """Thresholds of the report; the defaults are the CLI's."""

    top_k: int = 3
    """"Ranked high" means position < top_k."""
    min_top_impressions: int = 20
    max_click_ratio: float = 0.5
    """A top result is listed when it gets < this share of the clicks its positions predict."""
    min_skip_rate: float = 0.5
    """Without search events: listed when skips / (clicks + skips) reaches this."""
    max_ctr: float = 0.05
    min_query_impressions: int = 100
    min_searches: int = 10
    limit: int = 50
    max_positions: int = 20
    regression_threshold: float = 0.10
    """Relative week-over-week change in the bad direction that raises a flag."""
    min_weekly_volume: int = 200
    """Searches (or clicks, without search events) each week needs before it can flag."""

    def __post_init__(self) -> None:
        for name in ("top_k", "limit", "max_positions"):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.max_ctr <= 1:
            raise InvalidArgumentError(f"max_ctr: must be between 0 and 1, got {self.max_ctr}")
        if self.regression_threshold <= 0:
            raise InvalidArgumentError(
                f"regression_threshold: must be > 0, got {self.regression_threshold}"
            )


@dataclass(frozen=True, slots=True)
class MetricChange:
    metric: str
    better: Direction
    previous: float | None
    current: float | None
    change: float | None
    """Relative change (current - previous) / previous; None when not comparable."""
    regressed: bool


@dataclass(frozen=True, slots=True)
class WeekOverWeek:
    current: DateRange
    previous: DateRange
    current_volume: int
    previous_volume: int
    changes: tuple[MetricChange, ...]

    @property
    def regressions(self) -> list[MetricChange]:
        return [c for c in self.changes if c.regressed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": self.current.to_dict(),
            "previous": self.previous.to_dict(),
            "current_volume": self.current_volume,
            "previous_volume": self.previous_volume,
            "changes": [asdict(c) for c in self.changes],
            "regressions": [c.metric for c in self.regressions],
        }


@dataclass(slots=True)
class RelevanceReport:
    """Everything `interactions report` prints; `to_dict()` is its --json form."""

    date_range: DateRange
    retriever: str | None
    has_search_events: bool
    ctr_source: CtrSource
    headline: dict[str, Any]
    ctr_by_position: list[dict[str, Any]]
    skipped_top_results: list[dict[str, Any]]
    low_ctr_queries: list[dict[str, Any]] | None
    first_click_by_query: list[dict[str, Any]] | None
    zero_result_queries: list[dict[str, Any]] | None
    dwell_distribution: list[dict[str, Any]]
    week_over_week: WeekOverWeek
    retrievers: list[dict[str, Any]]
    options: ReportOptions
    notes: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[MetricChange]:
        return self.week_over_week.regressions

    def to_dict(self) -> dict[str, Any]:
        return {
            "date_range": self.date_range.to_dict(),
            "retriever": self.retriever,
            "has_search_events": self.has_search_events,
            "ctr_source": self.ctr_source,
            "notes": self.notes,
            "headline": self.headline,
            "ctr_by_position": self.ctr_by_position,
            "skipped_top_results": self.skipped_top_results,
            "low_ctr_queries": self.low_ctr_queries,
            "first_click_by_query": self.first_click_by_query,
            "zero_result_queries": self.zero_result_queries,
            "dwell_distribution": self.dwell_distribution,
            "week_over_week": self.week_over_week.to_dict(),
            "regressions": [c.metric for c in self.regressions],
            "retrievers": self.retrievers,
            "options": asdict(self.options),
        }


def compare(
    metric: str,
    better: Direction,
    previous: float | None,
    current: float | None,
    *,
    threshold: float,
    enough_volume: bool,
) -> MetricChange:
    """One week-over-week comparison; flags a relative move beyond `threshold` the bad way."""
    if previous is None or current is None or previous == 0:
        return MetricChange(metric, better, previous, current, None, False)
    change = (current - previous) / abs(previous)
    worse = -change if better == "higher" else change
    return MetricChange(
        metric, better, previous, current, change, enough_volume and worse > threshold
    )


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN (an empty average) is "no value"


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """NaN from ClickHouse aggregates over no rows becomes None (null in JSON)."""
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}


def _clean_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_clean(r) for r in rows]


def _total(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """query_stats' total row of `kind` ('total' or 'previous') as the headline shows it."""
    row = next((r for r in rows if r["kind"] == kind), {})
    return {k: v for k, v in row.items() if k in HEADLINE_COLUMNS}


def _week_before(date_range: DateRange) -> DateRange | None:
    """The comparison window query_stats computes alongside: the week before, when the range
    is exactly the last week (the default), so one pass serves the report and its WoW."""
    current = DateRange(date_range.end - WEEK, date_range.end)
    return current.shifted(-WEEK) if date_range == current else None


def _ranked(
    rows: list[dict[str, Any]], rank: str, columns: tuple[str, ...]
) -> list[dict[str, Any]]:
    """One of query_stats' lists: the rows ranked by `rank`, in rank order."""
    chosen = sorted((r for r in rows if r[rank] > 0), key=lambda r: int(r[rank]))
    return [{c: r[c] for c in columns} for r in chosen]


def query_parameters(options: ReportOptions) -> dict[str, dict[str, Any]]:
    """The threshold parameters of each report query (the dashboard generator uses these
    too, so Grafana shows what `interactions report` prints)."""
    o = options
    return {
        "retrievers": {},
        "query_stats": {
            "min_searches": o.min_searches,
            "min_impressions": o.min_query_impressions,
            "max_ctr": o.max_ctr,
            "limit": o.limit,
        },
        "headline_no_search": {},
        "ctr_by_position": {"max_positions": o.max_positions},
        "ctr_by_position_no_search": {"max_positions": o.max_positions},
        "skipped_top_results": {
            "top_k": o.top_k,
            "min_impressions": o.min_top_impressions,
            "max_click_ratio": o.max_click_ratio,
            "limit": o.limit,
        },
        "skipped_top_results_no_search": {
            "top_k": o.top_k,
            "min_impressions": o.min_top_impressions,
            "min_skip_rate": o.min_skip_rate,
            "limit": o.limit,
        },
        "zero_result_queries": {"limit": o.limit},
        "dwell_distribution": {},
    }


class ReportBuilder:
    """Runs the report's queries for one range and retriever."""

    def __init__(self, runner: QueryRunner, options: ReportOptions | None = None) -> None:
        self.runner = runner
        self.options = options or ReportOptions()
        self._stats: dict[tuple[DateRange, DateRange | None, str | None], list[dict[str, Any]]]
        self._stats = {}

    def retrievers(self, date_range: DateRange) -> list[dict[str, Any]]:
        return self.runner.rows("retrievers", date_range, None)

    def query_stats(
        self,
        date_range: DateRange,
        retriever: str | None,
        previous: DateRange | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """query_stats.sql rows ('total' and 'previous' first), memoised per window pair."""
        key = (date_range, previous, retriever)
        if key not in self._stats:
            # An empty comparison window (start = end) when there is nothing to compare.
            bounds = (previous or date_range).params()
            window = {
                "previous_start": bounds["start"],
                "previous_end": bounds["end"] if previous else bounds["start"],
            }
            extra = query_parameters(self.options)["query_stats"] | window
            if limit is not None:
                extra["limit"] = limit
            rows = self.runner.rows("query_stats", date_range, retriever, **extra)
            self._stats[key] = _clean_rows(rows)
        return self._stats[key]

    def headlines(
        self, date_range: DateRange, retriever: str | None, with_searches: bool
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The headline of the range, of the last week of it, and of the week before.

        With search events and the default range (the last 7 days) all three come from one
        pass of query_stats.sql; otherwise the two weeks take a second pass.
        """
        current = DateRange(date_range.end - WEEK, date_range.end)
        previous = current.shifted(-WEEK)
        if not with_searches:

            def fallback(span: DateRange) -> dict[str, Any]:
                rows = self.runner.rows("headline_no_search", span, retriever)
                return _clean(rows[0]) if rows else {}

            now = fallback(current)
            return (now if date_range == current else fallback(date_range)), now, fallback(previous)
        if date_range == current:
            rows = self.query_stats(date_range, retriever, previous)
            return _total(rows, "total"), _total(rows, "total"), _total(rows, "previous")
        main = self.query_stats(date_range, retriever)
        weeks = self.query_stats(current, retriever, previous, limit=0)
        return _total(main, "total"), _total(weeks, "total"), _total(weeks, "previous")

    def week_over_week(
        self, current_week: dict[str, Any], previous_week: dict[str, Any], end: datetime,
        with_searches: bool,
    ) -> WeekOverWeek:  # fmt: skip
        opts = self.options
        current = DateRange(end - WEEK, end)
        previous = current.shifted(-WEEK)
        volume_key = "searches" if with_searches else "clicks"
        now_volume = int(current_week.get(volume_key) or 0)
        before_volume = int(previous_week.get(volume_key) or 0)
        enough = min(now_volume, before_volume) >= opts.min_weekly_volume
        directions = HEADLINE_DIRECTIONS if with_searches else FALLBACK_DIRECTIONS
        changes = tuple(
            compare(
                metric,
                better,
                _float(previous_week.get(metric)),
                _float(current_week.get(metric)),
                threshold=opts.regression_threshold,
                enough_volume=enough,
            )
            for metric, better in directions.items()
        )
        return WeekOverWeek(current, previous, now_volume, before_volume, changes)

    def build(self, date_range: DateRange, retriever: str | None = None) -> RelevanceReport:
        opts = self.options
        extras = query_parameters(opts)

        def run(name: str) -> list[dict[str, Any]]:
            return _clean_rows(self.runner.rows(name, date_range, retriever, **extras[name]))

        retrievers = self.retrievers(date_range)
        scoped = [r for r in retrievers if not retriever or r["retriever_id"] == retriever]
        has_searches = sum(int(r["searches"]) for r in scoped) > 0
        notes: list[str] = []
        if retriever and not scoped:
            notes.append(f"no events for retriever {retriever!r} in this date range")
        low_ctr: list[dict[str, Any]] | None = None
        first_click: list[dict[str, Any]] | None = None
        zero: list[dict[str, Any]] | None = None
        headline, current_week, previous_week = self.headlines(date_range, retriever, has_searches)
        if has_searches:
            ctr = run("ctr_by_position")
            skipped = run("skipped_top_results")
            stats = self.query_stats(date_range, retriever, _week_before(date_range))
            low_ctr = _ranked(stats, "low_ctr_rank", LOW_CTR_COLUMNS)
            first_click = _ranked(stats, "busy_rank", FIRST_CLICK_COLUMNS)
            zero = run("zero_result_queries")
        else:
            notes.append(
                "no search events in this range: CTR by position is clicks / (clicks + skips), "
                "conversion rate is per click, and low-CTR queries, time to first click and "
                "zero-result queries are unavailable (they need the result lists)"
            )
            ctr = run("ctr_by_position_no_search")
            skipped = run("skipped_top_results_no_search")
        report = RelevanceReport(
            date_range=date_range,
            retriever=retriever,
            has_search_events=has_searches,
            ctr_source="impressions" if has_searches else "clicks_and_skips",
            headline=headline,
            ctr_by_position=ctr,
            skipped_top_results=skipped,
            low_ctr_queries=low_ctr,
            first_click_by_query=first_click,
            zero_result_queries=zero,
            dwell_distribution=run("dwell_distribution"),
            week_over_week=self.week_over_week(
                current_week, previous_week, date_range.end, has_searches
            ),
            retrievers=retrievers,
            options=opts,
            notes=notes,
        )
        wow = report.week_over_week
        if min(wow.current_volume, wow.previous_volume) < opts.min_weekly_volume:
            notes.append(
                f"week over week: fewer than {opts.min_weekly_volume} "
                f"{'searches' if has_searches else 'clicks'} in one of the two weeks, "
                "so no regression is flagged"
            )
        for change in wow.regressions:
            notes.append(
                f"REGRESSION: {change.metric} moved {change.change:+.1%} week over week "
                f"({change.previous:.4g} -> {change.current:.4g}; {change.better} is better)"
            )
        return report
