"""Turning Kafka records into a batch plan: every record lands in exactly one outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import orjson
import pytest

from schemas.events import InteractionEvent
from schemas.settings import Settings
from schemas.wire import encode
from stream_processors._plan import Planner, Record
from stream_processors._windows import (
    Timeliness,
    check_windows,
    hour_of,
    timeliness,
    window_start_hour,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SETTINGS = Settings(max_window_days=30, history_days=90, max_future_skew_s=300, long_view_ms=4000)


def _event(feature_id: str = "doc1", when: datetime = NOW, **extra: object) -> InteractionEvent:
    data: dict[str, object] = {"feature_id": feature_id, "interaction_type": ["click"]}
    data |= {"timestamp": when, "user_id": "u1"} | extra
    return InteractionEvent.model_validate(data, context={"max_future_skew_s": 10**9})


def _record(offset: int, value: bytes | None, partition: int = 0) -> Record:
    return Record("interactions", partition, offset, b"k", value)


def test_each_record_lands_in_exactly_one_outcome() -> None:
    records = [
        _record(0, encode(_event())),
        _record(1, b"{not json"),
        _record(2, orjson.dumps({"feature_id": "d", "interaction_type": [], "position": -1})),
        _record(3, None),
        _record(4, encode(_event(when=NOW - timedelta(days=31)))),
        _record(5, encode(_event(when=NOW + timedelta(seconds=301)))),
        _record(6, orjson.dumps({"schema_version": 2, "feature_id": "d"})),
    ]
    plan = Planner(SETTINGS).plan(records, NOW_MS)
    assert plan.event_count == 1
    assert plan.outcomes == {"late": 1, "future": 1}
    reasons = {r.record.offset: r.reason for r in plan.rejected}
    assert set(reasons) == {1, 2, 3, 6}
    assert reasons[1].startswith("not valid JSON")
    assert "interaction_type: must have at least 1 item(s)" in reasons[2]
    assert "position: must be >= 0, got -1" in reasons[2]
    assert reasons[3] == "empty message"
    assert reasons[6].startswith("schema_version: unsupported version 2")
    assert plan.last_offsets == {("interactions", 0): 6}


def test_events_are_grouped_per_feature_and_partition_in_offset_order() -> None:
    a1, a2, b1 = _event("a"), _event("a"), _event("b", interaction_type=["purchase"])
    records = [_record(7, encode(a2)), _record(3, encode(b1), 1), _record(5, encode(a1))]
    plan = Planner(SETTINGS).plan(records, NOW_MS)
    a = plan.features[("a", "interactions", 0)]
    assert [offset for offset, *_ in a.events] == [5, 7]
    assert a.events[0][1] == a1.event_id.bytes
    assert a.events[0][2] == hour_of(NOW_MS)
    assert plan.features[("b", "interactions", 1)].events[0][3] == ["purchase"]


def test_long_view_is_derived_from_dwell_time() -> None:
    long = _event("a", metadata={"duration_ms": 4000})
    short = _event("b", metadata={"duration_ms": 3999})
    plan = Planner(SETTINGS).plan([_record(0, encode(long)), _record(1, encode(short))], NOW_MS)
    assert plan.features[("a", "interactions", 0)].events[0][3] == ["click", "long_view"]
    assert plan.features[("b", "interactions", 0)].events[0][3] == ["click"]


def test_history_keeps_the_latest_time_and_old_late_events_within_its_horizon() -> None:
    earlier = _event("a", when=NOW - timedelta(hours=2))
    later = _event("a", when=NOW - timedelta(hours=1))
    late = _event("b", when=NOW - timedelta(days=40))
    too_old = _event("c", when=NOW - timedelta(days=91))
    anonymous = InteractionEvent(feature_id="d", interaction_type=["click"], timestamp=NOW)
    records = [encode(e) for e in (later, earlier, late, too_old, anonymous)]
    plan = Planner(SETTINGS).plan([_record(i, r) for i, r in enumerate(records)], NOW_MS)
    assert plan.history == {
        "u1": {
            "click:a": int(later.timestamp.timestamp() * 1000),
            "click:b": int(late.timestamp.timestamp() * 1000),
        }
    }
    assert plan.outcomes["late"] == 2


def test_window_edges_at_hour_granularity() -> None:
    now_hour = hour_of(NOW_MS)
    assert window_start_hour(now_hour, 7) == now_hour - 168
    exactly_7_days = NOW_MS - 7 * 86_400_000
    assert hour_of(exactly_7_days) >= window_start_hour(now_hour, 7)
    an_hour_more = exactly_7_days - 3_600_000
    assert hour_of(an_hour_more) < window_start_hour(now_hour, 7)
    assert hour_of(NOW_MS - NOW_MS % 3_600_000) == now_hour
    assert hour_of(NOW_MS - NOW_MS % 3_600_000 - 1) == now_hour - 1


def test_timeliness_boundaries() -> None:
    oldest_ok = window_start_hour(hour_of(NOW_MS), 30) * 3_600_000
    assert timeliness(oldest_ok, NOW_MS, 30, 300) is Timeliness.ON_TIME
    assert timeliness(oldest_ok - 1, NOW_MS, 30, 300) is Timeliness.LATE
    assert timeliness(NOW_MS + 300_000, NOW_MS, 30, 300) is Timeliness.ON_TIME
    assert timeliness(NOW_MS + 300_001, NOW_MS, 30, 300) is Timeliness.FUTURE


def test_windows_beyond_the_longest_are_refused() -> None:
    assert check_windows([30, 1, 7, 7], 30) == (1, 7, 30)
    with pytest.raises(ValueError, match="exceed max_window_days=14"):
        check_windows([1, 7, 30], 14)


def test_unique_event_ids_are_kept_as_16_bytes() -> None:
    event_id = uuid4()
    plan = Planner(SETTINGS).plan([_record(0, encode(_event(event_id=event_id)))], NOW_MS)
    assert plan.features[("doc1", "interactions", 0)].events[0][1] == event_id.bytes
