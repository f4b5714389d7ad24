"""The planner drops a forgotten user's events and says where they were (for the erasure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.suppression import MIN_MS, Range, Tombstones, user_subject
from schemas.wire import encode
from stream_processors._plan import Planner, Record

NOW = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
HOUR_MS = 3_600_000


def _record(offset: int, user: str, minutes_ago: int, feature: str = "doc_1") -> Record:
    event = InteractionEvent(
        feature_id=feature,
        interaction_type=["click"],
        user_id=user,
        timestamp=NOW - timedelta(minutes=minutes_ago),
    )
    return Record("interactions", 2, offset, feature.encode(), encode(event))


def _hour(minutes_ago: int) -> int:
    return int((NOW - timedelta(minutes=minutes_ago)).timestamp() * 1000) // HOUR_MS


def test_dropped_events_are_listed_with_their_position_and_hour() -> None:
    until = int((NOW - timedelta(minutes=30)).timestamp() * 1000)
    tombstones = Tombstones(3, {user_subject("ann"): (Range(MIN_MS, until),)})
    records = [
        _record(10, "ann", 90),
        _record(11, "bob", 80),
        _record(12, "ann", 70, feature="doc_2"),
        _record(13, "ann", 5),  # after the tombstone's end: a new account's, kept
    ]
    now_ms = int(NOW.timestamp() * 1000)
    plan = Planner(Settings()).plan(records, now_ms, tombstones)
    assert plan.dropped == {"doc_1": [(2, 10, _hour(90))], "doc_2": [(2, 12, _hour(70))]}
    assert plan.suppressed == {user_subject("ann"): 2}
    kept = [offset for f in plan.features.values() for offset, *_ in f.events]
    assert sorted(kept) == [11, 13]


def test_no_tombstones_nothing_dropped() -> None:
    plan = Planner(Settings()).plan([_record(1, "ann", 10)], int(NOW.timestamp() * 1000))
    assert plan.dropped == {} and not plan.suppressed
