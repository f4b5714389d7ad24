"""The SDK against the real broker: what is sent is what is read back, failures are loud."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from pydantic import SecretStr, ValidationError

from producers import DeliveryError, InteractionProducer
from schemas import SearchEvent, Settings, hash_user_id
from schemas.wire import decode_interaction, decode_search
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.integration


def _event(i: int, **extra: object) -> dict[str, object]:
    return {
        "feature_id": f"doc_{i % 7}",
        "interaction_type": ["click", "long_view"] if i % 3 else ["purchase"],
        "position": i % 10,
        "metadata": {"duration_ms": 100 * i, "query": f"query {i % 5}"},
        "user_id": f"user_{i % 4}",
        "session_id": f"sess_{i % 6}",
        **extra,
    }


def test_events_read_back_exactly_as_sent(unique_settings: Settings) -> None:
    with InteractionProducer(unique_settings) as producer:
        sent = [producer.send(_event(i)) for i in range(200)]
        search = producer.send_search(
            {"query": "q", "results": ["doc_1", "doc_2"], "total_hits": 9}
        )
    messages = read_topic(unique_settings, unique_settings.topics.interactions, expected=200)
    received = {e.event_id: e for e in (decode_interaction(m.value()) for m in messages)}
    assert len(messages) == 200
    assert received == {e.event_id: e for e in sent}
    # Keyed by feature_id: every message of one document sits in one partition.
    partitions: dict[bytes, set[int]] = {}
    for msg in messages:
        partitions.setdefault(msg.key(), set()).add(msg.partition())
    assert all(len(p) == 1 for p in partitions.values())
    [search_msg] = read_topic(unique_settings, unique_settings.topics.searches, expected=1)
    assert decode_search(search_msg.value()) == search
    assert search_msg.key() == search.query_id.encode()


def test_bulk_path_reports_invalid_events_by_index(unique_settings: Settings) -> None:
    batch = [_event(0), _event(1, position=-1), _event(2), {"feature_id": ""}]
    with InteractionProducer(unique_settings) as producer:
        result = producer.send_many(batch)
    assert result.accepted == result.delivered == 2
    assert sorted(result.invalid) == [1, 3]
    assert result.invalid[1] == ["position: must be >= 0, got -1"]
    assert len(read_topic(unique_settings, unique_settings.topics.interactions, expected=2)) == 2


def test_invalid_event_raises_at_the_call_site(unique_settings: Settings) -> None:
    with InteractionProducer(unique_settings) as producer, pytest.raises(ValidationError):
        producer.send(_event(0, interaction_type=[]))


def test_user_id_is_hashed_before_it_leaves_the_producer(unique_settings: Settings) -> None:
    keyed = unique_settings.replace(**{"user_id_hmac_key": SecretStr("secret")})
    with InteractionProducer(keyed) as producer:
        producer.send(_event(1, user_id="alice@example.com"))
    [msg] = read_topic(keyed, keyed.topics.interactions, expected=1)
    assert b"alice" not in msg.value()
    assert decode_interaction(msg.value()).user_id == hash_user_id("alice@example.com", "secret")


def test_failed_delivery_is_never_silent(unique_settings: Settings) -> None:
    unreachable = unique_settings.replace(**{"kafka_bootstrap_servers": "127.0.0.1:9"})
    reports: list[object] = []
    producer = InteractionProducer(
        unreachable,
        config={"message.timeout.ms": 1500},
        on_delivery=lambda event, failure: reports.append(failure),
    )
    sent = producer.send(_event(1))
    with pytest.raises(DeliveryError) as caught:
        producer.flush(timeout=10)
    assert caught.value.failures[0].event_id == sent.event_id
    assert reports and reports[0] is not None
    bulk = producer.send_many([_event(2), _event(3)], timeout=10)
    assert [f.index for f in bulk.failed] == [0, 1] and bulk.delivered == 0
    producer.send(_event(4))
    with pytest.raises((DeliveryError, TimeoutError)):
        producer.close(timeout=0.2)  # purges what Kafka never took, and says so
    assert len(producer) == 0


def test_failed_delivery_without_a_callback_is_never_silent(unique_settings: Settings) -> None:
    # send() without on_delivery: the producer-wide report must still keep each failure.
    unreachable = unique_settings.replace(**{"kafka_bootstrap_servers": "127.0.0.1:9"})
    producer = InteractionProducer(unreachable, config={"message.timeout.ms": 1500})
    sent = [producer.send(_event(i)) for i in range(3)]
    with pytest.raises(DeliveryError) as caught:
        producer.flush(timeout=10)
    assert sorted(str(f.event_id) for f in caught.value.failures) == sorted(
        str(e.event_id) for e in sent
    )


def test_produce_cli_reports_bad_lines_and_delivers_good_ones(
    unique_settings: Settings, tmp_path: Path
) -> None:
    lines = [
        orjson.dumps(_event(1)),
        b"{not json",
        orjson.dumps(_event(2, position=-1)),
        b"",
        orjson.dumps({"query": "shoes", "results": ["doc_1"], "total_hits": 1}),
        orjson.dumps(_event(3)),
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = unique_settings.environment()
    done = subprocess.run(
        [sys.executable, "-m", "interaction_pipeline.cli.main", "produce", str(path), "--json"],
        capture_output=True,
        env={**env, "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    summary = orjson.loads(done.stdout)
    assert [b["line"] for b in summary["bad"]] == [2, 3]
    assert "position: must be >= 0, got -1" in summary["bad"][1]["error"]
    assert summary["interactions"] == 2 and summary["searches"] == 1
    assert summary["delivered"] == 3
    messages = read_topic(unique_settings, unique_settings.topics.interactions, expected=2)
    assert sorted(decode_interaction(m.value()).feature_id for m in messages) == ["doc_1", "doc_3"]
    [search] = read_topic(unique_settings, unique_settings.topics.searches, expected=1)
    assert isinstance(decode_search(search.value()), SearchEvent)
