"""Training-pair selection on hand-made (query, document) rows, as training_pairs.sql returns
them: the debiased relevance estimate, who is a positive, which negatives a positive may take
and in what order, random negatives, and grouping rows by query across batches."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from interaction_pipeline.analytics import DateRange, ExportOptions
from interaction_pipeline.analytics.export import propensity_parameter
from interaction_pipeline.analytics.selection import (
    QueryRows,
    debiased_relevance,
    group_by_query,
    pairs_of,
    select,
)

pytestmark = pytest.mark.unit

RANGE = DateRange.parse("2025-01-01..2025-01-14")


def _row(
    doc: str,
    *,
    pos: int = 0,
    neg: int = 0,
    clicks: int = 0,
    examinations: float = 0.0,
    impressions: int | None = None,
    skipped: int = 0,
    weight: float | None = None,
    query: str = "q",
) -> dict[str, Any]:
    return {
        "query": query,
        "feature_id": doc,
        "positive_events": pos,
        "negative_events": neg,
        "conversions": 0,
        "long_views": 0,
        "mean_position": 0.0 if pos else None,
        "propensity": 1.0,
        "ipw": 1.0,
        "strength": 1.0,
        "weight": float(pos) if weight is None else weight,
        "ipw_square_sum": float(pos),
        "clipped_events": 0,
        "impressions": impressions if impressions is not None else round(examinations),
        "clicks": clicks,
        "examinations": examinations,
        "skipped_above": skipped,
        "candidate_positive": pos >= 2 and pos > neg,
    }


def _group(*rows: dict[str, Any]) -> QueryRows:
    """Rows of one query with the query-level sums the SQL adds."""
    clicks = sum(r["clicks"] for r in rows)
    examinations = sum(r["examinations"] for r in rows)
    done = [r | {"query_clicks": clicks, "query_examinations": examinations} for r in rows]
    return QueryRows(rows[0]["query"], done, {"candidate_weight": 1.0, "candidate_positives": 1})


def _options(**kwargs: Any) -> ExportOptions:
    return ExportOptions(RANGE, **kwargs)


def test_relevance_is_clicks_per_examination_shrunk_toward_the_query_rate() -> None:
    assert debiased_relevance(5, 10.0, 0.2, 0.0) == pytest.approx(0.5)
    # Three pseudo-examinations at the query's rate 0.2: (5 + 0.6) / 13.
    assert debiased_relevance(5, 10.0, 0.2, 3.0) == pytest.approx(5.6 / 13)
    # Seen once, not clicked: stays near the query's rate instead of reading 0.
    assert debiased_relevance(0, 1.0, 0.2, 3.0) == pytest.approx(0.15)
    assert debiased_relevance(0, 0.0, 0.2, 3.0) is None  # no impressions: unknown


def test_positives_need_engagement_and_a_debiased_relevance_above_the_query_rate() -> None:
    # Query rate: 12 clicks over 40 examinations = 0.3.
    group = _group(
        _row("A", pos=6, clicks=6, examinations=10.0),  # 0.6 debiased: positive
        # Clicked at deep positions: 3 clicks over 3 expected examinations, 1.0: positive
        # although its raw click count is lower than B's.
        _row("C", pos=3, clicks=3, examinations=3.0, impressions=12),
        # Many clicks because it is always on top, but rarely clicked once seen: dropped.
        _row("B", pos=3, clicks=3, examinations=27.0),
    )
    selection = select(group, _options(prior_examinations=0.0))
    assert [c.feature_id for c in selection.positives] == ["A", "C"]  # by weight
    assert selection.dropped_positives == 1
    # positive_lift=0: engagement counts alone decide, as before the estimate existed.
    assert len(select(group, _options(positive_lift=0.0)).positives) == 3


def test_negative_pool_order_explicit_then_skip_above_then_impressions() -> None:
    group = _group(
        _row("P", pos=10, clicks=10, examinations=12.0),
        _row("I2", examinations=6.0),  # never clicked, well examined
        _row("I1", examinations=9.0),  # never clicked, examined even more: lower estimate
        _row("S", examinations=2.0, skipped=3),  # skipped above a click 3 times
        _row("E", neg=2, clicks=1, pos=1, examinations=3.0),  # rejected as often as engaged
        _row("few", examinations=1.0),  # too few examinations to judge
        _row("ok", pos=1, clicks=1, examinations=4.0),  # some interest: not low enough
    )
    selection = select(group, _options())
    assert [(c.feature_id, c.source) for c in selection.negatives] == [
        ("E", "explicit"),
        ("S", "skip_above"),
        ("I1", "impression"),
        ("I2", "impression"),
    ]


def test_min_examinations_and_negative_lift_gate_impression_negatives() -> None:
    rows = (_row("P", pos=4, clicks=4, examinations=5.0), _row("N", examinations=4.0))
    assert [c.feature_id for c in select(_group(*rows), _options()).negatives] == ["N"]
    strict = _options(min_examinations=5.0)
    assert select(_group(*rows), strict).negatives == []
    assert select(_group(*rows), _options(negative_lift=0.1)).negatives == []


def test_a_positive_takes_only_clearly_worse_negatives_in_turn() -> None:
    group = _group(
        _row("P1", pos=9, clicks=9, examinations=10.0, weight=9.0),  # ~0.8
        _row("P2", pos=4, clicks=4, examinations=10.0, weight=4.0),  # ~0.38
        _row("E", neg=3, clicks=2, examinations=10.0),  # explicit, ~0.25
        _row("N", examinations=12.0),  # ~0.06
    )
    _, pairs = pairs_of(group, _options())
    got = [(p.positive_id, p.negative_id, p.negative_source) for p in pairs]
    # P1 takes the explicit negative first; E is too close to P2 (0.25 > 0.6 x 0.38), so P2
    # takes the next eligible one.
    assert got == [("P1", "E", "explicit"), ("P2", "N", "impression")]
    assert pairs[0].relevance is not None and pairs[0].negative_relevance is not None
    assert pairs[0].negative_relevance <= 0.6 * pairs[0].relevance
    only_close = _group(
        _row("P", pos=4, clicks=4, examinations=10.0), _row("E", neg=3, clicks=3, examinations=10.0)
    )
    assert [p.negative_id for p in pairs_of(only_close, _options())[1]] == [None]


def test_without_impressions_the_event_rules_decide_alone() -> None:
    # Interactions only (no search events): no estimate, so no relevance test either.
    group = _group(_row("G", pos=2), _row("H", neg=1, pos=1), _row("K", pos=1))
    _, pairs = pairs_of(group, _options())
    assert [(p.positive_id, p.negative_id, p.relevance) for p in pairs] == [("G", "H", None)]


def test_random_negatives_are_seeded_shown_non_positives() -> None:
    rows = [_row("P", pos=8, clicks=8, examinations=10.0)]
    rows += [_row(f"D{i}", examinations=float(1 + i % 4)) for i in range(20)]
    rows += [_row("unshown", neg=2, impressions=0)]  # an event, never in a search event
    group = _group(*rows)
    options = _options(negatives="random", seed=5)
    drawn = {
        pairs_of(group, _options(negatives="random", seed=s))[1][0].negative_id for s in range(40)
    }
    assert drawn <= {f"D{i}" for i in range(20)}
    assert len(drawn) > 10  # uniform over the pool, not the hardest one
    first, again = pairs_of(group, options)[1], pairs_of(group, options)[1]
    assert first == again
    assert first[0].negative_source == "random"


def test_rows_are_grouped_by_query_across_batches() -> None:
    totals = {"query_clicks": 0, "query_examinations": 0.0}
    totals |= {"candidate_weight": 2.0, "candidate_positives": 2}
    rows = [_row("1", query="a") | totals, _row("2", query="a") | totals]
    rows.append(_row("3", query="b") | totals)
    batches = [pa.RecordBatch.from_pylist(rows[:2]), pa.RecordBatch.from_pylist(rows[2:])]
    assert [(g.query, len(g.rows)) for g in group_by_query(iter(batches))] == [("a", 2), ("b", 1)]


def test_ipw_off_means_raw_click_rates() -> None:
    assert propensity_parameter(None) == "1"  # every examination counts 1: clicks/impressions


@pytest.mark.parametrize(
    "bad",
    [
        {"negatives": "hardest"},
        {"prior_examinations": -1.0},
        {"min_examinations": -0.5},
        {"pair_margin": 0.0},
        {"pair_margin": 1.5},
    ],
)
def test_options_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        ExportOptions(RANGE, **bad)
