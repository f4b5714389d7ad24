"""The real worker against real Kafka and Redis: poison messages, metrics, CLI, clean stop."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from schemas.settings import Settings
from schemas.topics import (
    DLQ_HEADER_COMPONENT,
    DLQ_HEADER_REASON,
    DLQ_HEADER_SOURCE_OFFSET,
    DLQ_HEADER_SOURCE_PARTITION,
    DLQ_HEADER_SOURCE_TOPIC,
)
from schemas.wire import encode
from tests.kafka_reading import read_topic
from tests.popularity_support import (
    WorkerProcess,
    event,
    expected_counts,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TYPES = ["click", "long_view", "purchase", "add_to_cart"]


@pytest.fixture
def worker(unique_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(unique_settings, tmp_path / "worker.log")
    yield process
    process.stop()


def _valid_events(n: int, offset: int = 0) -> list:  # type: ignore[type-arg]
    out = []
    for i in range(offset, offset + n):
        extra = {"metadata": {"duration_ms": 5000}} if i % 7 == 0 else {}
        types = [TYPES[i % 4]] if i % 5 else ["click", "purchase"]
        when = NOW - timedelta(hours=i % 100)
        out.append(event(f"doc{i % 9}", when, types, user_id=f"user{i % 4}", **extra))
    return out


POISON: list[bytes | None] = [
    b"not json at all",
    b"[1, 2, 3]",
    orjson.dumps({"feature_id": "doc1"}),
    orjson.dumps({"feature_id": "doc1", "interaction_type": ["Click"]}),
    orjson.dumps({"feature_id": "doc1", "interaction_type": ["click"], "position": -1}),
    orjson.dumps({"schema_version": 9, "feature_id": "doc1", "interaction_type": ["click"]}),
    orjson.dumps({"feature_id": "", "interaction_type": ["click"]}),
    b"\xff\xfe\x00binary",
    None,
]


def _produce(settings: Settings, values: list[tuple[bytes, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for key, value in values:
        producer.produce(settings.topics.interactions, key=key, value=value)
    assert producer.flush(30) == 0


def test_poison_messages_go_to_the_dead_letter_topic_and_the_worker_goes_on(
    unique_settings: Settings, worker: WorkerProcess
) -> None:
    settings = unique_settings
    valid = _valid_events(300)
    late = event("doc1", NOW - timedelta(days=45))
    future = orjson.dumps(
        {"feature_id": "doc1", "interaction_type": ["click"], "timestamp": "2999-01-01T00:00:00Z"}
    )
    stream: list[tuple[bytes, bytes | None]] = []
    for i, e in enumerate(valid):
        stream.append((e.feature_id.encode(), encode(e)))
        if i % 33 == 0 and i // 33 < len(POISON):
            stream.append((b"doc1", POISON[i // 33]))
    stream += [(b"doc1", encode(late)), (b"doc1", future)]
    _produce(settings, stream)

    worker.start()
    applied = wait_for(
        lambda: worker.metrics().get("popularity_events_applied_total") == len(valid), 90
    )
    assert applied, worker.log_tail()

    dead = read_topic(settings, settings.topics.dead_letter, expected=len(POISON), timeout_s=30)
    assert sorted(m.value() or b"" for m in dead) == sorted(p or b"" for p in POISON)
    for message in dead:
        headers = dict(message.headers() or [])
        assert headers[DLQ_HEADER_SOURCE_TOPIC] == settings.topics.interactions.encode()
        assert int(headers[DLQ_HEADER_SOURCE_PARTITION]) >= 0
        assert int(headers[DLQ_HEADER_SOURCE_OFFSET]) >= 0
        assert headers[DLQ_HEADER_REASON]
        assert headers[DLQ_HEADER_COMPONENT] == b"popularity-worker"
    reasons = b"\n".join(dict(m.headers())[DLQ_HEADER_REASON] for m in dead)
    assert b"position: must be >= 0, got -1" in reasons
    assert b"schema_version: unsupported version 9" in reasons

    lag = f"popularity_consumer_lag{{partition=0,topic={settings.topics.interactions}}}"
    assert wait_for(lambda: worker.metrics().get(lag) == 0, 30), worker.metrics()
    metrics = worker.metrics()
    assert metrics["popularity_rejected_total"] == len(POISON)
    assert metrics["popularity_late_events_total"] == 1
    assert metrics["popularity_future_events_total"] == 1
    assert worker.alive

    more = _valid_events(40, offset=300)
    _produce(settings, [(e.feature_id.encode(), encode(e)) for e in more])
    total = len(valid) + len(more)
    assert wait_for(lambda: worker.metrics().get("popularity_events_applied_total") == total, 60), (
        worker.log_tail()
    )

    features = [f"doc{i}" for i in range(9)]
    expected = expected_counts(valid + more, settings, NOW, 7)
    got = _cli(settings, "popularity", *features, "--window-days", "7", "--json")
    assert got["counts"] == {f: expected.get(f, {}) for f in features}

    trending = _cli(settings, "trending", "--type", "purchase", "-n", "3", "--json")
    top = sorted(expected, key=lambda f: expected[f].get("purchase", 0), reverse=True)[:3]
    assert [item["score"] for item in trending] == [expected[f]["purchase"] for f in top]

    history = _cli(settings, "history", "user0", "--type", "purchase", "--json")
    bought = {
        e.feature_id
        for e in valid + more
        if e.user_id == "user0" and "purchase" in e.interaction_type
    }
    assert {item["feature_id"] for item in history} == bought

    assert worker.terminate() == 0


def _cli(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "interaction_pipeline.cli.main", *args],
        env=worker_env(settings),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_worker_refuses_to_start_without_its_topic(unique_settings: Settings) -> None:
    env = worker_env(unique_settings, TOPIC_INTERACTIONS="no-such-topic-" + NOW.strftime("%s"))
    result = subprocess.run(
        [sys.executable, "-m", "interaction_pipeline.cli.main", "worker"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert b"do not exist" in result.stderr
