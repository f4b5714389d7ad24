"""Small pieces of the analytics that need no database: ranges, regression flags, text lookup,
negative assignment and output format choice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from interaction_pipeline.analytics import DateRange, TextLookup
from interaction_pipeline.analytics._writers import format_for
from interaction_pipeline.analytics.export import _Group, _groups, _pairs
from interaction_pipeline.analytics.report import compare

pytestmark = pytest.mark.unit

NOW = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("last_30_days", datetime(2025, 4, 20, 12, tzinfo=UTC), NOW),
        ("last_2_weeks", datetime(2025, 5, 6, 12, tzinfo=UTC), NOW),
        (
            "2025-01-01..2025-01-31",
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
        ),
        (
            "2025-01-01T06:00:00Z..2025-01-02T06:00:00+02:00",
            datetime(2025, 1, 1, 6, tzinfo=UTC),
            datetime(2025, 1, 2, 4, tzinfo=UTC),
        ),
    ],
)
def test_date_ranges(text: str, start: datetime, end: datetime) -> None:
    parsed = DateRange.parse(text, now=NOW)
    assert (parsed.start, parsed.end) == (start, end)


@pytest.mark.parametrize("text", ["yesterday", "2025-02-01..2025-01-01", "2025-13-01..2025-14-01"])
def test_bad_date_ranges(text: str) -> None:
    with pytest.raises(ValueError):
        DateRange.parse(text, now=NOW)


def test_range_parameters_are_utc_iso() -> None:
    span = DateRange.parse("2025-01-01..2025-01-01")
    assert span.params() == {"start": "2025-01-01T00:00:00.000Z", "end": "2025-01-02T00:00:00.000Z"}


@pytest.mark.parametrize(
    ("better", "previous", "current", "regressed"),
    [
        ("higher", 0.20, 0.17, True),  # -15 %
        ("higher", 0.20, 0.19, False),  # -5 %
        ("higher", 0.20, 0.30, False),  # better
        ("lower", 1.0, 1.2, True),  # +20 % where lower is better
        ("lower", 1.0, 0.5, False),
        ("higher", 0.0, 0.5, False),  # not comparable
        ("higher", None, 0.5, False),
    ],
)
def test_regression_flags(
    better: str, previous: float | None, current: float | None, regressed: bool
) -> None:
    change = compare("m", better, previous, current, threshold=0.1, enough_volume=True)  # type: ignore[arg-type]
    assert change.regressed is regressed
    quiet = compare("m", better, previous, current, threshold=0.1, enough_volume=False)  # type: ignore[arg-type]
    assert quiet.regressed is False


def _row(query: str, doc: str, role: str, weight: float = 1.0) -> dict[str, object]:
    return {
        "query": query,
        "feature_id": doc,
        "role": role,
        "weight": weight,
        "strength": 1.0,
        "ipw": 1.0,
        "propensity": 1.0,
        "mean_position": 0.0,
        "positive_events": 2,
        "conversions": 0,
        "long_views": 0,
        "negative_events": 0,
        "clipped_events": 0,
        "ipw_square_sum": 2.0,
        "total_weight": 6.0,
        "total_positives": 4,
    }


def test_rows_are_grouped_by_query_across_batches() -> None:
    rows = [
        _row("a", "1", "positive"),
        _row("a", "2", "explicit_negative"),
        _row("b", "3", "positive"),
    ]
    batches = [pa.RecordBatch.from_pylist(rows[:2]), pa.RecordBatch.from_pylist(rows[2:])]
    groups = [(g.query, len(g.positives), len(g.negatives)) for g, _ in _groups(iter(batches))]
    assert groups == [("a", 1, 1), ("b", 1, 0)]


def test_hard_negatives_are_handed_out_in_turn() -> None:
    group = _Group(
        "q",
        positives=[_row("q", p, "positive") for p in "ABC"],
        negatives=[_row("q", "X", "explicit_negative"), _row("q", "Y", "skip_negative")],
    )
    got = [(p.positive_id, p.negative_id, p.negative_source) for p in _pairs(group)]
    assert got == [("A", "X", "explicit"), ("B", "Y", "skip_above"), ("C", "X", "explicit")]


def test_text_lookup(tmp_path: Path) -> None:
    good = tmp_path / "texts.jsonl"
    good.write_text('{"id": "a", "text": "alpha"}\n\n{"feature_id": "b", "text": "beta"}\n')
    lookup = TextLookup.from_jsonl(good)
    assert (lookup.get("a"), lookup.get("b"), lookup.get("c"), len(lookup)) == (
        "alpha",
        "beta",
        None,
        2,
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        TextLookup.from_jsonl(bad)


def test_output_format() -> None:
    assert format_for(Path("x.parquet"), None) == "parquet"
    assert format_for(Path("x.jsonl"), None) == "jsonl"
    assert format_for(Path("x.out"), "parquet") == "parquet"
    with pytest.raises(ValueError, match="format"):
        format_for(Path("x"), "csv")
