"""Window arithmetic against real Redis: boundaries, hour edges, out-of-order events, sweeps.

The store and reader run with injected clocks, so "seven days later" takes no time; counts
are compared with an independent computation from the input (tests/popularity_support.py).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import redis

from stream_processors import PopularityReader
from tests.popularity_support import (
    StoreDriver,
    clock_at,
    days,
    event,
    expected_counts,
    hour_floor,
    on_time,
)

pytestmark = pytest.mark.integration

# Mid-hour, near real time (Redis TTLs then look ordinary).
NOW = hour_floor(datetime.now(UTC)) + timedelta(minutes=30)


@pytest.mark.parametrize("window", [7, 5], ids=["precomputed", "from-buckets"])
def test_an_event_exactly_d_days_old_counts_until_the_next_hour_boundary(
    driver: StoreDriver, window: int
) -> None:
    exactly = event("doc", NOW - days(window))
    an_hour_older = event("doc", NOW - days(window) - timedelta(hours=1))
    driver.apply([exactly, an_hour_older], NOW)
    for now, expected in (
        (NOW, 1),
        (hour_floor(NOW) + timedelta(minutes=59, seconds=59), 1),
        (hour_floor(NOW) + timedelta(hours=1), 0),
    ):
        counts = driver.reader(now).counts(["doc"], ["click"], window)
        assert counts == {"doc": {"click": expected}}, now
    assert driver.reader(NOW).counts(["doc"], ["click"], 30) == {"doc": {"click": 2}}


def test_hour_edges_split_buckets(driver: StoreDriver) -> None:
    edge = hour_floor(NOW) - timedelta(hours=3)
    before, at_edge = event("doc", edge - timedelta(milliseconds=1)), event("doc", edge)
    driver.apply([before, at_edge], NOW)
    one_day_after_edge = edge + days(1)  # the 1-day window now starts exactly at `edge`
    assert driver.reader(one_day_after_edge).counts(["doc"], ["click"], 1) == {"doc": {"click": 1}}
    assert driver.reader(one_day_after_edge - timedelta(milliseconds=1)).counts(
        ["doc"], ["click"], 1
    ) == {"doc": {"click": 2}}


def test_thirty_day_window_and_late_events(driver: StoreDriver) -> None:
    oldest = hour_floor(NOW) - days(30)
    counted = event("doc", oldest)
    late = event("doc", oldest - timedelta(milliseconds=1))
    result = driver.apply([counted, late], NOW)
    assert result.applied == 1  # the late one never reaches Redis
    assert driver.reader(NOW).counts(["doc"], ["click"], 30) == {"doc": {"click": 1}}
    assert driver.reader(NOW).counts(["doc"], ["click"], 29) == {"doc": {"click": 0}}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_events_and_a_moving_clock_match_an_independent_count(
    driver: StoreDriver, seed: int
) -> None:
    """Batches of shuffled events, the clock moving forward by hours to days between them,
    sweeps now and then: every window's counts equal the recount from the input."""
    rng = random.Random(seed)
    settings = driver.settings
    features = [f"doc{i}" for i in range(5)]
    applied = []
    now = NOW
    for _ in range(8):
        batch = [
            event(
                rng.choice(features),
                now - timedelta(minutes=rng.randrange(0, 33 * 24 * 60)),
                rng.choice([["click"], ["purchase"], ["click", "add_to_cart"]]),
            )
            for _ in range(rng.randrange(5, 30))
        ]
        driver.apply(batch, now)
        applied.extend(e for e in batch if on_time(e, settings, now))
        if rng.random() < 0.5:
            driver.sweep(now)
        now += timedelta(hours=rng.randrange(1, 80))
    reader = driver.reader(now)
    types = ["click", "purchase", "add_to_cart"]
    for window in (1, 2, 7, 12, 30):
        expected = expected_counts(applied, settings, now, window)
        got = reader.counts(features, types, window)
        for fid in features:
            assert got[fid] == {t: expected.get(fid, {}).get(t, 0) for t in types}, (window, fid)
    pipelined = driver.reader(now)
    pipelined._one_call = False  # as on Redis Cluster: one pipelined HMGET per feature
    for window in (1, 7, 30):
        assert pipelined.counts(features, types, window) == reader.counts(features, types, window)
    driver.sweep(now)
    assert reader.counts(features, types, 7) == {
        fid: {t: expected_counts(applied, settings, now, 7).get(fid, {}).get(t, 0) for t in types}
        for fid in features
    }


def test_sweeper_moves_sums_and_trending_without_scanning(driver: StoreDriver) -> None:
    driver.apply([event("hot", NOW - timedelta(hours=1)), event("cold", NOW - days(3))], NOW)
    reader = driver.reader(NOW)
    assert [i.feature_id for i in reader.trending("click", 1)] == ["hot"]
    assert {i.feature_id for i in reader.trending("click", 7)} == {"hot", "cold"}

    later = NOW + days(1)
    stale = driver.reader(later)
    # Reads are exact before the sweep (corrected from the buckets) ...
    assert stale.counts(["hot"], ["click"], 1) == {"hot": {"click": 0}}
    # ... trending catches up when the due index says the feature's bucket aged out.
    assert driver.sweep(later) == 1
    assert stale.trending("click", 1) == []
    assert {i.feature_id for i in stale.trending("click", 7)} == {"hot", "cold"}
    assert driver.sweep(later) == 0  # nothing else is due yet

    much_later = NOW + days(31)
    assert driver.sweep(much_later) == 2
    empty = driver.reader(much_later)
    assert empty.trending("click", 30) == []
    assert empty.trending(None, 30) == []
    assert driver.redis.keys(f"{driver.settings.redis.key_prefix}:f:*:[bi]") == []


class _CountingRedis(redis.Redis):  # type: ignore[type-arg]
    """Counts round trips (pipelines and script calls) the reader makes."""

    round_trips = 0

    def pipeline(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.round_trips += 1
        return super().pipeline(*args, **kwargs)

    def evalsha(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.round_trips += 1  # the reader's one-call HMGET of every feature (read_states.lua)
        return super().evalsha(*args, **kwargs)


def test_reads_skip_the_bucket_correction_until_a_bucket_ages_out(driver: StoreDriver) -> None:
    """`lo` is behind a later reader's window start, but `due` says no bucket lies between
    them yet: one round trip, exact; once a bucket has aged out, the correction reads it."""
    driver.apply([event("doc", NOW - days(2)), event("doc", NOW)], NOW)
    client = _CountingRedis.from_url(driver.settings.redis.url)

    def read(at: datetime, window: int) -> tuple[dict[str, dict[str, int]], int]:
        client.round_trips = 0
        reader = PopularityReader(client, driver.settings, clock=clock_at(at))
        return reader.counts(["doc"], ["click"], window), client.round_trips

    try:
        assert read(NOW + timedelta(hours=5), 7) == ({"doc": {"click": 2}}, 1)
        assert read(NOW + timedelta(hours=5), 1) == ({"doc": {"click": 1}}, 1)
        assert read(NOW + days(5) + timedelta(hours=1), 7) == ({"doc": {"click": 1}}, 2)
        assert read(NOW + days(1) + timedelta(hours=1), 1) == ({"doc": {"click": 0}}, 2)
    finally:
        client.close()


def test_weighted_trending_uses_positive_types_only(driver: StoreDriver) -> None:
    driver.apply(
        [
            event("a", NOW, ["purchase"]),
            event("b", NOW, ["click", "skip"]),
            event("b", NOW, ["skip"]),
        ],
        NOW,
    )
    items = driver.reader(NOW).trending(None, 7)
    assert [(i.feature_id, i.score) for i in items] == [("a", 5.0), ("b", 1.0)]
    assert [i.feature_id for i in driver.reader(NOW).trending("skip", 7)] == ["b"]


def test_features_expire_on_their_own(driver: StoreDriver) -> None:
    driver.apply([event("doc", NOW - timedelta(hours=2))], NOW)
    keys = driver.redis.keys(f"{driver.settings.redis.key_prefix}:f:*")
    assert len(keys) == 4
    ttls = [driver.redis.pttl(k) for k in keys]
    # newest bucket + 30 days (+ the hour it is in) + one day of slack, from NOW
    bound = (days(31) + timedelta(hours=1)).total_seconds() * 1000
    assert all(0 < ttl <= bound for ttl in ttls), ttls


@pytest.mark.parametrize("window", [1, 7, 5, 30], ids=lambda d: f"{d}d")
def test_window_edges_and_long_view_match_the_oracle(driver: StoreDriver, window: int) -> None:
    """Events on both sides of every edge the spec names: the window's first hour (and a
    millisecond before it), the late limit, the future skew, and a dwell time at, just below
    and above LONG_VIEW_MS (with `long_view` also listed, which must count once). The oracle
    (tests/popularity_support.py) is written from the docs, not from the product's helpers."""
    settings = driver.settings
    threshold = settings.events.long_view_ms
    first_hour = hour_floor(NOW) - days(window)
    oldest = hour_floor(NOW) - days(settings.popularity.max_window_days)
    skew = timedelta(seconds=settings.events.max_future_skew_s)
    batch = [
        event("edge", first_hour),
        event("edge", first_hour - timedelta(milliseconds=1)),
        event("edge", first_hour + timedelta(minutes=59, seconds=59)),
        event("late", oldest),
        event("late", oldest - timedelta(milliseconds=1)),
        event("future", NOW + skew),
        event("future", NOW + skew + timedelta(seconds=1)),
        event("dwell", NOW - timedelta(hours=2), ["click"], metadata={"duration_ms": threshold}),
        event("dwell", NOW, ["click"], metadata={"duration_ms": threshold - 1}),
        event("dwell", NOW, ["purchase"], metadata={"duration_ms": threshold + 1}),
        event("dwell", NOW, ["click", "long_view"], metadata={"duration_ms": threshold * 2}),
        event("dwell", NOW, ["long_view"], metadata={"duration_ms": 0}),
    ]
    result = driver.apply(batch, NOW)
    applied = [e for e in batch if on_time(e, settings, NOW)]
    refused = 3 if window == settings.popularity.max_window_days else 2  # + the edge's ms
    assert len(applied) == len(batch) - refused  # the oracle's late and future ones
    assert result.applied == len(applied)
    expected = expected_counts(applied, settings, NOW, window)
    # what the spec says, by hand, for the one feature whose answer is not window-dependent
    assert expected["dwell"] == {"click": 3, "long_view": 4, "purchase": 1}
    types = ["click", "long_view", "purchase"]
    features = ["edge", "late", "future", "dwell"]
    got = driver.reader(NOW).counts(features, types, window)
    want = {f: {t: expected.get(f, {}).get(t, 0) for t in types} for f in features}
    assert got == want
