"""Date ranges as the seed spells them ("last_30_days") or as explicit UTC bounds.

Every analytics query takes a half-open range [start, end) in UTC; this module is the one
place that turns user input into one, so the CLI, the Python API and the SQL agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

from schemas.errors import InvalidArgumentError

_LAST_DAYS: Final = re.compile(r"^last_(\d{1,4})_days?$")
_LAST_WEEKS: Final = re.compile(r"^last_(\d{1,3})_weeks?$")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_bound(text: str, *, end: bool) -> datetime:
    """A date (whole day; an end date is inclusive) or an ISO-8601 time (naive = UTC)."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end else start
    try:
        return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidArgumentError(f"not a date or ISO-8601 time: {text!r}") from None


@dataclass(frozen=True, slots=True)
class DateRange:
    """Half-open [start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise InvalidArgumentError(
                f"date range: end {self.end} must be after start {self.start}"
            )

    @classmethod
    def last_days(cls, days: float, end: datetime | None = None) -> DateRange:
        stop = _utc(end) if end is not None else datetime.now(UTC)
        return cls(stop - timedelta(days=days), stop)

    @classmethod
    def parse(cls, text: str, *, now: datetime | None = None) -> DateRange:
        """`last_7_days`, `last_2_weeks`, `2025-01-01..2025-01-31` (end day inclusive) or
        `2025-01-01T00:00:00Z..2025-01-08T00:00:00Z` (end exclusive)."""
        value = text.strip().lower()
        if match := _LAST_DAYS.match(value):
            return cls.last_days(int(match.group(1)), now)
        if match := _LAST_WEEKS.match(value):
            return cls.last_days(7 * int(match.group(1)), now)
        if ".." in value:
            start, _, end = text.partition("..")
            return cls(_parse_bound(start, end=False), _parse_bound(end, end=True))
        raise InvalidArgumentError(
            f"date range {text!r}: use last_N_days, last_N_weeks or START..END "
            "(dates or ISO-8601 times)"
        )

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400

    def shifted(self, delta: timedelta) -> DateRange:
        return DateRange(self.start + delta, self.end + delta)

    def params(self) -> dict[str, str]:
        """The `start` / `end` SQL parameters (ISO-8601 with milliseconds, UTC)."""
        return {"start": _iso(self.start), "end": _iso(self.end)}

    def to_dict(self) -> dict[str, str]:
        return {"start": _iso(self.start), "end": _iso(self.end)}


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
