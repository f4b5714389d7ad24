"""Window arithmetic on event time, at hour granularity, with an injectable clock.

A D-day window at time `now` holds the hour buckets `hour >= now_hour - 24*D` (plus any
bucket ahead of `now_hour`, from events inside the allowed clock skew). So an event is never
dropped from a D-day window before it is D days old, and leaves it at the first hour boundary
after that: an event exactly D days old is still counted until the clock reaches the next
full hour. Events older than the longest window (`max_window_days`) are late; events more than
`max_future_skew_s` ahead of `now` are from the future. Neither is applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from stream_processors.keys import HOUR_MS

Clock = Callable[[], float]
"""Returns the current time in epoch seconds (time.time); tests inject a fixed one."""

HOURS_PER_DAY: Final = 24


def system_clock() -> float:
    return time.time()


def now_ms(clock: Clock) -> int:
    return int(clock() * 1000)


def hour_of(ms: int) -> int:
    """Hour bucket of an epoch-milliseconds instant."""
    return ms // HOUR_MS


def window_start_hour(now_hour: int, window_days: int) -> int:
    """Oldest hour bucket inside a D-day window at `now_hour` (inclusive)."""
    return now_hour - HOURS_PER_DAY * window_days


class Timeliness(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    FUTURE = "future"


def timeliness(event_ms: int, now: int, max_window_days: int, max_future_skew_s: int) -> Timeliness:
    """Whether an event at `event_ms` can be applied at `now` (both epoch ms)."""
    if event_ms > now + max_future_skew_s * 1000:
        return Timeliness.FUTURE
    if hour_of(event_ms) < window_start_hour(hour_of(now), max_window_days):
        return Timeliness.LATE
    return Timeliness.ON_TIME


def check_windows(windows_days: list[int], max_window_days: int) -> tuple[int, ...]:
    """Precomputed windows as a sorted tuple; a window beyond the longest one fails loudly."""
    too_long = [d for d in windows_days if d > max_window_days]
    if too_long:
        raise ValueError(
            f"popularity_windows_days: {too_long} exceed max_window_days={max_window_days}"
        )
    return tuple(sorted(set(windows_days)))
