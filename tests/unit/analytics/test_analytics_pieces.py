"""Small pieces of the analytics that need no database: ranges, regression flags, text lookup
and output format choice (pair selection: test_analytics_selection.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from interaction_pipeline.analytics import DateRange, TextLookup
from interaction_pipeline.analytics._writers import format_for
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
