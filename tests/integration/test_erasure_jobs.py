"""Erasure jobs against real Redis and chDB: retries subtract once, hashed ids, time ranges,
identify + forget, and the SDK refusing a forgotten user's old events.

Counts are compared with a recount written here from the spec (popularity.md): per feature
and type, each type once per event, `long_view` added when duration_ms >= 4000.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import interaction_pipeline
from interaction_pipeline import interactions
from interaction_pipeline.cli.main import app as cli_app
from interaction_pipeline.erasure import Erasure
from interaction_pipeline.http.routes.interactions import interactions_router
from producers import InteractionProducer
from schemas.errors import SuppressedUserError
from schemas.events import InteractionEvent
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from schemas.suppression import NO_TOMBSTONES, Tombstones
from schemas.wire import decode_interaction
from sinks import ClickHouseSink, migrate
from stream_processors._plan import Planner, Record
from stream_processors._store import PopularityStore
from stream_processors.identity import IdentityLinks
from stream_processors.keys import RedisKeys
from stream_processors.suppression import RedisTombstones
from tests.integration.sink_support import (
    SINK_TIMEOUT_S,
    backend_for,
    produce,
    sink_settings,
)
from tests.kafka_reading import end_offsets, read_topic
from tests.popularity_support import clock_at, ms

pytestmark = pytest.mark.integration

KEY = "erasure-secret"
NOW = datetime.now(UTC).replace(microsecond=0)


def _event(user: str | None, i: int, *, anonymous: str | None = None) -> InteractionEvent:
    return InteractionEvent(
        feature_id=f"doc_{i % 5}",
        interaction_type=[["click"], ["purchase"], ["click", "add_to_cart"]][i % 3],
        metadata={"duration_ms": 4500 if i % 4 == 0 else 10},
        user_id=user,
        anonymous_id=anonymous,
        timestamp=NOW - timedelta(hours=3) + timedelta(minutes=i),
    )


def recount(events: list[InteractionEvent]) -> dict[tuple[str, str], int]:
    out: Counter[tuple[str, str]] = Counter()
    for e in events:
        types = set(e.interaction_type)
        if e.metadata.get("duration_ms", 0) >= 4000:
            types.add("long_view")
        for t in types:
            out[(e.feature_id, t)] += 1
    return dict(out)


def counts(client: redis.Redis[bytes], prefix: str) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for key in client.scan_iter(match=f"{prefix}:f:*:s", count=1000):
        feature = key.decode().split("{", 1)[1].rsplit("}", 1)[0]
        for field, value in client.hgetall(key).items():
            if field.startswith(b"7:") and int(value):
                out[(feature, field.decode()[2:])] = int(value)
    return out


@pytest.fixture
def hashed(unique_settings: Settings) -> Settings:
    return sink_settings(unique_settings, user_id_hmac_key=KEY)


@pytest.fixture
def client(hashed: Settings) -> Iterator[redis.Redis[bytes]]:
    connection: redis.Redis[bytes] = redis.Redis.from_url(hashed.redis.url)
    yield connection
    connection.close()


def _records(settings: Settings, events: list[InteractionEvent]) -> list[Record]:
    """The events as Kafka holds them (ids hashed by the SDK, their positions), in order."""
    topic = settings.topics.interactions
    wanted = {str(e.event_id) for e in events}
    messages = read_topic(settings, topic, sum(end_offsets(settings, topic).values()))
    records = [
        Record(topic, m.partition(), m.offset(), m.key(), m.value())  # type: ignore[arg-type]
        for m in messages
        if str(decode_interaction(m.value() or b"").event_id) in wanted  # type: ignore[arg-type]
    ]
    assert len(records) == len(events)
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _count(
    settings: Settings, records: list[Record], tombstones: Tombstones = NO_TOMBSTONES
) -> None:
    """As the worker would: the batch at its Kafka positions (the erasure asks the worker's
    watermarks whether it counted a copy), filtered with `tombstones`."""

    async def apply() -> None:
        connection = aioredis.Redis.from_url(settings.redis.url)
        try:
            store = PopularityStore(connection, settings, clock=clock_at(NOW))
            await store.apply(Planner(settings).plan(records, ms(NOW), tombstones))
        finally:
            await connection.aclose()

    asyncio.run(apply())


def _sink(settings: Settings, n: int) -> None:
    """The sink, dropping what the tombstones cover, until it has handled `n` messages."""
    deadline = time.monotonic() + SINK_TIMEOUT_S
    connection: redis.Redis[bytes] = redis.Redis.from_url(settings.redis.url)
    tombstones = RedisTombstones(
        connection, RedisKeys(settings.redis.key_prefix), component="sink", max_stale_s=30
    )
    try:
        with backend_for(settings) as backend:
            sink = ClickHouseSink(settings, backend, tombstones=tombstones)
            sink.run(lambda s: s.messages >= n or time.monotonic() > deadline)
    finally:
        connection.close()


def _store(settings: Settings, events: list[InteractionEvent]) -> None:
    """As the sink and the worker would: rows in ClickHouse, counts and history in Redis."""
    produce(settings, events)  # the SDK hashes user_id and anonymous_id
    _sink(settings, len(events))
    _count(settings, _records(settings, events))


def _rows(settings: Settings, stored_user: str) -> int:
    with backend_for(settings) as backend:
        rows = backend.query(
            "SELECT count() AS n FROM interactions WHERE user_id = {u:String}", {"u": stored_user}
        )
    return int(rows[0]["n"])


def test_retried_forget_with_hashed_ids_subtracts_once(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    alice = [_event("alice@example.com", i) for i in range(30)]
    bob = [_event("bob", i + 1) for i in range(25)]
    _store(hashed, alice + bob)
    assert counts(client, hashed.redis.key_prefix) == recount(alice + bob)
    with backend_for(hashed) as backend:
        erasure = Erasure(hashed, backend, client)
        first = erasure.forget_user("alice@example.com")
        second = erasure.forget_user("alice@example.com")  # a retry
        receipt = erasure.receipt(first.job.job_id)
    assert first.job.counts_subtracted["events"] == 30
    assert second.job.counts_subtracted["events"] == 0
    assert first.matched_id == hash_user_id("alice@example.com", KEY)
    assert counts(client, hashed.redis.key_prefix) == recount(bob)
    assert _rows(hashed, first.matched_id) == 0
    assert receipt is not None and receipt["state"] == "done"
    assert "alice" not in str(receipt) and first.matched_id not in str(receipt)
    tomb = client.hgetall(RedisKeys(hashed.redis.key_prefix).tombstones())
    assert [k.decode() for k in tomb] == ["u:" + first.matched_id]


def test_forget_a_time_range_keeps_the_rest(hashed: Settings, client: redis.Redis[bytes]) -> None:
    alice = [_event("alice", i) for i in range(40)]
    _store(hashed, alice)
    since, until = alice[10].timestamp, alice[19].timestamp
    inside = [e for e in alice if since <= e.timestamp <= until]
    outside = [e for e in alice if e not in inside]
    with backend_for(hashed) as backend:
        outcome = Erasure(hashed, backend, client).forget_user("alice", since=since, until=until)
    assert outcome.job.counts_subtracted["events"] == len(inside) == 10
    assert counts(client, hashed.redis.key_prefix) == recount(outside)
    assert _rows(hashed, hash_user_id("alice", KEY)) == 30
    history = client.zrange(
        RedisKeys(hashed.redis.key_prefix).user_history(hash_user_id("alice", KEY)),
        0,
        -1,
        withscores=True,
    )
    latest: dict[str, float] = {}
    for e in outside:
        for t in recount([e]):
            member = f"{t[1]}:{t[0]}"
            latest[member] = max(latest.get(member, 0), e.timestamp.timestamp() * 1000)
    assert {m.decode(): s for m, s in history} == latest


def test_identify_then_forget_takes_the_anonymous_past_too(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    before_login = [_event(None, i, anonymous="device-1") for i in range(12)]
    after_login = [_event("carol", i + 12) for i in range(8)]
    others = [_event("dave", i) for i in range(9)]
    _store(hashed, before_login + after_login + others)
    keys = RedisKeys(hashed.redis.key_prefix)
    carol = hash_user_id("carol", KEY)
    IdentityLinks(client, keys).identify(hash_user_id("device-1", KEY), carol)
    with backend_for(hashed) as backend:
        outcome = Erasure(hashed, backend, client).forget_user("carol")
    assert outcome.job.anonymous_ids_forgotten == 1
    assert outcome.job.counts_subtracted["events"] == 20
    assert counts(client, hashed.redis.key_prefix) == recount(others)
    assert client.exists(keys.anonymous_history(hash_user_id("device-1", KEY))) == 0
    assert client.exists(keys.user_history(carol), keys.user_anonymous_ids(carol)) == 0
    with backend_for(hashed) as backend:
        left = backend.query("SELECT count() AS n FROM interactions")[0]["n"]
    assert int(left) == len(others)


def test_sdk_refuses_a_forgotten_users_old_events(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    with backend_for(hashed) as backend:
        migrate(backend)
        Erasure(hashed, backend, client).forget_user("erin")
    tombstones = RedisTombstones(client, RedisKeys(hashed.redis.key_prefix), component="sdk")
    with InteractionProducer(hashed, tombstones=tombstones) as producer:
        with pytest.raises(SuppressedUserError, match="user_id: was forgotten"):
            producer.send(_event("erin", 1))
        producer.send(_event("erin", 1).model_copy(update={"timestamp": datetime.now(UTC)}))


# -- in-flight events: whichever consumer saw them first, the counts end exact --------------


def test_an_event_the_worker_counted_but_the_sink_never_stored_is_subtracted(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    """The live race: the worker counted it with its old view, the sink drops it with the
    new one, so no row says it was counted; the erasure reads it from Kafka."""
    alice = [_event("alice", i) for i in range(12)]
    bob = [_event("bob", i) for i in range(12)]
    _store(hashed, alice + bob)
    in_flight = [_event("alice", 12 + i) for i in range(5)]
    produce(hashed, in_flight)
    _count(hashed, _records(hashed, in_flight))  # the worker was first; the sink had not read
    with backend_for(hashed) as backend:
        outcome = Erasure(hashed, backend, client).forget_user("alice")
    assert outcome.job.counts_subtracted["events"] == 17
    assert outcome.job.counts_subtracted["in_flight"] == 5
    assert counts(client, hashed.redis.key_prefix) == recount(bob)
    _sink(hashed, 5)  # the sink reaches them now, with the tombstone: dropped
    assert _rows(hashed, hash_user_id("alice", KEY)) == 0
    assert counts(client, hashed.redis.key_prefix) == recount(bob)


def test_a_stored_event_the_worker_dropped_or_has_not_read_is_not_subtracted(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    """The other way round: the sink stored them with its old view; the worker drops some
    with the new view (and counts later events of the same features, so its watermark passes
    them) and has not read the others yet when the counts are subtracted."""
    alice = [_event("alice", i) for i in range(12)]
    bob = [_event("bob", i) for i in range(12)]
    _store(hashed, alice + bob)
    dropped = [_event("alice", 12 + i) for i in range(5)]
    after = [_event("bob", 12 + i) for i in range(5)]
    unread = [_event("alice", 40 + i) for i in range(5)]
    produce(hashed, dropped + after)
    produce(hashed, unread)
    _sink(hashed, 15)
    keys = RedisKeys(hashed.redis.key_prefix)
    worker = RedisTombstones(client, keys, component="worker", max_stale_s=30)
    worker.ack(0)  # a live worker: the erasure waits for it

    def worker_batch(_: float) -> None:
        """While the erasure waits: the worker's next batch, with the tombstone, then its ack."""
        if worker.acked > 0:
            return
        view = worker.load()
        _count(hashed, _records(hashed, dropped + after), view)
        worker.ack(view.version)

    with backend_for(hashed) as backend:
        outcome = Erasure(hashed, backend, client, sleep=worker_batch).forget_user("alice")
    worker.retire()
    assert outcome.job.counts_subtracted["events"] == 12
    assert outcome.job.counts_subtracted["not_counted"] == 10
    assert counts(client, hashed.redis.key_prefix) == recount(bob + after)
    _count(hashed, _records(hashed, unread), worker.load())  # read at last: dropped
    assert counts(client, hashed.redis.key_prefix) == recount(bob + after)
    assert _rows(hashed, hash_user_id("alice", KEY)) == 0


def test_interactions_list_follows_the_person_across_login(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    before_login = [_event(None, i, anonymous="device-9") for i in range(4)]
    after_login = [_event("frank", i + 4) for i in range(3)]
    stranger = [_event(None, i, anonymous="device-0") for i in range(2)]
    produce(hashed, before_login + after_login + stranger)
    _sink(hashed, 9)
    frank = hash_user_id("frank", KEY)
    interaction_pipeline.configure(hashed)
    try:
        assert interactions.count(user_id="frank") == 3  # not linked yet
        IdentityLinks(client, RedisKeys(hashed.redis.key_prefix)).identify(
            hash_user_id("device-9", KEY), frank
        )
        rows = interactions.list(user_id="frank")
        assert sorted(r.event_id for r in rows) == sorted(
            str(e.event_id) for e in before_login + after_login
        )
        assert {r.anonymous_id for r in rows if r.user_id is None} == {
            hash_user_id("device-9", KEY)
        }
        assert interactions.count(user_id="frank", linked=False) == 3
        assert interactions.count(user_id="frank", interaction_type="purchase") == len(
            [e for e in before_login + after_login if "purchase" in e.interaction_type]
        )
    finally:
        interaction_pipeline.configure(None)
    person = sorted(str(e.event_id) for e in before_login + after_login)
    own = sorted(str(e.event_id) for e in after_login)
    # The same rule over HTTP (GET ?user_id=) and the CLI (`interactions list --user-id`).
    with backend_for(hashed) as backend:
        api = FastAPI()
        links = IdentityLinks(client, RedisKeys(hashed.redis.key_prefix))
        api.include_router(interactions_router(backend, hasher=hashed.privacy.hasher, links=links))
        http = TestClient(api)
        for params, expected in (({}, person), ({"linked": "false"}, own)):
            page = http.get("/v1/retrievers/interactions", params={"user_id": "frank", **params})
            assert page.status_code == 200, page.text
            assert sorted(item["event_id"] for item in page.json()["items"]) == expected
    for flag, expected in (([], person), (["--no-linked"], own)):
        listed = CliRunner().invoke(
            cli_app, ["list", "--user-id", "frank", *flag, "--json"], env=hashed.environment()
        )
        assert listed.exit_code == 0, listed.output
        assert sorted(item["event_id"] for item in orjson.loads(listed.output)["items"]) == expected
