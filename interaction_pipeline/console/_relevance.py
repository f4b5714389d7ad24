"""The relevance view: the report and the bias estimate, shaped for charts and tables.

One shape for the console's Relevance page and for `interactions report --html`, so the two
always show the same numbers, and both come straight from `RelevanceReport.to_dict()` and
`BiasEstimate.to_dict()`: nothing is computed here that the report or the bias does not say,
except the prior's value per position (the curve the estimate is drawn beside).
"""

from __future__ import annotations

from typing import Any

from interaction_pipeline.analytics import (
    Analytics,
    DateRange,
    RelevanceReport,
    ReportOptions,
    prior_propensity,
)


def _series(rows: list[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    return {name: [row.get(name) for row in rows] for name in names}


def relevance_view(report: dict[str, Any], bias: dict[str, Any] | None) -> dict[str, Any]:
    """Chart series and tables from the two `to_dict()` forms (bias may be absent)."""
    wow = report["week_over_week"]
    changes = sorted(wow["changes"], key=lambda c: not c["regressed"])  # regressions first
    view: dict[str, Any] = {
        "date_range": report["date_range"],
        "retriever": report["retriever"],
        "retrievers": [r["retriever_id"] for r in report.get("retrievers", [])],
        "has_search_events": report["has_search_events"],
        "ctr_source": report["ctr_source"],
        "notes": report["notes"],
        "headline": report["headline"],
        "regressions": [c for c in changes if c["regressed"]],
        "week_over_week": {
            "current": wow["current"],
            "previous": wow["previous"],
            "current_volume": wow["current_volume"],
            "previous_volume": wow["previous_volume"],
            "changes": changes,
        },
        "ctr_by_position": _series(
            report["ctr_by_position"], "position", "ctr", *_ctr_counts(report)
        ),
        "skipped_top_results": report["skipped_top_results"],
        "low_ctr_queries": report["low_ctr_queries"],
        "zero_result_queries": report["zero_result_queries"],
        "examination": None,
    }
    if bias is not None and bias.get("positions"):
        positions = [int(p["position"]) for p in bias["positions"]]
        eta = float(bias.get("prior_eta", 1.0))
        view["examination"] = {
            "position": positions,
            "estimated": [p["propensity"] for p in bias["positions"]],
            "prior": [float(v) for v in prior_propensity(positions, eta)],
            "source": [p["source"] for p in bias["positions"]],
            "prior_label": bias.get("prior", f"1/(position+1)^{eta:g}"),
            "notes": bias.get("notes", []),
        }
    return view


def _ctr_counts(report: dict[str, Any]) -> tuple[str, ...]:
    rows = report["ctr_by_position"]
    return tuple(k for k in (rows[0] if rows else {}) if k not in ("position", "ctr"))


def build_relevance(
    analytics: Analytics,
    date_range: DateRange,
    retriever: str | None,
    options: ReportOptions | None = None,
) -> tuple[RelevanceReport, dict[str, Any]]:
    """Run the report and the bias estimate over one range; the report and the view."""
    report = analytics.report(date_range, retriever, options)
    bias = analytics.position_bias(date_range, retriever)
    return report, relevance_view(report.to_dict(), bias.to_dict())
