"""GDPR: `forget-user` leaves no ClickHouse row and no Redis key of the user; others stay."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
import redis
from confluent_kafka import Producer
from typer.testing import CliRunner

from interaction_pipeline.cli.main import app
from schemas.events import SearchEvent
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from sinks.ddl import INTERACTIONS_TABLE, REJECTS_TABLE, SEARCH_EVENTS_TABLE
from stream_processors.keys import RedisKeys
from tests.integration.sink_support import (
    backend_for,
    interaction,
    produce,
    run_sink,
    sink_settings,
)

pytestmark = pytest.mark.integration

HMAC_KEY = "test-secret"


@pytest.fixture
def client(unique_settings: Settings) -> Iterator[redis.Redis[bytes]]:
    connection: redis.Redis[bytes] = redis.Redis.from_url(unique_settings.redis.url)
    yield connection
    connection.close()


def _env(settings: Settings) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "REDIS_URL": settings.redis.url,
        "REDIS_KEY_PREFIX": settings.redis.key_prefix,
        "CLICKHOUSE_URL": settings.clickhouse.url,
        "USER_ID_HMAC_KEY": HMAC_KEY,
    }


def _user_rows(settings: Settings, stored_id: str) -> dict[str, int]:
    with backend_for(settings) as backend:
        return {
            table: int(
                backend.query(
                    f"SELECT count() AS n FROM {table} WHERE user_id = {{u:String}}",
                    {"u": stored_id},
                )[0]["n"]
            )
            for table in (INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE)
        }


def test_forget_user_with_hashed_ids(
    unique_settings: Settings, client: redis.Redis[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = sink_settings(unique_settings, user_id_hmac_key=HMAC_KEY)
    target, other = "alice@example.com", "bob"
    hashed, other_hashed = hash_user_id(target, HMAC_KEY), hash_user_id(other, HMAC_KEY)
    events = [interaction(i, user_id=target if i % 2 else other) for i in range(200)]
    searches = [SearchEvent(query="q", results=["a"], total_hits=1, user_id=target)]
    produce(settings, [*events, *searches])  # the producer hashes user_id
    raw = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    bad = orjson.dumps({"feature_id": "", "interaction_type": ["click"], "user_id": target})
    raw.produce(settings.topics.interactions, bad)
    assert raw.flush(30) == 0
    with backend_for(settings) as backend:
        run_sink(settings, backend, lambda s: s.messages >= len(events) + 2)
        assert backend.query(f"SELECT count() AS n FROM {REJECTS_TABLE}")[0]["n"] == 1
    assert _user_rows(settings, hashed) == {INTERACTIONS_TABLE: 100, SEARCH_EVENTS_TABLE: 1}

    keys = RedisKeys(settings.redis.key_prefix)  # what the popularity worker keeps per user
    client.zadd(keys.user_history(hashed), {"click:doc_1": 1, "purchase:doc_2": 2})
    client.zadd(keys.user_history(other_hashed), {"click:doc_3": 3})

    for name, value in _env(settings).items():
        monkeypatch.setenv(name, value)
    from interaction_pipeline.cli.context import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["forget-user", target, "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["matched_id"] == hashed and report["hashed"] is True
    assert report["rows_deleted"] == {
        INTERACTIONS_TABLE: 100,
        SEARCH_EVENTS_TABLE: 1,
        REJECTS_TABLE: 1,
    }
    assert report["redis_keys_deleted"] == [keys.user_history(hashed)]

    assert _user_rows(settings, hashed) == {INTERACTIONS_TABLE: 0, SEARCH_EVENTS_TABLE: 0}
    assert _user_rows(settings, other_hashed)[INTERACTIONS_TABLE] == 100
    with backend_for(settings) as backend:
        assert backend.query(f"SELECT count() AS n FROM {REJECTS_TABLE}")[0]["n"] == 0
    prefix = settings.redis.key_prefix
    leftover = [
        k for k in client.scan_iter(match=f"{prefix}:*", count=1000) if hashed.encode() in k
    ]
    assert leftover == []
    assert client.exists(keys.user_history(other_hashed)) == 1
