"""The console's data shaping, without services: the relevance view, event rows and rate,
filters, candidate parsing, experiment files, and the HTML report's document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from interaction_pipeline.console import (
    EventFilter,
    ExperimentResults,
    parse_candidates,
    relevance_view,
    render_report_html,
)
from interaction_pipeline.console._events import RATE_BIN_S, RATE_WINDOW_S, event_rate
from schemas.errors import InvalidArgumentError
from schemas.privacy import UserIdHasher

pytestmark = pytest.mark.unit

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def change(metric: str, regressed: bool) -> dict[str, Any]:
    return {"metric": metric, "better": "higher", "previous": 0.2, "current": 0.1,
            "change": -0.5 if regressed else 0.01, "regressed": regressed}  # fmt: skip


def report(regressed: tuple[str, ...] = ("ctr",), query: str = "red mug") -> dict[str, Any]:
    span = {"start": "2025-05-26T12:00:00Z", "end": "2025-06-02T12:00:00Z"}
    return {
        "date_range": span,
        "retriever": None,
        "retrievers": [{"retriever_id": "ret_a"}, {"retriever_id": "ret_b"}],
        "has_search_events": True,
        "ctr_source": "impressions",
        "notes": ["a note"],
        "headline": {"searches": 1000, "ctr": 0.1},
        "ctr_by_position": [
            {"position": k, "impressions": 100, "clicks": 10 - k, "ctr": (10 - k) / 100}
            for k in range(4)
        ],
        "skipped_top_results": [{"query": query, "feature_id": "doc_1", "clicks": 0}],
        "low_ctr_queries": None,
        "zero_result_queries": [],
        "week_over_week": {
            "current": span, "previous": span, "current_volume": 500, "previous_volume": 480,
            "changes": [change("search_ctr", False), *(change(m, True) for m in regressed)],
        },
    }  # fmt: skip


BIAS = {
    "prior": "1/(position+1)^1",
    "prior_eta": 1.0,
    "positions": [
        {"position": k, "propensity": 1 / (k + 1) ** 0.8, "source": "em"} for k in range(4)
    ],
    "notes": [],
}


def test_relevance_view_puts_regressions_first_and_draws_the_prior() -> None:
    view = relevance_view(report(regressed=("ctr", "conversion_rate")), BIAS)
    assert [c["metric"] for c in view["regressions"]] == ["ctr", "conversion_rate"]
    assert view["week_over_week"]["changes"][-1]["metric"] == "search_ctr"
    assert view["ctr_by_position"]["position"] == [0, 1, 2, 3]
    assert view["ctr_by_position"]["clicks"] == [10, 9, 8, 7]
    assert view["examination"]["prior"] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    assert view["retrievers"] == ["ret_a", "ret_b"]
    assert relevance_view(report(), None)["examination"] is None


def test_event_rate_bins_by_arrival_over_the_last_minute() -> None:
    def row(seconds_ago: float, *types: str) -> dict[str, Any]:
        return {"received_at": (NOW - timedelta(seconds=seconds_ago)).isoformat(),
                "types": list(types)}  # fmt: skip

    rows = [row(1, "click", "long_view"), row(2, "click"), row(12, "search"), row(600, "click")]
    rate = event_rate(rows, NOW)
    bins = RATE_WINDOW_S // RATE_BIN_S
    assert len(rate["labels"]) == bins
    assert rate["series"]["click"][-1] == pytest.approx(2 / RATE_BIN_S)
    assert sum(rate["series"]["search"]) == pytest.approx(1 / RATE_BIN_S)
    assert rate["per_second"]["click"] == pytest.approx(round(2 / RATE_WINDOW_S, 2))
    assert set(rate["series"]) == {"click", "long_view", "search"}  # 10 min ago: not counted


def test_a_user_filter_matches_the_id_as_typed_and_as_stored() -> None:
    hasher = UserIdHasher(SecretStr("k" * 32))
    flt = EventFilter(user="user_1")
    users = flt.users(hasher)
    stored = {"source": "dlq", "user_id": hasher("user_1"), "types": []}
    assert flt.admits(stored, users)
    assert flt.admits({"source": "http", "user_id": "user_1", "types": []}, users)
    assert not flt.admits({"source": "http", "user_id": "user_2", "types": []}, users)
    assert not EventFilter(source="sink").admits(stored, set())
    assert EventFilter(type="click").admits({"source": "x", "types": ["click", "skip"]}, set())
    assert EventFilter(feature="q1").admits({"source": "x", "query_id": "q1", "types": []}, set())


def test_candidates_parse_with_or_without_scores() -> None:
    assert parse_candidates("doc_1 0.9\n\ndoc_2,0.5\ndoc_3\t-1") == [
        ("doc_1", 0.9), ("doc_2", 0.5), ("doc_3", -1.0),
    ]  # fmt: skip
    assert parse_candidates("a\nb") == [("a", 1.0), ("b", 0.99)]
    for bad, field in (("", "at least one"), ("doc_1 high", "score must be a number"),
                       ("a b c", "expected 'feature_id score'")):  # fmt: skip
        with pytest.raises(InvalidArgumentError, match=field):
            parse_candidates(bad)


def test_experiments_say_none_yet_then_read_what_was_written(tmp_path: Path) -> None:
    results = ExperimentResults(tmp_path)
    empty = results.read()
    assert empty["lift"]["report"] is None and empty["offline_ab"]["result"] is None
    (tmp_path / "out" / "x").mkdir(parents=True)
    sessions = {"base": {"ndcg@10": 0.3}, "tuned": {"ndcg@10": 0.4}, "lift_pct": 33.3,
                "ci95": [20, 40]}  # fmt: skip
    ablation = {"random_negatives": {"held_out_sessions": {"lift_pct": 10.0}}}
    lift = {"splits": {"held_out_sessions": sessions}, "ablations": ablation}
    (tmp_path / "out" / "x" / "lift.json").write_text(json.dumps(lift))
    (tmp_path / "out" / "x" / "offline_ab.json").write_text('{"policy": {"ctr": 0.12}}')
    history = tmp_path / "benchmarks" / "results"
    history.mkdir(parents=True)
    line = {"date": "2025-06-01", "figures": {"splits": {"held_out_sessions": {"lift_pct": 3}}}}
    (history / "lift.jsonl").write_text(json.dumps(line) + "\n{half a line")
    found = results.read()
    splits = found["lift"]["report"]["splits"]
    assert [(r["variant"], r["lift_pct"]) for r in splits] == [
        ("full", 33.3), ("random_negatives", 10.0),
    ]  # fmt: skip
    assert found["lift"]["history"] == [
        {"date": "2025-06-01", "commit": None, "held_out_sessions_lift_pct": 3}
    ]
    assert found["offline_ab"]["result"]["figures"] == [{"name": "policy.ctr", "value": 0.12}]


def test_the_html_report_escapes_data_and_leads_with_regressions() -> None:
    view = relevance_view(report(query="<script>alert(1)</script>"), BIAS)
    document = render_report_html(view, generated_at=NOW)
    assert "<script>alert(1)" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert document.index(">Regressions<") < document.index(">Headline<")
    assert "1 regression(s) week over week" in document
    assert "<tr class=regressed>" in document
    assert "</script" not in document.split('id="report-data">')[1].split("</script>")[0]


def test_the_html_report_says_when_nothing_regressed() -> None:
    document = render_report_html(relevance_view(report(regressed=()), None), generated_at=NOW)
    assert "No regression flagged week over week." in document
    assert "no estimate" in document
