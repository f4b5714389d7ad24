"""Every report metric on a small hand-built dataset (tests/analytics_support.py:
`hand_dataset`), against answers worked out by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interaction_pipeline.analytics import Analytics, DateRange, ReportOptions
from sinks import ClickHouseBackend
from tests.analytics_support import chdb_settings, hand_dataset, insert_events, migrated_backend

pytestmark = pytest.mark.integration

RANGE = DateRange.parse("2025-01-01..2025-01-14")
LOOSE = ReportOptions(
    top_k=2,
    min_top_impressions=1,
    max_click_ratio=0.7,
    max_ctr=0.3,
    min_query_impressions=1,
    min_searches=1,
    min_weekly_volume=1,
    min_skip_rate=0.5,
)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseBackend]:
    settings = chdb_settings(tmp_path_factory.mktemp("analytics") / "chdb")
    backend = migrated_backend(settings)
    try:
        assert insert_events(backend, hand_dataset()) == (10, 18)
        yield backend
    finally:
        backend.close()


@pytest.fixture(scope="module")
def analytics(backend: ClickHouseBackend, tmp_path_factory: pytest.TempPathFactory) -> Analytics:
    return Analytics(backend, chdb_settings(tmp_path_factory.getbasetemp() / "unused"))


def test_headline_of_one_retriever(analytics: Analytics) -> None:
    h = analytics.report(RANGE, "r1", LOOSE).headline
    assert h["searches"] == 8
    assert h["zero_result_searches"] == 2
    assert h["zero_result_rate"] == pytest.approx(0.25)
    assert h["impressions"] == 20
    assert h["clicks"] == 6  # once per (search, document): B's click and purchase count once
    assert h["ctr"] == pytest.approx(6 / 20)
    assert h["searches_with_click"] == 5
    assert h["search_ctr"] == pytest.approx(5 / 6)
    assert h["conversion_rate"] == pytest.approx(2 / 6)
    assert h["long_clicks"] == 3  # B 10 s, C 5 s, A 8 s (threshold 4 s)
    assert h["long_click_share"] == pytest.approx(0.5)
    assert h["avg_first_click_position"] == pytest.approx(0.4)  # 1, 0, 1, 0, 0
    assert h["mean_time_to_first_click_s"] == pytest.approx(2.8)  # 4, 2, 6, 1, 1
    assert h["median_time_to_first_click_s"] == pytest.approx(2.0)


def test_ctr_by_position_counts_clicks_per_impression(analytics: Analytics) -> None:
    report = analytics.report(RANGE, "r1", LOOSE)
    assert report.ctr_source == "impressions"
    got = {r["position"]: (r["impressions"], r["clicks"]) for r in report.ctr_by_position}
    assert got == {0: (6, 3), 1: (6, 2), 2: (4, 1), 3: (4, 0)}
    assert report.ctr_by_position[1]["ctr"] == pytest.approx(2 / 6)


def test_top_results_clicked_less_than_their_positions_predict(analytics: Analytics) -> None:
    rows = analytics.report(RANGE, "r1", LOOSE).skipped_top_results
    # Top-2 CTR: position 0 3/6, position 1 2/6. B was shown at 1, 1, 0, 1 and clicked once:
    # expected 3 x 1/3 + 0.5 = 1.5, ratio 2/3 < 0.7. A (2 of 1.83) and E, F are fine.
    assert [(r["query"], r["feature_id"]) for r in rows] == [("red shoes", "B")]
    b = rows[0]
    assert (b["impressions"], b["clicks"], b["skips"]) == (4, 1, 1)
    assert b["expected_clicks"] == pytest.approx(1.5)
    assert b["click_ratio"] == pytest.approx(2 / 3)
    assert b["no_click_rate"] == pytest.approx(0.75)
    assert b["skip_rate"] == pytest.approx(0.25)
    assert b["avg_position"] == pytest.approx(0.75)


def test_low_ctr_queries(analytics: Analytics) -> None:
    rows = analytics.report(RANGE, "r1", LOOSE).low_ctr_queries
    assert rows is not None
    # red shoes: 4 searches, 16 impressions, 4 clicks (1 + 2 + 0 + 1) -> 0.25 < 0.3;
    # blue hat: 2 of 4 -> 0.5; unicorn has no results and is not a low-CTR query.
    assert [(r["query"], r["answered_searches"], r["impressions"], r["clicks"]) for r in rows] == [
        ("red shoes", 4, 16, 4)
    ]
    assert rows[0]["ctr"] == pytest.approx(0.25)
    assert rows[0]["no_click_rate"] == pytest.approx(0.25)
    default = analytics.report(RANGE, "r1", ReportOptions(min_query_impressions=1))
    assert default.low_ctr_queries == []  # nothing is under 5 %


def test_first_click_by_query(analytics: Analytics) -> None:
    rows = analytics.report(RANGE, "r1", LOOSE).first_click_by_query
    assert rows is not None
    by_query = {r["query"]: r for r in rows}
    shoes, hat = by_query["red shoes"], by_query["blue hat"]
    assert [r["query"] for r in rows] == ["red shoes", "blue hat"]  # busiest first
    assert (shoes["answered_searches"], shoes["searches_with_click"]) == (4, 3)
    assert shoes["avg_first_click_position"] == pytest.approx(1 / 3)
    assert shoes["mean_time_to_first_click_s"] == pytest.approx(7 / 3)
    assert shoes["median_time_to_first_click_s"] == pytest.approx(2.0)
    assert (hat["answered_searches"], hat["searches_with_click"]) == (2, 2)
    assert hat["avg_first_click_position"] == pytest.approx(0.5)
    assert hat["mean_time_to_first_click_s"] == pytest.approx(3.5)


def test_zero_result_queries_are_normalised(analytics: Analytics) -> None:
    rows = analytics.report(RANGE, "r1", LOOSE).zero_result_queries
    assert rows is not None
    assert [(r["query"], r["searches"]) for r in rows] == [("unicorn", 2)]
    assert rows[0]["share_of_searches"] == pytest.approx(2 / 8)


def test_dwell_distribution(analytics: Analytics) -> None:
    rows = analytics.report(RANGE, "r1", LOOSE).dwell_distribution
    counts = {(r["lower_ms"], r["upper_ms"]): r["clicks"] for r in rows}
    assert counts == {
        (0, 1_000): 0,
        (1_000, 4_000): 1,
        (4_000, 10_000): 2,
        (10_000, 30_000): 1,
        (30_000, 60_000): 0,
        (60_000, 300_000): 0,
        (300_000, None): 0,
    }
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert rows[0]["p50_ms"] == 8_000  # clicks of 1, 5, 8 and 10 s


def test_week_over_week_flags_regressions(analytics: Analytics) -> None:
    report = analytics.report(RANGE, "r1", LOOSE)
    wow = report.week_over_week
    assert (wow.previous_volume, wow.current_volume) == (2, 6)
    changes = {c.metric: c for c in wow.changes}
    # week 1: CTR 2/6, search CTR 2/2, conversion 1/2, median first click 1 s;
    # week 2: CTR 4/14, search CTR 3/4, conversion 1/4, median first click 4 s.
    assert changes["ctr"].change == pytest.approx((4 / 14 - 2 / 6) / (2 / 6))
    assert changes["search_ctr"].change == pytest.approx(-0.25)
    assert changes["conversion_rate"].change == pytest.approx(-0.5)
    assert changes["median_time_to_first_click_s"].change == pytest.approx(3.0)
    assert changes["long_click_share"].change == pytest.approx(0.0)
    assert changes["zero_result_rate"].change is None  # week 1 had none: not comparable
    assert {c.metric for c in report.regressions} == {
        "ctr",
        "search_ctr",
        "conversion_rate",
        "median_time_to_first_click_s",
    }


def test_too_little_volume_never_flags(analytics: Analytics) -> None:
    report = analytics.report(RANGE, "r1", ReportOptions())
    assert report.regressions == []
    assert any("no regression is flagged" in note for note in report.notes)


def test_retriever_filter(analytics: Analytics) -> None:
    report = analytics.report(RANGE, "r2", LOOSE)
    h = report.headline
    assert (h["searches"], h["impressions"], h["clicks"]) == (2, 3, 2)
    retrievers = {r["retriever_id"]: (r["searches"], r["interactions"]) for r in report.retrievers}
    assert retrievers == {"r1": (8, 11), "r2": (2, 2), "r3": (0, 5)}
    everything = analytics.report(RANGE, None, LOOSE).headline
    assert everything["searches"] == 10


def test_without_search_events_the_report_falls_back_and_says_so(analytics: Analytics) -> None:
    report = analytics.report(RANGE, "r3", LOOSE)
    assert not report.has_search_events
    assert report.ctr_source == "clicks_and_skips"
    assert any("no search events" in note for note in report.notes)
    assert report.low_ctr_queries is None
    assert report.zero_result_queries is None
    assert report.first_click_by_query is None
    h = report.headline
    assert (h["clicks"], h["skips"]) == (3, 1)
    assert h["ctr_proxy"] == pytest.approx(0.75)
    assert h["conversion_rate"] == pytest.approx(1 / 3)
    assert h["long_click_share"] == pytest.approx(1 / 3)
    assert h["avg_first_click_position"] == pytest.approx(0.5)  # session x: G@1; y: H@0
    ctr = {r["position"]: (r["clicks"], r["skips"]) for r in report.ctr_by_position}
    assert ctr == {0: (1, 1), 1: (1, 0), 2: (1, 0)}
    assert [(r["query"], r["feature_id"]) for r in report.skipped_top_results] == [
        ("green sofa", "H")
    ]


def test_report_json_is_serialisable(analytics: Analytics, tmp_path: Path) -> None:
    import orjson

    data = orjson.loads(orjson.dumps(analytics.report(RANGE, "r1", LOOSE).to_dict()))
    assert data["regressions"] and data["ctr_source"] == "impressions"
    assert data["date_range"] == {
        "start": "2025-01-01T00:00:00.000Z",
        "end": "2025-01-15T00:00:00.000Z",
    }


def test_a_one_week_range_compares_weeks_in_the_same_pass(
    analytics: Analytics, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[str] = []
    rows = analytics.runner.rows

    def spy(name: str, *args: object, **kwargs: object) -> list[dict[str, object]]:
        ran.append(name)
        return rows(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(analytics.runner, "rows", spy)
    report = analytics.report(DateRange.parse("2025-01-08..2025-01-14"), "r1", LOOSE)
    assert ran.count("query_stats") == 1
    assert report.headline["searches"] == 6  # week 2 only
    changes = {c.metric: c.change for c in report.week_over_week.changes}
    assert changes["ctr"] == pytest.approx((4 / 14 - 2 / 6) / (2 / 6))
    assert changes["search_ctr"] == pytest.approx(-0.25)
