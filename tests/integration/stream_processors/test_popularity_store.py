"""Exactly-once at the Redis side, history, and the reader's arguments, against real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from schemas.topics import DLQ_HEADER_REASON, DLQ_HEADER_SOURCE_OFFSET
from stream_processors._metrics import WorkerMetrics
from stream_processors._plan import Plan, Planner, Record
from stream_processors._runtime import PopularityRuntime
from stream_processors._store import PopularityStore
from stream_processors.keys import RedisKeys
from tests.popularity_support import StoreDriver, clock_at, days, event, hour_floor

pytestmark = pytest.mark.integration

NOW = hour_floor(datetime.now(UTC)) + timedelta(minutes=30)


def test_a_redelivered_batch_is_skipped_by_the_offset_watermark(driver: StoreDriver) -> None:
    records = driver.records([event("doc", NOW), event("doc", NOW, ["purchase"])])
    first = driver.apply_records(records, NOW)
    again = driver.apply_records(records, NOW)
    partly = driver.apply_records(records[1:] + driver.records([event("doc", NOW)]), NOW)
    assert (first.applied, again.applied, again.replayed) == (2, 0, 2)
    assert (partly.applied, partly.replayed) == (1, 1)
    counts = driver.reader(NOW).counts(["doc"], ["click", "purchase"], 7)
    assert counts == {"doc": {"click": 2, "purchase": 1}}


def test_watermarks_are_per_partition(driver: StoreDriver) -> None:
    # A producer with another partitioner can put one feature on two partitions.
    on_zero = driver.records([event("doc", NOW)], partition=0)
    on_one = [
        Record(r.topic, 1, r.offset - 1, r.key, r.value)
        for r in driver.records([event("doc", NOW)])
    ]
    driver.apply_records(on_zero, NOW)
    assert driver.apply_records(on_one, NOW).applied == 1


def test_a_resent_event_id_counts_once_within_the_idempotency_window(
    driver: StoreDriver,
) -> None:
    original = event("doc", NOW - timedelta(hours=1))
    assert driver.apply([original], NOW).applied == 1
    resent = driver.apply([original], NOW + timedelta(hours=2))
    assert (resent.applied, resent.duplicates) == (0, 1)
    assert driver.reader(NOW + timedelta(hours=3)).counts(["doc"], ["click"], 7) == {
        "doc": {"click": 1}
    }
    window = timedelta(seconds=driver.settings.popularity.dedupe_window_s)
    beyond = driver.apply([original], NOW + window + timedelta(seconds=1))
    assert beyond.applied == 1  # documented: the window is bounded


def test_a_resend_after_a_short_idempotency_window_counts_again_within_the_hour(
    driver: StoreDriver,
) -> None:
    """Seen event_ids are trimmed once an hour, not every batch: an entry older than the
    window but not trimmed yet must not count as seen (a 60 s window, all in one hour)."""
    short = StoreDriver(driver.settings.replace(dedupe_window_s=60))
    try:
        start = hour_floor(NOW) + timedelta(minutes=10)
        original = event("doc", start)
        assert short.apply([original], start).applied == 1
        assert short.apply([original], start + timedelta(seconds=30)).duplicates == 1
        assert short.apply([original], start + timedelta(seconds=90)).applied == 1
        counts = short.reader(start + timedelta(seconds=90)).counts(["doc"], ["click"], 1)
        assert counts == {"doc": {"click": 2}}
    finally:
        short.close()


def test_a_resend_within_one_batch_counts_once_and_sums_match_per_event_counting(
    driver: StoreDriver,
) -> None:
    """The apply script sums increments per field before writing: check it against a
    per-event recount across hours, windows and types, with resends inside the batch."""
    original = event("doc", NOW - timedelta(hours=2), ["click", "purchase"])
    batch = [
        original,
        event("doc", NOW - days(3)),
        original,
        event("doc", NOW - days(3), ["purchase"]),
        event("doc", NOW - days(20)),
        original,
        event("doc", NOW - timedelta(hours=2)),
    ]
    result = driver.apply(batch, NOW)
    assert (result.applied, result.duplicates) == (5, 2)
    reader = driver.reader(NOW)
    assert reader.counts(["doc"], ["click", "purchase"], 1) == {"doc": {"click": 2, "purchase": 1}}
    assert reader.counts(["doc"], ["click", "purchase"], 7) == {"doc": {"click": 3, "purchase": 2}}
    assert reader.counts(["doc"], ["click", "purchase"], 30) == {"doc": {"click": 4, "purchase": 2}}
    assert reader.counts(["doc"], ["click"], 4) == {"doc": {"click": 3}}  # from the buckets


def test_history_keeps_latest_time_per_type_and_feature(driver: StoreDriver) -> None:
    user = "8f2c0a…hmac"
    driver.apply(
        [
            event("a", NOW - days(2), ["purchase"], user_id=user),
            event("a", NOW - days(1), ["purchase"], user_id=user),
            event("b", NOW - days(40), ["purchase"], user_id=user),  # late for counts
            event("c", NOW - timedelta(hours=1), ["click"], user_id=user),
            event("d", NOW, ["click"], user_id="someone else"),
        ],
        NOW,
    )
    driver.apply([event("a", NOW - days(3), ["purchase"], user_id=user)], NOW)
    reader = driver.reader(NOW)
    purchases = reader.history(user, ["purchase"], 90)
    assert [(i.feature_id, i.timestamp) for i in purchases] == [
        ("a", (NOW - days(1)).replace(microsecond=0)),
        ("b", (NOW - days(40)).replace(microsecond=0)),
    ]
    assert [i.feature_id for i in reader.history(user, ["purchase"], 30)] == ["a"]
    assert [(i.interaction_type, i.feature_id) for i in reader.history(user, limit=2)] == [
        ("click", "c"),
        ("purchase", "a"),
    ]
    key = RedisKeys(driver.settings.redis.key_prefix).user_history(user)
    assert 0 < driver.redis.pttl(key) <= days(90).total_seconds() * 1000
    assert reader.history("nobody") == []


def test_reader_arguments_are_checked(driver: StoreDriver) -> None:
    reader = driver.reader(NOW)
    with pytest.raises(ValueError, match="window_days: must be between 1 and 30, got 31"):
        reader.counts(["a"], ["click"], 31)
    with pytest.raises(ValueError, match="trending is kept for \\[1, 7, 30\\] days, got 3"):
        reader.trending("click", 3)
    with pytest.raises(ValueError, match="not a lower-case identifier"):
        reader.counts(["a"], ["Click"], 7)
    with pytest.raises(ValueError, match="days: must be between 1 and 90"):
        reader.history("u", days=91)
    assert reader.counts([], ["click"], 7) == {}


def test_counts_without_types_and_boost_through_redis(driver: StoreDriver) -> None:
    driver.apply([event("a", NOW, ["purchase"]), event("b", NOW), event("b", NOW)], NOW)
    reader = driver.reader(NOW)
    assert reader.counts(["a", "b", "zz"]) == {"a": {"purchase": 1}, "b": {"click": 2}, "zz": {}}
    ranked = reader.boost(
        [("b", 0.5), ("zz", 0.51), ("a", 0.5), ("b", 0.5)],
        {
            "interaction_types": ["click", "purchase"],
            "time_window_days": 7,
            "boost_multiplier": 1.2,
        },
    )
    assert [c.feature_id for c in ranked] == ["a", "b", "b", "zz"]
    assert ranked[-1].multiplier == 1.0 and ranked[-1].boosted_score == 0.51


def test_a_cancelled_batch_is_finished_before_cancellation_propagates(
    driver: StoreDriver,
) -> None:
    """Shutdown cancels the agent mid-batch; Faust would then ack the batch, so the batch
    must be fully applied (and its dead letters acknowledged) first."""
    settings = driver.settings
    records = driver.records([event(f"doc{i}", NOW) for i in range(200)])
    records.append(Record(settings.topics.interactions, 0, 10_000, b"k", b"\xff not json"))
    dead: list[tuple[bytes | None, bytes, dict[str, bytes]]] = []
    fatal: list[BaseException] = []

    async def dead_letter(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
        dead.append((key, value, dict(headers)))
        ack = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return ack

    async def scenario() -> None:
        client = aioredis.Redis.from_url(settings.redis.url)
        store = PopularityStore(client, settings, clock=clock_at(NOW))
        runtime = PopularityRuntime(
            store,
            Planner(settings),
            WorkerMetrics(),
            clock=clock_at(NOW),
            dead_letter=dead_letter,
            on_fatal=fatal.append,
        )
        task = asyncio.ensure_future(runtime.process(records))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()

    asyncio.run(scenario())
    assert fatal == []
    counts = driver.reader(NOW).counts([f"doc{i}" for i in range(200)], ["click"], 1)
    assert all(c == {"click": 1} for c in counts.values())
    assert len(dead) == 1
    assert dead[0][1] == b"\xff not json"
    assert dead[0][2][DLQ_HEADER_SOURCE_OFFSET] == b"10000"
    assert dead[0][2][DLQ_HEADER_REASON].startswith(b"not valid JSON")


class _FlakyStore(PopularityStore):
    """Fault injection through the store seam: Redis 'goes away' for the first attempts."""

    def __init__(self, *args: Any, failures: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures = failures

    async def run_scripts(self, plan: Plan) -> Any:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("connection refused (injected)")
        return await super().run_scripts(plan)


def test_redis_outages_are_waited_out_never_skipped(driver: StoreDriver) -> None:
    settings = driver.settings
    records = driver.records([event("doc", NOW), event("doc", NOW)])
    metrics = WorkerMetrics()

    _process_with_retries(
        lambda client: _FlakyStore(client, settings, clock=clock_at(NOW), failures=3),
        settings,
        records,
        metrics,
    )
    assert metrics.registry.get_sample_value("popularity_redis_retries_total") == 3
    assert metrics.registry.get_sample_value("popularity_events_applied_total") == 2
    assert driver.reader(NOW).counts(["doc"], ["click"], 1) == {"doc": {"click": 2}}


async def _never_called(*args: Any) -> Any:
    raise AssertionError(f"unexpected call with {args}")


def _process_with_retries(
    make_store: Callable[[Any], PopularityStore],
    settings: Settings,
    records: list[Record],
    metrics: WorkerMetrics,
) -> None:
    """Run one batch through the runtime (fast retries) on the store `make_store` builds."""

    async def scenario() -> None:
        client = aioredis.Redis.from_url(settings.redis.url)
        runtime = PopularityRuntime(
            make_store(client),
            Planner(settings),
            metrics,
            clock=clock_at(NOW),
            dead_letter=_never_called,
            on_fatal=_never_called,
            retry_initial_s=0.01,
        )
        await runtime.process(records)
        await client.aclose()

    asyncio.run(scenario())


class _PublishFailsOnce(PopularityStore):
    """Redis drops the connection after the scripts ran, before the trending write."""

    failed = False

    async def publish(self, changes: Any) -> None:
        if not self.failed:
            self.failed = True
            raise RedisConnectionError("connection reset (injected)")
        await super().publish(changes)


def test_a_failed_trending_write_is_retried_on_its_own(driver: StoreDriver) -> None:
    settings = driver.settings
    records = driver.records([event("doc", NOW), event("doc", NOW), event("other", NOW)])
    metrics = WorkerMetrics()

    _process_with_retries(
        lambda client: _PublishFailsOnce(client, settings, clock=clock_at(NOW)),
        settings,
        records,
        metrics,
    )
    assert metrics.registry.get_sample_value("popularity_events_applied_total") == 3
    assert metrics.registry.get_sample_value("popularity_redis_retries_total") == 1
    reader = driver.reader(NOW)
    assert [(i.feature_id, i.score) for i in reader.trending("click", 1)] == [
        ("doc", 2.0),
        ("other", 1.0),
    ]


def test_a_crash_between_counts_and_trending_is_repaired_by_the_redelivery(
    driver: StoreDriver,
) -> None:
    """Step 1 done, then the process dies: the redelivered batch is skipped by the watermark,
    and the scripts' absolute counts still reach the trending sets."""
    settings = driver.settings
    records = driver.records([event("doc", NOW), event("doc", NOW), event("other", NOW)])
    plan = Planner(settings).plan(records, int(NOW.timestamp() * 1000))

    async def crash_after_step_one() -> None:
        client = aioredis.Redis.from_url(settings.redis.url)
        await PopularityStore(client, settings, clock=clock_at(NOW)).run_scripts(plan)
        await client.aclose()

    asyncio.run(crash_after_step_one())
    assert driver.reader(NOW).trending("click", 1) == []
    redelivered = driver.apply_records(records, NOW)  # a fresh process: empty memory
    assert (redelivered.applied, redelivered.replayed) == (0, 3)
    reader = driver.reader(NOW)
    assert [(i.feature_id, i.score) for i in reader.trending("click", 1)] == [
        ("doc", 2.0),
        ("other", 1.0),
    ]
    assert reader.counts(["doc"], ["click"], 1) == {"doc": {"click": 2}}


def test_one_store_across_batches_publishes_the_same_trending_as_full_recounts(
    driver: StoreDriver,
) -> None:
    """A long-lived store gets only changed counts back from the scripts and merges them into
    what it remembers; its trending sets must equal what full replies give, including a
    feature seen on two partitions in one batch and a negative type."""
    settings = driver.settings
    types = ["click", "purchase", "skip"]
    batches = [
        driver.records([event("a", NOW), event("a", NOW), event("a", NOW, ["purchase"])])
        + driver.records([event("b", NOW), event("b", NOW - days(3), ["skip"])]),
        driver.records([event("a", NOW - days(2)), event("c", NOW, ["purchase"])])
        + [
            Record(r.topic, 1, r.offset, r.key, r.value)
            for r in driver.records([event("a", NOW, ["purchase"]), event("b", NOW)])
        ],
        driver.records([event("c", NOW, ["click", "purchase"]), event("a", NOW, ["skip"])]),
    ]

    def trending() -> dict[tuple[int, str | None], list[tuple[str, float]]]:
        reader = driver.reader(NOW)
        return {
            (d, t): [(i.feature_id, i.score) for i in reader.trending(t, d, 10)]
            for d in settings.popularity.windows_days
            for t in [*types, None]
        }

    async def apply_all() -> None:
        client = aioredis.Redis.from_url(settings.redis.url)
        store = PopularityStore(client, settings, clock=clock_at(NOW))
        planner = Planner(settings)
        for records in batches:
            await store.apply(planner.plan(records, int(NOW.timestamp() * 1000)))
        await client.aclose()

    asyncio.run(apply_all())
    merged = trending()
    for records in batches:  # a fresh store per batch: every reply is full, nothing skipped
        driver.apply_records(records, NOW)
    assert trending() == merged
    reader = driver.reader(NOW)
    counts = reader.counts(["a", "b", "c"], types, 7)
    assert counts == {
        "a": {"click": 3, "purchase": 2, "skip": 1},
        "b": {"click": 2, "purchase": 0, "skip": 1},
        "c": {"click": 1, "purchase": 2, "skip": 0},
    }
    weights = TypeRegistry(settings.events.type_weights).weights(["click", "purchase"])
    weighted = {f: sum(weights[t] * c[t] for t in weights) for f, c in counts.items()}
    assert dict(merged[(7, None)]) == weighted
    assert dict(merged[(7, "skip")]) == {"a": 1.0, "b": 1.0}
    assert dict(merged[(1, "skip")]) == {"a": 1.0}


class _RecordingStore(PopularityStore):
    """Notes each script call (name, number of keys) on its way to Redis."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int]] = []

    async def _run(self, calls: list[Any]) -> list[Any]:
        self.calls += [(script.name, len(keys)) for script, keys, _ in calls]
        return await super()._run(calls)


def test_one_apply_call_fences_each_feature_by_its_own_watermark(driver: StoreDriver) -> None:
    """Many features share one apply.lua call, and each is skipped up to its own (feature,
    partition) watermark: a redelivery spanning two applied batches, plus new events, on two
    partitions, counts every event exactly once."""
    settings = driver.settings
    topic = settings.topics.interactions

    def at(partition: int, offset: int, feature_id: str) -> Record:
        (made,) = driver.records([event(feature_id, NOW)])
        return Record(topic, partition, offset, made.key, made.value)

    # "a" on both partitions, its partition-1 offset below its partition-0 watermark.
    first = [at(0, 0, "a"), at(0, 1, "b"), at(1, 0, "x")]
    second = [at(0, 2, "a"), at(0, 3, "c"), at(1, 1, "a"), at(1, 2, "x"), at(1, 3, "y")]
    new = [at(0, 4, "b"), at(0, 5, "d"), at(1, 4, "y"), at(1, 5, "x")]
    store_calls: list[tuple[str, int]] = []

    async def apply(records: list[Record]) -> Any:
        client = aioredis.Redis.from_url(settings.redis.url)
        store = _RecordingStore(client, settings, clock=clock_at(NOW))
        try:
            return await store.apply(Planner(settings).plan(records, int(NOW.timestamp() * 1000)))
        finally:
            store_calls[:] = store.calls
            await client.aclose()

    asyncio.run(apply(first))
    asyncio.run(apply(second))
    redelivered = asyncio.run(apply(first + second + new))
    assert ("apply", 4 * 7) in store_calls  # seven (feature, partition) groups, one call
    assert [name for name, _ in store_calls].count("apply") == 1
    assert (redelivered.applied, redelivered.replayed) == (4, 8)
    features = ["a", "b", "c", "d", "x", "y"]
    counts = driver.reader(NOW).counts(features, ["click"], 7)
    assert {f: c["click"] for f, c in counts.items()} == {
        "a": 3,
        "b": 2,
        "c": 1,
        "d": 1,
        "x": 3,
        "y": 2,
    }
